/* imp-mirror-group.c: group conversation streams, read positions and own-message states in the
 * mirror. Each group conversation has its own contiguous watermark in group_streams, moved in the
 * same transaction as the upsert, exactly like the user stream's. */
#define G_LOG_DOMAIN "implus-mirror"

#include "imp-mirror-private.h"
#include "imp-error.h"

#define stmt imp_mirror_stmt
#define exec imp_mirror_exec
#define set_db_error imp_mirror_set_db_error
#define col_strdup imp_mirror_col_strdup
#define step_int64 imp_mirror_step_int64

#define GMSG_COLS "seq, msg_id, conversation_id, sender_id, group_id, content, content_type, " \
                  "send_time_ms, state, client_msg_id"

static ImpMessage *
group_message_from_row (sqlite3_stmt *st)
{
  ImpMessage *m = imp_message_new ();

  m->seq = sqlite3_column_int64 (st, 0);
  m->msg_id = sqlite3_column_int64 (st, 1);
  m->conversation_id = col_strdup (st, 2);
  m->sender_id = sqlite3_column_int64 (st, 3);
  m->group_id = sqlite3_column_int64 (st, 4);
  m->content = col_strdup (st, 5);
  m->content_type = sqlite3_column_int (st, 6);
  m->send_time_ms = sqlite3_column_int64 (st, 7);
  m->state = sqlite3_column_int (st, 8);
  m->client_msg_id = col_strdup (st, 9);
  return m;
}

/* "group_42" -> 42, else 0. */
static gint64
group_id_of (const char *conversation_id)
{
  gint64 id = 0;

  if (conversation_id && g_str_has_prefix (conversation_id, "group_"))
    id = g_ascii_strtoll (conversation_id + 6, NULL, 10);
  return id > 0 ? id : 0;
}

gboolean
imp_mirror_group_ensure (ImpMirror *self, const char *conversation_id, gint64 group_id, const char *name)
{
  sqlite3_stmt *st = stmt (self, "INSERT INTO group_streams (conversation_id, group_id, name) VALUES (?, ?, ?) "
                                 "ON CONFLICT (conversation_id) DO UPDATE SET "
                                 "name = COALESCE (excluded.name, name)");

  g_return_val_if_fail (IMP_IS_MIRROR (self), FALSE);
  if (st == NULL || conversation_id == NULL)
    return FALSE;
  if (group_id <= 0)
    group_id = group_id_of (conversation_id);
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, group_id);
  sqlite3_bind_text (st, 3, name, -1, SQLITE_STATIC);
  return sqlite3_step (st) == SQLITE_DONE;
}

gint64
imp_mirror_group_watermark (ImpMirror *self, const char *conversation_id)
{
  sqlite3_stmt *st = stmt (self, "SELECT watermark FROM group_streams WHERE conversation_id = ?");

  if (st == NULL || conversation_id == NULL)
    return 0;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  return step_int64 (st);
}

char *
imp_mirror_group_name (ImpMirror *self, const char *conversation_id)
{
  sqlite3_stmt *st = stmt (self, "SELECT name FROM group_streams WHERE conversation_id = ?");

  if (st == NULL || conversation_id == NULL)
    return NULL;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  return imp_mirror_step_string (st);
}

GPtrArray *
imp_mirror_group_list (ImpMirror *self)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  sqlite3_stmt *st = stmt (self, "SELECT conversation_id FROM group_streams ORDER BY group_id");

  if (st == NULL)
    return out;
  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, col_strdup (st, 0));
  sqlite3_reset (st);
  return out;
}

ImpMessage *
imp_mirror_group_get_message (ImpMirror *self, const char *conversation_id, gint64 seq)
{
  ImpMessage *m;
  sqlite3_stmt *st = stmt (self, "SELECT " GMSG_COLS " FROM group_messages WHERE conversation_id = ? AND seq = ?");

  if (st == NULL)
    return NULL;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, seq);
  m = sqlite3_step (st) == SQLITE_ROW ? group_message_from_row (st) : NULL;
  sqlite3_reset (st);
  return m;
}

static gboolean
set_group_watermark (ImpMirror *self, const char *conversation_id, gint64 wm)
{
  sqlite3_stmt *st = stmt (self, "UPDATE group_streams SET watermark = ? WHERE conversation_id = ?");

  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, wm);
  sqlite3_bind_text (st, 2, conversation_id, -1, SQLITE_STATIC);
  return sqlite3_step (st) == SQLITE_DONE;
}

/* Inside a transaction: from wm, move over every contiguous stored seq and persist. */
static gboolean
advance (ImpMirror *self, const char *conversation_id, gint64 wm, gint64 old_wm, GPtrArray *applied)
{
  for (;;)
    {
      ImpMessage *next = imp_mirror_group_get_message (self, conversation_id, wm + 1);

      if (next == NULL)
        break;
      wm++;
      g_ptr_array_add (applied, next);
    }
  return wm == old_wm || set_group_watermark (self, conversation_id, wm);
}

static gboolean
commit (ImpMirror *self, GPtrArray **applied, GPtrArray **out_applied, GError **error)
{
  if (!exec (self, "COMMIT", error))
    {
      exec (self, "ROLLBACK", NULL);
      return FALSE;
    }
  if (out_applied)
    *out_applied = g_steal_pointer (applied);
  return TRUE;
}

gboolean
imp_mirror_group_store (ImpMirror         *self,
                        const ImpMessage  *msg,
                        gboolean          *out_duplicate,
                        GPtrArray        **out_applied,
                        GError           **error)
{
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_free);
  gint64 wm, group_id;
  sqlite3_stmt *st;

  g_return_val_if_fail (IMP_IS_MIRROR (self), FALSE);
  g_return_val_if_fail (msg != NULL && msg->seq > 0 && msg->conversation_id != NULL, FALSE);

  if (out_applied)
    *out_applied = NULL;
  group_id = msg->group_id > 0 ? msg->group_id : group_id_of (msg->conversation_id);
  if (!exec (self, "BEGIN IMMEDIATE", error))
    return FALSE;
  if (!imp_mirror_group_ensure (self, msg->conversation_id, group_id, NULL))
    goto fail;
  wm = imp_mirror_group_watermark (self, msg->conversation_id);
  if (out_duplicate)
    *out_duplicate = msg->seq <= wm;

  st = stmt (self, "INSERT INTO group_messages (" GMSG_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (conversation_id, seq) DO UPDATE SET msg_id = excluded.msg_id, "
                   "sender_id = excluded.sender_id, group_id = excluded.group_id, "
                   "content = excluded.content, content_type = excluded.content_type, "
                   "send_time_ms = excluded.send_time_ms, state = MAX (state, excluded.state), "
                   "client_msg_id = COALESCE (excluded.client_msg_id, client_msg_id)");
  if (st == NULL)
    goto fail;
  sqlite3_bind_int64 (st, 1, msg->seq);
  sqlite3_bind_int64 (st, 2, msg->msg_id);
  sqlite3_bind_text (st, 3, msg->conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 4, msg->sender_id);
  sqlite3_bind_int64 (st, 5, group_id);
  sqlite3_bind_text (st, 6, msg->content ? msg->content : "", -1, SQLITE_STATIC);
  sqlite3_bind_int (st, 7, msg->content_type);
  sqlite3_bind_int64 (st, 8, msg->send_time_ms);
  sqlite3_bind_int (st, 9, msg->state == IMP_MESSAGE_SENDING || msg->state == IMP_MESSAGE_FAILED
                           ? IMP_MESSAGE_SENT : msg->state);
  if (msg->client_msg_id)
    sqlite3_bind_text (st, 10, msg->client_msg_id, -1, SQLITE_STATIC);
  if (sqlite3_step (st) != SQLITE_DONE)
    goto fail;
  if (!advance (self, msg->conversation_id, wm, wm, applied))
    goto fail;
  return commit (self, &applied, out_applied, error);

fail:
  set_db_error (self, error);
  exec (self, "ROLLBACK", NULL);
  return FALSE;
}

gboolean
imp_mirror_group_skip_to (ImpMirror *self, const char *conversation_id, gint64 seq,
                          GPtrArray **out_applied, GError **error)
{
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_free);
  gint64 wm;

  g_return_val_if_fail (IMP_IS_MIRROR (self), FALSE);
  if (out_applied)
    *out_applied = NULL;
  if (!exec (self, "BEGIN IMMEDIATE", error))
    return FALSE;
  if (!imp_mirror_group_ensure (self, conversation_id, 0, NULL))
    goto fail;
  wm = imp_mirror_group_watermark (self, conversation_id);
  if (!advance (self, conversation_id, MAX (wm, seq), wm, applied))
    goto fail;
  return commit (self, &applied, out_applied, error);

fail:
  set_db_error (self, error);
  exec (self, "ROLLBACK", NULL);
  return FALSE;
}

gint64
imp_mirror_group_count_buffered (ImpMirror *self, const char *conversation_id)
{
  sqlite3_stmt *st = stmt (self, "SELECT COUNT(*) FROM group_messages g JOIN group_streams s "
                                 "USING (conversation_id) WHERE conversation_id = ? AND g.seq > s.watermark");

  if (st == NULL)
    return 0;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  return step_int64 (st);
}

GPtrArray *
imp_mirror_group_list_messages (ImpMirror *self, const char *conversation_id, guint limit)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_free);
  sqlite3_stmt *st = stmt (self, "SELECT " GMSG_COLS " FROM group_messages WHERE conversation_id = ?1 "
                                 "AND seq <= (SELECT watermark FROM group_streams WHERE conversation_id = ?1) "
                                 "ORDER BY seq DESC LIMIT ?2");

  if (st == NULL)
    return out;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, limit ? (gint64) limit : -1);
  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, group_message_from_row (st));
  sqlite3_reset (st);
  for (guint i = 0; i < out->len / 2; i++)
    {
      gpointer tmp = out->pdata[i];
      out->pdata[i] = out->pdata[out->len - 1 - i];
      out->pdata[out->len - 1 - i] = tmp;
    }
  return out;
}

gboolean
imp_mirror_set_read (ImpMirror *self, const char *conversation_id, gint64 seq)
{
  sqlite3_stmt *st = stmt (self, "INSERT INTO conv_read (conversation_id, read_seq) VALUES (?, ?) "
                                 "ON CONFLICT (conversation_id) DO UPDATE SET read_seq = excluded.read_seq "
                                 "WHERE excluded.read_seq > read_seq");

  g_return_val_if_fail (IMP_IS_MIRROR (self), FALSE);
  if (st == NULL || conversation_id == NULL)
    return FALSE;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, seq);
  return sqlite3_step (st) == SQLITE_DONE && sqlite3_changes (self->db) > 0;
}

gint64
imp_mirror_get_read (ImpMirror *self, const char *conversation_id)
{
  sqlite3_stmt *st = stmt (self, "SELECT read_seq FROM conv_read WHERE conversation_id = ?");

  if (st == NULL || conversation_id == NULL)
    return 0;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  return step_int64 (st);
}

guint
imp_mirror_mark_own (ImpMirror *self, const char *conversation_id, gint64 sender_id,
                     gint64 up_to_seq, ImpMessageState state)
{
  sqlite3_stmt *st;

  g_return_val_if_fail (IMP_IS_MIRROR (self), 0);
  if (conversation_id == NULL)
    return 0;
  if (g_str_has_prefix (conversation_id, "group_"))
    st = stmt (self, "UPDATE group_messages SET state = ?1 WHERE conversation_id = ?2 AND sender_id = ?3 "
                     "AND seq <= ?4 AND state < ?1");
  else
    st = stmt (self, "UPDATE messages SET state = ?1 WHERE conversation_id = ?2 AND sender_id = ?3 "
                     "AND seq <= ?4 AND state < ?1");
  if (st == NULL)
    return 0;
  sqlite3_bind_int (st, 1, state);
  sqlite3_bind_text (st, 2, conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 3, sender_id);
  sqlite3_bind_int64 (st, 4, up_to_seq);
  if (sqlite3_step (st) != SQLITE_DONE)
    return 0;
  return sqlite3_changes (self->db);
}

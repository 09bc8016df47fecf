/* imp-mirror-index.c: conversation summaries, read positions, drafts and search over the mirror. */
#define G_LOG_DOMAIN "implus-mirror-index"

#include <string.h>
#include <sqlite3.h>
#include "imp-mirror-index.h"
#include "imp-convid.h"
#include "imp-sqlite-db.h"

struct _ImpMirrorIndex
{
  GObject     parent_instance;

  /* Owned */
  sqlite3    *db;
  GHashTable *stmts;      /* const char *sql (static) -> sqlite3_stmt * */

  gint64      user_id;
};

G_DEFINE_FINAL_TYPE (ImpMirrorIndex, imp_mirror_index, G_TYPE_OBJECT)

#define WHO "mirror index"  /* prefix of warnings and error messages */
#define step_int64 imp_sqlite_db_step_int64
#define col_strdup imp_sqlite_db_col_strdup

/* The mirror's messages and outbox tables exist already (ImpMirror created them). */
static const char *schema =
  "CREATE TABLE IF NOT EXISTS conv_read ("
  "  conversation_id TEXT PRIMARY KEY, read_seq INTEGER NOT NULL);"
  "CREATE TABLE IF NOT EXISTS drafts ("
  "  conversation_id TEXT PRIMARY KEY, text TEXT NOT NULL, updated_ms INTEGER NOT NULL);"
  "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 ("
  "  content, content='messages', content_rowid='seq', tokenize='trigram');"
  "CREATE TRIGGER IF NOT EXISTS messages_fts_ai AFTER INSERT ON messages BEGIN"
  "  INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content); END;"
  "CREATE TRIGGER IF NOT EXISTS messages_fts_ad AFTER DELETE ON messages BEGIN"
  "  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content); END;"
  "CREATE TRIGGER IF NOT EXISTS messages_fts_au AFTER UPDATE OF content ON messages BEGIN"
  "  INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);"
  "  INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content); END;"
  /* Group streams: the same index over group_messages (keyed by its implicit rowid, which an
   * upsert keeps). */
  "CREATE VIRTUAL TABLE IF NOT EXISTS group_messages_fts USING fts5 ("
  "  content, content='group_messages', tokenize='trigram');"
  "CREATE TRIGGER IF NOT EXISTS group_messages_fts_ai AFTER INSERT ON group_messages BEGIN"
  "  INSERT INTO group_messages_fts (rowid, content) VALUES (new.rowid, new.content); END;"
  "CREATE TRIGGER IF NOT EXISTS group_messages_fts_ad AFTER DELETE ON group_messages BEGIN"
  "  INSERT INTO group_messages_fts (group_messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content); END;"
  "CREATE TRIGGER IF NOT EXISTS group_messages_fts_au AFTER UPDATE OF content ON group_messages BEGIN"
  "  INSERT INTO group_messages_fts (group_messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);"
  "  INSERT INTO group_messages_fts (rowid, content) VALUES (new.rowid, new.content); END;"
  /* Applied messages of every stream (seq <= that stream's watermark), one row shape. Temporary:
   * it belongs to this connection only, the mirror file is not changed by it. */
  "CREATE TEMP VIEW IF NOT EXISTS applied AS"
  "  SELECT seq, msg_id, conversation_id, sender_id, to_user_id, 0 AS group_id, content, content_type,"
  "         send_time_ms, state, client_msg_id FROM messages"
  "  WHERE seq <= (SELECT COALESCE (MAX (CAST (value AS INTEGER)), 0) FROM kv WHERE key = 'watermark')"
  "  UNION ALL"
  "  SELECT g.seq, g.msg_id, g.conversation_id, g.sender_id, 0, g.group_id, g.content, g.content_type,"
  "         g.send_time_ms, g.state, g.client_msg_id FROM group_messages g"
  "  JOIN group_streams s ON s.conversation_id = g.conversation_id WHERE g.seq <= s.watermark;";

void
imp_conversation_info_free (ImpConversationInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->conversation_id);
  g_free (info->peer_name);
  g_free (info->last_content);
  g_free (info->group_name);
  g_free (info);
}

static void
imp_mirror_index_finalize (GObject *object)
{
  ImpMirrorIndex *self = IMP_MIRROR_INDEX (object);

  imp_sqlite_db_clear (&self->db, &self->stmts);
  G_OBJECT_CLASS (imp_mirror_index_parent_class)->finalize (object);
}

static void
imp_mirror_index_class_init (ImpMirrorIndexClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = imp_mirror_index_finalize;
}

static void
imp_mirror_index_init (ImpMirrorIndex *self)
{
  self->stmts = imp_sqlite_db_stmts_new ();
}

static sqlite3_stmt *
stmt (ImpMirrorIndex *self, const char *sql)
{
  return imp_sqlite_db_stmt (self->db, self->stmts, sql, G_LOG_DOMAIN, WHO);
}

ImpMirrorIndex *
imp_mirror_index_open (const char *path, gint64 user_id, GError **error)
{
  g_autoptr(ImpMirrorIndex) self = g_object_new (IMP_TYPE_MIRROR_INDEX, NULL);
  gboolean fresh, gfresh;

  g_return_val_if_fail (path != NULL, NULL);
  self->user_id = user_id;
  self->db = imp_sqlite_db_open (path, SQLITE_OPEN_READWRITE, WHO, error);
  if (self->db == NULL)
    return NULL;
  fresh = step_int64 (stmt (self, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'messages_fts'")) == 0;
  gfresh = step_int64 (stmt (self, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'group_messages_fts'")) == 0;
  if (!imp_sqlite_db_exec (self->db, schema, WHO, error)
      /* Messages stored before the index existed. */
      || (fresh && !imp_sqlite_db_exec (self->db, "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",
                                        WHO, error))
      || (gfresh && !imp_sqlite_db_exec (self->db, "INSERT INTO group_messages_fts (group_messages_fts) "
                                         "VALUES ('rebuild')", WHO, error)))
    return NULL;
  return g_steal_pointer (&self);
}

static gint64
watermark (ImpMirrorIndex *self)
{
  sqlite3_stmt *st = stmt (self, "SELECT CAST (value AS INTEGER) FROM kv WHERE key = 'watermark'");

  return step_int64 (st);
}

gint64
imp_mirror_index_get_read (ImpMirrorIndex *self, const char *conversation_id)
{
  sqlite3_stmt *st = stmt (self, "SELECT read_seq FROM conv_read WHERE conversation_id = ?");

  if (st == NULL)
    return 0;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  return step_int64 (st);
}

gboolean
imp_mirror_index_set_read (ImpMirrorIndex *self, const char *conversation_id, gint64 seq)
{
  sqlite3_stmt *st = stmt (self, "INSERT INTO conv_read (conversation_id, read_seq) VALUES (?, ?) "
                                 "ON CONFLICT (conversation_id) DO UPDATE SET read_seq = excluded.read_seq "
                                 "WHERE excluded.read_seq > read_seq");

  g_return_val_if_fail (IMP_IS_MIRROR_INDEX (self), FALSE);
  if (st == NULL || conversation_id == NULL)
    return FALSE;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, seq);
  return sqlite3_step (st) == SQLITE_DONE && sqlite3_changes (self->db) > 0;
}

guint
imp_mirror_index_unread (ImpMirrorIndex *self, const char *conversation_id)
{
  sqlite3_stmt *st = stmt (self, "SELECT COUNT(*) FROM applied WHERE conversation_id = ?1 "
                                 "AND seq > ?2 AND sender_id != ?3 AND content_type != 99");

  if (st == NULL)
    return 0;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, imp_mirror_index_get_read (self, conversation_id));
  sqlite3_bind_int64 (st, 3, self->user_id);
  return (guint) step_int64 (st);
}

guint
imp_mirror_index_total_unread (ImpMirrorIndex *self)
{
  sqlite3_stmt *st = stmt (self, "SELECT COUNT(*) FROM applied m LEFT JOIN conv_read r "
                                 "ON r.conversation_id = m.conversation_id "
                                 "WHERE m.seq > COALESCE (r.read_seq, 0) AND m.sender_id != ?1 "
                                 "AND m.content_type != 99");

  if (st == NULL)
    return 0;
  sqlite3_bind_int64 (st, 1, self->user_id);
  return (guint) step_int64 (st);
}

gint64
imp_mirror_index_last_seq (ImpMirrorIndex *self, const char *conversation_id)
{
  sqlite3_stmt *st = stmt (self, "SELECT MAX (seq) FROM applied WHERE conversation_id = ?1");

  if (st == NULL)
    return 0;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  return step_int64 (st);
}

static void
fill_peer (ImpMirrorIndex *self, ImpConversationInfo *info)
{
  sqlite3_stmt *st;

  info->peer_id = imp_convid_private_peer (info->conversation_id, self->user_id);
  if (info->peer_id == 0)
    {
      st = stmt (self, "SELECT group_id, name FROM group_streams WHERE conversation_id = ?");
      if (st == NULL)
        return;
      sqlite3_bind_text (st, 1, info->conversation_id, -1, SQLITE_STATIC);
      if (sqlite3_step (st) == SQLITE_ROW)
        {
          info->group_id = sqlite3_column_int64 (st, 0);
          g_free (info->group_name);
          info->group_name = col_strdup (st, 1);
        }
      sqlite3_reset (st);
      return;
    }
  st = stmt (self, "SELECT username FROM users WHERE user_id = ?");
  if (st == NULL)
    return;
  sqlite3_bind_int64 (st, 1, info->peer_id);
  if (sqlite3_step (st) == SQLITE_ROW)
    info->peer_name = col_strdup (st, 0);
  sqlite3_reset (st);
}

/* Conversations from applied messages, then peers that have only unsent outbox rows. */
#define CONV_SQL \
  "SELECT m.conversation_id, m.seq, m.send_time_ms, m.sender_id, m.content, m.state, m.content_type " \
  "FROM messages m JOIN (SELECT conversation_id, MAX (seq) AS s FROM messages WHERE seq <= ?1 " \
  "GROUP BY conversation_id) l ON m.seq = l.s"
/* Every known group conversation, with its last applied message if any. */
#define GROUP_CONV_SQL \
  "SELECT s.conversation_id, g.seq, g.send_time_ms, g.sender_id, g.content, g.state, g.content_type " \
  "FROM group_streams s LEFT JOIN group_messages g ON g.conversation_id = s.conversation_id " \
  "AND g.seq = (SELECT MAX (seq) FROM group_messages x WHERE x.conversation_id = s.conversation_id " \
  "AND x.seq <= s.watermark)"

static ImpConversationInfo *
info_from_row (ImpMirrorIndex *self, sqlite3_stmt *st)
{
  ImpConversationInfo *info = g_new0 (ImpConversationInfo, 1);

  info->conversation_id = col_strdup (st, 0);
  info->last_seq = sqlite3_column_int64 (st, 1);
  info->last_time_ms = sqlite3_column_int64 (st, 2);
  info->last_sender_id = sqlite3_column_int64 (st, 3);
  info->last_content = col_strdup (st, 4);
  info->last_state = sqlite3_column_int (st, 5);
  info->last_content_type = sqlite3_column_int (st, 6);
  return info;
}

/* A newer unsent outbox row replaces the preview (it is what the user wrote last). */
static void
apply_outbox (ImpMirrorIndex *self, ImpConversationInfo *info)
{
  g_autoptr(GPtrArray) unsent = NULL;
  ImpOutboxItem *last;

  if (info->peer_id != 0)
    unsent = imp_mirror_index_outbox_unsent (self, info->peer_id);
  else if (info->group_id != 0)
    unsent = imp_mirror_index_outbox_unsent_group (self, info->group_id);
  else
    return;
  if (unsent->len == 0)
    return;
  last = unsent->pdata[unsent->len - 1];
  if (last->created_ms < info->last_time_ms)
    return;
  info->last_time_ms = last->created_ms;
  info->last_sender_id = self->user_id;
  g_free (info->last_content);
  info->last_content = g_strdup (last->content);
  info->last_state = last->state;
  info->last_content_type = 0;
}

static void
finish_info (ImpMirrorIndex *self, ImpConversationInfo *info)
{
  fill_peer (self, info);
  info->read_seq = imp_mirror_index_get_read (self, info->conversation_id);
  info->unread = imp_mirror_index_unread (self, info->conversation_id);
  apply_outbox (self, info);
}

static int
compare_recent (gconstpointer a, gconstpointer b)
{
  const ImpConversationInfo *x = *(ImpConversationInfo **) a, *y = *(ImpConversationInfo **) b;

  if (x->last_time_ms != y->last_time_ms)
    return x->last_time_ms > y->last_time_ms ? -1 : 1;
  return x->last_seq > y->last_seq ? -1 : x->last_seq < y->last_seq;
}

GPtrArray *
imp_mirror_index_list_conversations (ImpMirrorIndex *self)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_conversation_info_free);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  sqlite3_stmt *st;

  g_return_val_if_fail (IMP_IS_MIRROR_INDEX (self), out);
  st = stmt (self, CONV_SQL);
  if (st == NULL)
    return out;
  sqlite3_bind_int64 (st, 1, watermark (self));
  {
    int rc;
    while ((rc = sqlite3_step (st)) == SQLITE_ROW)
      g_ptr_array_add (out, info_from_row (self, st));
    if (rc != SQLITE_DONE)
      g_warning ("mirror index: conversations: %s (%d)", sqlite3_errmsg (self->db), rc);
  }
  sqlite3_reset (st);
  st = stmt (self, GROUP_CONV_SQL);
  if (st != NULL)
    {
      while (sqlite3_step (st) == SQLITE_ROW)
        g_ptr_array_add (out, info_from_row (self, st));
      sqlite3_reset (st);
    }
  for (guint i = 0; i < out->len; i++)
    {
      ImpConversationInfo *info = out->pdata[i];
      finish_info (self, info);
      g_hash_table_add (seen, info->conversation_id);
    }

  st = stmt (self, "SELECT DISTINCT to_user_id FROM outbox WHERE state IN (0, 3) AND group_id = 0");
  if (st != NULL)
    {
      g_autoptr(GArray) peers = g_array_new (FALSE, FALSE, sizeof (gint64));

      while (sqlite3_step (st) == SQLITE_ROW)
        {
          gint64 peer = sqlite3_column_int64 (st, 0);
          g_array_append_val (peers, peer);
        }
      sqlite3_reset (st);
      for (guint i = 0; i < peers->len; i++)
        {
          g_autofree char *conv = imp_convid_private (self->user_id, g_array_index (peers, gint64, i));
          ImpConversationInfo *info;

          if (conv == NULL || g_hash_table_contains (seen, conv))
            continue;
          info = g_new0 (ImpConversationInfo, 1);
          info->conversation_id = g_steal_pointer (&conv);
          finish_info (self, info);
          g_ptr_array_add (out, info);
        }
    }
  g_ptr_array_sort (out, compare_recent);
  return out;
}

ImpConversationInfo *
imp_mirror_index_get_conversation (ImpMirrorIndex *self, const char *conversation_id)
{
  g_autoptr(GPtrArray) all = imp_mirror_index_list_conversations (self);

  for (guint i = 0; i < all->len; i++)
    {
      ImpConversationInfo *info = all->pdata[i];
      if (g_strcmp0 (info->conversation_id, conversation_id) == 0)
        return g_ptr_array_steal_index (all, i);
    }
  return NULL;
}

gboolean
imp_mirror_index_set_draft (ImpMirrorIndex *self, const char *conversation_id, const char *text)
{
  sqlite3_stmt *st;

  g_return_val_if_fail (IMP_IS_MIRROR_INDEX (self), FALSE);
  if (conversation_id == NULL)
    return FALSE;
  if (text == NULL || *text == '\0')
    {
      st = stmt (self, "DELETE FROM drafts WHERE conversation_id = ?");
      if (st == NULL)
        return FALSE;
      sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
    }
  else
    {
      st = stmt (self, "INSERT INTO drafts (conversation_id, text, updated_ms) VALUES (?, ?, ?) "
                       "ON CONFLICT (conversation_id) DO UPDATE SET text = excluded.text, "
                       "updated_ms = excluded.updated_ms");
      if (st == NULL)
        return FALSE;
      sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
      sqlite3_bind_text (st, 2, text, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (st, 3, g_get_real_time () / 1000);
    }
  return sqlite3_step (st) == SQLITE_DONE;
}

char *
imp_mirror_index_get_draft (ImpMirrorIndex *self, const char *conversation_id)
{
  sqlite3_stmt *st = stmt (self, "SELECT text FROM drafts WHERE conversation_id = ?");
  char *text;

  if (st == NULL || conversation_id == NULL)
    return NULL;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  text = sqlite3_step (st) == SQLITE_ROW ? col_strdup (st, 0) : NULL;
  sqlite3_reset (st);
  return text;
}

#define MSG_COLS "seq, msg_id, conversation_id, sender_id, to_user_id, content, content_type, " \
                 "send_time_ms, state, client_msg_id, group_id"

static ImpMessage *
message_from_row (sqlite3_stmt *st)
{
  ImpMessage *m = imp_message_new ();

  m->seq = sqlite3_column_int64 (st, 0);
  m->msg_id = sqlite3_column_int64 (st, 1);
  m->conversation_id = col_strdup (st, 2);
  m->sender_id = sqlite3_column_int64 (st, 3);
  m->to_user_id = sqlite3_column_int64 (st, 4);
  m->content = col_strdup (st, 5);
  m->content_type = sqlite3_column_int (st, 6);
  m->send_time_ms = sqlite3_column_int64 (st, 7);
  m->state = sqlite3_column_int (st, 8);
  m->client_msg_id = col_strdup (st, 9);
  m->group_id = sqlite3_column_int64 (st, 10);
  return m;
}

static void
reverse (GPtrArray *a)
{
  for (guint i = 0; i < a->len / 2; i++)
    {
      gpointer tmp = a->pdata[i];
      a->pdata[i] = a->pdata[a->len - 1 - i];
      a->pdata[a->len - 1 - i] = tmp;
    }
}

GPtrArray *
imp_mirror_index_list_before (ImpMirrorIndex *self, const char *conversation_id,
                              gint64 before_seq, guint limit)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_free);
  sqlite3_stmt *st = stmt (self, "SELECT " MSG_COLS " FROM applied WHERE conversation_id = ?1 "
                                 "AND seq < ?2 ORDER BY seq DESC LIMIT ?3");

  if (st == NULL)
    return out;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, before_seq > 0 ? before_seq : G_MAXINT64);
  sqlite3_bind_int64 (st, 3, limit ? (gint64) limit : -1);
  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, message_from_row (st));
  sqlite3_reset (st);
  reverse (out);
  return out;
}

GPtrArray *
imp_mirror_index_list_after (ImpMirrorIndex *self, const char *conversation_id, gint64 after_seq)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_free);
  sqlite3_stmt *st = stmt (self, "SELECT " MSG_COLS " FROM applied WHERE conversation_id = ?1 "
                                 "AND seq > ?2 ORDER BY seq");

  if (st == NULL)
    return out;
  sqlite3_bind_text (st, 1, conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, after_seq);
  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, message_from_row (st));
  sqlite3_reset (st);
  return out;
}

#define OUTBOX_COLS "id, client_msg_id, to_user_id, content, created_ms, attempts, " \
                    "state, msg_id, seq, error_code, group_id"

static GPtrArray *
outbox_rows (sqlite3_stmt *st, gint64 key)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_outbox_item_free);

  if (st == NULL)
    return out;
  sqlite3_bind_int64 (st, 1, key);
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      ImpOutboxItem *item = g_new0 (ImpOutboxItem, 1);

      item->id = sqlite3_column_int64 (st, 0);
      item->client_msg_id = col_strdup (st, 1);
      item->to_user_id = sqlite3_column_int64 (st, 2);
      item->content = col_strdup (st, 3);
      item->created_ms = sqlite3_column_int64 (st, 4);
      item->attempts = sqlite3_column_int (st, 5);
      item->state = sqlite3_column_int (st, 6);
      item->msg_id = sqlite3_column_int64 (st, 7);
      item->seq = sqlite3_column_int64 (st, 8);
      item->error_code = sqlite3_column_int (st, 9);
      item->group_id = sqlite3_column_int64 (st, 10);
      g_ptr_array_add (out, item);
    }
  sqlite3_reset (st);
  return out;
}

GPtrArray *
imp_mirror_index_outbox_unsent (ImpMirrorIndex *self, gint64 peer_id)
{
  return outbox_rows (stmt (self, "SELECT " OUTBOX_COLS " FROM outbox "
                                  "WHERE to_user_id = ? AND group_id = 0 AND state IN (0, 3) ORDER BY id"),
                      peer_id);
}

GPtrArray *
imp_mirror_index_outbox_unsent_group (ImpMirrorIndex *self, gint64 group_id)
{
  return outbox_rows (stmt (self, "SELECT " OUTBOX_COLS " FROM outbox "
                                  "WHERE group_id = ? AND state IN (0, 3) ORDER BY id"),
                      group_id);
}

gboolean
imp_mirror_index_outbox_forget (ImpMirrorIndex *self, const char *client_msg_id)
{
  sqlite3_stmt *st = stmt (self, "DELETE FROM outbox WHERE client_msg_id = ? AND state = 3");

  if (st == NULL || client_msg_id == NULL)
    return FALSE;
  sqlite3_bind_text (st, 1, client_msg_id, -1, SQLITE_STATIC);
  return sqlite3_step (st) == SQLITE_DONE && sqlite3_changes (self->db) > 0;
}

/* Runs one search statement (?1 pattern, ?2 limit) into out. */
static void
search_into (ImpMirrorIndex *self, const char *sql, const char *pattern, guint limit, GPtrArray *out)
{
  sqlite3_stmt *st = stmt (self, sql);

  if (st == NULL)
    return;
  sqlite3_bind_text (st, 1, pattern, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, limit ? (gint64) limit : -1);
  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, message_from_row (st));
  sqlite3_reset (st);
}

static int
compare_newest (gconstpointer a, gconstpointer b)
{
  const ImpMessage *x = *(ImpMessage **) a, *y = *(ImpMessage **) b;

  if (x->send_time_ms != y->send_time_ms)
    return x->send_time_ms > y->send_time_ms ? -1 : 1;
  return x->seq > y->seq ? -1 : x->seq < y->seq;
}

#define PRIVATE_MSG_COLS "seq, msg_id, conversation_id, sender_id, to_user_id, content, content_type, " \
                         "send_time_ms, state, client_msg_id, 0"
#define GROUP_MSG_COLS "g.seq, g.msg_id, g.conversation_id, g.sender_id, 0, g.content, g.content_type, " \
                       "g.send_time_ms, g.state, g.client_msg_id, g.group_id"

GPtrArray *
imp_mirror_index_search (ImpMirrorIndex *self, const char *query, guint limit)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_free);
  g_autoptr(GString) pattern = g_string_new (NULL);

  g_return_val_if_fail (IMP_IS_MIRROR_INDEX (self), out);
  if (query == NULL || *query == '\0' || !g_utf8_validate (query, -1, NULL))
    return out;

  if (g_utf8_strlen (query, -1) >= 3)
    {
      /* One FTS5 phrase: double any quote inside it. */
      g_string_append_c (pattern, '"');
      for (const char *p = query; *p; p++)
        {
          if (*p == '"')
            g_string_append_c (pattern, '"');
          g_string_append_c (pattern, *p);
        }
      g_string_append_c (pattern, '"');
      search_into (self, "SELECT " PRIVATE_MSG_COLS " FROM messages WHERE seq IN "
                   "(SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1) "
                   "AND seq <= (SELECT COALESCE (MAX (CAST (value AS INTEGER)), 0) FROM kv WHERE key = 'watermark') "
                   "ORDER BY seq DESC LIMIT ?2", pattern->str, limit, out);
      search_into (self, "SELECT " GROUP_MSG_COLS " FROM group_messages g JOIN group_streams s "
                   "ON s.conversation_id = g.conversation_id WHERE g.rowid IN "
                   "(SELECT rowid FROM group_messages_fts WHERE group_messages_fts MATCH ?1) "
                   "AND g.seq <= s.watermark AND g.content_type != 99 "
                   "ORDER BY g.send_time_ms DESC LIMIT ?2", pattern->str, limit, out);
    }
  else
    {
      for (const char *p = query; *p; p++)
        {
          if (*p == '%' || *p == '_' || *p == '\\')
            g_string_append_c (pattern, '\\');
          g_string_append_c (pattern, *p);
        }
      g_string_prepend_c (pattern, '%');
      g_string_append_c (pattern, '%');
      search_into (self, "SELECT " MSG_COLS " FROM applied WHERE content LIKE ?1 ESCAPE '\\' "
                   "AND content_type != 99 ORDER BY send_time_ms DESC LIMIT ?2", pattern->str, limit, out);
    }
  g_ptr_array_sort (out, compare_newest);
  if (limit > 0 && out->len > limit)
    g_ptr_array_set_size (out, limit);
  return out;
}

/* imp-store-group-read.c: reading groups (info, members, a user's groups), a member's window of
 * the group stream (pull, history), group rows of the conversation list with exact unread
 * counts, read marks, and the group send inside the batch transaction. Written once over
 * ImpStoreDbOps. */
#include "imp-store-common.h"
#include "imp-convid.h"

#include <string.h>

#define SQL_GROUP_GET \
  "SELECT id, name, owner_id, status, member_count, seq, create_time, update_time " \
  "FROM `groups` WHERE id = ?1"
#define SQL_MEMBER_ROW \
  "SELECT m.group_id, m.user_id, u.user_id, NULL, 0, m.role, m.muted_until_ms, m.join_seq, " \
  "m.left_seq, m.create_time FROM group_members m LEFT JOIN users u ON u.id = m.user_id "
#define SQL_MEMBERS SQL_MEMBER_ROW \
  "WHERE m.group_id = ?1 AND m.left_seq IS NULL AND m.user_id > ?2 ORDER BY m.user_id LIMIT ?3"
#define SQL_MEMBER SQL_MEMBER_ROW "WHERE m.group_id = ?1 AND m.user_id = ?2"
#define SQL_USER_GROUPS \
  "SELECT m.group_id, m.user_id, NULL, g.name, g.status, m.role, m.muted_until_ms, m.join_seq, " \
  "m.left_seq, m.create_time FROM group_members m JOIN `groups` g ON g.id = m.group_id " \
  "WHERE m.user_id = ?1 AND (?2 = 1 OR m.left_seq IS NULL) ORDER BY m.group_id"
#define SQL_GROUP_MSG_COLUMNS \
  "SELECT m.msg_id, m.conversation_id, m.sender_id, m.to_id, l.seq, m.content, " \
  "m.content_type, m.send_time, CASE WHEN m.sender_id = ?4 THEN m.client_msg_id END " \
  "FROM conversation_msg_list l JOIN message m ON m.msg_id = l.msg_id "
#define SQL_GROUP_PULL SQL_GROUP_MSG_COLUMNS \
  "WHERE l.conversation_id = ?1 AND l.seq > ?2 AND l.seq <= ?3 ORDER BY l.seq LIMIT ?5"
#define SQL_GROUP_HISTORY SQL_GROUP_MSG_COLUMNS \
  "WHERE l.conversation_id = ?1 AND l.seq > ?2 AND l.seq <= ?3 ORDER BY l.seq DESC LIMIT ?5"
#define SQL_READ_POS \
  "SELECT last_read_seq FROM user_conversation_list WHERE user_id = ?1 AND conversation_id = ?2"
/* Unread = messages in the member's window after the read position, own excluded (counted on
 * uk_conversation_seq's range); and the last visible message. */
#define SQL_GROUP_SUMMARY \
  "SELECT (SELECT count(*) FROM conversation_msg_list WHERE conversation_id = ?2 " \
  " AND seq > ?3 AND seq <= ?4 AND sender_id <> ?1), " \
  "m.msg_id, m.sender_id, m.content, m.content_type, m.send_time, " \
  "CASE WHEN m.sender_id = ?1 THEN m.client_msg_id END " \
  "FROM (SELECT 1 AS one) x " \
  "LEFT JOIN conversation_msg_list l ON l.conversation_id = ?2 AND l.seq = ?4 " \
  "LEFT JOIN message m ON m.msg_id = l.msg_id"

gboolean
imp_store_is_group_conversation (const char *conversation_id, gint64 *out_group_id)
{
  ImpConvKind kind;
  gint64 a = 0, b = 0;

  if (conversation_id == NULL || !imp_convid_parse (conversation_id, &kind, &a, &b, NULL)
      || kind != IMP_CONV_GROUP)
    return FALSE;
  if (out_group_id != NULL)
    *out_group_id = a;
  return TRUE;
}

typedef struct {
  gint64      user_id;
  gint64      group_id;
  gint64      a, b;
  guint       limit;
  gboolean    flag;
  GPtrArray  *out;
  gpointer    rec;
} Args;

/* Group info */

static gboolean
group_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  ImpGroupRecord *g = g_new0 (ImpGroupRecord, 1);

  g->id = f->int64 (row, 0);
  g->name = g_strdup (f->text (row, 1));
  g->owner_id = f->int64 (row, 2);
  g->status = (int) f->int64 (row, 3);
  g->member_count = f->int64 (row, 4);
  g->last_seq = f->int64 (row, 5);
  g->created_ms = f->int64 (row, 6);
  g->updated_ms = f->int64 (row, 7);
  *(ImpGroupRecord **) data = g;
  return FALSE;
}

static gboolean
do_group_get (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  Args *a = data;

  return db->exec (c, SQL_GROUP_GET, IMP_ARGS (IMP_ARG_INT (a->group_id)), group_row, &a->rec,
                   NULL, error);
}

ImpGroupRecord *
imp_store_group_get (ImpStore *self, gint64 group_id, GError **error)
{
  Args a = { .group_id = group_id };

  g_return_val_if_fail (self != NULL, NULL);
  if (!imp_store_db_read (self, do_group_get, &a, error))
    return NULL;
  if (a.rec == NULL)
    g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_FOUND, "no such group");
  return a.rec;
}

/* Members */

static gboolean
member_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  ImpGroupMemberRecord *m = g_new0 (ImpGroupMemberRecord, 1);

  m->group_id = f->int64 (row, 0);
  m->user_id = f->int64 (row, 1);
  m->username = g_strdup (f->text (row, 2));
  m->group_name = g_strdup (f->text (row, 3));
  m->group_status = (int) f->int64 (row, 4);
  m->role = (int) f->int64 (row, 5);
  m->muted_until_ms = f->int64 (row, 6);
  m->join_seq = f->int64 (row, 7);
  m->left_seq = f->text (row, 8) != NULL ? f->int64 (row, 8) : 0;
  m->joined_ms = f->int64 (row, 9);
  g_ptr_array_add (data, m);
  return TRUE;
}

static gboolean
do_members (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  Args *a = data;

  return db->exec (c, SQL_MEMBERS, IMP_ARGS (IMP_ARG_INT (a->group_id), IMP_ARG_INT (a->a),
                                             IMP_ARG_INT (a->limit)),
                   member_row, a->out, NULL, error);
}

static GPtrArray *
new_member_array (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) imp_group_member_record_free);
}

GPtrArray *
imp_store_group_members (ImpStore *self, gint64 group_id, gint64 after_user_id, guint limit,
                         GError **error)
{
  g_autoptr(GPtrArray) out = new_member_array ();
  Args a = { .group_id = group_id, .a = after_user_id, .limit = imp_store_page_limit (limit),
             .out = out };

  g_return_val_if_fail (self != NULL, NULL);
  if (!imp_store_db_read (self, do_members, &a, error))
    return NULL;
  return g_steal_pointer (&out);
}

/* The membership of a->user_id in a->group_id into a->out (empty if never a member). */
static gboolean
do_member (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  Args *a = data;

  return db->exec (c, SQL_MEMBER, IMP_ARGS (IMP_ARG_INT (a->group_id), IMP_ARG_INT (a->user_id)),
                   member_row, a->out, NULL, error);
}

static gboolean
member_lookup (const ImpStoreDbOps *db, gpointer c, gint64 group_id, gint64 user_id,
               ImpGroupMemberRecord **out, GError **error)
{
  g_autoptr(GPtrArray) arr = new_member_array ();
  Args a = { .group_id = group_id, .user_id = user_id, .out = arr };

  if (!do_member (db, c, &a, error))
    return FALSE;
  if (arr->len == 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_MEMBER, "not a member of this group");
      return FALSE;
    }
  *out = g_ptr_array_steal_index (arr, 0);
  return TRUE;
}

ImpGroupMemberRecord *
imp_store_group_member_get (ImpStore *self, gint64 group_id, gint64 user_id, GError **error)
{
  g_autoptr(GPtrArray) out = new_member_array ();
  Args a = { .group_id = group_id, .user_id = user_id, .out = out };

  g_return_val_if_fail (self != NULL, NULL);
  if (!imp_store_db_read (self, do_member, &a, error))
    return NULL;
  if (out->len == 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_MEMBER, "not a member of this group");
      return NULL;
    }
  return g_ptr_array_steal_index (out, 0);
}

static gboolean
do_user_groups (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  Args *a = data;

  return db->exec (c, SQL_USER_GROUPS, IMP_ARGS (IMP_ARG_INT (a->user_id), IMP_ARG_INT (a->flag)),
                   member_row, a->out, NULL, error);
}

GPtrArray *
imp_store_user_groups (ImpStore *self, gint64 user_id, gboolean include_former, GError **error)
{
  g_autoptr(GPtrArray) out = new_member_array ();
  Args a = { .user_id = user_id, .flag = include_former ? 1 : 0, .out = out };

  g_return_val_if_fail (self != NULL, NULL);
  if (!imp_store_db_read (self, do_user_groups, &a, error))
    return NULL;
  return g_steal_pointer (&out);
}

/* The member's window */

static gboolean
message_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  Args *a = data;
  ImpMessageRecord *m = imp_store_message_from_row (f, row);

  m->group_id = a->group_id;
  g_ptr_array_add (a->out, m);
  return TRUE;
}

/* The last seq user may see: their left_seq, or the group's counter. */
static gboolean
window_end (const ImpStoreDbOps *db, gpointer c, const ImpGroupMemberRecord *m, gint64 *out,
            GError **error)
{
  if (m->left_seq > 0)
    {
      *out = m->left_seq;
      return TRUE;
    }
  return imp_store_db_int (db, c, "SELECT seq FROM `groups` WHERE id = ?1",
                           IMP_ARGS (IMP_ARG_INT (m->group_id)), out, NULL, error);
}

/* a->a: after (pull) or before (history, 0 = from the end); a->flag: history. */
static gboolean
do_window (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  Args *a = data;
  g_autoptr(ImpGroupMemberRecord) m = NULL;
  g_autofree char *conv_id = imp_convid_group (a->group_id);
  gint64 lo, hi = G_MAXINT64;

  if (!member_lookup (db, c, a->group_id, a->user_id, &m, error))
    return FALSE;
  if (m->left_seq > 0)
    hi = m->left_seq;
  if (!a->flag)
    lo = MAX (a->a, m->join_seq);
  else
    {
      lo = m->join_seq;
      if (a->a > 0)
        hi = MIN (hi, a->a - 1);
    }
  if (hi <= lo)
    return TRUE;
  return db->exec (c, a->flag ? SQL_GROUP_HISTORY : SQL_GROUP_PULL,
                   IMP_ARGS (IMP_ARG_TEXT (conv_id), IMP_ARG_INT (lo), IMP_ARG_INT (hi),
                             IMP_ARG_INT (a->user_id), IMP_ARG_INT (a->limit)),
                   message_row, a, NULL, error);
}

static GPtrArray *
window (ImpStore *self, gint64 user_id, gint64 group_id, gint64 seq, gboolean history,
        guint limit, GError **error)
{
  g_autoptr(GPtrArray) out =
    g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_record_free);
  Args a = { .user_id = user_id, .group_id = group_id, .a = seq, .flag = history,
             .limit = imp_store_page_limit (limit), .out = out };

  if (!imp_store_db_read (self, do_window, &a, error))
    return NULL;
  return g_steal_pointer (&out);
}

GPtrArray *
imp_store_group_pull (ImpStore *self, gint64 user_id, gint64 group_id, gint64 after_seq,
                      guint limit, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return window (self, user_id, group_id, after_seq, FALSE, limit, error);
}

GPtrArray *
imp_store_group_history (ImpStore *store, gint64 user_id, const char *conversation_id,
                         gint64 before_seq, guint limit, GError **error)
{
  gint64 group_id = 0;

  if (!imp_store_is_group_conversation (conversation_id, &group_id))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "malformed conversation id");
      return NULL;
    }
  return window (store, user_id, group_id, before_seq, TRUE, limit, error);
}

/* Read marks */

static gboolean
do_mark_read (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  Args *a = data;
  g_autoptr(ImpGroupMemberRecord) m = NULL;
  g_autofree char *conv_id = imp_convid_group (a->group_id);
  gint64 end = 0;

  if (!member_lookup (db, c, a->group_id, a->user_id, &m, error)
      || !window_end (db, c, m, &end, error))
    return FALSE;
  /* Forward only, and never past the last message the member may see. */
  return db->exec (c, "UPDATE user_conversation_list SET last_read_seq = ?3, update_time = ?4 "
                      "WHERE user_id = ?1 AND conversation_id = ?2 AND last_read_seq < ?3",
                   IMP_ARGS (IMP_ARG_INT (a->user_id), IMP_ARG_TEXT (conv_id),
                             IMP_ARG_INT (MIN (a->a, end)), IMP_ARG_INT (g_get_real_time () / 1000)),
                   NULL, NULL, NULL, error);
}

gboolean
imp_store_group_mark_read (ImpStore *store, gint64 user_id, const char *conversation_id,
                           gint64 seq, GError **error)
{
  Args a = { .user_id = user_id, .a = seq };

  if (!imp_store_is_group_conversation (conversation_id, &a.group_id))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "malformed conversation id");
      return FALSE;
    }
  return imp_store_db_transaction (store, do_mark_read, &a, error);
}

/* Conversation list */

static gboolean
summary_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  ImpConversationRecord *rec = data;
  ImpMessageRecord *msg;

  rec->unread = f->int64 (row, 0);
  if (f->text (row, 1) == NULL)
    return FALSE;
  msg = g_new0 (ImpMessageRecord, 1);
  msg->msg_id = f->int64 (row, 1);
  msg->conversation_id = g_strdup (rec->conversation_id);
  msg->sender_id = f->int64 (row, 2);
  msg->seq = rec->last_seq;
  msg->content = g_strdup (f->text (row, 3));
  msg->content_type = (int) f->int64 (row, 4);
  msg->send_time_ms = f->int64 (row, 5);
  msg->client_msg_id = g_strdup (f->text (row, 6));
  msg->group_id = rec->group_id;
  rec->last_message = msg;
  rec->updated_ms = MAX (rec->updated_ms, msg->send_time_ms);
  return FALSE;
}

gboolean
imp_store_group_conversations (const ImpStoreDbOps *db, gpointer c, gint64 user_id, GPtrArray *out,
                               GError **error)
{
  g_autoptr(GPtrArray) groups = new_member_array ();
  Args a = { .user_id = user_id, .flag = 1, .out = groups };

  if (!do_user_groups (db, c, &a, error))
    return FALSE;
  for (guint i = 0; i < groups->len; i++)
    {
      ImpGroupMemberRecord *m = g_ptr_array_index (groups, i);
      g_autoptr(ImpConversationRecord) rec = g_new0 (ImpConversationRecord, 1);
      gint64 read = 0, end = 0;

      rec->conversation_id = imp_convid_group (m->group_id);
      rec->kind = IMP_CONV_GROUP;
      rec->group_id = m->group_id;
      rec->name = g_strdup (m->group_name);
      rec->updated_ms = m->joined_ms;
      if (!window_end (db, c, m, &end, error)
          || !imp_store_db_int (db, c, SQL_READ_POS, IMP_ARGS (IMP_ARG_INT (user_id),
                                                               IMP_ARG_TEXT (rec->conversation_id)),
                                &read, NULL, error))
        return FALSE;
      rec->read_seq = MAX (read, m->join_seq);
      rec->last_seq = end;
      if (!db->exec (c, SQL_GROUP_SUMMARY,
                     IMP_ARGS (IMP_ARG_INT (user_id), IMP_ARG_TEXT (rec->conversation_id),
                               IMP_ARG_INT (rec->read_seq), IMP_ARG_INT (end)),
                     summary_row, rec, NULL, error))
        return FALSE;
      g_ptr_array_add (out, g_steal_pointer (&rec));
    }
  return TRUE;
}

static int
by_update (gconstpointer pa, gconstpointer pb)
{
  const ImpConversationRecord *a = *(ImpConversationRecord *const *) pa;
  const ImpConversationRecord *b = *(ImpConversationRecord *const *) pb;

  if (a->updated_ms != b->updated_ms)
    return a->updated_ms > b->updated_ms ? -1 : 1;
  return 0;
}

void
imp_store_conversations_sort (GPtrArray *list)
{
  /* Stable (GLib's sort is a merge sort): ties keep the backend's order (last_seq). */
  g_ptr_array_sort (list, by_update);
}

/* The group send */

typedef struct {
  int      n;  /* columns */
  gboolean found;
  gint64   v[6];
  gboolean member, current;
} SendRow;

static gboolean
send_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  SendRow *r = data;

  r->found = TRUE;
  for (int i = 0; i < r->n; i++)
    r->v[i] = f->int64 (row, i);
  if (r->n == 6)
    {
      r->member = f->text (row, 4) != NULL;   /* join_seq: NULL without a row */
      r->current = r->member && f->text (row, 5) == NULL;
    }
  return FALSE;
}

/* A group in this batch: read (and on MySQL locked) at its first send; last = the last
 * conversation seq handed out, row = the counter's value in the database. */
typedef struct {
  gint64   group_id;  /* key */
  gboolean found;
  gint64   status;
  gint64   row;
  gint64   last;
} GroupEntry;

typedef struct {
  gint64  key[2];  /* group, sender */
  SendRow s;
} MemberEntry;

static GroupEntry *
group_entry (const ImpStoreDbOps *db, ImpStoreChatBatch *b, gpointer c, gint64 group_id,
             GError **error)
{
  g_autofree char *lock_sql = NULL;
  GroupEntry *e = g_hash_table_lookup (b->groups, &group_id);
  SendRow g = { 2, FALSE, { 0 }, FALSE, FALSE };

  if (e != NULL)
    return e;
  /* The group row's lock orders this batch against membership changes (MySQL). */
  lock_sql = g_strconcat ("SELECT status, seq FROM `groups` WHERE id = ?1", db->for_update, NULL);
  if (!db->exec (c, lock_sql, IMP_ARGS (IMP_ARG_INT (group_id)), send_row, &g, NULL, error))
    return NULL;
  e = g_new0 (GroupEntry, 1);
  e->group_id = group_id;
  e->found = g.found;
  e->status = g.v[0];
  e->row = e->last = g.v[1];
  g_hash_table_insert (b->groups, &e->group_id, e);
  return e;
}

static MemberEntry *
member_entry (const ImpStoreDbOps *db, ImpStoreChatBatch *b, gpointer c, gint64 group_id,
              gint64 user_id, GError **error)
{
  gint64 key[2] = { group_id, user_id };
  MemberEntry *e = g_hash_table_lookup (b->members, key);

  if (e != NULL)
    return e;
  e = g_new0 (MemberEntry, 1);
  e->key[0] = group_id;
  e->key[1] = user_id;
  e->s.n = 6;
  /* v: sender status, sender muted until, member muted until, role, join_seq, left_seq */
  if (!db->exec (c, "SELECT (SELECT status FROM users WHERE id = ?2 AND deleted = 0), "
                    "(SELECT muted_until_ms FROM users WHERE id = ?2 AND deleted = 0), "
                    "m.muted_until_ms, m.role, m.join_seq, m.left_seq FROM (SELECT 1 AS one) x "
                    "LEFT JOIN group_members m ON m.group_id = ?1 AND m.user_id = ?2",
                 IMP_ARGS (IMP_ARG_INT (group_id), IMP_ARG_INT (user_id)),
                 send_row, &e->s, NULL, error))
    {
      g_free (e);
      return NULL;
    }
  g_hash_table_insert (b->members, e->key, e);
  return e;
}

gboolean
imp_store_group_chat_one (const ImpStoreChatOps *ops, ImpStoreChatBatch *batch, gpointer c,
                          const ImpChatRequest *req, ImpChatResult *res, GError **error)
{
  const ImpStoreDbOps *db = ops->db;
  GroupEntry *g;
  MemberEntry *m;
  const SendRow *s;
  gboolean dup = FALSE;
  gint64 seq;

  /* Membership cannot change under the batch: SQLite's BEGIN IMMEDIATE excludes other writers,
   * MySQL holds the group row's lock from the first read. */
  if ((g = group_entry (db, batch, c, req->group_id, error)) == NULL)
    return FALSE;
  if (!g->found || g->status != IMP_GROUP_ACTIVE)
    {
      res->error_code = IMP_ERROR_NOT_FOUND;
      return TRUE;
    }
  if ((m = member_entry (db, batch, c, req->group_id, req->sender_id, error)) == NULL)
    return FALSE;
  s = &m->s;
  if (s->v[0] == IMP_USER_STATUS_BANNED)
    res->error_code = IMP_ERROR_BANNED;
  else if (s->v[1] > req->now_ms)
    {
      res->error_code = IMP_ERROR_MUTED;
      res->muted_until_ms = s->v[1];
    }
  else if (!s->current)
    res->error_code = IMP_ERROR_NOT_MEMBER;
  else if (s->v[2] > req->now_ms)
    {
      res->error_code = IMP_ERROR_MUTED;
      res->muted_until_ms = s->v[2];
    }
  if (res->error_code != IMP_ERROR_NONE)
    return TRUE;

  seq = g->last + 1;
  res->msg_id = req->msg_id;
  res->send_time_ms = req->now_ms;
  res->conversation_id = imp_convid_group (req->group_id);
  res->sender_seq = seq;
  /* The key first: a repeat (earlier in this batch, or committed before) takes no seq. */
  if (!ops->dedup_insert (c, req, res, &dup, error))
    return FALSE;
  if (dup)
    return imp_store_chat_duplicate (ops, c, req, res, error);
  g->last = seq;
  imp_store_chat_batch_group_message (batch, res->conversation_id, req->msg_id, req->now_ms);
  /* Read diffusion: one message row and one stream row, whatever the group's size. */
  return db->write (c, "INSERT INTO message (msg_id, conversation_id, sender_id, to_id, msg_type, "
                       "content_type, content, client_msg_id, send_time, update_time) "
                       "VALUES (?1, ?2, ?3, 0, 2, ?4, ?5, ?6, ?7, ?7)",
                    IMP_ARGS (IMP_ARG_INT (req->msg_id), IMP_ARG_TEXT (res->conversation_id),
                              IMP_ARG_INT (req->sender_id), IMP_ARG_INT (req->content_type),
                              IMP_ARG_TEXT (req->content), IMP_ARG_TEXT (req->client_msg_id),
                              IMP_ARG_INT (req->now_ms)), error)
         && db->write (c, "INSERT INTO conversation_msg_list (conversation_id, msg_id, seq, "
                          "sender_id, create_time, update_time) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                       IMP_ARGS (IMP_ARG_TEXT (res->conversation_id), IMP_ARG_INT (req->msg_id),
                                 IMP_ARG_INT (seq), IMP_ARG_INT (req->sender_id),
                                 IMP_ARG_INT (req->now_ms)), error);
}

gboolean
imp_store_group_chat_flush (const ImpStoreChatOps *ops, ImpStoreChatBatch *batch, gpointer c,
                            GError **error)
{
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, batch->groups);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      GroupEntry *e = value;

      if (e->last != e->row
          && !ops->db->write (c, "UPDATE `groups` SET seq = ?2 WHERE id = ?1",
                              IMP_ARGS (IMP_ARG_INT (e->group_id), IMP_ARG_INT (e->last)), error))
        return FALSE;
    }
  return TRUE;
}

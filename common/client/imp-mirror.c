/* imp-mirror.c: SQLite mirror of the user's stream, outbox, user cache and kv. */
#define G_LOG_DOMAIN "implus-mirror"

#include <sqlite3.h>
#include "imp-mirror-private.h"
#include "imp-sqlite-db.h"

/* Short local names for the helpers shared with imp-mirror-group.c. */
#define stmt imp_mirror_stmt
#define exec imp_mirror_exec
#define set_db_error imp_mirror_set_db_error
#define col_strdup imp_mirror_col_strdup
#define step_string imp_mirror_step_string
#define step_int64 imp_mirror_step_int64

#define WHO "mirror"  /* prefix of warnings and error messages */

G_DEFINE_FINAL_TYPE (ImpMirror, imp_mirror, G_TYPE_OBJECT)

static const char *schema =
  "PRAGMA journal_mode=WAL;"
  "PRAGMA synchronous=NORMAL;"
  "CREATE TABLE IF NOT EXISTS messages ("
  "  seq INTEGER PRIMARY KEY,"
  "  msg_id INTEGER NOT NULL,"
  "  conversation_id TEXT NOT NULL,"
  "  sender_id INTEGER NOT NULL,"
  "  to_user_id INTEGER NOT NULL,"
  "  content TEXT NOT NULL,"
  "  content_type INTEGER NOT NULL,"
  "  send_time_ms INTEGER NOT NULL,"
  "  state INTEGER NOT NULL,"
  "  client_msg_id TEXT);"
  "CREATE INDEX IF NOT EXISTS messages_conv ON messages (conversation_id, seq);"
  "CREATE TABLE IF NOT EXISTS outbox ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  client_msg_id TEXT NOT NULL UNIQUE,"
  "  to_user_id INTEGER NOT NULL,"
  "  content TEXT NOT NULL,"
  "  created_ms INTEGER NOT NULL,"
  "  attempts INTEGER NOT NULL DEFAULT 0,"
  "  state INTEGER NOT NULL DEFAULT 0,"
  "  msg_id INTEGER NOT NULL DEFAULT 0,"
  "  seq INTEGER NOT NULL DEFAULT 0,"
  "  error_code INTEGER NOT NULL DEFAULT 0,"
  "  group_id INTEGER NOT NULL DEFAULT 0);"
  "CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, id);"
  "CREATE TABLE IF NOT EXISTS users ("
  "  user_id INTEGER PRIMARY KEY,"
  "  username TEXT NOT NULL UNIQUE,"
  "  nickname TEXT);"
  "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
  /* Group conversations (read diffusion): one stream per conversation, keyed by its seq. */
  "CREATE TABLE IF NOT EXISTS group_messages ("
  "  conversation_id TEXT NOT NULL,"
  "  seq INTEGER NOT NULL,"
  "  msg_id INTEGER NOT NULL,"
  "  group_id INTEGER NOT NULL,"
  "  sender_id INTEGER NOT NULL,"
  "  content TEXT NOT NULL,"
  "  content_type INTEGER NOT NULL,"
  "  send_time_ms INTEGER NOT NULL,"
  "  state INTEGER NOT NULL,"
  "  client_msg_id TEXT,"
  "  PRIMARY KEY (conversation_id, seq));"
  "CREATE TABLE IF NOT EXISTS group_streams ("
  "  conversation_id TEXT PRIMARY KEY,"
  "  group_id INTEGER NOT NULL,"
  "  watermark INTEGER NOT NULL DEFAULT 0,"
  "  name TEXT);"
  /* Read positions; ImpMirrorIndex declares the same table. */
  "CREATE TABLE IF NOT EXISTS conv_read ("
  "  conversation_id TEXT PRIMARY KEY, read_seq INTEGER NOT NULL);";

/* Mirrors created before group support lack outbox.group_id. */
static const char *migration_1 = "ALTER TABLE outbox ADD COLUMN group_id INTEGER NOT NULL DEFAULT 0";

void
imp_outbox_item_free (ImpOutboxItem *item)
{
  if (item == NULL)
    return;
  g_free (item->client_msg_id);
  g_free (item->content);
  g_free (item);
}

static void
imp_mirror_finalize (GObject *object)
{
  ImpMirror *self = IMP_MIRROR (object);

  imp_sqlite_db_clear (&self->db, &self->stmts);
  g_free (self->path);
  G_OBJECT_CLASS (imp_mirror_parent_class)->finalize (object);
}

static void
imp_mirror_class_init (ImpMirrorClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = imp_mirror_finalize;
}

static void
imp_mirror_init (ImpMirror *self)
{
  self->stmts = imp_sqlite_db_stmts_new ();
}

/* The helpers imp-mirror-private.h declares for imp-mirror-group.c, over imp-sqlite-db. */
sqlite3_stmt *
imp_mirror_stmt (ImpMirror *self, const char *sql)
{
  return imp_sqlite_db_stmt (self->db, self->stmts, sql, G_LOG_DOMAIN, WHO);
}

gboolean
imp_mirror_set_db_error (ImpMirror *self, GError **error)
{
  return imp_sqlite_db_set_error (self->db, WHO, error);
}

gboolean
imp_mirror_exec (ImpMirror *self, const char *sql, GError **error)
{
  return imp_sqlite_db_exec (self->db, sql, WHO, error);
}

char *
imp_mirror_col_strdup (sqlite3_stmt *st, int col)
{
  return imp_sqlite_db_col_strdup (st, col);
}

char *
imp_mirror_step_string (sqlite3_stmt *st)
{
  return imp_sqlite_db_step_string (st);
}

gint64
imp_mirror_step_int64 (sqlite3_stmt *st)
{
  return imp_sqlite_db_step_int64 (st);
}

ImpMirror *
imp_mirror_open (const char *path, GError **error)
{
  g_autoptr(ImpMirror) self = g_object_new (IMP_TYPE_MIRROR, NULL);
  g_autofree char *wm = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  self->path = g_strdup (path);
  self->db = imp_sqlite_db_open (path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, WHO, error);
  if (self->db == NULL)
    return NULL;
  if (!exec (self, schema, error))
    return NULL;
  if (step_int64 (stmt (self, "PRAGMA user_version")) < 1)
    {
      g_autoptr(GError) ignored = NULL;

      /* A fresh schema has the column already: "duplicate column" is fine. */
      exec (self, migration_1, &ignored);
      if (!exec (self, "PRAGMA user_version = 1", error))
        return NULL;
    }
  wm = imp_mirror_kv_get (self, "watermark");
  self->watermark = wm ? g_ascii_strtoll (wm, NULL, 10) : 0;
  return g_steal_pointer (&self);
}

const char *
imp_mirror_get_path (ImpMirror *self)
{
  return self->path;
}

gint64
imp_mirror_get_watermark (ImpMirror *self)
{
  g_return_val_if_fail (IMP_IS_MIRROR (self), 0);
  return self->watermark;
}

char *
imp_mirror_kv_get (ImpMirror *self, const char *key)
{
  sqlite3_stmt *st = stmt (self, "SELECT value FROM kv WHERE key = ?");

  if (st == NULL)
    return NULL;
  sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
  return step_string (st);
}

gboolean
imp_mirror_kv_set (ImpMirror *self, const char *key, const char *value, GError **error)
{
  sqlite3_stmt *st;

  if (value == NULL)
    {
      st = stmt (self, "DELETE FROM kv WHERE key = ?");
      if (st == NULL)
        return set_db_error (self, error);
      sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
    }
  else
    {
      st = stmt (self, "INSERT INTO kv (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
      if (st == NULL)
        return set_db_error (self, error);
      sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
      sqlite3_bind_text (st, 2, value, -1, SQLITE_STATIC);
    }
  return sqlite3_step (st) == SQLITE_DONE || set_db_error (self, error);
}

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
  return m;
}

#define MSG_COLS "seq, msg_id, conversation_id, sender_id, to_user_id, content, content_type, " \
                 "send_time_ms, state, client_msg_id"

ImpMessage *
imp_mirror_get_message (ImpMirror *self, gint64 seq)
{
  ImpMessage *m;
  sqlite3_stmt *st = stmt (self, "SELECT " MSG_COLS " FROM messages WHERE seq = ?");

  if (st == NULL)
    return NULL;
  sqlite3_bind_int64 (st, 1, seq);
  m = sqlite3_step (st) == SQLITE_ROW ? message_from_row (st) : NULL;
  sqlite3_reset (st);
  return m;
}

gboolean
imp_mirror_store (ImpMirror         *self,
                  const ImpMessage  *msg,
                  gboolean          *out_duplicate,
                  GPtrArray        **out_applied,
                  GError           **error)
{
  g_autoptr(GPtrArray) applied = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_free);
  gint64 wm = self->watermark;
  sqlite3_stmt *st;

  g_return_val_if_fail (IMP_IS_MIRROR (self), FALSE);
  g_return_val_if_fail (msg != NULL && msg->seq > 0, FALSE);

  if (out_duplicate)
    *out_duplicate = msg->seq <= self->watermark;
  if (out_applied)
    *out_applied = NULL;

  if (!exec (self, "BEGIN IMMEDIATE", error))
    return FALSE;

  /* The state only moves forward (sent -> delivered); everything else is the server's word. */
  st = stmt (self, "INSERT INTO messages (" MSG_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (seq) DO UPDATE SET msg_id = excluded.msg_id, "
                   "conversation_id = excluded.conversation_id, sender_id = excluded.sender_id, "
                   "to_user_id = excluded.to_user_id, content = excluded.content, "
                   "content_type = excluded.content_type, send_time_ms = excluded.send_time_ms, "
                   "state = MAX (state, excluded.state), "
                   "client_msg_id = COALESCE (excluded.client_msg_id, client_msg_id)");
  if (st == NULL)
    goto fail;
  sqlite3_bind_int64 (st, 1, msg->seq);
  sqlite3_bind_int64 (st, 2, msg->msg_id);
  sqlite3_bind_text (st, 3, msg->conversation_id ? msg->conversation_id : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 4, msg->sender_id);
  sqlite3_bind_int64 (st, 5, msg->to_user_id);
  sqlite3_bind_text (st, 6, msg->content ? msg->content : "", -1, SQLITE_STATIC);
  sqlite3_bind_int (st, 7, msg->content_type);
  sqlite3_bind_int64 (st, 8, msg->send_time_ms);
  sqlite3_bind_int (st, 9, msg->state == IMP_MESSAGE_SENDING ? IMP_MESSAGE_SENT : msg->state);
  if (msg->client_msg_id)
    sqlite3_bind_text (st, 10, msg->client_msg_id, -1, SQLITE_STATIC);
  if (sqlite3_step (st) != SQLITE_DONE)
    goto fail;

  /* Move the watermark over every contiguous stored seq. */
  for (;;)
    {
      ImpMessage *next = imp_mirror_get_message (self, wm + 1);

      if (next == NULL)
        break;
      wm++;
      g_ptr_array_add (applied, next);
    }

  if (wm != self->watermark)
    {
      char buf[32];

      g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, wm);
      if (!imp_mirror_kv_set (self, "watermark", buf, NULL))
        goto fail;
    }
  if (!exec (self, "COMMIT", error))
    {
      exec (self, "ROLLBACK", NULL);
      return FALSE;
    }
  self->watermark = wm;
  if (out_applied)
    *out_applied = g_steal_pointer (&applied);
  return TRUE;

fail:
  set_db_error (self, error);
  exec (self, "ROLLBACK", NULL);
  return FALSE;
}

gint64
imp_mirror_count_buffered (ImpMirror *self)
{
  sqlite3_stmt *st = stmt (self, "SELECT COUNT(*) FROM messages WHERE seq > ?");

  if (st == NULL)
    return 0;
  sqlite3_bind_int64 (st, 1, self->watermark);
  return step_int64 (st);
}

GPtrArray *
imp_mirror_list_messages (ImpMirror *self, const char *conversation_id, guint limit)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_free);
  sqlite3_stmt *st;

  /* Newest `limit` first from the index, reversed below into oldest first. */
  st = stmt (self, "SELECT " MSG_COLS " FROM messages WHERE seq <= ?1 "
                   "AND (?2 IS NULL OR conversation_id = ?2) ORDER BY seq DESC LIMIT ?3");
  if (st == NULL)
    return out;
  sqlite3_bind_int64 (st, 1, self->watermark);
  if (conversation_id)
    sqlite3_bind_text (st, 2, conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 3, limit ? (gint64) limit : -1);
  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, message_from_row (st));
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
imp_mirror_user_put (ImpMirror *self, gint64 user_id, const char *username, const char *nickname)
{
  sqlite3_stmt *st;

  /* A username may have moved to another id (account deleted and re-registered). */
  st = stmt (self, "DELETE FROM users WHERE username = ? AND user_id != ?");
  if (st == NULL)
    return FALSE;
  sqlite3_bind_text (st, 1, username, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, user_id);
  sqlite3_step (st);
  st = stmt (self, "INSERT INTO users (user_id, username, nickname) VALUES (?, ?, ?) "
                   "ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, "
                   "nickname = excluded.nickname");
  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, user_id);
  sqlite3_bind_text (st, 2, username, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 3, nickname, -1, SQLITE_STATIC);
  return sqlite3_step (st) == SQLITE_DONE;
}

gint64
imp_mirror_user_id (ImpMirror *self, const char *username)
{
  sqlite3_stmt *st = stmt (self, "SELECT user_id FROM users WHERE username = ?");

  if (st == NULL)
    return 0;
  sqlite3_bind_text (st, 1, username, -1, SQLITE_STATIC);
  return step_int64 (st);
}

char *
imp_mirror_user_name (ImpMirror *self, gint64 user_id)
{
  sqlite3_stmt *st = stmt (self, "SELECT username FROM users WHERE user_id = ?");

  if (st == NULL)
    return NULL;
  sqlite3_bind_int64 (st, 1, user_id);
  return step_string (st);
}

gboolean
imp_mirror_outbox_add (ImpMirror *self, const char *client_msg_id, gint64 to_user_id,
                       const char *content, gint64 created_ms, GError **error)
{
  return imp_mirror_outbox_add_full (self, client_msg_id, to_user_id, 0, content, created_ms, error);
}

gboolean
imp_mirror_outbox_add_full (ImpMirror *self, const char *client_msg_id, gint64 to_user_id,
                            gint64 group_id, const char *content, gint64 created_ms, GError **error)
{
  sqlite3_stmt *st = stmt (self, "INSERT INTO outbox (client_msg_id, to_user_id, content, created_ms, group_id) "
                                 "VALUES (?, ?, ?, ?, ?)");

  if (st == NULL)
    return set_db_error (self, error);
  sqlite3_bind_text (st, 1, client_msg_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, to_user_id);
  sqlite3_bind_text (st, 3, content, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 4, created_ms);
  sqlite3_bind_int64 (st, 5, group_id);
  return sqlite3_step (st) == SQLITE_DONE || set_db_error (self, error);
}

#define OUTBOX_COLS "id, client_msg_id, to_user_id, content, created_ms, attempts, state, " \
                    "msg_id, seq, error_code, group_id"

static ImpOutboxItem *
outbox_from_row (sqlite3_stmt *st)
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
  return item;
}

ImpOutboxItem *
imp_mirror_outbox_get (ImpMirror *self, const char *client_msg_id)
{
  ImpOutboxItem *item;
  sqlite3_stmt *st = stmt (self, "SELECT " OUTBOX_COLS " FROM outbox WHERE client_msg_id = ?");

  if (st == NULL || client_msg_id == NULL)
    return NULL;
  sqlite3_bind_text (st, 1, client_msg_id, -1, SQLITE_STATIC);
  item = sqlite3_step (st) == SQLITE_ROW ? outbox_from_row (st) : NULL;
  sqlite3_reset (st);
  return item;
}

GPtrArray *
imp_mirror_outbox_pending (ImpMirror *self, gint64 after_id, guint limit)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_outbox_item_free);
  sqlite3_stmt *st = stmt (self, "SELECT " OUTBOX_COLS " FROM outbox WHERE state = 0 AND id > ? "
                                 "ORDER BY id LIMIT ?");

  if (st == NULL)
    return out;
  sqlite3_bind_int64 (st, 1, after_id);
  sqlite3_bind_int64 (st, 2, limit);
  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, outbox_from_row (st));
  sqlite3_reset (st);
  return out;
}

gint64
imp_mirror_outbox_count_pending (ImpMirror *self)
{
  sqlite3_stmt *st = stmt (self, "SELECT COUNT(*) FROM outbox WHERE state = 0");

  return st ? step_int64 (st) : 0;
}

gboolean
imp_mirror_outbox_bump_attempts (ImpMirror *self, const char *client_msg_id)
{
  sqlite3_stmt *st = stmt (self, "UPDATE outbox SET attempts = attempts + 1 WHERE client_msg_id = ?");

  if (st == NULL)
    return FALSE;
  sqlite3_bind_text (st, 1, client_msg_id, -1, SQLITE_STATIC);
  return sqlite3_step (st) == SQLITE_DONE;
}

gboolean
imp_mirror_outbox_mark_sent (ImpMirror *self, const char *client_msg_id, gint64 msg_id, gint64 seq)
{
  sqlite3_stmt *st = stmt (self, "UPDATE outbox SET state = 1, msg_id = ?, seq = ? "
                                 "WHERE client_msg_id = ? AND state = 0");

  if (st == NULL)
    return FALSE;
  sqlite3_bind_int64 (st, 1, msg_id);
  sqlite3_bind_int64 (st, 2, seq);
  sqlite3_bind_text (st, 3, client_msg_id, -1, SQLITE_STATIC);
  return sqlite3_step (st) == SQLITE_DONE && sqlite3_changes (self->db) > 0;
}

gboolean
imp_mirror_outbox_mark_failed (ImpMirror *self, const char *client_msg_id, int code)
{
  sqlite3_stmt *st = stmt (self, "UPDATE outbox SET state = 3, error_code = ? "
                                 "WHERE client_msg_id = ? AND state = 0");

  if (st == NULL)
    return FALSE;
  sqlite3_bind_int (st, 1, code);
  sqlite3_bind_text (st, 2, client_msg_id, -1, SQLITE_STATIC);
  return sqlite3_step (st) == SQLITE_DONE && sqlite3_changes (self->db) > 0;
}

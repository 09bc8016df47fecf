/* imp-store-sqlite.c: the SQLite store: connections, statements, users, tokens, delivery.
 * Chat writes are in imp-store-sqlite-chat.c, stream and conversation reads in
 * imp-store-sqlite-read.c, migrations in imp-store-sqlite-migrate.c. See docs/store.md. */
#include "imp-store-sqlite-private.h"
#include "imp-time.h"

#include <string.h>

/* Idle connections kept for reuse; more concurrent callers open (and later close) extra ones. */
#define IDLE_MAX 8
#define BUSY_TIMEOUT_MS 5000

static const char *const sql_text[IMP_SQL_N_STMTS] = {
  [IMP_SQL_BEGIN_READ] = "BEGIN",
  [IMP_SQL_BEGIN_WRITE] = "BEGIN IMMEDIATE",
  [IMP_SQL_COMMIT] = "COMMIT",
  [IMP_SQL_ROLLBACK] = "ROLLBACK",
  [IMP_SQL_USER_INSERT] = IMP_STORE_SQL_USER_INSERT,
  [IMP_SQL_USER_GET] = IMP_STORE_SQL_USER_GET,
  [IMP_SQL_USER_FIND] = IMP_STORE_SQL_USER_FIND,
  [IMP_SQL_USER_TOUCH] = IMP_STORE_SQL_USER_TOUCH,
  [IMP_SQL_TOKEN_INSERT] =
    "INSERT INTO revoked_token (token_id, user_id, expires_s) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (token_id) DO NOTHING",
  [IMP_SQL_TOKEN_PURGE] = IMP_STORE_SQL_TOKEN_PURGE,
  [IMP_SQL_TOKEN_GET] = IMP_STORE_SQL_TOKEN_GET,
  [IMP_SQL_DELIVERY_UPSERT] = IMP_STORE_SQLITE_DELIVERY_UPSERT,
  [IMP_SQL_DEDUP_GET] = IMP_STORE_SQL_DEDUP_GET,
  [IMP_SQL_DEDUP_INSERT] =
    IMP_STORE_SQL_DEDUP_INSERT " ON CONFLICT (sender_id, client_msg_id) DO NOTHING",
  [IMP_SQL_SEQ_NEXT] =
    "INSERT INTO user_seq (user_id, seq) VALUES (?1, 1) "
    "ON CONFLICT (user_id) DO UPDATE SET seq = seq + 1 RETURNING seq",
  [IMP_SQL_SEQ_GET] = IMP_STORE_SQL_SEQ_GET,
  [IMP_SQL_MESSAGE_INSERT] = IMP_STORE_SQL_MESSAGE_INSERT,
  [IMP_SQL_UML_INSERT] = IMP_STORE_SQL_UML_INSERT,
  /* ?5: the batch's first message in the conversation, ?4 its last (imp-store-chat.c) */
  [IMP_SQL_CONV_UPSERT] =
    "INSERT INTO conversation (conversation_id, type, member_count, last_msg_id, "
    "last_msg_time, create_time, update_time) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?4) "
    "ON CONFLICT (conversation_id) DO UPDATE SET last_msg_id = excluded.last_msg_id, "
    "last_msg_time = excluded.last_msg_time, update_time = excluded.update_time",
  [IMP_SQL_UCL_UPSERT] =
    "INSERT INTO user_conversation_list (user_id, conversation_id, peer_id, last_seq, "
    "last_msg_id, last_update_time, create_time, update_time) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6) "
    "ON CONFLICT (user_id, conversation_id) DO UPDATE SET last_seq = excluded.last_seq, "
    "last_msg_id = excluded.last_msg_id, last_update_time = excluded.last_update_time, "
    "update_time = excluded.update_time",
  [IMP_SQL_UCL_EXISTS] = IMP_STORE_SQL_UCL_EXISTS,
  [IMP_SQL_UCL_MARK_READ] =
    "UPDATE user_conversation_list SET last_read_seq = min(?3, last_seq), update_time = ?4 "
    "WHERE user_id = ?1 AND conversation_id = ?2 AND min(?3, last_seq) > last_read_seq",
  [IMP_SQL_STREAM_PULL] = IMP_STORE_SQL_STREAM_PULL,
  [IMP_SQL_HISTORY] = IMP_STORE_SQL_HISTORY,
  [IMP_SQL_CONV_LIST] = IMP_STORE_SQL_CONV_LIST,
};

static gint64
row_int64 (gpointer row, int col)
{
  return sqlite3_column_int64 (row, col);
}

static const char *
row_text (gpointer row, int col)
{
  return (const char *) sqlite3_column_text (row, col);
}

const ImpStoreRowFuncs imp_store_sqlite_row = { row_int64, row_text };

void
imp_store_sqlite_set_error (sqlite3 *db, int rc, const char *what, GError **error)
{
  ImpErrorCode code;

  switch (rc & 0xff)
    {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
      code = IMP_ERROR_UNAVAILABLE;
      break;
    default:
      code = IMP_ERROR_INTERNAL;
    }
  g_set_error (error, IMP_ERROR, code, "store: %s: %s", what,
               db != NULL ? sqlite3_errmsg (db) : sqlite3_errstr (rc));
}

sqlite3_stmt *
imp_store_sqlite_stmt (ImpSqliteConn *conn, ImpSqlId id, GError **error)
{
  sqlite3_stmt *stmt = conn->stmts[id];

  if (stmt == NULL)
    {
      int rc = sqlite3_prepare_v3 (conn->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT,
                                   &stmt, NULL);
      if (rc != SQLITE_OK)
        {
          imp_store_sqlite_set_error (conn->db, rc, "prepare", error);
          return NULL;
        }
      conn->stmts[id] = stmt;
    }
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  return stmt;
}

gboolean
imp_store_sqlite_run (ImpSqliteConn *conn, sqlite3_stmt *stmt, GError **error)
{
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    ;
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      imp_store_sqlite_set_error (conn->db, rc, "step", error);
      return FALSE;
    }
  return TRUE;
}

gboolean
imp_store_sqlite_tx (ImpSqliteConn *conn, ImpSqlId id, GError **error)
{
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (conn, id, error);

  return stmt != NULL && imp_store_sqlite_run (conn, stmt, error);
}

static void
conn_close (ImpSqliteConn *conn)
{
  for (guint i = 0; i < IMP_SQL_N_STMTS; i++)
    sqlite3_finalize (conn->stmts[i]);
  g_clear_pointer (&conn->by_text, g_hash_table_unref);  /* finalizes its statements */
  sqlite3_close_v2 (conn->db);
  g_free (conn);
}

static ImpSqliteConn *
conn_open (const char *path, GError **error)
{
  /* synchronous=NORMAL in WAL mode: a commit survives a killed process (the WAL is in the OS
   * page cache); only a power loss may drop the last commits. */
  static const char pragmas[] =
    "PRAGMA synchronous = NORMAL;"
    "PRAGMA foreign_keys = OFF;"
    "PRAGMA temp_store = MEMORY;"
    "PRAGMA cache_size = -8192;";
  g_autofree ImpSqliteConn *conn = g_new0 (ImpSqliteConn, 1);
  int rc;

  /* NOMUTEX: a connection is used by one thread at a time (the pool hands it out). */
  rc = sqlite3_open_v2 (path, &conn->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_extended_result_codes (conn->db, 1);
  if (rc == SQLITE_OK)
    rc = sqlite3_busy_timeout (conn->db, BUSY_TIMEOUT_MS);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec (conn->db, pragmas, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      imp_store_sqlite_set_error (conn->db, rc, "open", error);
      sqlite3_close_v2 (conn->db);
      return NULL;
    }
  return g_steal_pointer (&conn);
}

ImpSqliteConn *
imp_store_sqlite_conn_acquire (ImpStoreSqlite *self, GError **error)
{
  ImpSqliteConn *conn = NULL;

  g_mutex_lock (&self->pool_lock);
  if (self->idle->len > 0)
    conn = g_ptr_array_steal_index_fast (self->idle, self->idle->len - 1);
  g_mutex_unlock (&self->pool_lock);

  if (conn == NULL && (conn = conn_open (self->path, error)) != NULL)
    imp_store_sqlite_checkpointer_attach (self->ckpt, conn->db);
  return conn;
}

void
imp_store_sqlite_conn_release (ImpStoreSqlite *self, ImpSqliteConn *conn)
{
  g_mutex_lock (&self->pool_lock);
  if (self->idle->len < IDLE_MAX)
    {
      g_ptr_array_add (self->idle, conn);
      conn = NULL;
    }
  g_mutex_unlock (&self->pool_lock);

  if (conn != NULL)
    conn_close (conn);
}

/* Users */

static gboolean
sqlite_user_create (ImpStore *store, const char *username, const char *nickname,
                    const char *password_hash, gint64 now_ms, gint64 *out_id, GError **error)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;
  ImpSqliteConn *conn;
  sqlite3_stmt *stmt;
  gboolean ok = FALSE;
  int rc;

  g_mutex_lock (&self->write_lock);
  if ((conn = imp_store_sqlite_conn_acquire (self, error)) == NULL)
    goto out;
  if ((stmt = imp_store_sqlite_stmt (conn, IMP_SQL_USER_INSERT, error)) != NULL)
    {
      sqlite3_bind_text (stmt, 1, username, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 2, nickname != NULL ? nickname : username, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 3, password_hash, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 4, now_ms);
      rc = sqlite3_step (stmt);
      sqlite3_reset (stmt);
      if (rc == SQLITE_DONE)
        {
          if (out_id != NULL)
            *out_id = sqlite3_last_insert_rowid (conn->db);
          ok = TRUE;
        }
      else if (rc == SQLITE_CONSTRAINT_UNIQUE)
        g_set_error (error, IMP_ERROR, IMP_ERROR_CONFLICT, "username is taken");
      else
        imp_store_sqlite_set_error (conn->db, rc, "user create", error);
    }
  imp_store_sqlite_conn_release (self, conn);
out:
  g_mutex_unlock (&self->write_lock);
  return ok;
}

static ImpUserRecord *
user_lookup (ImpStoreSqlite *self, ImpSqlId id, gint64 user_id, const char *username,
             GError **error)
{
  ImpUserRecord *rec = NULL;
  ImpSqliteConn *conn;
  sqlite3_stmt *stmt;
  int rc;

  if ((conn = imp_store_sqlite_conn_acquire (self, error)) == NULL)
    return NULL;
  if ((stmt = imp_store_sqlite_stmt (conn, id, error)) != NULL)
    {
      if (username != NULL)
        sqlite3_bind_text (stmt, 1, username, -1, SQLITE_STATIC);
      else
        sqlite3_bind_int64 (stmt, 1, user_id);
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW)
        rec = imp_store_user_from_row (&imp_store_sqlite_row, stmt);
      else if (rc == SQLITE_DONE)
        g_set_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER, "no such user");
      else
        imp_store_sqlite_set_error (conn->db, rc, "user lookup", error);
      sqlite3_reset (stmt);
    }
  imp_store_sqlite_conn_release (self, conn);
  return rec;
}

static ImpUserRecord *
sqlite_user_get (ImpStore *store, gint64 id, GError **error)
{
  return user_lookup ((ImpStoreSqlite *) store, IMP_SQL_USER_GET, id, NULL, error);
}

static ImpUserRecord *
sqlite_user_find (ImpStore *store, const char *username, GError **error)
{
  return user_lookup ((ImpStoreSqlite *) store, IMP_SQL_USER_FIND, 0, username, error);
}

/* Runs one single-statement write under the write lock; bind fills the parameters. Returns
 * the number of changed rows in *out_changes. */
typedef void (*BindFunc) (sqlite3_stmt *stmt, gconstpointer data);

static gboolean
write_one (ImpStoreSqlite *self, ImpSqlId id, BindFunc bind, gconstpointer data,
           int *out_changes, GError **error)
{
  ImpSqliteConn *conn;
  sqlite3_stmt *stmt;
  gboolean ok = FALSE;

  g_mutex_lock (&self->write_lock);
  if ((conn = imp_store_sqlite_conn_acquire (self, error)) != NULL)
    {
      if ((stmt = imp_store_sqlite_stmt (conn, id, error)) != NULL)
        {
          bind (stmt, data);
          ok = imp_store_sqlite_run (conn, stmt, error);
          if (ok && out_changes != NULL)
            *out_changes = sqlite3_changes (conn->db);
        }
      imp_store_sqlite_conn_release (self, conn);
    }
  g_mutex_unlock (&self->write_lock);
  return ok;
}

typedef struct {
  gint64      user_id;
  const char *text;
  gint64      value;
  gint64      now;
} WriteArgs;

static void
bind_touch (sqlite3_stmt *stmt, gconstpointer data)
{
  const WriteArgs *a = data;

  sqlite3_bind_int64 (stmt, 1, a->user_id);
  sqlite3_bind_int64 (stmt, 2, a->now);
}

static gboolean
sqlite_user_touch_login (ImpStore *store, gint64 id, gint64 now_ms, GError **error)
{
  WriteArgs a = { .user_id = id, .now = now_ms };
  int changes = 0;

  if (!write_one ((ImpStoreSqlite *) store, IMP_SQL_USER_TOUCH, bind_touch, &a, &changes, error))
    return FALSE;
  if (changes == 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER, "no such user");
      return FALSE;
    }
  return TRUE;
}

/* Tokens */

static void
bind_token (sqlite3_stmt *stmt, gconstpointer data)
{
  const WriteArgs *a = data;

  sqlite3_bind_text (stmt, 1, a->text, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, a->user_id);
  sqlite3_bind_int64 (stmt, 3, a->value);
}

static void
bind_purge (sqlite3_stmt *stmt, gconstpointer data)
{
  const WriteArgs *a = data;

  sqlite3_bind_int64 (stmt, 1, a->now);
}

static gboolean
sqlite_token_revoke (ImpStore *store, const char *token_id, gint64 user_id, gint64 expires_s,
                     GError **error)
{
  WriteArgs a = { .user_id = user_id, .text = token_id, .value = expires_s, .now = imp_now_s () };

  if (!write_one ((ImpStoreSqlite *) store, IMP_SQL_TOKEN_INSERT, bind_token, &a, NULL, error))
    return FALSE;
  /* Tokens past their expiry are refused anyway: drop their revocations (indexed range). */
  return write_one ((ImpStoreSqlite *) store, IMP_SQL_TOKEN_PURGE, bind_purge, &a, NULL, error);
}

static gboolean
sqlite_token_is_revoked (ImpStore *store, const char *token_id, gboolean *out_revoked,
                         GError **error)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;
  ImpSqliteConn *conn;
  sqlite3_stmt *stmt;
  gboolean ok = FALSE;
  int rc;

  if ((conn = imp_store_sqlite_conn_acquire (self, error)) == NULL)
    return FALSE;
  if ((stmt = imp_store_sqlite_stmt (conn, IMP_SQL_TOKEN_GET, error)) != NULL)
    {
      sqlite3_bind_text (stmt, 1, token_id, -1, SQLITE_STATIC);
      rc = sqlite3_step (stmt);
      sqlite3_reset (stmt);
      if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        {
          *out_revoked = (rc == SQLITE_ROW);
          ok = TRUE;
        }
      else
        imp_store_sqlite_set_error (conn->db, rc, "token lookup", error);
    }
  imp_store_sqlite_conn_release (self, conn);
  return ok;
}

/* Delivery */

static void
bind_delivery (sqlite3_stmt *stmt, gconstpointer data)
{
  const WriteArgs *a = data;

  sqlite3_bind_int64 (stmt, 1, a->user_id);
  sqlite3_bind_text (stmt, 2, a->text, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, a->value);
  sqlite3_bind_int64 (stmt, 4, a->now);
}

static gboolean
sqlite_delivery_record (ImpStore *store, gint64 user_id, const char *device_id, gint64 up_to_seq,
                        GError **error)
{
  WriteArgs a = { .user_id = user_id, .text = device_id, .value = up_to_seq, .now = imp_now_ms () };

  return write_one ((ImpStoreSqlite *) store, IMP_SQL_DELIVERY_UPSERT, bind_delivery, &a, NULL,
                    error);
}

/* Open and free */

static void
sqlite_free (ImpStore *store)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;

  /* Every call has returned by now (the caller's contract), so every connection is idle. */
  for (guint i = 0; i < self->idle->len; i++)
    conn_close (g_ptr_array_index (self->idle, i));
  g_ptr_array_unref (self->idle);
  imp_store_sqlite_checkpointer_free (self->ckpt);  /* the last connection: checkpoints */
  g_mutex_clear (&self->pool_lock);
  g_mutex_clear (&self->write_lock);
  g_free (self->path);
  g_free (self);
}

static const ImpStoreVTable sqlite_vtable = {
  .name = "sqlite",
  .free = sqlite_free,
  .user_create = sqlite_user_create,
  .user_get = sqlite_user_get,
  .user_find = sqlite_user_find,
  .user_touch_login = sqlite_user_touch_login,
  .token_revoke = sqlite_token_revoke,
  .token_is_revoked = sqlite_token_is_revoked,
  .chat_commit = imp_store_sqlite_chat_commit,
  .stream_pull = imp_store_sqlite_stream_pull,
  .conversation_history = imp_store_sqlite_conversation_history,
  .conversations_list = imp_store_sqlite_conversations_list,
  .conversation_mark_read = imp_store_sqlite_conversation_mark_read,
  .delivery_record = sqlite_delivery_record,
  .stream_max_seq = imp_store_sqlite_stream_max_seq,
  .db = &imp_store_sqlite_db,
};

ImpStore *
imp_store_sqlite_open (const char *path, GError **error)
{
  ImpStoreSqlite *self;
  ImpSqliteConn *conn;
  sqlite3_stmt *stmt = NULL;
  const char *mode = NULL;
  int rc;

  g_return_val_if_fail (path != NULL, NULL);

  if (!sqlite3_threadsafe ())
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "store: SQLite built without threads");
      return NULL;
    }
  if ((conn = conn_open (path, error)) == NULL)
    return NULL;

  /* WAL is a property of the file: set once here, every later connection gets it. */
  rc = sqlite3_prepare_v2 (conn->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    mode = (const char *) sqlite3_column_text (stmt, 0);
  if (mode == NULL || g_ascii_strcasecmp (mode, "wal") != 0)
    {
      if (rc == SQLITE_ROW || rc == SQLITE_DONE || rc == SQLITE_OK)
        g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL,
                     "store: %s: cannot use WAL journal mode", path);
      else
        imp_store_sqlite_set_error (conn->db, rc, "journal mode", error);
      sqlite3_finalize (stmt);
      conn_close (conn);
      return NULL;
    }
  sqlite3_finalize (stmt);

  if (!imp_store_sqlite_migrate (conn->db, error))
    {
      g_prefix_error (error, "%s: ", path);
      conn_close (conn);
      return NULL;
    }

  self = g_new0 (ImpStoreSqlite, 1);
  g_mutex_init (&self->write_lock);
  if ((self->ckpt = imp_store_sqlite_checkpointer_new (path, &self->write_lock, error)) == NULL)
    {
      g_mutex_clear (&self->write_lock);
      g_free (self);
      conn_close (conn);
      return NULL;
    }
  imp_store_sqlite_checkpointer_attach (self->ckpt, conn->db);
  self->parent.vt = &sqlite_vtable;
  self->path = g_strdup (path);
  self->idle = g_ptr_array_new ();
  g_mutex_init (&self->pool_lock);
  g_ptr_array_add (self->idle, conn);
  return &self->parent;
}

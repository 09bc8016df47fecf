/* imp-store-mysql.c: the MySQL/MariaDB store (distributed deployment): open, users, tokens,
 * delivery. Connections and errors are in imp-store-mysql-conn.c, the send transaction in
 * imp-store-mysql-chat.c, reads in imp-store-mysql-read.c, migrations in
 * imp-store-mysql-migrate.c; what both backends share in ../imp-store-common.c. */
#include "imp-store-mysql-private.h"
#include "imp-time.h"

#include <mysqld_error.h>

#define POOL_SIZE_DEFAULT 4

#define SQL_TOKEN_INSERT \
  "INSERT IGNORE INTO revoked_token (token_id, user_id, expires_s) VALUES (?1, ?2, ?3)"

/* Runs one statement on a pooled connection. */
static gboolean
exec_one (ImpStoreMysql *self, const char *sql, const ImpMysqlArg *args, guint n_args,
          MYSQL_RES **out_res, guint64 *out_affected, guint *out_errno, GError **error)
{
  ImpMysqlConn *conn = imp_store_mysql_conn_acquire (self, error);
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = imp_store_mysql_exec (self, conn, sql, args, n_args, out_res, out_affected, out_errno,
                             error);
  imp_store_mysql_conn_release (self, conn);
  return ok;
}

/* Users */

static gboolean
mysql_user_create (ImpStore *store, const char *username, const char *nickname,
                   const char *password_hash, gint64 now_ms, gint64 *out_id, GError **error)
{
  ImpStoreMysql *self = (ImpStoreMysql *) store;
  ImpMysqlConn *conn = imp_store_mysql_conn_acquire (self, error);
  GError *local = NULL;
  guint code = 0;
  gboolean ok;

  if (conn == NULL)
    return FALSE;
  ok = imp_store_mysql_exec (self, conn, IMP_STORE_SQL_USER_INSERT,
                             IMP_MY_ARGS (IMP_MY_TEXT (username),
                                          IMP_MY_TEXT (nickname != NULL ? nickname : username),
                                          IMP_MY_TEXT (password_hash), IMP_MY_INT (now_ms)),
                             NULL, NULL, &code, &local);
  if (ok && out_id != NULL)
    *out_id = (gint64) mysql_insert_id (conn->mysql);
  imp_store_mysql_conn_release (self, conn);
  if (code == ER_DUP_ENTRY)
    {
      g_clear_error (&local);
      g_set_error (error, IMP_ERROR, IMP_ERROR_CONFLICT, "username is taken");
    }
  else if (local != NULL)
    g_propagate_error (error, local);
  return ok;
}

static ImpUserRecord *
user_lookup (ImpStoreMysql *self, const char *sql, ImpMysqlArg arg, GError **error)
{
  ImpUserRecord *rec = NULL;
  MYSQL_RES *res = NULL;
  MYSQL_ROW row;

  if (!exec_one (self, sql, &arg, 1, &res, NULL, NULL, error))
    return NULL;
  if (res != NULL && (row = mysql_fetch_row (res)) != NULL)
    rec = imp_store_user_from_row (&imp_store_mysql_row, row);
  else
    g_set_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER, "no such user");
  if (res != NULL)
    mysql_free_result (res);
  return rec;
}

static ImpUserRecord *
mysql_user_get (ImpStore *store, gint64 id, GError **error)
{
  return user_lookup ((ImpStoreMysql *) store, IMP_STORE_SQL_USER_GET, IMP_MY_INT (id), error);
}

static ImpUserRecord *
mysql_user_find (ImpStore *store, const char *username, GError **error)
{
  return user_lookup ((ImpStoreMysql *) store, IMP_STORE_SQL_USER_FIND, IMP_MY_TEXT (username),
                      error);
}

static gboolean
mysql_user_touch_login (ImpStore *store, gint64 id, gint64 now_ms, GError **error)
{
  ImpStoreMysql *self = (ImpStoreMysql *) store;
  g_autoptr(ImpUserRecord) rec = NULL;
  guint64 changed = 0;

  if (!exec_one (self, IMP_STORE_SQL_USER_TOUCH, IMP_MY_ARGS (IMP_MY_INT (id), IMP_MY_INT (now_ms)),
                 NULL, &changed, NULL, error))
    return FALSE;
  if (changed > 0)
    return TRUE;
  /* MySQL counts changed rows, not matched ones: a second touch in the same millisecond
   * changes nothing, so tell that from a missing user. */
  rec = mysql_user_get (store, id, error);
  return rec != NULL;
}

/* Tokens */

static gboolean
mysql_token_revoke (ImpStore *store, const char *token_id, gint64 user_id, gint64 expires_s,
                    GError **error)
{
  ImpStoreMysql *self = (ImpStoreMysql *) store;

  /* Tokens past their expiry are refused anyway: drop their revocations (indexed range). */
  return exec_one (self, SQL_TOKEN_INSERT,
                   IMP_MY_ARGS (IMP_MY_TEXT (token_id), IMP_MY_INT (user_id),
                                IMP_MY_INT (expires_s)), NULL, NULL, NULL, error)
         && exec_one (self, IMP_STORE_SQL_TOKEN_PURGE, IMP_MY_ARGS (IMP_MY_INT (imp_now_s ())),
                      NULL, NULL, NULL, error);
}

static gboolean
mysql_token_is_revoked (ImpStore *store, const char *token_id, gboolean *out_revoked,
                        GError **error)
{
  MYSQL_RES *res = NULL;

  if (!exec_one ((ImpStoreMysql *) store, IMP_STORE_SQL_TOKEN_GET,
                 IMP_MY_ARGS (IMP_MY_TEXT (token_id)), &res, NULL, NULL, error))
    return FALSE;
  *out_revoked = res != NULL && mysql_num_rows (res) > 0;
  if (res != NULL)
    mysql_free_result (res);
  return TRUE;
}

/* Delivery */

static gboolean
mysql_delivery_record (ImpStore *store, gint64 user_id, const char *device_id, gint64 up_to_seq,
                       GError **error)
{
  return exec_one ((ImpStoreMysql *) store, IMP_STORE_MYSQL_DELIVERY_UPSERT,
                   IMP_MY_ARGS (IMP_MY_INT (user_id), IMP_MY_TEXT (device_id),
                                IMP_MY_INT (up_to_seq), IMP_MY_INT (imp_now_ms ())),
                   NULL, NULL, NULL, error);
}

/* Open and free */

static void
mysql_free (ImpStore *store)
{
  ImpStoreMysql *self = (ImpStoreMysql *) store;

  /* Every call has returned by now (the caller's contract), so every connection is idle. */
  for (guint i = 0; i < self->idle->len; i++)
    {
      ImpMysqlConn *conn = g_ptr_array_index (self->idle, i);

      if (conn->mysql != NULL)
        mysql_close (conn->mysql);
      if (conn->pending != NULL)
        g_string_free (conn->pending, TRUE);
      g_free (conn);
    }
  g_ptr_array_unref (self->idle);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->idle_cond);
  g_free (self->host);
  g_free (self->user);
  g_free (self->password);
  g_free (self->database);
  g_free (self);
}

static const ImpStoreVTable mysql_vtable = {
  .name = "mysql",
  .parallel_writes = TRUE,
  .free = mysql_free,
  .user_create = mysql_user_create,
  .user_get = mysql_user_get,
  .user_find = mysql_user_find,
  .user_touch_login = mysql_user_touch_login,
  .token_revoke = mysql_token_revoke,
  .token_is_revoked = mysql_token_is_revoked,
  .chat_commit = imp_store_mysql_chat_commit,
  .stream_pull = imp_store_mysql_stream_pull,
  .conversation_history = imp_store_mysql_conversation_history,
  .conversations_list = imp_store_mysql_conversations_list,
  .conversation_mark_read = imp_store_mysql_conversation_mark_read,
  .delivery_record = mysql_delivery_record,
  .stream_max_seq = imp_store_mysql_stream_max_seq,
  .db = &imp_store_mysql_db,
};

static gpointer
library_init (gpointer data)
{
  /* Once per process, before any thread calls mysql_init (it is not thread-safe itself). */
  return GINT_TO_POINTER (mysql_library_init (0, NULL, NULL) == 0);
}

ImpStore *
imp_store_mysql_open (const char *host, guint port, const char *user, const char *password,
                      const char *database, guint pool_size, GError **error)
{
  static GOnce once = G_ONCE_INIT;
  ImpStoreMysql *self;
  MYSQL *mysql;
  gboolean ok;

  g_return_val_if_fail (host != NULL && user != NULL && database != NULL, NULL);

  if (!GPOINTER_TO_INT (g_once (&once, library_init, NULL)))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "store: cannot initialise libmariadb");
      return NULL;
    }

  self = g_new0 (ImpStoreMysql, 1);
  self->parent.vt = &mysql_vtable;
  self->host = g_strdup (host);
  self->port = port;
  self->user = g_strdup (user);
  self->password = g_strdup (password != NULL ? password : "");
  self->database = g_strdup (database);
  self->pool_size = pool_size > 0 ? pool_size : POOL_SIZE_DEFAULT;
  self->idle = g_ptr_array_new ();
  g_mutex_init (&self->lock);
  g_cond_init (&self->idle_cond);

  /* Migrations run on a connection of their own (several statements per query). */
  if ((mysql = imp_store_mysql_connect (self, TRUE, error)) == NULL)
    {
      mysql_free (&self->parent);
      return NULL;
    }
  ok = imp_store_mysql_migrate (self, mysql, error);
  mysql_close (mysql);
  if (!ok)
    {
      g_prefix_error (error, "%s:%u/%s: ", host, port, database);
      mysql_free (&self->parent);
      return NULL;
    }
  return &self->parent;
}

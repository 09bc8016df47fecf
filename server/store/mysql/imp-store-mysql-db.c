/* imp-store-mysql-db.c: the generic statements of the MySQL store (ImpStoreDbOps), on which the
 * social and group functions of imp-store-social.c and imp-store-group*.c run. The connection
 * handed out is an ImpMysqlCtx (store + pooled connection). */
#include "imp-store-mysql-private.h"

static gpointer
db_acquire (ImpStore *store, gboolean write, GError **error)
{
  ImpStoreMysql *self = (ImpStoreMysql *) store;
  ImpMysqlConn *conn = imp_store_mysql_conn_acquire (self, error);
  ImpMysqlCtx *ctx;

  if (conn == NULL)
    return NULL;
  ctx = g_new0 (ImpMysqlCtx, 1);
  ctx->store = self;
  ctx->conn = conn;
  return ctx;
}

static void
db_release (ImpStore *store, gpointer data, gboolean write)
{
  ImpMysqlCtx *ctx = data;

  /* Deferred writes left behind belong to a transaction that failed: never send them. */
  imp_store_mysql_discard (ctx->conn);
  imp_store_mysql_conn_release (ctx->store, ctx->conn);
  g_free (ctx);
}

gboolean
imp_store_mysql_tx_op (gpointer data, ImpStoreTx what, GError **error)
{
  ImpMysqlCtx *ctx = data;
  static const char *const sql[] = {
    [IMP_STORE_TX_BEGIN] = "START TRANSACTION",
    [IMP_STORE_TX_COMMIT] = "COMMIT",
    [IMP_STORE_TX_ROLLBACK] = "ROLLBACK",
  };

  if (what == IMP_STORE_TX_ROLLBACK)
    {
      /* A lost connection has no transaction left to roll back (the server dropped it). */
      imp_store_mysql_discard (ctx->conn);
      if (ctx->conn->mysql == NULL)
        return TRUE;
    }
  return imp_store_mysql_exec (ctx->store, ctx->conn, sql[what], NULL, 0, NULL, NULL, NULL, error);
}

static gboolean
db_exec (gpointer data, const char *sql, const ImpStoreArg *args, guint n_args,
         ImpStoreRowCb row_cb, gpointer cb_data, gint64 *out_changes, GError **error)
{
  ImpMysqlCtx *ctx = data;
  MYSQL_RES *res = NULL;
  MYSQL_ROW row;
  guint64 affected = 0;
  gboolean more = TRUE;

  if (row_cb == NULL)
    {
      if (!imp_store_mysql_exec (ctx->store, ctx->conn, sql, args, n_args, NULL, &affected, NULL,
                                 error))
        return FALSE;
      if (out_changes != NULL)
        *out_changes = (gint64) affected;
      return TRUE;
    }
  if (!imp_store_mysql_exec (ctx->store, ctx->conn, sql, args, n_args, &res, NULL, NULL, error))
    return FALSE;
  while (more && res != NULL && (row = mysql_fetch_row (res)) != NULL)
    more = row_cb (&imp_store_mysql_row, row, cb_data);
  if (res != NULL)
    mysql_free_result (res);
  if (out_changes != NULL)
    *out_changes = 0;
  return TRUE;
}

static gboolean
db_write (gpointer data, const char *sql, const ImpStoreArg *args, guint n_args, GError **error)
{
  ImpMysqlCtx *ctx = data;

  return imp_store_mysql_defer (ctx->conn, sql, args, n_args, error);
}

static gint64
db_last_insert_id (gpointer data)
{
  ImpMysqlCtx *ctx = data;

  return ctx->conn->mysql != NULL ? (gint64) mysql_insert_id (ctx->conn->mysql) : 0;
}

const ImpStoreDbOps imp_store_mysql_db = {
  .for_update = " FOR UPDATE",
  .insert_ignore = "INSERT IGNORE",
  .delivery_upsert = IMP_STORE_MYSQL_DELIVERY_UPSERT,
  .acquire = db_acquire,
  .release = db_release,
  .tx = imp_store_mysql_tx_op,
  .exec = db_exec,
  .write = db_write,
  .last_insert_id = db_last_insert_id,
};

/* imp-store-sqlite-db.c: the generic statements of the SQLite store (ImpStoreDbOps), on which
 * the social and group functions of imp-store-social.c and imp-store-group*.c run. Statements
 * are prepared once per connection and cached by their SQL text. */
#include "imp-store-sqlite-private.h"

static gpointer
db_acquire (ImpStore *store, gboolean write, GError **error)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;
  ImpSqliteConn *conn;

  /* Writers queue on the mutex rather than spin in SQLite's busy handler. */
  if (write)
    g_mutex_lock (&self->write_lock);
  conn = imp_store_sqlite_conn_acquire (self, error);
  if (conn == NULL && write)
    g_mutex_unlock (&self->write_lock);
  return conn;
}

static void
db_release (ImpStore *store, gpointer conn, gboolean write)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;

  imp_store_sqlite_conn_release (self, conn);
  if (write)
    g_mutex_unlock (&self->write_lock);
}

gboolean
imp_store_sqlite_tx_op (gpointer conn, ImpStoreTx what, GError **error)
{
  ImpSqliteConn *c = conn;

  switch (what)
    {
    case IMP_STORE_TX_BEGIN:
      return imp_store_sqlite_tx (c, IMP_SQL_BEGIN_WRITE, error);
    case IMP_STORE_TX_COMMIT:
      return imp_store_sqlite_tx (c, IMP_SQL_COMMIT, error);
    case IMP_STORE_TX_ROLLBACK:
    default:
      /* ROLLBACK fails only if SQLite already rolled back on its own (e.g. IOERR). */
      if (!sqlite3_get_autocommit (c->db))
        sqlite3_exec (c->db, "ROLLBACK", NULL, NULL, NULL);
      return TRUE;
    }
}

static void
stmt_finalize (gpointer stmt)
{
  sqlite3_finalize (stmt);
}

static sqlite3_stmt *
stmt_for (ImpSqliteConn *c, const char *sql, GError **error)
{
  sqlite3_stmt *stmt;
  int rc;

  if (c->by_text == NULL)
    c->by_text = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        stmt_finalize);
  stmt = g_hash_table_lookup (c->by_text, sql);
  if (stmt == NULL)
    {
      rc = sqlite3_prepare_v3 (c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
      if (rc != SQLITE_OK)
        {
          imp_store_sqlite_set_error (c->db, rc, "prepare", error);
          return NULL;
        }
      g_hash_table_insert (c->by_text, g_strdup (sql), stmt);
    }
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  return stmt;
}

static gboolean
db_exec (gpointer conn, const char *sql, const ImpStoreArg *args, guint n_args,
         ImpStoreRowCb row_cb, gpointer data, gint64 *out_changes, GError **error)
{
  ImpSqliteConn *c = conn;
  sqlite3_stmt *stmt = stmt_for (c, sql, error);
  gboolean more = TRUE;
  int rc;

  if (stmt == NULL)
    return FALSE;
  for (guint i = 0; i < n_args; i++)
    {
      if (!args[i].is_text)
        sqlite3_bind_int64 (stmt, (int) i + 1, args[i].i);
      else if (args[i].s != NULL)
        sqlite3_bind_text (stmt, (int) i + 1, args[i].s, -1, SQLITE_STATIC);
      else
        sqlite3_bind_null (stmt, (int) i + 1);
    }
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    if (more && row_cb != NULL)
      more = row_cb (&imp_store_sqlite_row, stmt, data);
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      imp_store_sqlite_set_error (c->db, rc, "statement", error);
      return FALSE;
    }
  if (out_changes != NULL)
    *out_changes = sqlite3_changes (c->db);
  return TRUE;
}

static gboolean
db_write (gpointer conn, const char *sql, const ImpStoreArg *args, guint n_args, GError **error)
{
  return db_exec (conn, sql, args, n_args, NULL, NULL, NULL, error);
}

static gint64
db_last_insert_id (gpointer conn)
{
  return sqlite3_last_insert_rowid (((ImpSqliteConn *) conn)->db);
}

const ImpStoreDbOps imp_store_sqlite_db = {
  .for_update = "",
  .insert_ignore = "INSERT OR IGNORE",
  .delivery_upsert = IMP_STORE_SQLITE_DELIVERY_UPSERT,
  .acquire = db_acquire,
  .release = db_release,
  .tx = imp_store_sqlite_tx_op,
  .exec = db_exec,
  .write = db_write,
  .last_insert_id = db_last_insert_id,
};

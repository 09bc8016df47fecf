/* imp-store-sqlite-migrate.c: versioned schema migrations. The SQL files of
 * data/migrations/sqlite/ (NNNN-name.sql) are compiled into the binary as a GResource; at open,
 * those with a version above the highest row of schema_version run in order
 * (imp_store_migrations_apply ()), all in one transaction, each recorded in schema_version. */
#include "imp-store-sqlite-private.h"
#include "imp-time.h"


static gboolean
exec_sql (sqlite3 *db, const char *sql, const char *what, GError **error)
{
  char *msg = NULL;
  int rc = sqlite3_exec (db, sql, NULL, NULL, &msg);

  if (rc != SQLITE_OK)
    {
      imp_store_sqlite_set_error (NULL, rc, what, error);
      if (msg != NULL)
        g_prefix_error (error, "%s: ", msg);
      sqlite3_free (msg);
      return FALSE;
    }
  return TRUE;
}

static gboolean
current_version (sqlite3 *db, gint64 *out_version, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (db, "SELECT coalesce(max(version), 0) FROM schema_version", -1,
                               &stmt, NULL);

  if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    *out_version = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW)
    {
      imp_store_sqlite_set_error (db, rc, "schema version", error);
      return FALSE;
    }
  return TRUE;
}

static gboolean
record_version (sqlite3 *db, gint64 version, const char *name, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (db, "INSERT INTO schema_version (version, name, applied_ms) "
                                   "VALUES (?1, ?2, ?3)", -1, &stmt, NULL);

  if (rc == SQLITE_OK)
    {
      sqlite3_bind_int64 (stmt, 1, version);
      sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 3, imp_now_ms ());
      rc = sqlite3_step (stmt);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      imp_store_sqlite_set_error (db, rc, "schema version", error);
      return FALSE;
    }
  return TRUE;
}

static gboolean
apply_one (gpointer data, gint64 version, const char *name, const char *sql, GError **error)
{
  sqlite3 *db = data;

  return exec_sql (db, sql, name, error) && record_version (db, version, name, error);
}

gboolean
imp_store_sqlite_migrate (sqlite3 *db, GError **error)
{
  gint64 current = 0;

  /* IMMEDIATE: two processes opening a fresh file at once migrate one after the other. */
  if (!exec_sql (db, "BEGIN IMMEDIATE", "migrate", error))
    return FALSE;
  if (!exec_sql (db, "CREATE TABLE IF NOT EXISTS schema_version ("
                     " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                     " applied_ms INTEGER NOT NULL)", "schema version", error)
      || !current_version (db, &current, error)
      || !imp_store_migrations_apply ("sqlite", current, apply_one, db, error))
    {
      sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
  return exec_sql (db, "COMMIT", "migrate", error);
}

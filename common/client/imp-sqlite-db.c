/* imp-sqlite-db.c: SQLite plumbing shared by ImpMirror and ImpMirrorIndex. */
#define G_LOG_DOMAIN "implus-mirror"

#include "imp-sqlite-db.h"
#include "imp-error.h"

gboolean
imp_sqlite_db_set_error (sqlite3 *db, const char *who, GError **error)
{
  g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "%s: %s", who, sqlite3_errmsg (db));
  return FALSE;
}

sqlite3 *
imp_sqlite_db_open (const char *path, int flags, const char *who, GError **error)
{
  sqlite3 *db = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  /* A failed open still allocates a handle: it carries the message, then is closed. */
  if (sqlite3_open_v2 (path, &db, flags, NULL) != SQLITE_OK)
    {
      imp_sqlite_db_set_error (db, who, error);
      sqlite3_close (db);
      return NULL;
    }
  sqlite3_busy_timeout (db, 5000);
  return db;
}

static void
finalize_stmt (gpointer st)
{
  sqlite3_finalize (st);
}

GHashTable *
imp_sqlite_db_stmts_new (void)
{
  return g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, finalize_stmt);
}

void
imp_sqlite_db_clear (sqlite3 **db, GHashTable **stmts)
{
  /* Statements first: sqlite3_close refuses a connection with live statements. */
  g_clear_pointer (stmts, g_hash_table_unref);
  g_clear_pointer (db, sqlite3_close);
}

sqlite3_stmt *
imp_sqlite_db_stmt (sqlite3    *db,
                    GHashTable *stmts,
                    const char *sql,
                    const char *log_domain,
                    const char *who)
{
  sqlite3_stmt *st = g_hash_table_lookup (stmts, sql);

  if (st == NULL)
    {
      if (sqlite3_prepare_v2 (db, sql, -1, &st, NULL) != SQLITE_OK)
        {
          g_log (log_domain, G_LOG_LEVEL_WARNING, "%s: cannot prepare statement: %s",
                 who, sqlite3_errmsg (db));
          return NULL;
        }
      g_hash_table_insert (stmts, (gpointer) sql, st);
    }
  sqlite3_reset (st);
  sqlite3_clear_bindings (st);
  return st;
}

gboolean
imp_sqlite_db_exec (sqlite3 *db, const char *sql, const char *who, GError **error)
{
  char *msg = NULL;

  if (sqlite3_exec (db, sql, NULL, NULL, &msg) != SQLITE_OK)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "%s: %s", who, msg ? msg : "error");
      sqlite3_free (msg);
      return FALSE;
    }
  return TRUE;
}

char *
imp_sqlite_db_col_strdup (sqlite3_stmt *st, int col)
{
  const unsigned char *s = sqlite3_column_text (st, col);
  return s ? g_strdup ((const char *) s) : NULL;
}

char *
imp_sqlite_db_step_string (sqlite3_stmt *st)
{
  char *v;

  if (st == NULL)
    return NULL;
  v = sqlite3_step (st) == SQLITE_ROW ? imp_sqlite_db_col_strdup (st, 0) : NULL;
  sqlite3_reset (st);
  return v;
}

gint64
imp_sqlite_db_step_int64 (sqlite3_stmt *st)
{
  gint64 v;

  if (st == NULL)
    return 0;
  v = sqlite3_step (st) == SQLITE_ROW ? sqlite3_column_int64 (st, 0) : 0;
  sqlite3_reset (st);
  return v;
}

/* imp-store-sqlite-migrate.c: versioned schema migrations. The SQL files of
 * data/migrations/sqlite/ (NNNN-name.sql) are compiled into the binary as a GResource; at open,
 * those with a version above the highest row of schema_version run in order, all in one
 * transaction, each recorded in schema_version. */
#include "imp-store-sqlite-private.h"
#include "imp-store-migrations.h"
#include "imp-time.h"

#include <stdlib.h>
#include <string.h>

#define MIGRATIONS_PATH "/io/github/implus/server/migrations/sqlite/"

/* "0001-init.sql" -> 1; 0 if the name does not start with a positive number and a dash. */
static gint64
migration_version (const char *name)
{
  gint64 v = 0;
  const char *p = name;

  for (; g_ascii_isdigit (*p) && v < G_MAXINT32; p++)
    v = v * 10 + (*p - '0');
  return (p != name && *p == '-' && g_str_has_suffix (name, ".sql")) ? v : 0;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  gint64 va = migration_version (*(const char *const *) a);
  gint64 vb = migration_version (*(const char *const *) b);

  return va < vb ? -1 : va > vb;
}

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
apply_all (sqlite3 *db, char **names, GError **error)
{
  GResource *res = imp_store_migrations_get_resource ();
  gint64 current = 0, last = 0;

  if (!exec_sql (db, "CREATE TABLE IF NOT EXISTS schema_version ("
                     " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                     " applied_ms INTEGER NOT NULL)", "schema version", error)
      || !current_version (db, &current, error))
    return FALSE;

  for (guint i = 0; names[i] != NULL; i++)
    {
      gint64 version = migration_version (names[i]);
      g_autofree char *path = NULL;
      g_autofree char *sql = NULL;
      g_autoptr(GBytes) bytes = NULL;
      gsize size;
      gconstpointer data;

      if (version == 0 || version == last)
        {
          g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL,
                       "store: bad or repeated migration name %s", names[i]);
          return FALSE;
        }
      last = version;
      if (version <= current)
        continue;

      path = g_strconcat (MIGRATIONS_PATH, names[i], NULL);
      bytes = g_resource_lookup_data (res, path, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
      if (bytes == NULL)
        return FALSE;
      data = g_bytes_get_data (bytes, &size);
      sql = g_strndup (data, size);
      g_debug ("store: applying migration %s", names[i]);
      if (!exec_sql (db, sql, names[i], error) || !record_version (db, version, names[i], error))
        return FALSE;
    }

  if (current > last)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL,
                   "store: schema version %" G_GINT64_FORMAT " is newer than this program's %"
                   G_GINT64_FORMAT, current, last);
      return FALSE;
    }
  return TRUE;
}

gboolean
imp_store_sqlite_migrate (sqlite3 *db, GError **error)
{
  g_auto(GStrv) names = NULL;

  names = g_resource_enumerate_children (imp_store_migrations_get_resource (), MIGRATIONS_PATH,
                                         G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (names == NULL)
    return FALSE;
  qsort (names, g_strv_length (names), sizeof (char *), compare_names);

  /* IMMEDIATE: two processes opening a fresh file at once migrate one after the other. */
  if (!exec_sql (db, "BEGIN IMMEDIATE", "migrate", error))
    return FALSE;
  if (!apply_all (db, names, error))
    {
      sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
  return exec_sql (db, "COMMIT", "migrate", error);
}

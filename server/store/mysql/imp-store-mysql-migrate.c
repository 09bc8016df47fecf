/* imp-store-mysql-migrate.c: versioned migrations on MySQL. MySQL commits DDL implicitly, so
 * instead of one transaction a named lock (GET_LOCK) makes two processes that open at once
 * migrate one after the other; the second finds the versions recorded and applies nothing.
 * Each file is run as one multi-statement query; its version is recorded after it. */
#include "imp-store-mysql-private.h"
#include "imp-time.h"

#include <string.h>

#define LOCK_NAME "'implus_schema_migrate'"
#define LOCK_TIMEOUT_S 60

static gboolean
fail (MYSQL *mysql, const char *what, GError **error)
{
  guint code = mysql_errno (mysql);

  g_set_error (error, IMP_ERROR,
               code >= 2000 && code < 3000 ? IMP_ERROR_UNAVAILABLE : IMP_ERROR_INTERNAL,
               "store: %s: %s (%u)", what, mysql_error (mysql), code);
  return FALSE;
}

/* Runs sql (one or several statements) and drops every result; the first error fails. */
static gboolean
run (MYSQL *mysql, const char *sql, const char *what, GError **error)
{
  int status;

  if (mysql_query (mysql, sql) != 0)
    return fail (mysql, what, error);
  do
    {
      MYSQL_RES *res = mysql_store_result (mysql);

      if (res != NULL)
        mysql_free_result (res);
      else if (mysql_field_count (mysql) != 0)
        return fail (mysql, what, error);
      status = mysql_next_result (mysql);
      if (status > 0)
        return fail (mysql, what, error);
    }
  while (status == 0);
  return TRUE;
}

/* The first column of the first row of a one-statement query, as an integer (0 if NULL). */
static gboolean
query_int (MYSQL *mysql, const char *sql, gint64 *out, GError **error)
{
  MYSQL_RES *res;
  MYSQL_ROW row;

  if (mysql_query (mysql, sql) != 0 || (res = mysql_store_result (mysql)) == NULL)
    return fail (mysql, sql, error);
  row = mysql_fetch_row (res);
  *out = (row != NULL && row[0] != NULL) ? g_ascii_strtoll (row[0], NULL, 10) : 0;
  mysql_free_result (res);
  return TRUE;
}

static gboolean
apply_one (gpointer data, gint64 version, const char *name, const char *sql, GError **error)
{
  MYSQL *mysql = data;
  g_autofree char *record = NULL;
  char escaped[256];

  if (strlen (name) >= sizeof escaped / 2)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "store: migration name too long");
      return FALSE;
    }
  mysql_real_escape_string (mysql, escaped, name, strlen (name));
  record = g_strdup_printf ("INSERT INTO schema_version (version, name, applied_ms) "
                            "VALUES (%" G_GINT64_FORMAT ", '%s', %" G_GINT64_FORMAT ")",
                            version, escaped, imp_now_ms ());
  return run (mysql, sql, name, error) && run (mysql, record, name, error);
}

gboolean
imp_store_mysql_migrate (ImpStoreMysql *self, MYSQL *mysql, GError **error)
{
  gint64 locked = 0, current = 0;
  gboolean ok;

  if (!query_int (mysql, "SELECT GET_LOCK(" LOCK_NAME ", " G_STRINGIFY (LOCK_TIMEOUT_S) ")",
                  &locked, error))
    return FALSE;
  if (locked != 1)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE,
                   "store: another process holds the migration lock");
      return FALSE;
    }
  ok = run (mysql, "CREATE TABLE IF NOT EXISTS schema_version ("
                   " version BIGINT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,"
                   " applied_ms BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            "schema version", error)
       && query_int (mysql, "SELECT COALESCE(MAX(version), 0) FROM schema_version", &current,
                     error)
       && imp_store_migrations_apply ("mysql", current, apply_one, mysql, error);
  /* Also released when the connection closes, e.g. if this one was lost. */
  run (mysql, "DO RELEASE_LOCK(" LOCK_NAME ")", "unlock", NULL);
  return ok;
}

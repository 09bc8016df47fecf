/* test-store-fixture.h: what the store tests share: a table of backends (SQLite always; MySQL/
 * MariaDB when IMPLUS_TEST_MYSQL is "host:port:user:password:database", each case starting from
 * an empty database), the per-case fixture, and small helpers (users, sends). Included once per
 * test executable. */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <signal.h>
#include <time.h>

#include "store/imp-store.h"
#include "imp-convid.h"

#ifdef IMPLUS_HAVE_MYSQL
#include <mysql.h>
#endif

typedef struct _Backend Backend;

typedef struct {
  const Backend *backend;
  char     *dir;
  char     *path;   /* SQLite */
  gpointer  admin;  /* MySQL: a connection of the test's own (MYSQL *) */
  ImpStore *store;
} Fixture;

struct _Backend {
  const char *name;
  void      (*setup) (Fixture *f);
  ImpStore *(*open) (Fixture *f, GError **error);
  /* The first column of the first row of sql run on a connection of the test's own, -1 if no
   * row. */
  gint64    (*sql_int) (Fixture *f, const char *sql);
  void      (*teardown) (Fixture *f);
};

static gint next_msg_id = 1000;

/* SQLite */

static void
sqlite_setup (Fixture *f)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("implus-store-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "store.db", NULL);
}

static ImpStore *
sqlite_open (Fixture *f, GError **error)
{
  return imp_store_sqlite_open (f->path, error);
}

G_GNUC_UNUSED static void
remove_db_files (const char *path)
{
  const char *suffixes[] = { "", "-wal", "-shm" };

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *p = g_strconcat (path, suffixes[i], NULL);
      g_remove (p);
    }
}

static void
sqlite_teardown (Fixture *f)
{
  remove_db_files (f->path);
  g_assert_cmpint (g_rmdir (f->dir), ==, 0);
  g_free (f->path);
  g_free (f->dir);
}

static gint64
sqlite_sql_int (Fixture *f, const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 v = -1;

  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    v = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return v;
}

static const Backend sqlite_backend = {
  "sqlite", sqlite_setup, sqlite_open, sqlite_sql_int, sqlite_teardown,
};

/* MySQL */

#ifdef IMPLUS_HAVE_MYSQL
#define MYSQL_SKIP "IMPLUS_TEST_MYSQL not set: needs a MariaDB started by scripts/services/start.sh mariadb"

typedef struct {
  char  *host, *user, *password, *database;
  guint  port;
} MysqlParams;

static MysqlParams mysql_params;

/* IMPLUS_TEST_MYSQL = host:port:user:password:database; FALSE if unset. */
static gboolean
mysql_params_load (void)
{
  const char *env = g_getenv ("IMPLUS_TEST_MYSQL");
  g_auto(GStrv) parts = NULL;

  if (env == NULL || env[0] == '\0')
    return FALSE;
  parts = g_strsplit (env, ":", 5);
  if (g_strv_length (parts) != 5)
    g_error ("IMPLUS_TEST_MYSQL must be host:port:user:password:database");
  mysql_params.host = g_strdup (parts[0]);
  mysql_params.port = (guint) g_ascii_strtoull (parts[1], NULL, 10);
  mysql_params.user = g_strdup (parts[2]);
  mysql_params.password = g_strdup (parts[3]);
  mysql_params.database = g_strdup (parts[4]);
  return TRUE;
}

static MYSQL *
mysql_admin_connect (void)
{
  MYSQL *m = mysql_init (NULL);

  if (mysql_real_connect (m, mysql_params.host, mysql_params.user, mysql_params.password,
                          mysql_params.database, mysql_params.port, NULL, 0) == NULL)
    g_error ("cannot connect to %s:%u: %s", mysql_params.host, mysql_params.port, mysql_error (m));
  return m;
}

static void
mysql_admin_exec (MYSQL *m, const char *sql)
{
  if (mysql_query (m, sql) != 0)
    g_error ("%s: %s", sql, mysql_error (m));
}

static void
mysql_setup (Fixture *f)
{
  MYSQL *m = mysql_admin_connect ();
  MYSQL_RES *res;
  MYSQL_ROW row;
  g_autoptr(GPtrArray) tables = g_ptr_array_new_with_free_func (g_free);

  f->admin = m;
  /* Every case starts from an empty database, so migrations run from scratch each time. */
  mysql_admin_exec (m, "SELECT table_name FROM information_schema.tables "
                       "WHERE table_schema = DATABASE()");
  res = mysql_store_result (m);
  while ((row = mysql_fetch_row (res)) != NULL)
    g_ptr_array_add (tables, g_strdup_printf ("DROP TABLE IF EXISTS `%s`", row[0]));
  mysql_free_result (res);
  for (guint i = 0; i < tables->len; i++)
    mysql_admin_exec (m, tables->pdata[i]);
}

G_GNUC_UNUSED static ImpStore *
mysql_open_pool (guint pool_size, GError **error)
{
  return imp_store_mysql_open (mysql_params.host, mysql_params.port, mysql_params.user,
                               mysql_params.password, mysql_params.database, pool_size, error);
}

static ImpStore *
mysql_open (Fixture *f, GError **error)
{
  return mysql_open_pool (4, error);
}

static gint64
mysql_sql_int (Fixture *f, const char *sql)
{
  MYSQL_RES *res;
  MYSQL_ROW row;
  gint64 v = -1;

  mysql_admin_exec (f->admin, sql);
  res = mysql_store_result (f->admin);
  if (res == NULL)
    return -1;
  if ((row = mysql_fetch_row (res)) != NULL && row[0] != NULL)
    v = g_ascii_strtoll (row[0], NULL, 10);
  mysql_free_result (res);
  return v;
}

static void
mysql_teardown (Fixture *f)
{
  mysql_close (f->admin);
}

static const Backend mysql_backend = {
  "mysql", mysql_setup, mysql_open, mysql_sql_int, mysql_teardown,
};
#endif

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->backend = data;
  f->backend->setup (f);
  f->store = f->backend->open (f, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->store);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->store, imp_store_free);
  f->backend->teardown (f);
}

G_GNUC_UNUSED static gint64
sql_int (Fixture *f, const char *sql)
{
  return f->backend->sql_int (f, sql);
}

G_GNUC_UNUSED static gint64
add_user (ImpStore *store, const char *name)
{
  g_autoptr(GError) error = NULL;
  gint64 id = 0;

  g_assert_true (imp_store_user_create (store, name, NULL, "$argon2id$fake", 1000, &id, &error));
  g_assert_no_error (error);
  g_assert_cmpint (id, >, 0);
  return id;
}

G_GNUC_UNUSED static ImpChatRequest
req (gint64 from, gint64 to, const char *cmid, const char *content)
{
  ImpChatRequest r = {
    .sender_id = from, .to_user_id = to, .client_msg_id = cmid, .content = content,
    .content_type = 1, .msg_id = g_atomic_int_add (&next_msg_id, 1), .now_ms = g_get_real_time () / 1000,
  };
  return r;
}

G_GNUC_UNUSED static void
send_one (ImpStore *store, gint64 from, gint64 to, const char *cmid, ImpChatResult *res)
{
  g_autoptr(GError) error = NULL;
  ImpChatRequest r = req (from, to, cmid, "hello");

  g_assert_true (imp_store_chat_commit (store, &r, 1, res, &error));
  g_assert_no_error (error);
}

static void
test_skip_any (gconstpointer data)
{
  g_test_skip (data);
}

typedef struct {
  const char *path;
  void      (*func) (Fixture *f, gconstpointer data);
} Case;

static void
add_cases (const Backend *backend, const Case *cases, guint n, const char *skip)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *path = g_strdup_printf ("/store/%s/%s", backend->name, cases[i].path);

      if (skip != NULL)
        g_test_add_data_func (path, skip, (GTestDataFunc) test_skip_any);
      else
        g_test_add_vtable (path, sizeof (Fixture), backend, (GTestFixtureFunc) fixture_setup,
                           (GTestFixtureFunc) cases[i].func, (GTestFixtureFunc) fixture_teardown);
    }
}


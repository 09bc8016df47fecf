/* test-imp-sqlite-db.c: the SQLite plumbing under ImpMirror and ImpMirrorIndex. */
#define G_LOG_DOMAIN "implus-test"

#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "imp-sqlite-db.h"
#include "imp-error.h"

#define RW_CREATE (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)

typedef struct {
  char       *path;
  sqlite3    *db;
  GHashTable *stmts;
} Fixture;

/* A fresh temporary file name (the file itself removed again). */
static char *
tmp_path (void)
{
  g_autoptr(GError) error = NULL;
  char *path = NULL;
  int fd = g_file_open_tmp ("imp-sqlite-db-XXXXXX.db", &path, &error);

  g_assert_no_error (error);
  close (fd);
  g_unlink (path);
  return path;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->path = tmp_path ();
  f->db = imp_sqlite_db_open (f->path, RW_CREATE, "test", &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->db);
  f->stmts = imp_sqlite_db_stmts_new ();
  g_assert_true (imp_sqlite_db_exec (f->db, "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)",
                                     "test", &error));
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  imp_sqlite_db_clear (&f->db, &f->stmts);
  g_unlink (f->path);
  g_free (f->path);
}

static sqlite3_stmt *
stmt (Fixture *f, const char *sql)
{
  return imp_sqlite_db_stmt (f->db, f->stmts, sql, G_LOG_DOMAIN, "test");
}

static void
test_stmt_cached_and_reset (Fixture *f, gconstpointer data)
{
  static const char *sql = "SELECT ?1";
  sqlite3_stmt *st = stmt (f, sql);
  sqlite3_stmt *again;

  g_assert_nonnull (st);
  sqlite3_bind_int64 (st, 1, 42);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_int64 (st, 0), ==, 42);
  g_assert_true (sqlite3_stmt_busy (st));

  /* Left mid-read on purpose: the next user gets it reset, with no bindings. */
  again = stmt (f, sql);
  g_assert_true (again == st);
  g_assert_false (sqlite3_stmt_busy (again));
  g_assert_cmpint (sqlite3_step (again), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_type (again, 0), ==, SQLITE_NULL);
  g_assert_cmpuint (g_hash_table_size (f->stmts), ==, 1);
}

static void
test_stmt_bad_sql (Fixture *f, gconstpointer data)
{
  static const char *sql = "SELEC nonsense";

  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "test: cannot prepare statement: *syntax error*");
  g_assert_null (stmt (f, sql));
  g_test_assert_expected_messages ();
  /* Nothing cached: it fails (and warns) again. */
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "test: cannot prepare statement: *");
  g_assert_null (stmt (f, sql));
  g_test_assert_expected_messages ();
  g_assert_cmpuint (g_hash_table_size (f->stmts), ==, 0);
}

static void
test_errors (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (imp_sqlite_db_exec (f->db, "INSERT INTO nowhere VALUES (1)", "test", &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_INTERNAL);
  g_assert_true (g_str_has_prefix (error->message, "test: "));
  g_assert_nonnull (strstr (error->message, "no such table"));
  g_clear_error (&error);

  /* set_error reports the connection's last error. */
  g_assert_cmpint (sqlite3_exec (f->db, "INSERT INTO nowhere VALUES (1)", NULL, NULL, NULL), !=, SQLITE_OK);
  g_assert_false (imp_sqlite_db_set_error (f->db, "test", &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_INTERNAL);
  g_assert_cmpstr (error->message, ==, "test: no such table: nowhere");
  g_assert_false (imp_sqlite_db_set_error (f->db, "test", NULL));
}

static void
test_open_fails (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = tmp_path ();

  /* Without SQLITE_OPEN_CREATE a missing file is an error (as for ImpMirrorIndex). */
  g_assert_null (imp_sqlite_db_open (path, SQLITE_OPEN_READWRITE, "test", &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_INTERNAL);
  g_assert_true (g_str_has_prefix (error->message, "test: "));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

static void
test_reads (Fixture *f, gconstpointer data)
{
  sqlite3_stmt *st;
  g_autofree char *text = NULL;

  g_assert_true (imp_sqlite_db_exec (f->db, "INSERT INTO kv VALUES ('a', 'x'), ('n', NULL)", "test", NULL));
  st = stmt (f, "SELECT value FROM kv WHERE key = ?");
  sqlite3_bind_text (st, 1, "a", -1, SQLITE_STATIC);
  text = imp_sqlite_db_step_string (st);
  g_assert_cmpstr (text, ==, "x");
  g_assert_false (sqlite3_stmt_busy (st));

  st = stmt (f, "SELECT value FROM kv WHERE key = ?");
  sqlite3_bind_text (st, 1, "n", -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  g_assert_null (imp_sqlite_db_col_strdup (st, 0));

  g_assert_cmpint (imp_sqlite_db_step_int64 (stmt (f, "SELECT COUNT(*) FROM kv")), ==, 2);
  g_assert_cmpint (imp_sqlite_db_step_int64 (stmt (f, "SELECT 1 WHERE 0")), ==, 0);
  /* A failed prepare's NULL reads as nothing. */
  g_assert_cmpint (imp_sqlite_db_step_int64 (NULL), ==, 0);
  g_assert_null (imp_sqlite_db_step_string (NULL));
}

static void
test_reopen (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  g_assert_true (imp_sqlite_db_exec (f->db, "INSERT INTO kv VALUES ('k', 'kept')", "test", &error));
  g_assert_nonnull (stmt (f, "SELECT value FROM kv WHERE key = 'k'"));
  /* Clearing with a live cached statement must still close the file. */
  imp_sqlite_db_clear (&f->db, &f->stmts);
  g_assert_null (f->db);
  g_assert_null (f->stmts);
  imp_sqlite_db_clear (&f->db, &f->stmts);

  f->db = imp_sqlite_db_open (f->path, SQLITE_OPEN_READWRITE, "test", &error);
  g_assert_no_error (error);
  f->stmts = imp_sqlite_db_stmts_new ();
  text = imp_sqlite_db_step_string (stmt (f, "SELECT value FROM kv WHERE key = 'k'"));
  g_assert_cmpstr (text, ==, "kept");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/sqlite-db/stmt/cached-and-reset", test_stmt_cached_and_reset);
  ADD ("/sqlite-db/stmt/bad-sql", test_stmt_bad_sql);
  ADD ("/sqlite-db/errors", test_errors);
  ADD ("/sqlite-db/reads", test_reads);
  ADD ("/sqlite-db/reopen", test_reopen);
  g_test_add_func ("/sqlite-db/open-fails", test_open_fails);
  return g_test_run ();
}

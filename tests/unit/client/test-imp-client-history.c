/* test-imp-client-history.c: imp_client_history_async against the fake server. Proves: with a
 * complete mirror the server's page adds nothing; rows missing from a trimmed mirror (one-to-one
 * and group) come back from GET /messages/history and /groups/sync and are readable again; a
 * page is bounded by `before`; nothing above a watermark is stored. */
#include <sqlite3.h>
#include "client-fake.h"

static gboolean got_6 (Fixture *f) { return f->received->len == 6 && imp_client_get_watermark (f->client) == 6; }
static gboolean group_4 (Fixture *f) { return imp_client_get_group_watermark (f->client, GROUP_CONV) == 4; }

typedef struct { gboolean done; gint64 added; GError *error; } Wait;

static gboolean wait_done (Fixture *f);
static Wait *current;
static gboolean wait_done (Fixture *f) { return current->done; }

static void
history_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Wait *w = user_data;

  w->added = imp_client_history_finish (IMP_CLIENT (source), res, &w->error);
  w->done = TRUE;
}

static gint64
history (Fixture *f, const char *conv, gint64 before)
{
  Wait w = { 0 };

  current = &w;
  imp_client_history_async (f->client, conv, before, 50, NULL, history_cb, &w);
  g_assert_true (wait_until (wait_done, f));
  g_assert_no_error (w.error);
  return w.added;
}

/* What a retention rule or a user's clean-up would do to the mirror. */
static void
trim (Fixture *f, const char *sql)
{
  g_autofree char *db = g_build_filename (f->dir, "alice", "mirror.db", NULL);
  sqlite3 *conn = NULL;

  g_assert_cmpint (sqlite3_open (db, &conn), ==, SQLITE_OK);
  sqlite3_busy_timeout (conn, 5000);
  g_assert_cmpint (sqlite3_exec (conn, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (conn);
}

static void
test_private (Fixture *f, gconstpointer data)
{
  ImpMirror *mirror;

  for (int i = 0; i < 6; i++)
    stream_add (f, 2, 1, "hello", NULL);
  login_and_connect (f);
  g_assert_true (wait_until (got_6, f));
  mirror = imp_client_get_mirror (f->client);

  /* Complete mirror: the server's page adds nothing. */
  g_assert_cmpint (history (f, "private_1_2", 0), ==, 0);
  g_assert_cmpuint (f->n_history_calls, ==, 1);

  trim (f, "DELETE FROM messages WHERE seq <= 3");
  g_assert_null (imp_mirror_get_message (mirror, 2));
  /* before = 3: only seqs 1 and 2. */
  g_assert_cmpint (history (f, "private_1_2", 3), ==, 2);
  {
    g_autoptr(ImpMessage) m = imp_mirror_get_message (mirror, 2);
    g_assert_nonnull (m);
    g_assert_cmpstr (m->content, ==, "hello");
  }
  g_assert_null (imp_mirror_get_message (mirror, 3));
  g_assert_cmpint (history (f, "private_1_2", 0), ==, 1);
  g_assert_cmpint (history (f, "private_1_2", 0), ==, 0);
  {
    g_autoptr(GPtrArray) all = imp_mirror_list_messages (mirror, "private_1_2", 0);
    g_assert_cmpuint (all->len, ==, 6);
  }
  /* Nothing lies below seq 1: no call. */
  f->n_history_calls = 0;
  g_assert_cmpint (history (f, "private_1_2", 1), ==, 0);
  g_assert_cmpuint (f->n_history_calls, ==, 0);
  g_assert_cmpint (imp_client_get_watermark (f->client), ==, 6);
}

static void
test_group (Fixture *f, gconstpointer data)
{
  ImpMirror *mirror;

  for (int i = 0; i < 4; i++)
    gstream_add (f, 2, "hi all", NULL);
  f->group_listed = TRUE;
  login_and_connect (f);
  g_assert_true (wait_until (group_4, f));
  mirror = imp_client_get_mirror (f->client);
  trim (f, "DELETE FROM group_messages WHERE seq <= 2");
  g_assert_null (imp_mirror_group_get_message (mirror, GROUP_CONV, 1));
  g_assert_cmpint (history (f, GROUP_CONV, 3), ==, 2);
  {
    g_autoptr(ImpMessage) m = imp_mirror_group_get_message (mirror, GROUP_CONV, 1);
    g_assert_nonnull (m);
    g_assert_cmpint (m->group_id, ==, GROUP_ID);
  }
  g_assert_cmpint (history (f, GROUP_CONV, 0), ==, 0);
  g_assert_cmpint (imp_client_get_group_watermark (f->client, GROUP_CONV), ==, 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/client/history/private", test_private);
  ADD ("/client/history/group", test_group);
  return g_test_run ();
}

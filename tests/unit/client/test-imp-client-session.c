/* test-imp-client-session.c: where the session token is kept (imp-client-session.c). Proves:
 * without a token store the token is in the 0600 session file; with a store the file holds only
 * a marker and a restart restores from the store; a store that fails at save time falls back to
 * the file (and the restart still works); a token left in the file moves into a store once one
 * is set; logout forgets the token in the store. The keyring store itself (libsecret, in
 * client-gtk) needs a Secret Service, which these machines do not run. */
#include <sys/stat.h>
#include "client-fake.h"

typedef struct {
  GHashTable *tokens;    /* username -> token */
  gboolean    broken;    /* save fails like a missing Secret Service */
  guint       n_saves, n_loads, n_forgets;
} FakeStore;

static gboolean
store_save (const char *username, const char *token, gpointer data, GError **error)
{
  FakeStore *s = data;

  s->n_saves++;
  if (s->broken)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "no secret service");
      return FALSE;
    }
  g_hash_table_replace (s->tokens, g_strdup (username), g_strdup (token));
  return TRUE;
}

static char *
store_load (const char *username, gpointer data, GError **error)
{
  FakeStore *s = data;

  s->n_loads++;
  return g_strdup (g_hash_table_lookup (s->tokens, username));
}

static void
store_forget (const char *username, gpointer data)
{
  FakeStore *s = data;

  s->n_forgets++;
  g_hash_table_remove (s->tokens, username);
}

static const ImpTokenStore fake_store = { store_save, store_load, store_forget };

static FakeStore *
fake_store_new (void)
{
  FakeStore *s = g_new0 (FakeStore, 1);

  s->tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return s;
}

static void
fake_store_free (FakeStore *s)
{
  g_hash_table_unref (s->tokens);
  g_free (s);
}

static GKeyFile *
session_file (Fixture *f)
{
  g_autofree char *path = g_build_filename (f->dir, "alice", "session", NULL);
  GKeyFile *kf = g_key_file_new ();
  GStatBuf st;

  g_assert_true (g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, NULL));
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  return kf;
}

static void
restart (Fixture *f, FakeStore *s)
{
  imp_client_shutdown (f->client);
  g_clear_object (&f->client);
  gw_close (f);
  new_client (f);
  if (s)
    imp_client_set_token_store (f->client, &fake_store, s, NULL);
}

static gboolean auths_two (Fixture *f) { return f->n_auths == 2 && is_online (f); }

static void
test_file_without_store (Fixture *f, gconstpointer data)
{
  g_autoptr(GKeyFile) kf = NULL;
  g_autofree char *token = NULL;

  login_and_connect (f);
  g_assert_cmpstr (imp_client_get_token_location (f->client), ==, "file");
  kf = session_file (f);
  token = g_key_file_get_string (kf, "session", "token", NULL);
  g_assert_cmpstr (token, ==, "tok-1");
  restart (f, NULL);
  g_assert_true (imp_client_restore (f->client));
  g_assert_true (wait_until (auths_two, f));
}

static void
test_store (Fixture *f, gconstpointer data)
{
  FakeStore *s = fake_store_new ();
  g_autoptr(GKeyFile) kf = NULL;

  imp_client_set_token_store (f->client, &fake_store, s, NULL);
  login_and_connect (f);
  g_assert_cmpstr (imp_client_get_token_location (f->client), ==, "store");
  g_assert_cmpstr (g_hash_table_lookup (s->tokens, "alice"), ==, "tok-1");
  kf = session_file (f);
  g_assert_false (g_key_file_has_key (kf, "session", "token", NULL));
  g_assert_true (g_key_file_get_boolean (kf, "session", "token_in_store", NULL));

  /* Restart: the token comes back from the store and authenticates. */
  restart (f, s);
  g_assert_true (imp_client_restore (f->client));
  g_assert_cmpuint (s->n_loads, ==, 1);
  g_assert_true (wait_until (auths_two, f));
  g_assert_cmpstr (imp_client_get_token_location (f->client), ==, "store");

  /* A client without the store cannot use that session. */
  restart (f, NULL);
  g_assert_false (imp_client_restore (f->client));
  fake_store_free (s);
}

static void
test_store_unavailable_falls_back (Fixture *f, gconstpointer data)
{
  FakeStore *s = fake_store_new ();
  g_autoptr(GKeyFile) kf = NULL;
  g_autofree char *token = NULL;

  s->broken = TRUE;
  imp_client_set_token_store (f->client, &fake_store, s, NULL);
  login_and_connect (f);
  g_assert_cmpuint (s->n_saves, ==, 1);
  g_assert_cmpstr (imp_client_get_token_location (f->client), ==, "file");
  kf = session_file (f);
  token = g_key_file_get_string (kf, "session", "token", NULL);
  g_assert_cmpstr (token, ==, "tok-1");
  g_assert_false (g_key_file_get_boolean (kf, "session", "token_in_store", NULL));

  restart (f, s);
  g_assert_true (imp_client_restore (f->client));
  g_assert_cmpuint (s->n_loads, ==, 0);
  g_assert_true (wait_until (auths_two, f));
  g_assert_cmpstr (imp_client_get_token_location (f->client), ==, "file");
  fake_store_free (s);
}

static gboolean logged_out (Fixture *f) { return imp_client_get_user_id (f->client) == 0; }

static void
logout_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  imp_client_logout_finish (IMP_CLIENT (source), res, NULL);
}

static void
test_file_token_moves_into_store (Fixture *f, gconstpointer data)
{
  FakeStore *s = fake_store_new ();
  g_autoptr(GKeyFile) kf = NULL;
  g_autofree char *session = g_build_filename (f->dir, "alice", "session", NULL);

  login_and_connect (f);
  restart (f, s);
  g_assert_true (imp_client_restore (f->client));
  g_assert_cmpstr (g_hash_table_lookup (s->tokens, "alice"), ==, "tok-1");
  g_assert_cmpstr (imp_client_get_token_location (f->client), ==, "store");
  kf = session_file (f);
  g_assert_false (g_key_file_has_key (kf, "session", "token", NULL));
  g_assert_true (wait_until (auths_two, f));

  /* Logout forgets it everywhere (the fake answers 404 to /users/logout: best effort). */
  imp_client_logout_async (f->client, NULL, logout_cb, NULL);
  g_assert_true (wait_until (logged_out, f));
  g_assert_cmpuint (s->n_forgets, ==, 1);
  g_assert_null (g_hash_table_lookup (s->tokens, "alice"));
  g_assert_false (g_file_test (session, G_FILE_TEST_EXISTS));
  g_assert_null (imp_client_get_token_location (f->client));
  fake_store_free (s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/client/session/file-without-store", test_file_without_store);
  ADD ("/client/session/store", test_store);
  ADD ("/client/session/store-unavailable-falls-back", test_store_unavailable_falls_back);
  ADD ("/client/session/file-token-moves-into-store", test_file_token_moves_into_store);
  return g_test_run ();
}

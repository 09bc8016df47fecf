/* Tests of ImpAuth: secret file handling, issue/check, revocation through cache and store. */
#include "core/imp-auth.h"
#include "imp-error.h"

#include <string.h>
#include <sys/stat.h>
#include <glib/gstdio.h>

typedef struct {
  char     *dir;
  char     *secret;
  ImpStore *store;
  ImpCache *cache;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->dir = g_dir_make_tmp ("imp-auth-XXXXXX", &error);
  g_assert_no_error (error);
  f->secret = g_build_filename (f->dir, "token.key", NULL);
  g_autofree char *db = g_build_filename (f->dir, "implus.db", NULL);
  f->store = imp_store_sqlite_open (db, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->store);
  f->cache = imp_cache_memory_new ();
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  imp_cache_free (f->cache);
  imp_store_free (f->store);
  /* The store may leave -wal/-shm files: remove whatever is in the directory. */
  g_autoptr(GDir) d = g_dir_open (f->dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (f->dir, name, NULL);
      g_unlink (p);
    }
  g_rmdir (f->dir);
  g_free (f->secret);
  g_free (f->dir);
}

static void
test_issue_check (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpAuth) auth = imp_auth_new (f->secret, 3600, f->store, f->cache, &error);
  g_assert_no_error (error);

  ImpTokenClaims issued = { 0 }, checked = { 0 };
  g_autofree char *token = imp_auth_issue (auth, 42, &issued);
  g_assert_nonnull (token);
  g_assert_cmpint (issued.user_id, ==, 42);
  g_assert_cmpint (issued.expires_at - issued.issued_at, ==, 3600);

  g_assert_true (imp_auth_check (auth, token, &checked, &error));
  g_assert_no_error (error);
  g_assert_cmpint (checked.user_id, ==, 42);
  g_assert_cmpstr (checked.token_id, ==, issued.token_id);

  /* Tampered: one character changed. */
  g_autofree char *bad = g_strdup (token);
  gsize len = strlen (bad);
  bad[len - 2] = bad[len - 2] == 'A' ? 'B' : 'A';
  g_assert_false (imp_auth_check (auth, bad, NULL, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_AUTH_FAILED);
  g_clear_error (&error);

  g_assert_false (imp_auth_check (auth, "garbage", NULL, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_AUTH_FAILED);
}

static void
test_revoke (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpAuth) auth = imp_auth_new (f->secret, 3600, f->store, f->cache, &error);
  g_assert_no_error (error);

  ImpTokenClaims c1 = { 0 }, c2 = { 0 };
  g_autofree char *t1 = imp_auth_issue (auth, 7, &c1);
  g_autofree char *t2 = imp_auth_issue (auth, 7, &c2);
  g_assert_cmpstr (c1.token_id, !=, c2.token_id);

  g_assert_true (imp_auth_revoke (auth, &c1, &error));
  g_assert_no_error (error);
  g_assert_false (imp_auth_check (auth, t1, NULL, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_TOKEN_REVOKED);
  g_clear_error (&error);
  g_assert_cmpint (imp_cache_token_is_revoked (f->cache, c1.token_id), ==, 1);

  /* Only that token: the user's other session lives on. */
  g_assert_true (imp_auth_check (auth, t2, NULL, &error));
  g_assert_no_error (error);

  /* A fresh cache (restart, lost Redis): the store still knows, and the cache learns it. */
  g_autoptr(ImpCache) fresh = imp_cache_memory_new ();
  g_autoptr(ImpAuth) auth2 = imp_auth_new (f->secret, 3600, f->store, fresh, &error);
  g_assert_no_error (error);
  g_assert_cmpint (imp_cache_token_is_revoked (fresh, c1.token_id), !=, 1);
  g_assert_false (imp_auth_check (auth2, t1, NULL, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_TOKEN_REVOKED);
  g_clear_error (&error);
  g_assert_cmpint (imp_cache_token_is_revoked (fresh, c1.token_id), ==, 1);
  g_assert_true (imp_auth_check (auth2, t2, NULL, &error));
  g_assert_no_error (error);
}

static void
test_secret_file (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_assert_false (g_file_test (f->secret, G_FILE_TEST_EXISTS));

  g_autoptr(ImpAuth) a = imp_auth_new (f->secret, 3600, f->store, f->cache, &error);
  g_assert_no_error (error);
  GStatBuf st;
  g_assert_cmpint (g_stat (f->secret, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (st.st_size, ==, IMP_TOKEN_SECRET_LEN);

  g_autofree char *before = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (f->secret, &before, &len, NULL));

  /* Reused: a second instance accepts the first one's tokens and leaves the file alone. */
  g_autoptr(ImpAuth) b = imp_auth_new (f->secret, 3600, f->store, f->cache, &error);
  g_assert_no_error (error);
  g_autofree char *token = imp_auth_issue (a, 5, NULL);
  g_assert_true (imp_auth_check (b, token, NULL, &error));
  g_assert_no_error (error);
  g_autofree char *after = NULL;
  g_assert_true (g_file_get_contents (f->secret, &after, &len, NULL));
  g_assert_cmpmem (before, IMP_TOKEN_SECRET_LEN, after, len);

  /* A different secret rejects it. */
  g_autofree char *other = g_build_filename (f->dir, "other.key", NULL);
  g_autoptr(ImpAuth) c = imp_auth_new (other, 3600, f->store, f->cache, &error);
  g_assert_no_error (error);
  g_assert_false (imp_auth_check (c, token, NULL, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_AUTH_FAILED);
  g_unlink (other);
}

static void
test_bad_secret_file (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  /* Too short. */
  g_assert_true (g_file_set_contents (f->secret, "short", -1, NULL));
  g_assert_cmpint (g_chmod (f->secret, 0600), ==, 0);
  g_assert_null (imp_auth_new (f->secret, 3600, f->store, f->cache, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_INTERNAL);
  g_clear_error (&error);

  /* Right size, readable by others. */
  char bytes[IMP_TOKEN_SECRET_LEN];
  memset (bytes, 'k', sizeof bytes);
  g_assert_true (g_file_set_contents (f->secret, bytes, sizeof bytes, NULL));
  g_assert_cmpint (g_chmod (f->secret, 0644), ==, 0);
  g_assert_null (imp_auth_new (f->secret, 3600, f->store, f->cache, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_INTERNAL);
  g_assert_nonnull (strstr (error->message, "chmod"));
  g_clear_error (&error);

  /* Fixed: accepted. */
  g_assert_cmpint (g_chmod (f->secret, 0600), ==, 0);
  g_autoptr(ImpAuth) ok = imp_auth_new (f->secret, 3600, f->store, f->cache, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ok);

  /* A directory where the file should be. */
  g_autofree char *dir = g_build_filename (f->dir, "dir.key", NULL);
  g_assert_cmpint (g_mkdir (dir, 0700), ==, 0);
  g_assert_null (imp_auth_new (dir, 3600, f->store, f->cache, &error));
  g_assert_nonnull (error);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/auth/issue-check", Fixture, NULL, fixture_setup, test_issue_check, fixture_teardown);
  g_test_add ("/auth/revoke", Fixture, NULL, fixture_setup, test_revoke, fixture_teardown);
  g_test_add ("/auth/secret-file", Fixture, NULL, fixture_setup, test_secret_file, fixture_teardown);
  g_test_add ("/auth/bad-secret-file", Fixture, NULL, fixture_setup, test_bad_secret_file,
              fixture_teardown);
  return g_test_run ();
}

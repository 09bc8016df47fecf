/* test-imp-password.c: argon2id hashes and the password policy. */
#include "imp-password.h"
#include "imp-error.h"

#include <string.h>

static void
test_verify (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *h = imp_password_hash ("correct horse", IMP_PASSWORD_COST_MIN, &error);
  g_autofree char *h2 = imp_password_hash ("correct horse", IMP_PASSWORD_COST_MIN, NULL);

  g_assert_no_error (error);
  g_assert_nonnull (h);
  g_assert_true (g_str_has_prefix (h, "$argon2id$"));
  g_assert_null (strstr (h, "correct horse"));
  g_assert_cmpstr (h, !=, h2); /* salted */
  g_assert_true (imp_password_verify (h, "correct horse"));
  g_assert_true (imp_password_verify (h2, "correct horse"));
  g_assert_false (imp_password_verify (h, "correct horsE"));
  g_assert_false (imp_password_verify (h, "correct hors"));
  g_assert_false (imp_password_verify (h, ""));
  g_assert_false (imp_password_verify (NULL, "correct horse"));
  g_assert_false (imp_password_verify (h, NULL));
  g_assert_false (imp_password_verify ("not a hash", "correct horse"));
  g_assert_false (imp_password_verify ("", "correct horse"));
}

static void
test_interactive (void)
{
  g_autofree char *h = imp_password_hash ("密码密码密码", IMP_PASSWORD_COST_INTERACTIVE, NULL);

  g_assert_nonnull (h);
  g_assert_true (imp_password_verify (h, "密码密码密码"));
  g_assert_false (imp_password_verify (h, "密码密码密"));
}

static void
test_policy (void)
{
  g_autofree char *max = g_strnfill (128, 'x');
  g_autofree char *too_long = g_strnfill (129, 'x');
  static const char *const bad[] = { "", "short", "1234567", "abc\xff\xfe\xfd\xfc\xfb" };

  g_assert_true (imp_password_check_policy ("12345678", NULL));
  g_assert_true (imp_password_check_policy ("密码密码", NULL)); /* 12 bytes */
  g_assert_true (imp_password_check_policy (max, NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (imp_password_check_policy (bad[i], &error));
      g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
    }
  {
    g_autoptr(GError) error = NULL;
    g_assert_false (imp_password_check_policy (too_long, &error));
    g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
    g_clear_error (&error);
    g_assert_false (imp_password_check_policy (NULL, &error));
    g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/password/verify", test_verify);
  g_test_add_func ("/password/interactive", test_interactive);
  g_test_add_func ("/password/policy", test_policy);
  return g_test_run ();
}

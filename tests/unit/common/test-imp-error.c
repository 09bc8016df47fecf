/* test-imp-error.c: the error table. */
#include "imp-error.h"

static void
test_wire_code (void)
{
  g_autoptr(GError) mine = g_error_new_literal (IMP_ERROR, IMP_ERROR_TOKEN_EXPIRED, "x");
  g_autoptr(GError) other = g_error_new_literal (G_FILE_ERROR, G_FILE_ERROR_NOENT, "x");
  g_autoptr(GError) junk = g_error_new_literal (IMP_ERROR, 9999, "x");

  g_assert_cmpint (imp_error_wire_code (mine), ==, IMP_ERROR_TOKEN_EXPIRED);
  g_assert_cmpint (imp_error_wire_code (other), ==, IMP_ERROR_INTERNAL);
  g_assert_cmpint (imp_error_wire_code (junk), ==, IMP_ERROR_INTERNAL);
  g_assert_cmpint (imp_error_wire_code (NULL), ==, IMP_ERROR_NONE);
}

static void
test_http_and_names (void)
{
  g_assert_cmpuint (imp_error_http_status (IMP_ERROR_BAD_REQUEST), ==, 400);
  g_assert_cmpuint (imp_error_http_status (IMP_ERROR_AUTH_FAILED), ==, 401);
  g_assert_cmpuint (imp_error_http_status (IMP_ERROR_TOKEN_REVOKED), ==, 401);
  g_assert_cmpuint (imp_error_http_status (IMP_ERROR_FORBIDDEN), ==, 403);
  g_assert_cmpuint (imp_error_http_status (IMP_ERROR_NOT_FOUND), ==, 404);
  g_assert_cmpuint (imp_error_http_status (IMP_ERROR_CONFLICT), ==, 409);
  g_assert_cmpuint (imp_error_http_status (IMP_ERROR_PAYLOAD_TOO_LARGE), ==, 413);
  g_assert_cmpuint (imp_error_http_status (IMP_ERROR_RATE_LIMITED), ==, 429);
  g_assert_cmpuint (imp_error_http_status (IMP_ERROR_INTERNAL), ==, 500);
  g_assert_cmpuint (imp_error_http_status (IMP_ERROR_UNAVAILABLE), ==, 503);
  g_assert_cmpuint (imp_error_http_status ((ImpErrorCode) 777), ==, 500);
  g_assert_cmpstr (imp_error_code_name (IMP_ERROR_TOKEN_EXPIRED), ==, "token_expired");
  g_assert_cmpstr (imp_error_code_name (IMP_ERROR_NOT_MEMBER), ==, "not_member");

  /* Every code has a distinct name. */
  for (int a = IMP_ERROR_NONE; a <= IMP_ERROR_NOT_MEMBER; a++)
    for (int b = a + 1; b <= IMP_ERROR_NOT_MEMBER; b++)
      g_assert_cmpstr (imp_error_code_name (a), !=, imp_error_code_name (b));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/error/wire-code", test_wire_code);
  g_test_add_func ("/error/http-and-names", test_http_and_names);
  return g_test_run ();
}

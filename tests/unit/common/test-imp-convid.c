/* test-imp-convid.c: canonical conversation ids. */
#include "imp-convid.h"
#include "imp-error.h"

static void
test_private (void)
{
  g_autofree char *a = imp_convid_private (9, 10);
  g_autofree char *b = imp_convid_private (10, 9);
  g_autofree char *self = imp_convid_private (4, 4);
  g_autofree char *big = imp_convid_private (G_MAXINT64, 1);

  /* Numeric, not lexicographic, order. */
  g_assert_cmpstr (a, ==, "private_9_10");
  g_assert_cmpstr (b, ==, "private_9_10");
  g_assert_cmpstr (self, ==, "private_4_4");
  g_assert_cmpstr (big, ==, "private_1_9223372036854775807");
}

static void
test_group (void)
{
  g_autofree char *g = imp_convid_group (42);
  ImpConvKind kind = 0;
  gint64 x = -1, y = -1;

  g_assert_cmpstr (g, ==, "group_42");
  g_assert_true (imp_convid_parse (g, &kind, &x, &y, NULL));
  g_assert_cmpint (kind, ==, IMP_CONV_GROUP);
  g_assert_cmpint (x, ==, 42);
  g_assert_cmpint (y, ==, 0);
}

static void
test_parse_ok (void)
{
  ImpConvKind kind = 0;
  gint64 a = 0, b = 0;
  g_autoptr(GError) error = NULL;

  g_assert_true (imp_convid_parse ("private_9_10", &kind, &a, &b, &error));
  g_assert_no_error (error);
  g_assert_cmpint (kind, ==, IMP_CONV_PRIVATE);
  g_assert_cmpint (a, ==, 9);
  g_assert_cmpint (b, ==, 10);
  g_assert_true (imp_convid_parse ("private_1_9223372036854775807", NULL, NULL, NULL, NULL));
  g_assert_true (imp_convid_parse ("private_7_7", NULL, NULL, NULL, NULL));
}

static void
test_parse_junk (void)
{
  static const char *const junk[] = {
    "", "private_", "private_10_9", "private_09_10", "private_9_010", "group_", "group_0",
    "group_01", "group_-1", "private_-1_2", "private_+1_2", "private_1_+2", "private_0_2",
    "private_1_2_3", "private_1__2", "private_1", "private_1_", "private__1", "private_1_2 ",
    " private_1_2", "Private_1_2", "group_1x", "group_9223372036854775808",
    "private_1_9223372036854775808", "private_1_99999999999999999999", "group", "chat_1",
    "group_1_2", "private_a_b", "private_1\n_2", "group_１",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (junk); i++)
    {
      g_autoptr(GError) error = NULL;
      gint64 a = 0;

      if (imp_convid_parse (junk[i], NULL, &a, NULL, &error))
        g_error ("accepted junk conversation id \"%s\"", junk[i]);
      g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
    }
  g_assert_false (imp_convid_parse (NULL, NULL, NULL, NULL, NULL));
}

static void
test_members (void)
{
  g_assert_true (imp_convid_private_has ("private_9_10", 9));
  g_assert_true (imp_convid_private_has ("private_9_10", 10));
  g_assert_false (imp_convid_private_has ("private_9_10", 11));
  g_assert_false (imp_convid_private_has ("private_9_10", 0));
  g_assert_false (imp_convid_private_has ("group_9", 9));
  g_assert_false (imp_convid_private_has ("private_10_9", 9));
  g_assert_cmpint (imp_convid_private_peer ("private_9_10", 9), ==, 10);
  g_assert_cmpint (imp_convid_private_peer ("private_9_10", 10), ==, 9);
  g_assert_cmpint (imp_convid_private_peer ("private_9_10", 11), ==, 0);
  g_assert_cmpint (imp_convid_private_peer ("private_4_4", 4), ==, 4);
  g_assert_cmpint (imp_convid_private_peer ("group_9", 9), ==, 0);
  g_assert_cmpint (imp_convid_private_peer ("junk", 9), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/convid/private", test_private);
  g_test_add_func ("/convid/group", test_group);
  g_test_add_func ("/convid/parse-ok", test_parse_ok);
  g_test_add_func ("/convid/parse-junk", test_parse_junk);
  g_test_add_func ("/convid/members", test_members);
  return g_test_run ();
}

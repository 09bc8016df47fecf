/* test-imp-config.c: the table-driven config loader. */
#include "imp-config.h"
#include "imp-error.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  char    *name;
  char    *data_dir;
  gint64   port;
  gint64   max_frame;
  gboolean verbose;
} TestConfig;

static const ImpConfigKey table[] = {
  { "server",  "name",      IMP_CONFIG_STRING, G_STRUCT_OFFSET (TestConfig, name),      "implus", 0, 0, "Server name" },
  { "server",  "data-dir",  IMP_CONFIG_STRING, G_STRUCT_OFFSET (TestConfig, data_dir),  NULL, 0, 0, "Data directory" },
  { "gateway", "tcp_port",  IMP_CONFIG_INT,    G_STRUCT_OFFSET (TestConfig, port),      "8900", 0, 65535, "TCP port" },
  { "gateway", "max_frame", IMP_CONFIG_INT,    G_STRUCT_OFFSET (TestConfig, max_frame), "65536", 16, 16777216, "Largest frame" },
  { "server",  "verbose",   IMP_CONFIG_BOOL,   G_STRUCT_OFFSET (TestConfig, verbose),   "false", 0, 0, "Log more" },
};

static void
unset_env (void)
{
  g_unsetenv ("IMPLUS_SERVER_NAME");
  g_unsetenv ("IMPLUS_SERVER_DATA_DIR");
  g_unsetenv ("IMPLUS_GATEWAY_TCP_PORT");
  g_unsetenv ("IMPLUS_GATEWAY_MAX_FRAME");
  g_unsetenv ("IMPLUS_SERVER_VERBOSE");
}

static char *
write_file (const char *contents)
{
  g_autoptr(GError) error = NULL;
  char *path = NULL;
  int fd = g_file_open_tmp ("test-imp-config-XXXXXX.conf", &path, &error);

  g_assert_no_error (error);
  close (fd);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return path;
}

static gboolean
load (const char *contents, TestConfig *c, GError **error)
{
  g_autofree char *path = contents != NULL ? write_file (contents) : NULL;
  gboolean ok = imp_config_load (table, G_N_ELEMENTS (table), c, path, TRUE, error);

  if (path != NULL)
    g_unlink (path);
  return ok;
}

static void
test_env_name (void)
{
  g_autofree char *a = imp_config_env_name ("gateway", "tcp_port");
  g_autofree char *b = imp_config_env_name ("server", "data-dir");

  g_assert_cmpstr (a, ==, "IMPLUS_GATEWAY_TCP_PORT");
  g_assert_cmpstr (b, ==, "IMPLUS_SERVER_DATA_DIR");
}

static void
test_defaults (void)
{
  TestConfig c = { 0 };
  g_autoptr(GError) error = NULL;

  unset_env ();
  g_assert_true (imp_config_load (table, G_N_ELEMENTS (table), &c, NULL, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c.name, ==, "implus");
  g_assert_null (c.data_dir);
  g_assert_cmpint (c.port, ==, 8900);
  g_assert_cmpint (c.max_frame, ==, 65536);
  g_assert_false (c.verbose);
  imp_config_clear (table, G_N_ELEMENTS (table), &c);
  g_assert_null (c.name);

  /* A missing optional file is fine; a missing required file is not. */
  g_assert_true (imp_config_load (table, G_N_ELEMENTS (table), &c, "/nonexistent/x.conf", FALSE, &error));
  g_assert_no_error (error);
  imp_config_clear (table, G_N_ELEMENTS (table), &c);
  g_assert_false (imp_config_load (table, G_N_ELEMENTS (table), &c, "/nonexistent/x.conf", TRUE, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  imp_config_clear (table, G_N_ELEMENTS (table), &c);
}

static void
test_file (void)
{
  TestConfig c = { 0 };
  g_autoptr(GError) error = NULL;

  unset_env ();
  g_assert_true (load ("# comment\n[server]\nname=office\ndata-dir=/var/lib/implus\nverbose=true\n"
                       "[gateway]\ntcp_port=9000\n", &c, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c.name, ==, "office");
  g_assert_cmpstr (c.data_dir, ==, "/var/lib/implus");
  g_assert_true (c.verbose);
  g_assert_cmpint (c.port, ==, 9000);
  g_assert_cmpint (c.max_frame, ==, 65536);
  imp_config_clear (table, G_N_ELEMENTS (table), &c);
}

static void
test_env_wins (void)
{
  TestConfig c = { 0 };
  g_autoptr(GError) error = NULL;

  unset_env ();
  g_setenv ("IMPLUS_GATEWAY_TCP_PORT", "0", TRUE);
  g_setenv ("IMPLUS_SERVER_NAME", "from-env", TRUE);
  g_setenv ("IMPLUS_SERVER_VERBOSE", "no", TRUE);
  g_assert_true (load ("[server]\nname=office\nverbose=true\n[gateway]\ntcp_port=9000\n", &c, &error));
  g_assert_no_error (error);
  g_assert_cmpint (c.port, ==, 0);
  g_assert_cmpstr (c.name, ==, "from-env");
  g_assert_false (c.verbose);
  imp_config_clear (table, G_N_ELEMENTS (table), &c);

  g_setenv ("IMPLUS_GATEWAY_TCP_PORT", "70000", TRUE);
  g_assert_false (load (NULL, &c, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_assert_nonnull (strstr (error->message, "IMPLUS_GATEWAY_TCP_PORT"));
  imp_config_clear (table, G_N_ELEMENTS (table), &c);
  unset_env ();
}

static void
expect_error (const char *contents, const char *fragment)
{
  TestConfig c = { 0 };
  g_autoptr(GError) error = NULL;

  g_assert_false (load (contents, &c, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  if (strstr (error->message, fragment) == NULL)
    g_error ("error \"%s\" does not mention \"%s\"", error->message, fragment);
  imp_config_clear (table, G_N_ELEMENTS (table), &c);
}

static void
test_errors (void)
{
  unset_env ();
  expect_error ("[server]\nnmae=typo\n", "nmae");
  expect_error ("[servre]\nname=typo\n", "servre");
  expect_error ("[gateway]\ntcp_port=65536\n", "out of range");
  expect_error ("[gateway]\ntcp_port=-1\n", "out of range");
  expect_error ("[gateway]\nmax_frame=15\n", "out of range");
  expect_error ("[gateway]\ntcp_port=80x\n", "tcp_port");
  expect_error ("[gateway]\ntcp_port=99999999999999999999999\n", "tcp_port");
  expect_error ("[server]\nverbose=maybe\n", "verbose");
  expect_error ("this is not a key file\n", "");
}

static void
test_describe (void)
{
  g_autofree char *text = imp_config_describe (table, G_N_ELEMENTS (table));
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  TestConfig c = { 0 };
  g_autofree char *path = write_file (text);

  g_assert_nonnull (strstr (text, "[gateway]"));
  g_assert_nonnull (strstr (text, "#tcp_port=8900"));
  g_assert_nonnull (strstr (text, "IMPLUS_GATEWAY_TCP_PORT"));
  g_assert_nonnull (strstr (text, "Largest frame"));
  g_assert_nonnull (strstr (text, "0..65535"));
  /* One [server] header although its keys are not contiguous in the table. */
  g_assert_true (strstr (text, "[server]") == g_strrstr (text, "[server]"));
  /* The example is a valid config file that changes nothing. */
  unset_env ();
  g_assert_true (imp_config_load (table, G_N_ELEMENTS (table), &c, path, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (c.port, ==, 8900);
  imp_config_clear (table, G_N_ELEMENTS (table), &c);
  g_unlink (path);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/env-name", test_env_name);
  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/file", test_file);
  g_test_add_func ("/config/env-wins", test_env_wins);
  g_test_add_func ("/config/errors", test_errors);
  g_test_add_func ("/config/describe", test_describe);
  return g_test_run ();
}

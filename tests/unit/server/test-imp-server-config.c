/* Tests of the server config table: defaults, derived paths, environment, file, validation. */
#include "core/imp-server-config.h"
#include "imp-error.h"

#include <string.h>
#include <glib/gstdio.h>

static void
unset_env (void)
{
  for (gsize i = 0; i < imp_server_config_n_keys; i++)
    {
      g_autofree char *name = imp_config_env_name (imp_server_config_keys[i].group,
                                                   imp_server_config_keys[i].key);
      g_unsetenv (name);
    }
}

static void
test_defaults (void)
{
  ImpServerConfig c;
  g_autoptr(GError) error = NULL;

  unset_env ();
  g_assert_true (imp_server_config_load (&c, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c.role, ==, "all");
  g_assert_cmpstr (c.bind, ==, "127.0.0.1");
  g_assert_cmpstr (c.gateway_id, ==, "gw1");
  g_assert_cmpint (c.tcp_port, ==, 8900);
  g_assert_cmpint (c.ws_port, ==, 8902);
  g_assert_cmpstr (c.ws_path, ==, "/websocket");
  g_assert_cmpint (c.max_frame, ==, 65536);
  g_assert_cmpint (c.heartbeat_interval_ms, ==, 30000);
  g_assert_cmpint (c.idle_timeout_ms, ==, 90000);
  g_assert_cmpint (c.retransmit_ms, ==, 2000);
  g_assert_cmpint (c.retransmit_max, ==, 3);
  g_assert_cmpint (c.max_unacked, ==, 4096);
  g_assert_cmpint (c.max_outbuf, ==, 4 * 1024 * 1024);
  g_assert_cmpint (c.max_connections_per_ip, ==, 0);
  g_assert_cmpint (c.user_http_port, ==, 8090);
  g_assert_cmpint (c.token_ttl_s, ==, 7 * 24 * 3600);
  g_assert_cmpstr (c.password_cost, ==, "interactive");
  g_assert_cmpint (c.message_http_port, ==, 8100);
  g_assert_cmpint (c.max_content, ==, 8192);
  g_assert_cmpint (c.pull_page_max, ==, 500);
  g_assert_cmpint (c.worker_batch, ==, 256);
  g_assert_cmpint (c.max_http_body, ==, 65536);
  g_assert_cmpstr (c.store_backend, ==, "sqlite");
  g_assert_cmpstr (c.bus_backend, ==, "local");
  g_assert_cmpstr (c.cache_backend, ==, "memory");
  g_assert_cmpstr (c.redis_password_file, ==, "");

  g_autofree char *dir = g_build_filename (g_get_user_data_dir (), "implus-server", NULL);
  g_autofree char *db = g_build_filename (dir, "implus.db", NULL);
  g_autofree char *key = g_build_filename (dir, "token.key", NULL);
  g_assert_cmpstr (c.data_dir, ==, dir);
  g_assert_cmpstr (c.store_path, ==, db);
  g_assert_cmpstr (c.token_secret_file, ==, key);
  imp_server_config_clear (&c);
}

static void
test_env_override (void)
{
  ImpServerConfig c;
  g_autoptr(GError) error = NULL;

  unset_env ();
  g_setenv ("IMPLUS_GATEWAY_TCP_PORT", "0", TRUE);
  g_setenv ("IMPLUS_SERVER_DATA_DIR", "/tmp/implus-x", TRUE);
  g_setenv ("IMPLUS_USER_PASSWORD_COST", "min", TRUE);
  g_setenv ("IMPLUS_USER_HTTP_PORT", "18090", TRUE);
  g_assert_true (imp_server_config_load (&c, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (c.tcp_port, ==, 0);
  g_assert_cmpint (c.user_http_port, ==, 18090);
  g_assert_cmpstr (c.password_cost, ==, "min");
  g_assert_cmpstr (c.data_dir, ==, "/tmp/implus-x");
  /* Derived paths follow the data dir. */
  g_assert_cmpstr (c.store_path, ==, "/tmp/implus-x/implus.db");
  g_assert_cmpstr (c.token_secret_file, ==, "/tmp/implus-x/token.key");
  imp_server_config_clear (&c);
  unset_env ();
}

static void
test_file_and_env (void)
{
  ImpServerConfig c;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("imp-config-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "server.conf", NULL);

  unset_env ();
  g_assert_true (g_file_set_contents (path,
                                      "[server]\nrole=user\n"
                                      "[store]\npath=/var/lib/x.db\n"
                                      "[gateway]\nid=gw7\ntcp_port=9000\n", -1, &error));
  g_setenv ("IMPLUS_GATEWAY_TCP_PORT", "9001", TRUE);
  g_assert_true (imp_server_config_load (&c, path, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c.role, ==, "user");
  g_assert_cmpstr (c.gateway_id, ==, "gw7");
  g_assert_cmpint (c.tcp_port, ==, 9001);          /* the environment wins */
  g_assert_cmpstr (c.store_path, ==, "/var/lib/x.db"); /* explicit paths are kept */
  imp_server_config_clear (&c);
  unset_env ();

  g_unlink (path);
  g_rmdir (dir);
}

static void
test_invalid (void)
{
  static const char *const bad[][2] = {
    { "IMPLUS_SERVER_ROLE", "everything" },
    { "IMPLUS_USER_PASSWORD_COST", "cheap" },
    { "IMPLUS_STORE_BACKEND", "postgres" },
    { "IMPLUS_BUS_BACKEND", "nats" },
    { "IMPLUS_CACHE_BACKEND", "memcached" },
    { "IMPLUS_GATEWAY_ID", "gw 1" },
    { "IMPLUS_GATEWAY_WS_PATH", "websocket" },
    { "IMPLUS_GATEWAY_TCP_PORT", "70000" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      ImpServerConfig c;
      g_autoptr(GError) error = NULL;
      unset_env ();
      g_setenv (bad[i][0], bad[i][1], TRUE);
      g_assert_false (imp_server_config_load (&c, NULL, &error));
      g_assert_nonnull (error);
      g_assert_null (c.role); /* cleared on failure */
    }
  unset_env ();

  /* Distributed backends are valid names; the server refuses them until they are built. */
  ImpServerConfig c;
  g_autoptr(GError) error = NULL;
  g_setenv ("IMPLUS_STORE_BACKEND", "mysql", TRUE);
  g_assert_true (imp_server_config_load (&c, NULL, &error));
  g_assert_cmpstr (c.store_backend, ==, "mysql");
  imp_server_config_clear (&c);
  unset_env ();
}

static void
test_missing_file (void)
{
  ImpServerConfig c;
  g_autoptr(GError) error = NULL;

  unset_env ();
  g_assert_false (imp_server_config_load (&c, "/nonexistent/implus/server.conf", &error));
  g_assert_nonnull (error);
}

/* Reads [cache] redis_password_file as the server does at start. */
static char *
read_redis_password (const char *file, GError **error)
{
  ImpServerConfig c;
  char *password = NULL;

  unset_env ();
  if (file != NULL)
    g_setenv ("IMPLUS_CACHE_REDIS_PASSWORD_FILE", file, TRUE);
  g_assert_true (imp_server_config_load (&c, NULL, NULL));
  g_assert_cmpstr (c.redis_password_file, ==, file != NULL ? file : "");
  if (!imp_server_config_read_redis_password (&c, &password, error))
    g_assert_null (password);
  imp_server_config_clear (&c);
  unset_env ();
  return password;
}

static void
test_redis_password_file (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("imp-config-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "redis.pw", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.pw", NULL);
  char *password;

  g_assert_no_error (error);
  /* Not set: no AUTH. */
  g_assert_null (read_redis_password (NULL, &error));
  g_assert_no_error (error);

  /* The first line, without its line end (LF or CRLF); spaces are part of the password. */
  g_assert_true (g_file_set_contents (path, "s3cret pw\r\nsecond line\n", -1, NULL));
  password = read_redis_password (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (password, ==, "s3cret pw");
  imp_server_config_secret_free (password);
  g_assert_true (g_file_set_contents (path, "no-newline", -1, NULL));
  password = read_redis_password (path, &error);
  g_assert_cmpstr (password, ==, "no-newline");
  imp_server_config_secret_free (password);

  /* A file that cannot be read, or an empty first line, refuses the start and says which file. */
  g_assert_null (read_redis_password (missing, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (path, "\nhidden-second-line\n", -1, NULL));
  g_assert_null (read_redis_password (path, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_null (strstr (error->message, "hidden"));
  g_clear_error (&error);
  g_assert_null (read_redis_password (dir, &error));
  g_assert_nonnull (strstr (error->message, dir));

  imp_server_config_secret_free (NULL);
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_describe (void)
{
  g_autofree char *text = imp_config_describe (imp_server_config_keys, imp_server_config_n_keys);
  for (gsize i = 0; i < imp_server_config_n_keys; i++)
    g_assert_nonnull (strstr (text, imp_server_config_keys[i].key));
  g_assert_nonnull (strstr (text, "[gateway]"));
  g_assert_nonnull (strstr (text, "8900"));
}

/* data/implus-server.conf.example is generated from the table: it must not drift. */
static void
test_example_file (void)
{
  const char *root = g_getenv ("IMPLUS_SOURCE_ROOT");
  if (root == NULL)
    {
      g_test_skip ("IMPLUS_SOURCE_ROOT not set (run through meson test)");
      return;
    }
  g_autofree char *path = g_build_filename (root, "data", "implus-server.conf.example", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
  g_assert_no_error (error);
  g_autofree char *text = imp_config_describe (imp_server_config_keys, imp_server_config_n_keys);
  if (g_strcmp0 (contents, text) != 0)
    g_error ("%s is out of date: regenerate it with implus-server --print-config", path);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/server-config/defaults", test_defaults);
  g_test_add_func ("/server-config/env-override", test_env_override);
  g_test_add_func ("/server-config/file-and-env", test_file_and_env);
  g_test_add_func ("/server-config/invalid", test_invalid);
  g_test_add_func ("/server-config/missing-file", test_missing_file);
  g_test_add_func ("/server-config/redis-password-file", test_redis_password_file);
  g_test_add_func ("/server-config/describe", test_describe);
  g_test_add_func ("/server-config/example-file", test_example_file);
  return g_test_run ();
}

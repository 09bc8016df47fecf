/* Tests of the user API against a real SQLite store: register, login, logout, lookup, me. */
#include "user/imp-user-http.h"
#include "core/imp-http.h"
#include "imp-error.h"
#include "implus-bus.pb-c.h"

#include <string.h>
#include "test-http-util.h"

typedef struct {
  char            *dir;
  ImpServerConfig  config;
  ImpStore        *store;
  ImpCache        *cache;
  ImpBus          *bus;
  ImpAuth         *auth;
  SoupServer      *server;
  ImpUserHttp     *users;
  SoupSession     *session;
  guint            port;
  /* Kicks seen on push.gw-test */
  GPtrArray       *kicks;
  gboolean         kicked;
} Fixture;

static void
free_record (gpointer p)
{
  implus__bus__gateway_record__free_unpacked (p, NULL);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->dir = g_dir_make_tmp ("imp-user-XXXXXX", &error);
  g_assert_no_error (error);
  g_setenv ("IMPLUS_SERVER_DATA_DIR", f->dir, TRUE);
  g_setenv ("IMPLUS_USER_PASSWORD_COST", "min", TRUE);
  g_assert_true (imp_server_config_load (&f->config, NULL, &error));
  g_assert_no_error (error);
  g_unsetenv ("IMPLUS_SERVER_DATA_DIR");
  g_unsetenv ("IMPLUS_USER_PASSWORD_COST");

  f->store = imp_store_sqlite_open (f->config.store_path, &error);
  g_assert_no_error (error);
  f->cache = imp_cache_memory_new ();
  f->bus = imp_bus_local_new ();
  f->auth = imp_auth_new (f->config.token_secret_file, f->config.token_ttl_s, f->store, f->cache,
                          &error);
  g_assert_no_error (error);
  f->server = soup_server_new (NULL, NULL);
  f->users = imp_user_http_new (f->server, &f->config, f->store, f->auth, f->bus, f->cache);
  imp_user_http_set_gateway (f->users, "127.0.0.1:1234", "ws://127.0.0.1:1235/websocket");
  g_assert_true (imp_http_listen (f->server, "127.0.0.1", 0, &f->port, &error));
  g_assert_no_error (error);
  f->session = soup_session_new ();
  f->kicks = g_ptr_array_new_with_free_func (free_record);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_object_unref (f->session);
  soup_server_disconnect (f->server);
  imp_user_http_free (f->users);
  g_object_unref (f->server);
  imp_auth_free (f->auth);
  imp_bus_free (f->bus);
  imp_cache_free (f->cache);
  imp_store_free (f->store);
  g_ptr_array_unref (f->kicks);
  test_rm_dir (f->dir);
  g_free (f->dir);
  imp_server_config_clear (&f->config);
}

static JsonObject *
post (Fixture *f, const char *path, const char *body, const char *token, guint expect_status)
{
  guint status = 0;
  JsonNode *node = test_http (f->session, f->port, "POST", path, body, -1, token, &status);
  g_assert_cmpuint (status, ==, expect_status);
  g_assert_nonnull (node);
  JsonObject *o = json_object_ref (json_node_get_object (node));
  json_node_unref (node);
  return o;
}

static JsonObject *
get (Fixture *f, const char *path, const char *token, guint expect_status)
{
  guint status = 0;
  JsonNode *node = test_http (f->session, f->port, "GET", path, NULL, 0, token, &status);
  g_assert_cmpuint (status, ==, expect_status);
  g_assert_nonnull (node);
  JsonObject *o = json_object_ref (json_node_get_object (node));
  json_node_unref (node);
  return o;
}

static void
expect_error (JsonObject *o, const char *name)
{
  g_assert_cmpstr (json_object_get_string_member (o, "error"), ==, name);
  json_object_unref (o);
}

static char *
login (Fixture *f, const char *username, const char *password)
{
  g_autofree char *body = g_strdup_printf ("{\"username\": \"%s\", \"password\": \"%s\"}",
                                           username, password);
  g_autoptr(JsonObject) o = post (f, "/users/login", body, NULL, 200);
  return g_strdup (json_object_get_string_member (o, "token"));
}

static void
test_register (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonObject) a = post (f, "/users/register",
                                  "{\"username\": \"alice\", \"password\": \"secret-pass\", "
                                  "\"nickname\": \"Alice \xe7\x88\xb1\"}", NULL, 201);
  g_assert_cmpint (json_object_get_int_member (a, "user_id"), >, 0);
  g_assert_cmpstr (json_object_get_string_member (a, "username"), ==, "alice");
  g_assert_cmpstr (json_object_get_string_member (a, "nickname"), ==, "Alice \xe7\x88\xb1");

  /* No nickname: the username. */
  g_autoptr(JsonObject) b = post (f, "/users/register",
                                  "{\"username\": \"bob.B-2_\", \"password\": \"secret-pass\"}",
                                  NULL, 201);
  g_assert_cmpstr (json_object_get_string_member (b, "nickname"), ==, "bob.B-2_");
  g_assert_cmpint (json_object_get_int_member (b, "user_id"), !=,
                   json_object_get_int_member (a, "user_id"));

  expect_error (post (f, "/users/register",
                      "{\"username\": \"alice\", \"password\": \"other-pass\"}", NULL, 409),
                "conflict");
}

static void
test_register_bad_input (Fixture *f, gconstpointer data)
{
  static const char *const bad[] = {
    "{\"username\": \"ab\", \"password\": \"secret-pass\"}",
    "{\"username\": \"abcdefghijabcdefghijabcdefghijabc\", \"password\": \"secret-pass\"}",
    "{\"username\": \"has space\", \"password\": \"secret-pass\"}",
    "{\"username\": \"\xc3\xbc" "mlaut\", \"password\": \"secret-pass\"}",
    "{\"username\": \"a/b/c\", \"password\": \"secret-pass\"}",
    "{\"username\": \"carol\", \"password\": \"short\"}",
    "{\"username\": \"carol\"}",
    "{\"password\": \"secret-pass\"}",
    "{\"username\": 12345, \"password\": \"secret-pass\"}",
    "{\"username\": \"carol\", \"password\": \"secret-pass\", \"nickname\": 5}",
    "{\"username\": \"carol\", \"password\": \"secret-pass\", \"nickname\": "
      "\"0123456789012345678901234567890123456789012345678901234567890123456789\"}",
    "[\"carol\"]",
    "not json",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    expect_error (post (f, "/users/register", bad[i], NULL, 400), "bad_request");

  /* 129-byte password. */
  g_autofree char *pw = g_strnfill (129, 'p');
  g_autofree char *body = g_strdup_printf ("{\"username\": \"carol\", \"password\": \"%s\"}", pw);
  expect_error (post (f, "/users/register", body, NULL, 400), "bad_request");

  /* Nothing of that was created. */
  g_autoptr(GError) error = NULL;
  g_assert_null (imp_store_user_find (f->store, "carol", &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER);

  /* GET on a POST route. */
  expect_error (get (f, "/users/register", NULL, 405), "bad_request");
}

static void
test_login (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonObject) a = post (f, "/users/register",
                                  "{\"username\": \"alice\", \"password\": \"secret-pass\"}",
                                  NULL, 201);
  gint64 id = json_object_get_int_member (a, "user_id");

  g_autoptr(JsonObject) o = post (f, "/users/login",
                                  "{\"username\": \"alice\", \"password\": \"secret-pass\"}",
                                  NULL, 200);
  g_assert_cmpint (json_object_get_int_member (o, "user_id"), ==, id);
  g_assert_cmpstr (json_object_get_string_member (o, "username"), ==, "alice");
  g_assert_true (g_str_has_prefix (json_object_get_string_member (o, "token"), "v1."));
  g_assert_cmpint (json_object_get_int_member (o, "expires_at"), >, g_get_real_time () / G_USEC_PER_SEC);
  JsonObject *gw = json_object_get_object_member (o, "gateway");
  g_assert_cmpstr (json_object_get_string_member (gw, "tcp"), ==, "127.0.0.1:1234");
  g_assert_cmpstr (json_object_get_string_member (gw, "ws"), ==, "ws://127.0.0.1:1235/websocket");

  /* With live gateways in the registry, login hands out the least loaded one. */
  imp_cache_gateway_announce (f->cache, "gw-a", "127.0.0.1:2001", "ws://127.0.0.1:2002/websocket", 40, 60000);
  imp_cache_gateway_announce (f->cache, "gw-b", "127.0.0.1:3001", "ws://127.0.0.1:3002/websocket", 7, 60000);
  imp_cache_gateway_announce (f->cache, "gw-c", "127.0.0.1:4001", "ws://127.0.0.1:4002/websocket", 12, 60000);
  {
    g_autoptr(JsonObject) again = post (f, "/users/login",
                                        "{\"username\": \"alice\", \"password\": \"secret-pass\"}",
                                        NULL, 200);
    JsonObject *best = json_object_get_object_member (again, "gateway");

    g_assert_cmpstr (json_object_get_string_member (best, "id"), ==, "gw-b");
    g_assert_cmpstr (json_object_get_string_member (best, "tcp"), ==, "127.0.0.1:3001");
    g_assert_cmpstr (json_object_get_string_member (best, "ws"), ==, "ws://127.0.0.1:3002/websocket");
  }

  /* Wrong password and unknown user: the very same answer. */
  g_autoptr(JsonObject) wrong = post (f, "/users/login",
                                      "{\"username\": \"alice\", \"password\": \"wrong-pass\"}",
                                      NULL, 401);
  g_autoptr(JsonObject) unknown = post (f, "/users/login",
                                        "{\"username\": \"nobody\", \"password\": \"wrong-pass\"}",
                                        NULL, 401);
  g_autoptr(JsonObject) invalid = post (f, "/users/login",
                                        "{\"username\": \"no body!\", \"password\": \"x\"}",
                                        NULL, 401);
  g_assert_cmpstr (json_object_get_string_member (wrong, "error"), ==, "auth_failed");
  g_assert_cmpstr (json_object_get_string_member (unknown, "error"), ==, "auth_failed");
  g_assert_cmpstr (json_object_get_string_member (wrong, "message"), ==,
                   json_object_get_string_member (unknown, "message"));
  g_assert_cmpstr (json_object_get_string_member (invalid, "message"), ==,
                   json_object_get_string_member (unknown, "message"));

  expect_error (post (f, "/users/login", "{\"username\": \"alice\"}", NULL, 400), "bad_request");
}

static void
test_me_lookup (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonObject) a = post (f, "/users/register",
                                  "{\"username\": \"alice\", \"password\": \"secret-pass\", "
                                  "\"nickname\": \"Alice\"}", NULL, 201);
  g_autoptr(JsonObject) b = post (f, "/users/register",
                                  "{\"username\": \"bob\", \"password\": \"secret-pass\", "
                                  "\"nickname\": \"Bob\"}", NULL, 201);
  g_autofree char *token = login (f, "alice", "secret-pass");

  g_autoptr(JsonObject) me = get (f, "/users/me", token, 200);
  g_assert_cmpint (json_object_get_int_member (me, "user_id"), ==,
                   json_object_get_int_member (a, "user_id"));
  g_assert_cmpstr (json_object_get_string_member (me, "nickname"), ==, "Alice");
  g_assert_false (json_object_has_member (me, "password_hash"));

  g_autoptr(JsonObject) bob = get (f, "/users/lookup?username=bob", token, 200);
  g_assert_cmpint (json_object_get_int_member (bob, "user_id"), ==,
                   json_object_get_int_member (b, "user_id"));
  g_assert_cmpstr (json_object_get_string_member (bob, "nickname"), ==, "Bob");

  expect_error (get (f, "/users/lookup?username=carol", token, 404), "unknown_user");
  expect_error (get (f, "/users/lookup?username=%20x", token, 404), "unknown_user");
  expect_error (get (f, "/users/lookup", token, 400), "bad_request");
  expect_error (get (f, "/users/lookup?username=bob", NULL, 401), "not_authenticated");
  expect_error (get (f, "/users/me", NULL, 401), "not_authenticated");
  expect_error (get (f, "/users/me", "v1.forged.token", 401), "auth_failed");
}

static gboolean
on_push (GPtrArray *records, gpointer user_data)
{
  Fixture *f = user_data;
  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (rec->value, &len);
      Implus__Bus__GatewayRecord *gr = implus__bus__gateway_record__unpack (NULL, len, data);
      g_assert_nonnull (gr);
      g_ptr_array_add (f->kicks, gr);
    }
  f->kicked = TRUE;
  return TRUE;
}

static void
test_logout (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonObject) a = post (f, "/users/register",
                                  "{\"username\": \"alice\", \"password\": \"secret-pass\"}",
                                  NULL, 201);
  gint64 id = json_object_get_int_member (a, "user_id");
  g_autofree char *t1 = login (f, "alice", "secret-pass");
  g_autofree char *t2 = login (f, "alice", "secret-pass");
  g_assert_cmpstr (t1, !=, t2);

  /* alice is connected on gateway gw-test. */
  g_autoptr(GError) error = NULL;
  g_autofree char *topic = imp_bus_push_topic ("gw-test");
  ImpBusSubscription *sub = imp_bus_subscribe (f->bus, topic, "gw-test", g_main_context_default (), 64, on_push, f,
                                               NULL, &error);
  g_assert_no_error (error);
  imp_cache_presence_add (f->cache, id, "gw-test", 1, 60000);

  g_autoptr(JsonObject) out = post (f, "/users/logout", NULL, t1, 200);
  g_assert_cmpuint (json_object_get_size (out), ==, 0);

  test_wait (&f->kicked);
  g_assert_cmpuint (f->kicks->len, ==, 1);
  Implus__Bus__GatewayRecord *gr = g_ptr_array_index (f->kicks, 0);
  g_assert_cmpint (gr->body_case, ==, IMPLUS__BUS__GATEWAY_RECORD__BODY_KICK);
  g_assert_cmpint (gr->kick->user_id, ==, id);
  g_assert_cmpint (gr->kick->reason, ==, IMPLUS__KICK_REASON__KICK_REASON_TOKEN_REVOKED);
  ImpTokenClaims claims = { 0 };
  g_assert_true (imp_auth_check (f->auth, t2, &claims, NULL));
  g_assert_cmpuint (strlen (gr->kick->token_id), ==, 32);
  g_assert_cmpstr (gr->kick->token_id, !=, claims.token_id); /* t1's id, not t2's */

  /* t1 is dead everywhere, t2 lives. */
  expect_error (get (f, "/users/me", t1, 401), "token_revoked");
  expect_error (post (f, "/users/logout", NULL, t1, 401), "token_revoked");
  g_autoptr(JsonObject) me = get (f, "/users/me", t2, 200);
  g_assert_cmpint (json_object_get_int_member (me, "user_id"), ==, id);

  imp_bus_unsubscribe (f->bus, sub);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/user-http/register", Fixture, NULL, fixture_setup, test_register, fixture_teardown);
  g_test_add ("/user-http/register-bad-input", Fixture, NULL, fixture_setup,
              test_register_bad_input, fixture_teardown);
  g_test_add ("/user-http/login", Fixture, NULL, fixture_setup, test_login, fixture_teardown);
  g_test_add ("/user-http/me-lookup", Fixture, NULL, fixture_setup, test_me_lookup,
              fixture_teardown);
  g_test_add ("/user-http/logout", Fixture, NULL, fixture_setup, test_logout, fixture_teardown);
  return g_test_run ();
}

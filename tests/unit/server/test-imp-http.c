/* Tests of the shared HTTP layer: routing, limits, JSON errors, bearer auth, worker threads. */
#include "core/imp-http.h"
#include "imp-error.h"

#include <string.h>
#include <glib/gstdio.h>
#include "test-http-util.h"

#define MAX_BODY 1024

typedef struct {
  char        *dir;
  ImpStore    *store;
  ImpCache    *cache;
  ImpAuth     *auth;
  SoupServer  *server;
  ImpHttpApi  *api;
  SoupSession *session;
  guint        port;
} Fixture;

static gboolean
handle_ping (ImpHttpJob *job, GError **error)
{
  /* Runs on a worker thread, never the main one. */
  g_assert_false (g_main_context_is_owner (g_main_context_default ()));
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "pong", "yes");
  gint64 n = 0;
  if (!imp_http_query_int (job, "n", 5, 0, 100, &n, error))
    {
      json_object_unref (o);
      return FALSE;
    }
  json_object_set_int_member (o, "n", n);
  job->reply = json_node_init_object (json_node_alloc (), o);
  json_object_unref (o);
  return TRUE;
}

static gboolean
handle_echo (ImpHttpJob *job, GError **error)
{
  const char *text = imp_http_body_string (job, "text", 16, error);
  gint64 num = 0;
  if (text == NULL || !imp_http_body_int (job, "num", &num, error))
    return FALSE;
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "text", text);
  json_object_set_int_member (o, "num", num);
  job->reply = json_node_init_object (json_node_alloc (), o);
  json_object_unref (o);
  job->status = SOUP_STATUS_CREATED;
  return TRUE;
}

static gboolean
handle_me (ImpHttpJob *job, GError **error)
{
  g_assert_cmpstr ((const char *) job->route_data, ==, "route-data");
  JsonObject *o = json_object_new ();
  json_object_set_int_member (o, "user_id", job->claims.user_id);
  job->reply = json_node_init_object (json_node_alloc (), o);
  json_object_unref (o);
  return TRUE;
}

static gboolean
handle_conflict (ImpHttpJob *job, GError **error)
{
  g_set_error (error, IMP_ERROR, IMP_ERROR_CONFLICT, "taken");
  return FALSE;
}

static gboolean
handle_foreign (ImpHttpJob *job, GError **error)
{
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "/secret/internal/path");
  return FALSE;
}

static const ImpHttpRoute routes[] = {
  { "GET", "/ping", FALSE, FALSE, handle_ping },
  { "POST", "/echo", FALSE, TRUE, handle_echo },
  { "GET", "/me", TRUE, FALSE, handle_me },
  { "POST", "/me", TRUE, TRUE, handle_me },
  { "POST", "/conflict", FALSE, FALSE, handle_conflict },
  { "GET", "/foreign", FALSE, FALSE, handle_foreign },
};

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  f->dir = g_dir_make_tmp ("imp-http-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *db = g_build_filename (f->dir, "implus.db", NULL);
  g_autofree char *key = g_build_filename (f->dir, "token.key", NULL);
  f->store = imp_store_sqlite_open (db, &error);
  g_assert_no_error (error);
  f->cache = imp_cache_memory_new ();
  f->auth = imp_auth_new (key, 3600, f->store, f->cache, &error);
  g_assert_no_error (error);
  f->server = soup_server_new (NULL, NULL);
  f->api = imp_http_api_new (f->server, routes, G_N_ELEMENTS (routes), f->auth, MAX_BODY,
                             (gpointer) "route-data");
  g_assert_true (imp_http_listen (f->server, "127.0.0.1", 0, &f->port, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (f->port, >, 0);
  f->session = soup_session_new ();
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_object_unref (f->session);
  soup_server_disconnect (f->server);
  imp_http_api_free (f->api);
  g_object_unref (f->server);
  imp_auth_free (f->auth);
  imp_cache_free (f->cache);
  imp_store_free (f->store);
  test_rm_dir (f->dir);
  g_free (f->dir);
}

#define EXPECT_ERROR(f, method, path, body, token, status, name)                         \
  G_STMT_START {                                                                          \
    guint st_ = 0;                                                                        \
    g_autoptr(JsonNode) n_ = test_http ((f)->session, (f)->port, method, path, body, -1,  \
                                        token, &st_);                                     \
    g_assert_cmpuint (st_, ==, status);                                                   \
    g_assert_cmpstr (test_json_error_name (n_), ==, name);                                \
  } G_STMT_END

static void
test_routing (Fixture *f, gconstpointer data)
{
  guint status = 0;
  g_autoptr(JsonNode) ok = test_http (f->session, f->port, "GET", "/ping?n=7", NULL, 0, NULL,
                                      &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (ok), "pong"), ==, "yes");
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (ok), "n"), ==, 7);

  EXPECT_ERROR (f, "GET", "/nothing-here", NULL, NULL, 404, "not_found");
  EXPECT_ERROR (f, "GET", "/ping/deeper", NULL, NULL, 404, "not_found");
  EXPECT_ERROR (f, "POST", "/ping", "{}", NULL, 405, "bad_request");
  EXPECT_ERROR (f, "DELETE", "/echo", NULL, NULL, 405, "bad_request");
  EXPECT_ERROR (f, "GET", "/ping?n=abc", NULL, NULL, 400, "bad_request");
  EXPECT_ERROR (f, "GET", "/ping?n=1000", NULL, NULL, 400, "bad_request");
  EXPECT_ERROR (f, "POST", "/conflict", NULL, NULL, 409, "conflict");

  /* Foreign errors do not leak their text (logged once on the server side instead). */
  g_test_expect_message ("implus-server", G_LOG_LEVEL_WARNING, "*/secret/internal/path*");
  g_autoptr(JsonNode) foreign = test_http (f->session, f->port, "GET", "/foreign", NULL, 0, NULL,
                                           &status);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (status, ==, 500);
  g_assert_cmpstr (test_json_error_name (foreign), ==, "internal");
  g_assert_null (strstr (json_object_get_string_member (json_node_get_object (foreign), "message"),
                         "/secret"));
}

static void
test_bodies (Fixture *f, gconstpointer data)
{
  guint status = 0;
  g_autoptr(JsonNode) ok = test_http (f->session, f->port, "POST", "/echo",
                                      "{\"text\": \"hi\", \"num\": 3, \"extra\": [1]}", -1, NULL,
                                      &status);
  g_assert_cmpuint (status, ==, 201);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (ok), "text"), ==, "hi");

  EXPECT_ERROR (f, "POST", "/echo", "{not json", NULL, 400, "bad_request");
  EXPECT_ERROR (f, "POST", "/echo", "[1, 2, 3]", NULL, 400, "bad_request");
  EXPECT_ERROR (f, "POST", "/echo", "\"a string\"", NULL, 400, "bad_request");
  EXPECT_ERROR (f, "POST", "/echo", "", NULL, 400, "bad_request");
  EXPECT_ERROR (f, "POST", "/echo", "{\"text\": 5, \"num\": 3}", NULL, 400, "bad_request");
  EXPECT_ERROR (f, "POST", "/echo", "{\"text\": \"hi\", \"num\": 1.5}", NULL, 400, "bad_request");
  EXPECT_ERROR (f, "POST", "/echo", "{\"text\": \"hi\"}", NULL, 400, "bad_request");
  EXPECT_ERROR (f, "POST", "/echo", "{\"text\": \"longer than sixteen\", \"num\": 1}", NULL, 400,
                "bad_request");

  /* Invalid UTF-8 inside a string. */
  static const char bad_utf8[] = "{\"text\": \"\xff\xfe\", \"num\": 1}";
  g_autoptr(JsonNode) u = test_http (f->session, f->port, "POST", "/echo", bad_utf8,
                                     sizeof bad_utf8 - 1, NULL, &status);
  g_assert_cmpuint (status, ==, 400);

  /* Over the limit: 413 whatever the content. */
  g_autofree char *big = g_strnfill (MAX_BODY + 1, ' ');
  EXPECT_ERROR (f, "POST", "/echo", big, NULL, 413, "payload_too_large");
  g_autofree char *bigger = g_strnfill (MAX_BODY * 8, 'x');
  EXPECT_ERROR (f, "POST", "/echo", bigger, NULL, 413, "payload_too_large");

  /* Exactly at the limit is fine (spaces around a valid object). */
  GString *exact = g_string_new ("{\"text\": \"a\", \"num\": 1}");
  while (exact->len < MAX_BODY)
    g_string_append_c (exact, ' ');
  g_autoptr(JsonNode) e = test_http (f->session, f->port, "POST", "/echo", exact->str, -1, NULL,
                                     &status);
  g_assert_cmpuint (status, ==, 201);
  g_string_free (exact, TRUE);

  /* The server is still fine after all that. */
  g_autoptr(JsonNode) again = test_http (f->session, f->port, "GET", "/ping", NULL, 0, NULL,
                                         &status);
  g_assert_cmpuint (status, ==, 200);
}

static void
test_auth (Fixture *f, gconstpointer data)
{
  guint status = 0;

  EXPECT_ERROR (f, "GET", "/me", NULL, NULL, 401, "not_authenticated");
  EXPECT_ERROR (f, "GET", "/me", NULL, "v1.bad.token", 401, "auth_failed");
  g_autofree char *huge = g_strnfill (IMP_TOKEN_MAX_LEN + 1, 'a');
  EXPECT_ERROR (f, "GET", "/me", NULL, huge, 401, "auth_failed");

  ImpTokenClaims claims = { 0 };
  g_autofree char *token = imp_auth_issue (f->auth, 99, &claims);
  g_autoptr(JsonNode) me = test_http (f->session, f->port, "GET", "/me", NULL, 0, token, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (me), "user_id"), ==, 99);

  /* Auth-and-body route: the body is checked too. */
  EXPECT_ERROR (f, "POST", "/me", "[]", token, 400, "bad_request");
  g_autoptr(JsonNode) me2 = test_http (f->session, f->port, "POST", "/me", "{}", -1, token,
                                       &status);
  g_assert_cmpuint (status, ==, 200);

  /* Wrong scheme. */
  g_autoptr(JsonNode) basic = test_http_full (f->session, f->port, "GET", "/me", NULL, 0,
                                              "Authorization", "Basic dXNlcjpwYXNz", &status);
  g_assert_cmpuint (status, ==, 401);
  g_assert_cmpstr (test_json_error_name (basic), ==, "not_authenticated");

  g_assert_true (imp_auth_revoke (f->auth, &claims, NULL));
  EXPECT_ERROR (f, "GET", "/me", NULL, token, 401, "token_revoked");
}

static gboolean
handle_slow (ImpHttpJob *job, GError **error)
{
  GAsyncQueue *q = job->route_data;
  /* Blocks the worker thread until the test says so: proves the main loop is not blocked. */
  g_async_queue_pop (q);
  return TRUE;
}

static void
test_concurrent (Fixture *f, gconstpointer data)
{
  static const ImpHttpRoute slow_routes[] = { { "GET", "/slow", FALSE, FALSE, handle_slow } };
  g_autoptr(GAsyncQueue) q = g_async_queue_new ();
  g_autoptr(SoupServer) server = soup_server_new (NULL, NULL);
  ImpHttpApi *api = imp_http_api_new (server, slow_routes, 1, f->auth, MAX_BODY, q);
  guint port = 0;
  g_assert_true (imp_http_listen (server, "127.0.0.1", 0, &port, NULL));

  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u/slow", port);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);
  TestReply r = { 0 };
  soup_session_send_and_read_async (f->session, msg, G_PRIORITY_DEFAULT, NULL, test_http_done, &r);

  /* While /slow is parked on its thread, the other server answers. */
  guint status = 0;
  g_autoptr(JsonNode) ping = test_http (f->session, f->port, "GET", "/ping", NULL, 0, NULL,
                                        &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_false (r.done);

  g_async_queue_push (q, GINT_TO_POINTER (1));
  test_wait (&r.done);
  g_assert_true (r.done);
  g_assert_no_error (r.error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  g_bytes_unref (r.body);

  soup_server_disconnect (server);
  imp_http_api_free (api);
}

static void
test_listen_errors (Fixture *f, gconstpointer data)
{
  g_autoptr(SoupServer) server = soup_server_new (NULL, NULL);
  g_autoptr(GError) error = NULL;
  guint port = 0;

  g_assert_false (imp_http_listen (server, "not-an-address", 0, &port, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  /* The fixture's port is taken. */
  g_assert_false (imp_http_listen (server, "127.0.0.1", f->port, &port, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/http/routing", Fixture, NULL, fixture_setup, test_routing, fixture_teardown);
  g_test_add ("/http/bodies", Fixture, NULL, fixture_setup, test_bodies, fixture_teardown);
  g_test_add ("/http/auth", Fixture, NULL, fixture_setup, test_auth, fixture_teardown);
  g_test_add ("/http/concurrent", Fixture, NULL, fixture_setup, test_concurrent, fixture_teardown);
  g_test_add ("/http/listen-errors", Fixture, NULL, fixture_setup, test_listen_errors,
              fixture_teardown);
  return g_test_run ();
}

/* imp-bench-http.c: registers and logs in the bench users over the user HTTP API
 * (docs/http-api.md), a bounded number of requests at a time. */
#include "imp-bench.h"

#include <libsoup/soup.h>
#include <json-glib/json-glib.h>
#include <string.h>

#define BENCH_PASSWORD "bench-password-1"

typedef struct {
  const ImpBenchOptions *opt;
  SoupSession  *session;
  GMainLoop    *loop;
  ImpBenchUser *users;
  guint         n;
  guint         next;      /* next user to start */
  guint         in_flight;
  guint         finished;
  gint          tcp_port;
  GError       *error;
} Setup;

typedef struct {
  Setup       *setup;
  guint        index;
  gboolean     logging_in;
  SoupMessage *msg;
} Request;

static void start_next (Setup *s);
static void send_request (Setup *s, guint index, gboolean login);

static char *
make_body (const ImpBenchUser *u)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "username");
  json_builder_add_string_value (b, u->username);
  json_builder_set_member_name (b, "password");
  json_builder_add_string_value (b, BENCH_PASSWORD);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

static void
fail (Setup *s, GError *error)
{
  if (s->error == NULL)
    s->error = error;
  else
    g_error_free (error);
}

/* "127.0.0.1:8900" → 8900. */
static gint
parse_port (const char *hostport)
{
  const char *colon = hostport != NULL ? strrchr (hostport, ':') : NULL;
  guint64 port = 0;

  if (colon == NULL || !g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &port, NULL))
    return 0;
  return (gint) port;
}

static gboolean
handle_login (Setup *s, ImpBenchUser *u, JsonObject *obj, GError **error)
{
  if (!json_object_has_member (obj, "token") || !json_object_has_member (obj, "user_id"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "login answer lacks token or user_id");
      return FALSE;
    }
  u->user_id = json_object_get_int_member (obj, "user_id");
  g_free (u->token);
  u->token = g_strdup (json_object_get_string_member (obj, "token"));
  if (s->tcp_port == 0 && json_object_has_member (obj, "gateway"))
    {
      JsonObject *gw = json_object_get_object_member (obj, "gateway");
      if (gw != NULL && json_object_has_member (gw, "tcp"))
        s->tcp_port = parse_port (json_object_get_string_member (gw, "tcp"));
    }
  return u->token != NULL && u->user_id > 0;
}

static void
on_response (GObject *source, GAsyncResult *result, gpointer data)
{
  Request *req = data;
  Setup *s = req->setup;
  ImpBenchUser *u = &s->users[req->index];
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(SoupMessage) msg = g_steal_pointer (&req->msg);
  guint status = soup_message_get_status (msg);
  gboolean logging_in = req->logging_in;
  guint index = req->index;
  JsonNode *root;

  g_free (req);
  s->in_flight--;

  if (body == NULL)
    {
      fail (s, g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "%s %s: %s", logging_in ? "login" : "register",
                            u->username, error->message));
      goto out;
    }
  if (!logging_in)
    {
      /* 409: a rerun with the same names; logging in is all we need. */
      if (status != 201 && status != 409)
        {
          fail (s, g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "register %s: HTTP %u: %.*s", u->username,
                                status, (int) MIN (g_bytes_get_size (body), 200),
                                (const char *) g_bytes_get_data (body, NULL)));
          goto out;
        }
      send_request (s, index, TRUE);
      return;
    }
  if (status != 200)
    {
      fail (s, g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "login %s: HTTP %u", u->username, status));
      goto out;
    }
  if (!json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body), &error) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      fail (s, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "login %s: bad JSON", u->username));
      goto out;
    }
  if (!handle_login (s, u, json_node_get_object (root), &error))
    {
      fail (s, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "login %s: %s", u->username,
                            error != NULL ? error->message : "bad answer"));
      goto out;
    }

out:
  s->finished++;
  start_next (s);
}

static void
send_request (Setup *s, guint index, gboolean login)
{
  g_autofree char *uri = g_strdup_printf ("http://%s:%d/users/%s", s->opt->server, s->opt->user_port,
                                          login ? "login" : "register");
  g_autofree char *body = make_body (&s->users[index]);
  g_autoptr(GBytes) bytes = g_bytes_new_take (g_steal_pointer (&body), strlen (body));
  Request *req = g_new0 (Request, 1);

  req->setup = s;
  req->index = index;
  req->logging_in = login;
  req->msg = soup_message_new ("POST", uri);
  if (req->msg == NULL)
    {
      fail (s, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad server address %s", s->opt->server));
      g_free (req);
      s->finished++;
      start_next (s);
      return;
    }
  soup_message_set_request_body_from_bytes (req->msg, "application/json", bytes);
  s->in_flight++;
  soup_session_send_and_read_async (s->session, req->msg, G_PRIORITY_DEFAULT, NULL, on_response, req);
}

static void
start_next (Setup *s)
{
  /* Stop starting new users after the first error; let the rest drain. */
  while (s->error == NULL && s->next < s->n && s->in_flight < (guint) s->opt->http_parallel)
    send_request (s, s->next++, FALSE);
  if (s->in_flight == 0 && (s->error != NULL || s->finished == s->n))
    g_main_loop_quit (s->loop);
}

gboolean
imp_bench_http_setup_users (const ImpBenchOptions *opt, ImpBenchUser *users, guint n,
                            gint *out_tcp_port, GError **error)
{
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  Setup s = { 0 };

  g_main_context_push_thread_default (ctx);
  s.opt = opt;
  s.users = users;
  s.n = n;
  s.loop = g_main_loop_new (ctx, FALSE);
  s.session = soup_session_new_with_options ("max-conns", opt->http_parallel * 2,
                                             "max-conns-per-host", opt->http_parallel * 2,
                                             "timeout", 60, NULL);
  start_next (&s);
  if (s.in_flight > 0)
    g_main_loop_run (s.loop);
  g_clear_object (&s.session);
  g_main_loop_unref (s.loop);
  g_main_context_pop_thread_default (ctx);

  if (s.error != NULL)
    {
      g_propagate_error (error, s.error);
      return FALSE;
    }
  *out_tcp_port = s.tcp_port;
  return TRUE;
}

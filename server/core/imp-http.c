/* imp-http.c: route table, bounded JSON bodies, bearer auth and worker-thread handlers over
 * SoupServer. Every answer, good or bad, is JSON; every GError becomes a reply in one place. */
#include "core/imp-http.h"
#include "imp-error.h"

#include <string.h>

#define TOO_LARGE_KEY "imp-http-too-large"
#define MAX_BODY_KEY "imp-http-max-body"

struct _ImpHttpApi {
  /* Owned */
  ImpHttpRoute *routes;
  guint         n_routes;
  GPtrArray    *paths;        /* distinct route paths, each registered once with soup */
  GMutex        lock;
  GCond         idle;
  guint         in_flight;    /* jobs whose handler has not returned yet */
  gulong        request_started_id;
  /* Borrowed */
  SoupServer   *server;
  ImpAuth      *auth;
  gpointer      route_data;
  gsize         max_body;
};

typedef struct {
  ImpHttpJob          job;
  /* Owned */
  char               *token;
  gulong              disconnected_id;
  gboolean            disconnected;
  /* Borrowed; valid until in_flight is decremented */
  ImpHttpApi         *api;
  const ImpHttpRoute *route;
} Job;

static void
job_free (Job *j)
{
  if (j->token != NULL)
    {
      memset (j->token, 0, strlen (j->token)); /* do not leave tokens lying in freed memory */
      g_free (j->token);
    }
  if (j->disconnected_id != 0)
    g_signal_handler_disconnect (j->job.msg, j->disconnected_id);
  g_clear_object (&j->job.msg);
  g_clear_pointer (&j->job.body, json_object_unref);
  g_clear_pointer (&j->job.query, g_hash_table_unref);
  g_clear_pointer (&j->job.reply, json_node_unref);
  g_free (j->job.path);
  g_free (j);
}

static void
set_json_response (SoupServerMessage *msg, guint status, JsonNode *node)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  gsize len = 0;

  json_generator_set_root (gen, node);
  char *text = json_generator_to_data (gen, &len);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text, len);
}

static void
set_error_response (SoupServerMessage *msg, guint status, ImpErrorCode code, const char *text)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_int_value (b, code);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, imp_error_code_name (code));
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, text);
  json_builder_end_object (b);

  g_autoptr(JsonNode) root = json_builder_get_root (b);
  set_json_response (msg, status != 0 ? status : imp_error_http_status (code), root);
}

static void
set_gerror_response (SoupServerMessage *msg, const GError *error)
{
  ImpErrorCode code = imp_error_wire_code (error);

  /* Foreign errors may carry internals (file names, SQL): log them, answer generically. */
  if (error->domain != IMP_ERROR || code == IMP_ERROR_INTERNAL)
    {
      g_warning ("HTTP %s: %s", soup_server_message_get_method (msg), error->message);
      set_error_response (msg, 0, code, "internal error");
      return;
    }
  set_error_response (msg, 0, code, error->message);
}

static void
on_disconnected (SoupServerMessage *msg, gpointer user_data)
{
  Job *j = user_data;
  j->disconnected = TRUE;
}

static void
run_job (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Job *j = task_data;
  ImpHttpApi *api = j->api;
  GError *error = NULL;
  gboolean ok = TRUE;

  if (j->route->needs_auth)
    ok = imp_auth_check (api->auth, j->token, &j->job.claims, &error);
  if (ok)
    ok = j->route->handler (&j->job, &error);
  if (!ok && error == NULL)
    g_set_error (&error, IMP_ERROR, IMP_ERROR_INTERNAL, "handler failed without an error");

  /* From here on api may be freed: touch only the job. */
  g_mutex_lock (&api->lock);
  api->in_flight--;
  g_cond_broadcast (&api->idle);
  g_mutex_unlock (&api->lock);

  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
job_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Job *j = user_data;
  g_autoptr(GError) error = NULL;

  if (j->disconnected)
    {
      job_free (j);
      return;
    }

  if (g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (j->job.reply == NULL)
        {
          j->job.reply = json_node_new (JSON_NODE_OBJECT);
          json_node_take_object (j->job.reply, json_object_new ());
        }
      set_json_response (j->job.msg, j->job.status != 0 ? j->job.status : SOUP_STATUS_OK,
                         j->job.reply);
    }
  else
    set_gerror_response (j->job.msg, error);

  g_debug ("HTTP %s %s -> %u", soup_server_message_get_method (j->job.msg), j->job.path,
           soup_server_message_get_status (j->job.msg));
  soup_server_message_unpause (j->job.msg);
  job_free (j);
}

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  gsize max_body = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (msg), MAX_BODY_KEY));
  SoupMessageBody *body = soup_server_message_get_request_body (msg);

  /* Chunked bodies have no Content-Length to refuse early: stop keeping them once too big. */
  if (body->length > (goffset) max_body)
    {
      g_object_set_data (G_OBJECT (msg), TOO_LARGE_KEY, GINT_TO_POINTER (1));
      soup_message_body_set_accumulate (body, FALSE);
      soup_message_body_truncate (body);
    }
}

/* Runs once the headers are in, before the body is read. */
static void
early_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
               gpointer user_data)
{
  ImpHttpApi *api = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH)
    {
      goffset len = soup_message_headers_get_content_length (headers);
      if (len > (goffset) api->max_body)
        {
          set_error_response (msg, 0, IMP_ERROR_PAYLOAD_TOO_LARGE, "request body too large");
          soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                        "Connection", "close");
        }
      return;
    }
  /* The limit travels with the message: it may outlive this api. */
  g_object_set_data (G_OBJECT (msg), MAX_BODY_KEY, GSIZE_TO_POINTER (api->max_body));
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), NULL);
}

static gboolean
parse_body (SoupServerMessage *msg, gsize max_body, JsonObject **out, GError **error)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);

  if (g_object_get_data (G_OBJECT (msg), TOO_LARGE_KEY) != NULL ||
      body->length > (goffset) max_body)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_PAYLOAD_TOO_LARGE, "request body too large");
      return FALSE;
    }

  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  if (len == 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "a JSON object body is required");
      return FALSE;
    }
  if (!g_utf8_validate (data, (gssize) len, NULL))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "request body is not UTF-8");
      return FALSE;
    }

  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) parse_error = NULL;
  if (!json_parser_load_from_data (parser, data, (gssize) len, &parse_error))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "malformed JSON: %s",
                   parse_error->message);
      return FALSE;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "the body must be a JSON object");
      return FALSE;
    }
  *out = json_object_ref (json_node_get_object (root));
  return TRUE;
}

/* "Bearer <token>"; NULL with the error to answer otherwise. */
static char *
bearer_token (SoupServerMessage *msg, GError **error)
{
  const char *value = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                    "Authorization");
  if (value == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_AUTHENTICATED,
                   "Authorization: Bearer <token> required");
      return NULL;
    }
  if (g_ascii_strncasecmp (value, "Bearer ", 7) != 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_AUTHENTICATED,
                   "the Authorization scheme must be Bearer");
      return NULL;
    }
  value += 7;
  while (*value == ' ')
    value++;
  gsize len = strlen (value);
  while (len > 0 && value[len - 1] == ' ')
    len--;
  if (len == 0 || len > IMP_TOKEN_MAX_LEN)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_AUTH_FAILED, "malformed token");
      return NULL;
    }
  return g_strndup (value, len);
}

static void
handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
         gpointer user_data)
{
  ImpHttpApi *api = user_data;
  const char *method = soup_server_message_get_method (msg);
  const ImpHttpRoute *route = NULL;
  gboolean path_known = FALSE;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < api->n_routes; i++)
    {
      if (strcmp (api->routes[i].path, path) != 0)
        continue;
      path_known = TRUE;
      if (strcmp (api->routes[i].method, method) == 0)
        {
          route = &api->routes[i];
          break;
        }
    }
  if (!path_known)
    {
      set_error_response (msg, 0, IMP_ERROR_NOT_FOUND, "no such endpoint");
      return;
    }
  if (route == NULL)
    {
      g_autoptr(GString) allow = g_string_new (NULL);
      for (guint i = 0; i < api->n_routes; i++)
        if (strcmp (api->routes[i].path, path) == 0)
          g_string_append_printf (allow, "%s%s", allow->len ? ", " : "", api->routes[i].method);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                    allow->str);
      set_error_response (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, IMP_ERROR_BAD_REQUEST,
                          "method not allowed");
      return;
    }

  g_autoptr(JsonObject) body = NULL;
  if (route->needs_body && !parse_body (msg, api->max_body, &body, &error))
    {
      set_gerror_response (msg, error);
      return;
    }
  if (!route->needs_body && soup_server_message_get_request_body (msg)->length >
                              (goffset) api->max_body)
    {
      set_error_response (msg, 0, IMP_ERROR_PAYLOAD_TOO_LARGE, "request body too large");
      return;
    }

  g_autofree char *token = NULL;
  if (route->needs_auth && (token = bearer_token (msg, &error)) == NULL)
    {
      set_gerror_response (msg, error);
      return;
    }

  Job *j = g_new0 (Job, 1);
  j->api = api;
  j->route = route;
  j->token = g_steal_pointer (&token);
  j->job.msg = g_object_ref (msg);
  j->job.body = g_steal_pointer (&body);
  j->job.query = query != NULL ? g_hash_table_ref (query) : NULL;
  j->job.path = g_strdup (path);
  j->job.route_data = api->route_data;
  j->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (on_disconnected), j);

  g_mutex_lock (&api->lock);
  api->in_flight++;
  g_mutex_unlock (&api->lock);

  soup_server_message_pause (msg);
  g_autoptr(GTask) task = g_task_new (NULL, NULL, job_done, j);
  g_task_set_source_tag (task, handler);
  g_task_set_task_data (task, j, NULL);
  g_task_run_in_thread (task, run_job);
}

/* Paths no route names: a JSON 404 rather than soup's empty one. */
static void
not_found_handler (SoupServer *server, SoupServerMessage *msg, const char *path,
                   GHashTable *query, gpointer user_data)
{
  set_error_response (msg, 0, IMP_ERROR_NOT_FOUND, "no such endpoint");
}

/* libsoup 3.2 never closes a keep-alive connection that the client closes while it is idle
 * (fixed upstream in 3.3): each one would hold a file descriptor in CLOSE-WAIT until the process
 * runs out of them. Answering every request with "Connection: close" makes libsoup close the
 * connection itself after the response; on loopback the extra connects cost next to nothing. */
static void
close_after_response (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
}

ImpHttpApi *
imp_http_api_new (SoupServer *server, const ImpHttpRoute *routes, guint n_routes, ImpAuth *auth,
                  gsize max_body, gpointer route_data)
{
  g_return_val_if_fail (SOUP_IS_SERVER (server), NULL);

  ImpHttpApi *self = g_new0 (ImpHttpApi, 1);
  self->server = server;
  self->routes = g_memdup2 (routes, sizeof *routes * n_routes);
  self->n_routes = n_routes;
  self->auth = auth;
  self->max_body = max_body;
  self->route_data = route_data;
  self->paths = g_ptr_array_new_with_free_func (g_free);
  g_mutex_init (&self->lock);
  g_cond_init (&self->idle);

  for (guint i = 0; i < n_routes; i++)
    {
      g_return_val_if_fail (routes[i].handler != NULL && routes[i].path[0] == '/', self);
      if (g_ptr_array_find_with_equal_func (self->paths, routes[i].path, g_str_equal, NULL))
        continue;
      g_ptr_array_add (self->paths, g_strdup (routes[i].path));
      soup_server_add_early_handler (server, routes[i].path, early_handler, self, NULL);
      soup_server_add_handler (server, routes[i].path, handler, self, NULL);
    }
  soup_server_add_handler (server, NULL, not_found_handler, NULL, NULL);
  self->request_started_id = g_signal_connect (server, "request-started",
                                               G_CALLBACK (close_after_response), NULL);
  return self;
}

void
imp_http_api_free (ImpHttpApi *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < self->paths->len; i++)
    soup_server_remove_handler (self->server, g_ptr_array_index (self->paths, i));
  g_clear_signal_handler (&self->request_started_id, self->server);

  /* Handlers borrow route_data and auth: wait until none runs any more. The replies of those
   * jobs still reach the main context; they no longer touch self. */
  g_mutex_lock (&self->lock);
  while (self->in_flight > 0)
    g_cond_wait (&self->idle, &self->lock);
  g_mutex_unlock (&self->lock);

  g_mutex_clear (&self->lock);
  g_cond_clear (&self->idle);
  g_ptr_array_unref (self->paths);
  g_free (self->routes);
  g_free (self);
}

static gboolean
bad_member (const char *member, const char *what, GError **error)
{
  g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "\"%s\" %s", member, what);
  return FALSE;
}

const char *
imp_http_body_string (ImpHttpJob *job, const char *member, gsize max_len, GError **error)
{
  JsonNode *node = job->body != NULL ? json_object_get_member (job->body, member) : NULL;

  if (node == NULL || JSON_NODE_TYPE (node) != JSON_NODE_VALUE ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    {
      bad_member (member, "must be a string", error);
      return NULL;
    }
  const char *value = json_node_get_string (node);
  if (strlen (value) > max_len)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "\"%s\" is longer than %" G_GSIZE_FORMAT
                   " bytes", member, max_len);
      return NULL;
    }
  if (!g_utf8_validate (value, -1, NULL))
    {
      bad_member (member, "is not valid UTF-8", error);
      return NULL;
    }
  return value;
}

gboolean
imp_http_body_int (ImpHttpJob *job, const char *member, gint64 *out, GError **error)
{
  JsonNode *node = job->body != NULL ? json_object_get_member (job->body, member) : NULL;

  if (node == NULL || JSON_NODE_TYPE (node) != JSON_NODE_VALUE ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return bad_member (member, "must be an integer", error);
  *out = json_node_get_int (node);
  return TRUE;
}

gboolean
imp_http_query_int (ImpHttpJob *job, const char *name, gint64 def, gint64 min, gint64 max,
                    gint64 *out, GError **error)
{
  const char *value = job->query != NULL ? g_hash_table_lookup (job->query, name) : NULL;

  if (value == NULL || *value == '\0')
    {
      *out = def;
      return TRUE;
    }
  gint64 n = 0;
  if (!g_ascii_string_to_signed (value, 10, min, max, &n, NULL))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "query parameter \"%s\" must be an integer in %" G_GINT64_FORMAT "..%"
                   G_GINT64_FORMAT, name, min, max);
      return FALSE;
    }
  *out = n;
  return TRUE;
}

static GInetAddress *
parse_bind (const char *bind)
{
  if (g_strcmp0 (bind, "localhost") == 0)
    return g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  if (g_strcmp0 (bind, "*") == 0)
    return g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
  return g_inet_address_new_from_string (bind);
}

gboolean
imp_http_listen (SoupServer *server, const char *bind, guint port, guint *out_port,
                 GError **error)
{
  g_autoptr(GInetAddress) addr = parse_bind (bind);
  if (addr == NULL || port > 65535)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "cannot listen on \"%s\" port %u: not a numeric IP address and port",
                   bind ? bind : "", port);
      return FALSE;
    }

  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new (addr, (guint16) port);
  GSList *before = soup_server_get_listeners (server);
  g_autoptr(GError) local_error = NULL;
  if (!soup_server_listen (server, sa, 0, &local_error))
    {
      g_slist_free (before);
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "cannot listen on %s:%u: %s",
                   bind, port, local_error->message);
      return FALSE;
    }

  /* The new listener is the one that was not there before. */
  GSList *after = soup_server_get_listeners (server);
  guint real_port = 0;
  for (GSList *l = after; l != NULL; l = l->next)
    {
      if (g_slist_find (before, l->data) != NULL)
        continue;
      g_autoptr(GSocketAddress) local = g_socket_get_local_address (l->data, NULL);
      if (local != NULL && G_IS_INET_SOCKET_ADDRESS (local))
        real_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
    }
  g_slist_free (before);
  g_slist_free (after);

  if (real_port == 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "listening on %s:%u but no port found",
                   bind, port);
      return FALSE;
    }
  if (out_port != NULL)
    *out_port = real_port;
  return TRUE;
}

/* imp-client-api.c: async JSON-over-HTTP calls with a bounded answer size. */
#define G_LOG_DOMAIN "implus-client-api"

#include <libsoup/soup.h>
#include "imp-client-api.h"
#include "imp-error.h"

struct _ImpClientApi
{
  GObject      parent_instance;

  /* Owned */
  SoupSession *session;
  char        *user_base;
  char        *message_base;
  char        *token;
};

G_DEFINE_FINAL_TYPE (ImpClientApi, imp_client_api, G_TYPE_OBJECT)

typedef struct {
  SoupMessage  *msg;
  GInputStream *stream;
  GByteArray   *body;
} CallData;

static void
call_data_free (CallData *d)
{
  g_clear_object (&d->msg);
  g_clear_object (&d->stream);
  g_clear_pointer (&d->body, g_byte_array_unref);
  g_free (d);
}

static void
imp_client_api_finalize (GObject *object)
{
  ImpClientApi *self = IMP_CLIENT_API (object);

  g_clear_object (&self->session);
  g_free (self->user_base);
  g_free (self->message_base);
  if (self->token)
    memset (self->token, 0, strlen (self->token));
  g_free (self->token);
  G_OBJECT_CLASS (imp_client_api_parent_class)->finalize (object);
}

static void
imp_client_api_class_init (ImpClientApiClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = imp_client_api_finalize;
}

static void
imp_client_api_init (ImpClientApi *self)
{
  self->session = soup_session_new_with_options ("timeout", 30, "idle-timeout", 60,
                                                 "user-agent", "implus-client/" "0.1", NULL);
}

static char *
strip_slash (const char *url)
{
  char *s = g_strdup (url);
  gsize n = strlen (s);

  while (n > 0 && s[n - 1] == '/')
    s[--n] = '\0';
  return s;
}

ImpClientApi *
imp_client_api_new (const char *user_base_url, const char *message_base_url)
{
  ImpClientApi *self = g_object_new (IMP_TYPE_CLIENT_API, NULL);

  self->user_base = strip_slash (user_base_url);
  self->message_base = strip_slash (message_base_url);
  return self;
}

void
imp_client_api_set_token (ImpClientApi *self, const char *token)
{
  g_return_if_fail (IMP_IS_CLIENT_API (self));
  if (self->token)
    memset (self->token, 0, strlen (self->token));
  g_free (self->token);
  self->token = g_strdup (token);
}

const char *
imp_client_api_get_token (ImpClientApi *self)
{
  return self->token;
}

/* Turns the answer into a JSON object, or the error it carries. */
static JsonObject *
parse_answer (guint status, const guint8 *data, gsize len, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;
  JsonNode *root;
  JsonObject *obj;

  if (!json_parser_load_from_data (parser, (const char *) data, len, &local)
      || (root = json_parser_get_root (parser)) == NULL
      || !JSON_NODE_HOLDS_OBJECT (root))
    {
      if (status >= 400)
        g_set_error (error, IMP_ERROR, status >= 500 ? IMP_ERROR_UNAVAILABLE : IMP_ERROR_BAD_REQUEST,
                     "HTTP %u", status);
      else
        g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "answer is not a JSON object");
      return NULL;
    }
  obj = json_node_get_object (root);
  if (status >= 300)
    {
      gint64 code = json_object_get_int_member_with_default (obj, "code", IMP_ERROR_INTERNAL);
      const char *message = json_object_get_string_member_with_default (obj, "message", "");

      if (code <= 0 || code > IMP_ERROR_NOT_MEMBER)
        code = IMP_ERROR_INTERNAL;
      g_set_error (error, IMP_ERROR, (int) code, "%s", message[0] ? message : imp_error_code_name (code));
      return NULL;
    }
  return json_object_ref (obj);
}

static void read_more (GTask *task);

static void
read_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  CallData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), res, &error);
  JsonObject *obj;

  if (chunk == NULL)
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "%s", error->message);
      return;
    }
  if (g_bytes_get_size (chunk) > 0)
    {
      if (d->body->len + g_bytes_get_size (chunk) > IMP_CLIENT_API_MAX_ANSWER)
        {
          g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_PAYLOAD_TOO_LARGE, "answer too large");
          return;
        }
      g_byte_array_append (d->body, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk));
      read_more (g_steal_pointer (&task));
      return;
    }
  obj = parse_answer (soup_message_get_status (d->msg), d->body->data, d->body->len, &error);
  if (obj == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, obj, (GDestroyNotify) json_object_unref);
}

static void
read_more (GTask *task)
{
  CallData *d = g_task_get_task_data (task);

  g_input_stream_read_bytes_async (d->stream, 64 * 1024, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task), read_cb, task);
}

static void
send_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  CallData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  goffset length;

  d->stream = soup_session_send_finish (SOUP_SESSION (source), res, &error);
  if (d->stream == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "%s", error->message);
      return;
    }
  length = soup_message_headers_get_content_length (soup_message_get_response_headers (d->msg));
  if (length > IMP_CLIENT_API_MAX_ANSWER)
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_PAYLOAD_TOO_LARGE, "answer too large");
      return;
    }
  d->body = g_byte_array_sized_new (length > 0 ? (guint) length : 1024);
  read_more (g_steal_pointer (&task));
}

void
imp_client_api_call_async (ImpClientApi        *self,
                           ImpApiService        service,
                           const char          *method,
                           const char          *path,
                           JsonObject          *body,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *url = NULL;
  CallData *d = g_new0 (CallData, 1);

  g_task_set_source_tag (task, imp_client_api_call_async);
  g_task_set_task_data (task, d, (GDestroyNotify) call_data_free);
  url = g_strconcat (service == IMP_API_USER ? self->user_base : self->message_base, path, NULL);
  d->msg = soup_message_new (method, url);
  if (d->msg == NULL)
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "bad URL");
      return;
    }
  if (self->token)
    {
      g_autofree char *auth = g_strconcat ("Bearer ", self->token, NULL);
      soup_message_headers_replace (soup_message_get_request_headers (d->msg), "Authorization", auth);
    }
  if (body != NULL)
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), body);
      gsize len = 0;
      char *text = json_to_string (node, FALSE);
      g_autoptr(GBytes) bytes = NULL;

      len = strlen (text);
      bytes = g_bytes_new_take (text, len);
      soup_message_set_request_body_from_bytes (d->msg, "application/json", bytes);
    }
  soup_session_send_async (self->session, d->msg, G_PRIORITY_DEFAULT, cancellable, send_cb,
                           g_steal_pointer (&task));
}

JsonObject *
imp_client_api_call_finish (ImpClientApi *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

JsonArray *
imp_json_array_member (JsonObject *obj, const char *name)
{
  JsonNode *node = obj ? json_object_get_member (obj, name) : NULL;

  return node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

JsonObject *
imp_json_object_member (JsonObject *obj, const char *name)
{
  JsonNode *node = obj ? json_object_get_member (obj, name) : NULL;

  return node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

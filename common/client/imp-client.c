/* imp-client.c: session (login, token file, device id), HTTP calls, the connection's lifecycle
 * and reconnect backoff. The sync engine and the outbox are in imp-client-sync.c. */
#define G_LOG_DOMAIN "implus-client"

#include <errno.h>
#include <glib/gstdio.h>
#include "imp-client-private.h"
#include "imp-error.h"
#include "imp-id.h"

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 30000

guint imp_client_signals[IMP_CLIENT_N_SIGNALS];

G_DEFINE_FINAL_TYPE (ImpClient, imp_client, G_TYPE_OBJECT)

static void connect_now (ImpClient *self);

static void
drop_connection (ImpClient *self)
{
  if (self->conn == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->conn, self);
  imp_client_connection_close (self->conn);
  g_clear_object (&self->conn);
}

static void
set_state (ImpClient *self, ImpClientState state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_STATE_CHANGED], 0, (guint) state);
}

static void
imp_client_dispose (GObject *object)
{
  ImpClient *self = IMP_CLIENT (object);

  drop_connection (self);
  g_clear_handle_id (&self->reconnect_timer, g_source_remove);
  g_clear_handle_id (&self->resend_timer, g_source_remove);
  g_clear_handle_id (&self->pull_retry_timer, g_source_remove);
  g_clear_handle_id (&self->periodic_pull_timer, g_source_remove);
  g_clear_handle_id (&self->ack_idle, g_source_remove);
  imp_client_group_clear (self);
  imp_client_session_clear (self);
  if (self->sync_waiters && self->sync_waiters->len)
    {
      g_autoptr(GError) error = g_error_new (IMP_ERROR, IMP_ERROR_UNAVAILABLE, "client closed");
      imp_client_sync_fail_waiters (self, error);
    }
  g_clear_object (&self->api);
  g_clear_object (&self->mirror);
  G_OBJECT_CLASS (imp_client_parent_class)->dispose (object);
}

static void
imp_client_finalize (GObject *object)
{
  ImpClient *self = IMP_CLIENT (object);

  g_free (self->host);
  g_free (self->data_dir);
  g_free (self->device_id);
  g_free (self->username);
  g_free (self->gateway_tcp);
  g_free (self->gateway_ws);
  g_clear_pointer (&self->in_flight, g_hash_table_unref);
  g_clear_pointer (&self->sync_waiters, g_ptr_array_unref);
  G_OBJECT_CLASS (imp_client_parent_class)->finalize (object);
}

static void
imp_client_class_init (ImpClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GType type = G_TYPE_FROM_CLASS (klass);

  object_class->dispose = imp_client_dispose;
  object_class->finalize = imp_client_finalize;

#define SIG(id, name, ...) \
  imp_client_signals[id] = g_signal_new (name, type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, __VA_ARGS__)
  SIG (IMP_CLIENT_SIGNAL_STATE_CHANGED, "state-changed", 1, G_TYPE_UINT);
  SIG (IMP_CLIENT_SIGNAL_MESSAGE_RECEIVED, "message-received", 1, IMP_TYPE_MESSAGE);
  SIG (IMP_CLIENT_SIGNAL_MESSAGE_SENT, "message-sent", 3, G_TYPE_STRING, G_TYPE_INT64, G_TYPE_INT64);
  SIG (IMP_CLIENT_SIGNAL_MESSAGE_FAILED, "message-failed", 3, G_TYPE_STRING, G_TYPE_INT, G_TYPE_STRING);
  SIG (IMP_CLIENT_SIGNAL_KICKED, "kicked", 2, G_TYPE_INT, G_TYPE_STRING);
  SIG (IMP_CLIENT_SIGNAL_DISCONNECTED, "disconnected", 1, G_TYPE_STRING);
  SIG (IMP_CLIENT_SIGNAL_RECONNECTING, "reconnecting", 1, G_TYPE_UINT);
  SIG (IMP_CLIENT_SIGNAL_ERROR, "error", 1, G_TYPE_ERROR);
  SIG (IMP_CLIENT_SIGNAL_MESSAGE_STATE_CHANGED, "message-state-changed", 3, G_TYPE_STRING, G_TYPE_INT64, G_TYPE_UINT);
  SIG (IMP_CLIENT_SIGNAL_CONVERSATION_UPDATED, "conversation-updated", 1, G_TYPE_STRING);
  SIG (IMP_CLIENT_SIGNAL_TYPING, "typing", 1, G_TYPE_INT64);
#undef SIG
}

static void
imp_client_init (ImpClient *self)
{
  self->in_flight = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->sync_waiters = g_ptr_array_new ();
  self->backoff_ms = BACKOFF_MIN_MS;
  imp_client_group_init (self);
}

/* The device id is generated once per data dir and kept (a stable installation id). */
static char *
load_device_id (const char *data_dir, GError **error)
{
  g_autofree char *path = g_build_filename (data_dir, "device-id", NULL);
  g_autofree char *text = NULL;

  if (g_file_get_contents (path, &text, NULL, NULL))
    {
      g_strstrip (text);
      if (text[0] != '\0' && strlen (text) <= 64)
        return g_steal_pointer (&text);
    }
  text = imp_uuid_new ();
  if (!g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
    return NULL;
  return g_steal_pointer (&text);
}

ImpClient *
imp_client_new (const ImpClientOptions *options, GError **error)
{
  g_autoptr(ImpClient) self = g_object_new (IMP_TYPE_CLIENT, NULL);
  g_autofree char *user_url = NULL, *message_url = NULL;

  g_return_val_if_fail (options != NULL && options->data_dir != NULL, NULL);
  self->host = g_strdup (options->host ? options->host : "127.0.0.1");
  self->user_port = options->user_port ? options->user_port : 8090;
  self->message_port = options->message_port ? options->message_port : 8100;
  self->tcp_port = options->tcp_port;
  self->ws_port = options->ws_port;
  self->transport = options->transport;
  self->data_dir = g_strdup (options->data_dir);
  if (g_mkdir_with_parents (self->data_dir, 0700) != 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "cannot create %s: %s", self->data_dir,
                   g_strerror (errno));
      return NULL;
    }
  if (options->device_id && options->device_id[0])
    self->device_id = g_strdup (options->device_id);
  else if ((self->device_id = load_device_id (self->data_dir, error)) == NULL)
    return NULL;
  user_url = g_strdup_printf ("http://%s:%u", self->host, self->user_port);
  message_url = g_strdup_printf ("http://%s:%u", self->host, self->message_port);
  self->api = imp_client_api_new (user_url, message_url);
  return g_steal_pointer (&self);
}

/* Usernames become directory names: only the server's own alphabet, no dot first. */
static gboolean
username_is_safe (const char *username)
{
  if (username == NULL || username[0] == '\0' || username[0] == '.' || strlen (username) > 64)
    return FALSE;
  for (const char *p = username; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '.' && *p != '-')
      return FALSE;
  return TRUE;
}

static char *
user_dir (ImpClient *self, const char *username)
{
  return g_build_filename (self->data_dir, username, NULL);
}

static gboolean
open_user (ImpClient *self, const char *username, GError **error)
{
  g_autofree char *dir = user_dir (self, username);
  g_autofree char *db = g_build_filename (dir, "mirror.db", NULL);
  ImpMirror *mirror;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "cannot create %s: %s", dir, g_strerror (errno));
      return FALSE;
    }
  if ((mirror = imp_mirror_open (db, error)) == NULL)
    return FALSE;
  g_clear_object (&self->mirror);
  self->mirror = mirror;
  g_free (self->username);
  self->username = g_strdup (username);
  return TRUE;
}

static gboolean
save_session (ImpClient *self, const char *token, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *dir = user_dir (self, self->username);
  g_autofree char *path = g_build_filename (dir, "session", NULL);
  g_autofree char *last = g_build_filename (self->data_dir, "last-user", NULL);
  g_autofree char *text = NULL;
  gsize len = 0;
  gboolean ok;

  g_key_file_set_int64 (kf, "session", "user_id", self->user_id);
  g_key_file_set_string (kf, "session", "username", self->username);
  imp_client_session_put_token (self, kf, token);
  if (self->gateway_tcp)
    g_key_file_set_string (kf, "session", "gateway_tcp", self->gateway_tcp);
  if (self->gateway_ws)
    g_key_file_set_string (kf, "session", "gateway_ws", self->gateway_ws);
  text = g_key_file_to_data (kf, &len, NULL);
  ok = g_file_set_contents_full (path, text, len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error)
       && g_file_set_contents_full (last, self->username, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
  memset (text, 0, len);
  return ok;
}

static void
forget_session (ImpClient *self)
{
  if (self->username)
    {
      g_autofree char *dir = user_dir (self, self->username);
      g_autofree char *path = g_build_filename (dir, "session", NULL);
      g_autofree char *last = g_build_filename (self->data_dir, "last-user", NULL);

      g_unlink (path);
      g_unlink (last);
    }
  imp_client_session_forget_token (self, self->username);
  imp_client_api_set_token (self->api, NULL);
  self->user_id = 0;
}

gboolean
imp_client_restore (ImpClient *self)
{
  g_autofree char *last = g_build_filename (self->data_dir, "last-user", NULL);
  g_autofree char *username = NULL;
  g_autofree char *path = NULL, *dir = NULL, *token = NULL;
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;

  g_return_val_if_fail (IMP_IS_CLIENT (self), FALSE);
  if (!g_file_get_contents (last, &username, NULL, NULL))
    return FALSE;
  g_strstrip (username);
  if (!username_is_safe (username))
    return FALSE;
  dir = user_dir (self, username);
  path = g_build_filename (dir, "session", NULL);
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, NULL)
      || (token = imp_client_session_get_token (self, kf, username)) == NULL)
    return FALSE;
  if (!open_user (self, username, &error))
    {
      g_warning ("cannot restore the session of %s: %s", username, error->message);
      return FALSE;
    }
  self->user_id = g_key_file_get_int64 (kf, "session", "user_id", NULL);
  g_free (self->gateway_tcp);
  self->gateway_tcp = g_key_file_get_string (kf, "session", "gateway_tcp", NULL);
  g_free (self->gateway_ws);
  self->gateway_ws = g_key_file_get_string (kf, "session", "gateway_ws", NULL);
  imp_client_api_set_token (self->api, token);
  /* A token still in the file moves into the store once one is there. */
  if (self->has_token_store && g_strcmp0 (self->token_location, "file") == 0
      && !save_session (self, token, &error))
    g_warning ("cannot rewrite the session of %s: %s", username, error->message);
  memset (token, 0, strlen (token));
  self->hold = FALSE;
  connect_now (self);
  return TRUE;
}

/* ---- connection lifecycle ---- */

static char *
gateway_address (ImpClient *self)
{
  if (self->transport == IMP_TRANSPORT_WS)
    {
      if (self->ws_port)
        return g_strdup_printf ("ws://%s:%u/websocket", self->host, self->ws_port);
      return g_strdup (self->gateway_ws ? self->gateway_ws
                                        : "ws://127.0.0.1:8902/websocket");
    }
  if (self->tcp_port || self->gateway_tcp == NULL)
    return g_strdup_printf ("%s:%u", self->host, self->tcp_port ? self->tcp_port : 8900);
  return g_strdup (self->gateway_tcp);
}

static gboolean
reconnect_cb (gpointer user_data)
{
  ImpClient *self = user_data;

  self->reconnect_timer = 0;
  connect_now (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (ImpClient *self)
{
  guint delay;

  if (self->hold || imp_client_api_get_token (self->api) == NULL || self->reconnect_timer)
    return;
  /* Exponential backoff with jitter, so a restarted server is not hit by every client at once. */
  delay = self->backoff_ms + g_random_int_range (0, self->backoff_ms / 2 + 1);
  self->backoff_ms = MIN (self->backoff_ms * 2, BACKOFF_MAX_MS);
  set_state (self, IMP_CLIENT_CONNECTING);
  g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_RECONNECTING], 0, delay);
  self->reconnect_timer = g_timeout_add (delay, reconnect_cb, self);
}

static void
conn_frame_cb (ImpClientConnection *conn, gpointer env, gpointer user_data)
{
  imp_client_sync_handle_frame (IMP_CLIENT (user_data), env);
}

static void
conn_closed_cb (ImpClientConnection *conn, GError *reason, gpointer user_data)
{
  ImpClient *self = user_data;

  g_object_ref (self);
  drop_connection (self);
  imp_client_sync_offline (self);
  g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_DISCONNECTED], 0,
                 reason ? reason->message : "closed");
  schedule_reconnect (self);
  g_object_unref (self);
}

static gboolean
auth_error_is_final (const GError *error)
{
  return g_error_matches (error, IMP_ERROR, IMP_ERROR_AUTH_FAILED)
         || g_error_matches (error, IMP_ERROR, IMP_ERROR_TOKEN_EXPIRED)
         || g_error_matches (error, IMP_ERROR, IMP_ERROR_TOKEN_REVOKED)
         || g_error_matches (error, IMP_ERROR, IMP_ERROR_BANNED);
}

static void
open_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ImpClient) self = user_data;
  ImpClientConnection *conn = IMP_CLIENT_CONNECTION (source);
  g_autoptr(GError) error = NULL;

  if (!imp_client_connection_open_finish (conn, res, &error))
    {
      if (conn != self->conn)
        return; /* a connection we already dropped */
      drop_connection (self);
      if (auth_error_is_final (error))
        {
          /* Retrying with a refused token cannot help: the user must log in again. */
          self->hold = TRUE;
          set_state (self, IMP_CLIENT_OFFLINE);
          g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_ERROR], 0, error);
          return;
        }
      g_debug ("connect failed: %s", error->message);
      schedule_reconnect (self);
      imp_client_sync_connect_failed (self);
      return;
    }
  if (conn != self->conn)
    return;
  self->backoff_ms = BACKOFF_MIN_MS;
  if (imp_client_connection_get_user_id (conn) > 0)
    self->user_id = imp_client_connection_get_user_id (conn);
  g_signal_connect (conn, "frame", G_CALLBACK (conn_frame_cb), self);
  g_signal_connect (conn, "closed", G_CALLBACK (conn_closed_cb), self);
  set_state (self, IMP_CLIENT_ONLINE);
  imp_client_sync_online (self);
}

static void
connect_now (ImpClient *self)
{
  g_autofree char *address = NULL;
  const char *token = imp_client_api_get_token (self->api);

  g_clear_handle_id (&self->reconnect_timer, g_source_remove);
  if (token == NULL || self->hold || self->conn != NULL)
    return;
  address = gateway_address (self);
  self->conn = imp_client_connection_new (self->transport, address);
  set_state (self, IMP_CLIENT_CONNECTING);
  imp_client_connection_open_async (self->conn, token, self->device_id, NULL, open_cb,
                                    g_object_ref (self));
}

void
imp_client_reconnect_now (ImpClient *self)
{
  if (self->reconnect_timer == 0 || self->hold)
    return;
  g_clear_handle_id (&self->reconnect_timer, g_source_remove);
  connect_now (self);
}

void
imp_client_handle_kick (ImpClient *self, int reason, const char *message)
{
  g_object_ref (self);
  drop_connection (self);
  imp_client_sync_offline (self);
  /* Another login on this device, or a logout elsewhere: reconnecting would fight it. */
  if (reason == IMPLUS__KICK_REASON__KICK_REASON_REPLACED
      || reason == IMPLUS__KICK_REASON__KICK_REASON_TOKEN_REVOKED
      || reason == IMPLUS__KICK_REASON__KICK_REASON_BANNED)
    {
      self->hold = TRUE;
      set_state (self, IMP_CLIENT_OFFLINE);
    }
  g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_KICKED], 0, reason, message ? message : "");
  if (!self->hold)
    schedule_reconnect (self);
  g_object_unref (self);
}

void
imp_client_shutdown (ImpClient *self)
{
  g_return_if_fail (IMP_IS_CLIENT (self));
  self->hold = TRUE;
  g_clear_handle_id (&self->reconnect_timer, g_source_remove);
  drop_connection (self);
  imp_client_sync_offline (self);
  set_state (self, IMP_CLIENT_OFFLINE);
}

/* ---- getters ---- */

ImpClientState imp_client_get_state (ImpClient *self) { return self->state; }
gint64         imp_client_get_user_id (ImpClient *self) { return self->user_id; }
const char    *imp_client_get_username (ImpClient *self) { return self->username; }
const char    *imp_client_get_device_id (ImpClient *self) { return self->device_id; }
ImpMirror     *imp_client_get_mirror (ImpClient *self) { return self->mirror; }

gint64
imp_client_get_watermark (ImpClient *self)
{
  return self->mirror ? imp_mirror_get_watermark (self->mirror) : 0;
}

gint64
imp_client_get_outbox_pending (ImpClient *self)
{
  return self->mirror && self->user_id ? imp_mirror_outbox_count_pending (self->mirror) : 0;
}

const char *
imp_client_state_name (ImpClientState state)
{
  switch (state)
    {
    case IMP_CLIENT_ONLINE: return "online";
    case IMP_CLIENT_CONNECTING: return "connecting";
    default: return "offline";
    }
}

/* ---- HTTP calls ---- */

static gboolean
need_login (ImpClient *self, GTask *task)
{
  if (self->mirror != NULL && imp_client_api_get_token (self->api) != NULL)
    return FALSE;
  g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_NOT_AUTHENTICATED, "not logged in");
  g_object_unref (task);
  return TRUE;
}

static void
register_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  g_autoptr(JsonObject) obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);

  if (obj == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, json_object_get_int_member_with_default (obj, "user_id", 0));
}

void
imp_client_register_async (ImpClient *self, const char *username, const char *password,
                           const char *nickname, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(JsonObject) body = json_object_new ();

  json_object_set_string_member (body, "username", username);
  json_object_set_string_member (body, "password", password);
  if (nickname)
    json_object_set_string_member (body, "nickname", nickname);
  imp_client_api_call_async (self->api, IMP_API_USER, "POST", "/users/register", body,
                             cancellable, register_cb, task);
}

gint64
imp_client_register_finish (ImpClient *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_int (G_TASK (result), error);
}

static void
login_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ImpClient *self = g_task_get_source_object (task);
  const char *username = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr(JsonObject) obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);
  JsonObject *gw;
  const char *token;
  gint64 user_id;

  if (obj == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  token = json_object_get_string_member_with_default (obj, "token", NULL);
  user_id = json_object_get_int_member_with_default (obj, "user_id", 0);
  if (token == NULL || user_id <= 0)
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "login answer without token");
      return;
    }
  /* A new login replaces whatever session this client had. */
  drop_connection (self);
  imp_client_sync_offline (self);
  g_hash_table_remove_all (self->groups);
  if (!open_user (self, username, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  self->user_id = user_id;
  g_clear_pointer (&self->gateway_tcp, g_free);
  g_clear_pointer (&self->gateway_ws, g_free);
  gw = imp_json_object_member (obj, "gateway");
  if (gw)
    {
      self->gateway_tcp = g_strdup (json_object_get_string_member_with_default (gw, "tcp", NULL));
      self->gateway_ws = g_strdup (json_object_get_string_member_with_default (gw, "ws", NULL));
    }
  imp_mirror_user_put (self->mirror, user_id, username, NULL);
  imp_client_api_set_token (self->api, token);
  if (!save_session (self, token, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  self->hold = FALSE;
  self->backoff_ms = BACKOFF_MIN_MS;
  g_task_return_int (task, user_id);
  connect_now (self);
}

void
imp_client_login_async (ImpClient *self, const char *username, const char *password,
                        GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(JsonObject) body = json_object_new ();

  if (!username_is_safe (username))
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "invalid username");
      g_object_unref (task);
      return;
    }
  g_task_set_task_data (task, g_strdup (username), g_free);
  json_object_set_string_member (body, "username", username);
  json_object_set_string_member (body, "password", password);
  imp_client_api_call_async (self->api, IMP_API_USER, "POST", "/users/login", body,
                             cancellable, login_cb, task);
}

gint64
imp_client_login_finish (ImpClient *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_int (G_TASK (result), error);
}

static void
logout_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ImpClient *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);

  /* The local session ends whatever the server said: a dead token is logged out anyway. */
  if (obj == NULL)
    g_debug ("logout on the server failed: %s", error->message);
  imp_client_shutdown (self);
  forget_session (self);
  g_hash_table_remove_all (self->groups);
  g_clear_object (&self->mirror);
  g_task_return_boolean (task, TRUE);
}

void
imp_client_logout_async (ImpClient *self, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  if (need_login (self, task))
    return;
  imp_client_api_call_async (self->api, IMP_API_USER, "POST", "/users/logout", NULL,
                             cancellable, logout_cb, task);
}

gboolean
imp_client_logout_finish (ImpClient *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
lookup_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ImpClient *self = g_task_get_source_object (task);
  GError *error = NULL;
  g_autoptr(JsonObject) obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);
  gint64 user_id;

  if (obj == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  user_id = json_object_get_int_member_with_default (obj, "user_id", 0);
  if (user_id <= 0)
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "lookup answer without user_id");
      return;
    }
  if (self->mirror)
    imp_mirror_user_put (self->mirror, user_id, g_task_get_task_data (task),
                         json_object_get_string_member_with_default (obj, "nickname", NULL));
  g_task_return_int (task, user_id);
}

void
imp_client_lookup_async (ImpClient *self, const char *username, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *escaped = NULL, *path = NULL;
  gint64 cached;

  if (need_login (self, task))
    return;
  if ((cached = imp_mirror_user_id (self->mirror, username)) > 0)
    {
      g_task_return_int (task, cached);
      g_object_unref (task);
      return;
    }
  g_task_set_task_data (task, g_strdup (username), g_free);
  escaped = g_uri_escape_string (username, NULL, FALSE);
  path = g_strconcat ("/users/lookup?username=", escaped, NULL);
  imp_client_api_call_async (self->api, IMP_API_USER, "GET", path, NULL, cancellable, lookup_cb, task);
}

gint64
imp_client_lookup_finish (ImpClient *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_int (G_TASK (result), error);
}

static void
object_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  JsonObject *obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);

  if (obj == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, obj, (GDestroyNotify) json_object_unref);
}

void
imp_client_conversations_async (ImpClient *self, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  if (need_login (self, task))
    return;
  imp_client_api_call_async (self->api, IMP_API_MESSAGE, "GET", "/conversations", NULL,
                             cancellable, object_cb, task);
}

JsonArray *
imp_client_conversations_finish (ImpClient *self, GAsyncResult *result, GError **error)
{
  g_autoptr(JsonObject) obj = g_task_propagate_pointer (G_TASK (result), error);
  JsonArray *arr;

  if (obj == NULL)
    return NULL;
  arr = imp_json_array_member (obj, "conversations");
  if (arr == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "answer without conversations");
      return NULL;
    }
  return json_array_ref (arr);
}

void
imp_client_mark_read_async (ImpClient *self, const char *conversation_id, gint64 seq,
                            GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(JsonObject) body = json_object_new ();

  if (need_login (self, task))
    return;
  json_object_set_string_member (body, "conversation_id", conversation_id);
  json_object_set_int_member (body, "seq", seq);
  imp_client_api_call_async (self->api, IMP_API_MESSAGE, "POST", "/conversations/read", body,
                             cancellable, object_cb, task);
}

JsonObject *
imp_client_mark_read_finish (ImpClient *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

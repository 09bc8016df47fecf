/* imp-client-connection.c: transport, framing, Auth and heartbeats for one gateway connection. */
#define G_LOG_DOMAIN "implus-client-conn"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <libsoup/soup.h>
#include "imp-client-connection.h"
#include "imp-frame.h"
#include "imp-time.h"

#define AUTH_TIMEOUT_MS 10000
#define DEFAULT_HEARTBEAT_MS 30000

struct _ImpClientConnection
{
  GObject                  parent_instance;

  /* Owned */
  char                    *address;
  GCancellable            *cancellable;
  GTask                   *open_task;     /* while authenticating */
  GSocketConnection       *tcp;
  ImpFrameReader          *reader;
  GQueue                   out_queue;     /* GBytes, TCP only */
  gsize                    out_bytes;
  gboolean                 writing;
  SoupSession             *soup;
  SoupWebsocketConnection *ws;
  guint                    auth_timer;
  guint                    heartbeat_timer;

  ImpTransport             transport;
  gboolean                 open;
  gboolean                 closed;
  guint64                  next_frame_id;
  gint64                   user_id;
  guint                    heartbeat_ms;
  guint                    idle_timeout_ms;
  gint64                   last_rx_us;
};

enum { SIGNAL_FRAME, SIGNAL_CLOSED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (ImpClientConnection, imp_client_connection, G_TYPE_OBJECT)

static void teardown (ImpClientConnection *self);

static void
imp_client_connection_dispose (GObject *object)
{
  ImpClientConnection *self = IMP_CLIENT_CONNECTION (object);

  self->closed = TRUE;
  teardown (self);
  G_OBJECT_CLASS (imp_client_connection_parent_class)->dispose (object);
}

static void
imp_client_connection_finalize (GObject *object)
{
  ImpClientConnection *self = IMP_CLIENT_CONNECTION (object);

  g_free (self->address);
  g_clear_pointer (&self->reader, imp_frame_reader_free);
  G_OBJECT_CLASS (imp_client_connection_parent_class)->finalize (object);
}

static void
imp_client_connection_class_init (ImpClientConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = imp_client_connection_dispose;
  object_class->finalize = imp_client_connection_finalize;
  signals[SIGNAL_FRAME] = g_signal_new ("frame", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                        0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                         0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
imp_client_connection_init (ImpClientConnection *self)
{
  g_queue_init (&self->out_queue);
  self->cancellable = g_cancellable_new ();
  self->next_frame_id = 1;
}

ImpClientConnection *
imp_client_connection_new (ImpTransport transport, const char *address)
{
  ImpClientConnection *self = g_object_new (IMP_TYPE_CLIENT_CONNECTION, NULL);

  self->transport = transport;
  self->address = g_strdup (address);
  return self;
}

/* Drops every resource; no signal. */
static void
teardown (ImpClientConnection *self)
{
  self->open = FALSE;
  if (self->cancellable)
    g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->auth_timer, g_source_remove);
  g_clear_handle_id (&self->heartbeat_timer, g_source_remove);
  g_queue_clear_full (&self->out_queue, (GDestroyNotify) g_bytes_unref);
  self->out_bytes = 0;
  if (self->tcp)
    {
      g_io_stream_close (G_IO_STREAM (self->tcp), NULL, NULL);
      g_clear_object (&self->tcp);
    }
  if (self->ws)
    {
      g_signal_handlers_disconnect_by_data (self->ws, self);
      if (soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (self->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      g_clear_object (&self->ws);
    }
  g_clear_object (&self->soup);
  g_clear_object (&self->cancellable);
  if (self->open_task)
    {
      GTask *task = g_steal_pointer (&self->open_task);
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "connection closed");
      g_object_unref (task);
    }
}

/* The connection failed: finish a pending open with error, or signal "closed". Takes error. */
static void
fail (ImpClientConnection *self, GError *error)
{
  gboolean was_open = self->open;

  if (self->closed)
    {
      g_error_free (error);
      return;
    }
  self->closed = TRUE;
  g_object_ref (self);
  if (self->open_task)
    {
      GTask *task = g_steal_pointer (&self->open_task);
      g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }
  teardown (self);
  if (was_open)
    g_signal_emit (self, signals[SIGNAL_CLOSED], 0, error);
  g_error_free (error);
  g_object_unref (self);
}

static void write_next (ImpClientConnection *self);

static void
write_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ImpClientConnection) self = user_data;
  g_autoptr(GError) error = NULL;
  GBytes *bytes;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, &error))
    {
      if (!self->closed)
        fail (self, g_error_new (IMP_ERROR, IMP_ERROR_UNAVAILABLE, "write: %s", error->message));
      return;
    }
  self->writing = FALSE;
  bytes = g_queue_pop_head (&self->out_queue);
  if (bytes)
    {
      self->out_bytes -= g_bytes_get_size (bytes);
      g_bytes_unref (bytes);
    }
  write_next (self);
}

static void
write_next (ImpClientConnection *self)
{
  GBytes *bytes;
  gsize len;
  gconstpointer data;

  if (self->writing || self->tcp == NULL || self->closed)
    return;
  bytes = g_queue_peek_head (&self->out_queue);
  if (bytes == NULL)
    return;
  self->writing = TRUE;
  data = g_bytes_get_data (bytes, &len);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (self->tcp)),
                                   data, len, G_PRIORITY_DEFAULT, self->cancellable,
                                   write_cb, g_object_ref (self));
}

/* Sends even before the open completes (Auth itself goes through here). */
static gboolean
send_raw (ImpClientConnection *self, ImpEnvelope *env)
{
  g_autoptr(GBytes) bytes = NULL;

  if (self->closed)
    return FALSE;
  env->frame_id = self->next_frame_id++;
  bytes = imp_wire_encode (env, self->transport == IMP_TRANSPORT_TCP);
  if (bytes == NULL)
    return FALSE;
  if (self->transport == IMP_TRANSPORT_WS)
    {
      if (self->ws == NULL)
        return FALSE;
      soup_websocket_connection_send_message (self->ws, SOUP_WEBSOCKET_DATA_BINARY, bytes);
      return TRUE;
    }
  self->out_bytes += g_bytes_get_size (bytes);
  g_queue_push_tail (&self->out_queue, g_steal_pointer (&bytes));
  write_next (self);
  return TRUE;
}

gboolean
imp_client_connection_send (ImpClientConnection *self, ImpEnvelope *env)
{
  g_return_val_if_fail (IMP_IS_CLIENT_CONNECTION (self), FALSE);
  if (!self->open)
    return FALSE;
  return send_raw (self, env);
}

static gboolean
heartbeat_tick (gpointer user_data)
{
  ImpClientConnection *self = user_data;
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Heartbeat hb = IMPLUS__HEARTBEAT__INIT;
  gint64 silent_ms = (imp_mono_us () - self->last_rx_us) / 1000;

  if (silent_ms > (gint64) self->idle_timeout_ms)
    {
      self->heartbeat_timer = 0;
      fail (self, g_error_new (IMP_ERROR, IMP_ERROR_UNAVAILABLE, "server silent for %" G_GINT64_FORMAT " ms",
                               silent_ms));
      return G_SOURCE_REMOVE;
    }
  hb.client_time_ms = imp_now_ms ();
  env.body_case = IMPLUS__ENVELOPE__BODY_HEARTBEAT;
  env.heartbeat = &hb;
  send_raw (self, &env);
  return G_SOURCE_CONTINUE;
}

static void
handle_auth_answer (ImpClientConnection *self, const ImpEnvelope *env)
{
  GTask *task;

  switch (env->body_case)
    {
    case IMPLUS__ENVELOPE__BODY_AUTH_OK:
      self->user_id = env->auth_ok->user_id;
      self->heartbeat_ms = env->auth_ok->heartbeat_interval_ms ? env->auth_ok->heartbeat_interval_ms
                                                               : DEFAULT_HEARTBEAT_MS;
      self->heartbeat_ms = CLAMP (self->heartbeat_ms, 100, 10 * 60 * 1000);
      /* Never let the server's idle timer be the one that fires first. */
      self->idle_timeout_ms = MAX (env->auth_ok->idle_timeout_ms, 3 * self->heartbeat_ms);
      g_clear_handle_id (&self->auth_timer, g_source_remove);
      self->heartbeat_timer = g_timeout_add (self->heartbeat_ms, heartbeat_tick, self);
      self->open = TRUE;
      task = g_steal_pointer (&self->open_task);
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      break;
    case IMPLUS__ENVELOPE__BODY_ERROR:
      fail (self, g_error_new (IMP_ERROR, env->error->code ? (int) env->error->code : IMP_ERROR_AUTH_FAILED,
                               "%s", env->error->reason && env->error->reason[0] ? env->error->reason
                                                                                : "authentication refused"));
      break;
    case IMPLUS__ENVELOPE__BODY_KICK:
      fail (self, g_error_new (IMP_ERROR,
                               env->kick->reason == IMPLUS__KICK_REASON__KICK_REASON_TOKEN_REVOKED ? IMP_ERROR_TOKEN_REVOKED
                               : env->kick->reason == IMPLUS__KICK_REASON__KICK_REASON_BANNED ? IMP_ERROR_BANNED
                               : IMP_ERROR_UNAVAILABLE, "kicked during authentication"));
      break;
    default:
      /* Heartbeat answers and the like before AuthOk: ignore. */
      break;
    }
}

/* One decoded frame from either transport. */
static void
handle_bytes (ImpClientConnection *self, const guint8 *data, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpEnvelope) env = imp_wire_decode (data, len, &error);

  if (env == NULL)
    {
      fail (self, g_steal_pointer (&error));
      return;
    }
  self->last_rx_us = imp_mono_us ();
  if (!self->open)
    {
      handle_auth_answer (self, env);
      return;
    }
  if (env->body_case == IMPLUS__ENVELOPE__BODY_HEARTBEAT)
    return;
  g_signal_emit (self, signals[SIGNAL_FRAME], 0, env);
}

static void read_next (ImpClientConnection *self);

static void
read_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ImpClientConnection) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);
  const guint8 *data;
  gsize len;

  if (self->closed)
    return;
  if (n <= 0)
    {
      fail (self, g_error_new (IMP_ERROR, IMP_ERROR_UNAVAILABLE, "%s",
                               n == 0 ? "connection closed by server" : error->message));
      return;
    }
  imp_frame_reader_commit (self->reader, (gsize) n);
  while (!self->closed && imp_frame_reader_next (self->reader, &data, &len, &error))
    handle_bytes (self, data, len);
  if (error != NULL)
    {
      fail (self, g_steal_pointer (&error));
      return;
    }
  if (!self->closed)
    read_next (self);
}

static void
read_next (ImpClientConnection *self)
{
  gsize len = 0;
  guint8 *space = imp_frame_reader_space (self->reader, &len);

  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (self->tcp)), space, len,
                             G_PRIORITY_DEFAULT, self->cancellable, read_cb, g_object_ref (self));
}

static void
send_auth (ImpClientConnection *self)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Auth auth = IMPLUS__AUTH__INIT;
  const char *const *creds = g_task_get_task_data (self->open_task);

  auth.token = (char *) creds[0];
  auth.device_id = (char *) creds[1];
  env.body_case = IMPLUS__ENVELOPE__BODY_AUTH;
  env.auth = &auth;
  send_raw (self, &env);
}

static void
tcp_connected_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ImpClientConnection) self = user_data;
  g_autoptr(GError) error = NULL;
  GSocketConnection *conn = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), res, &error);

  if (self->closed)
    {
      g_clear_object (&conn);
      return;
    }
  if (conn == NULL)
    {
      fail (self, g_error_new (IMP_ERROR, IMP_ERROR_UNAVAILABLE, "connect %s: %s", self->address, error->message));
      return;
    }
  self->tcp = conn;
  /* The client's connect timeout stays on the socket: clear it, or every read idle for that long
   * fails with "timed out" and drops a healthy connection (heartbeats and the server's idle
   * timeout are what detect dead peers). */
  g_socket_set_timeout (g_socket_connection_get_socket (conn), 0);
  g_socket_set_option (g_socket_connection_get_socket (conn), IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  self->reader = imp_frame_reader_new (IMP_CLIENT_CONNECTION_MAX_FRAME);
  send_auth (self);
  read_next (self);
}

static void
ws_message_cb (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
  ImpClientConnection *self = user_data;
  gsize len;
  const guint8 *data = g_bytes_get_data (message, &len);

  if (type != SOUP_WEBSOCKET_DATA_BINARY)
    {
      fail (self, g_error_new (IMP_ERROR, IMP_ERROR_BAD_FRAME, "text frame from server"));
      return;
    }
  g_object_ref (self);
  handle_bytes (self, data, len);
  g_object_unref (self);
}

static void
ws_closed_cb (SoupWebsocketConnection *ws, gpointer user_data)
{
  ImpClientConnection *self = user_data;

  fail (self, g_error_new (IMP_ERROR, IMP_ERROR_UNAVAILABLE, "websocket closed (%u)",
                           soup_websocket_connection_get_close_code (ws)));
}

static void
ws_connected_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ImpClientConnection) self = user_data;
  g_autoptr(GError) error = NULL;
  SoupWebsocketConnection *ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), res, &error);

  if (self->closed)
    {
      g_clear_object (&ws);
      return;
    }
  if (ws == NULL)
    {
      fail (self, g_error_new (IMP_ERROR, IMP_ERROR_UNAVAILABLE, "connect %s: %s", self->address, error->message));
      return;
    }
  self->ws = ws;
  soup_websocket_connection_set_max_incoming_payload_size (ws, IMP_CLIENT_CONNECTION_MAX_FRAME);
  soup_websocket_connection_set_keepalive_interval (ws, 0);
  g_signal_connect (ws, "message", G_CALLBACK (ws_message_cb), self);
  g_signal_connect (ws, "closed", G_CALLBACK (ws_closed_cb), self);
  send_auth (self);
}

static gboolean
auth_timeout_cb (gpointer user_data)
{
  ImpClientConnection *self = user_data;

  self->auth_timer = 0;
  fail (self, g_error_new (IMP_ERROR, IMP_ERROR_UNAVAILABLE, "no answer to Auth"));
  return G_SOURCE_REMOVE;
}

void
imp_client_connection_open_async (ImpClientConnection *self,
                                  const char          *token,
                                  const char          *device_id,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  char **creds = g_new0 (char *, 3);

  g_task_set_source_tag (task, imp_client_connection_open_async);
  if (self->open_task != NULL || self->open || self->closed)
    {
      g_strfreev (creds);
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_INTERNAL, "connection already used");
      g_object_unref (task);
      return;
    }
  creds[0] = g_strdup (token);
  creds[1] = g_strdup (device_id);
  g_task_set_task_data (task, creds, (GDestroyNotify) g_strfreev);
  self->open_task = task;
  self->last_rx_us = imp_mono_us ();
  self->auth_timer = g_timeout_add (AUTH_TIMEOUT_MS, auth_timeout_cb, self);

  if (self->transport == IMP_TRANSPORT_TCP)
    {
      g_autoptr(GSocketClient) client = g_socket_client_new ();

      g_socket_client_set_timeout (client, AUTH_TIMEOUT_MS / 1000);
      g_socket_client_connect_to_host_async (client, self->address, 8900, self->cancellable,
                                             tcp_connected_cb, g_object_ref (self));
    }
  else
    {
      g_autoptr(SoupMessage) msg = soup_message_new ("GET", self->address);

      if (msg == NULL)
        {
          fail (self, g_error_new (IMP_ERROR, IMP_ERROR_BAD_REQUEST, "bad WebSocket URL"));
          return;
        }
      self->soup = soup_session_new ();
      soup_session_websocket_connect_async (self->soup, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                            self->cancellable, ws_connected_cb, g_object_ref (self));
    }
}

gboolean
imp_client_connection_open_finish (ImpClientConnection *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

gint64
imp_client_connection_get_user_id (ImpClientConnection *self)
{
  return self->user_id;
}

guint
imp_client_connection_get_heartbeat_ms (ImpClientConnection *self)
{
  return self->heartbeat_ms;
}

gboolean
imp_client_connection_is_open (ImpClientConnection *self)
{
  return self->open;
}

gsize
imp_client_connection_get_queued (ImpClientConnection *self)
{
  return self->out_bytes;
}

void
imp_client_connection_close (ImpClientConnection *self)
{
  g_return_if_fail (IMP_IS_CLIENT_CONNECTION (self));
  if (self->closed)
    return;
  self->closed = TRUE;
  teardown (self);
}

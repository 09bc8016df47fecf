/* imp-gateway-ws.c: the WebSocket transport (libsoup): one binary message = one Envelope, no
 * length prefix. Text messages are refused with BAD_FRAME.
 *
 * libsoup's send queue is unbounded and has no "buffered amount" getter, so the connection
 * counts what it queued since the socket was last seen writable: while the kernel takes our
 * bytes libsoup's queue drains by itself; once the count passes max_outbuf the peer is a slow
 * reader and is closed. Frames above max_frame are refused by libsoup itself (close code 1009),
 * before we see them. */
#include "imp-gateway-private.h"

#include <libsoup/soup.h>

struct _ImpGatewayWs {
  ImpGateway *gw;       /* Borrowed */
  SoupServer *server;   /* Owned */
  guint       port;
  GQueue      conns;    /* every live ImpWsConn (ws_link) */
};

typedef struct {
  ImpConnection            base;
  GList                    ws_link;
  ImpGatewayWs            *wsgw;     /* Borrowed; valid until teardown */
  SoupWebsocketConnection *ws;       /* Owned: our own ref keeps it open */
  GPollableOutputStream   *out;      /* Borrowed from ws */
  gsize                    queued;
  gboolean                 torn_down;
} ImpWsConn;

static void
teardown (ImpWsConn *c)
{
  if (c->torn_down)
    return;
  c->torn_down = TRUE;
  g_queue_unlink (&c->wsgw->conns, &c->ws_link);
  g_signal_handlers_disconnect_by_data (c->ws, c);
  if (soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (c->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
  c->base.state = IMP_CONN_CLOSED;
  imp_connection_unref (&c->base);  /* the transport's ref */
}

static void
on_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
  ImpWsConn *c = data;
  g_autoptr(ImpConnection) hold = imp_connection_ref (&c->base);
  gsize len;
  const guint8 *bytes = g_bytes_get_data (message, &len);

  if (c->base.gw == NULL)
    return;
  if (type != SOUP_WEBSOCKET_DATA_BINARY)
    {
      imp_gateway_reject (&c->base, IMP_ERROR_BAD_FRAME, "binary frames only", 0, TRUE);
      return;
    }
  if (len == 0)
    {
      imp_gateway_reject (&c->base, IMP_ERROR_BAD_FRAME, "empty frame", 0, TRUE);
      return;
    }
  imp_gateway_handle_frame (c->base.gw, &c->base, bytes, len);
}

static void
on_closed (SoupWebsocketConnection *ws, gpointer data)
{
  ImpWsConn *c = data;
  g_autoptr(ImpConnection) hold = imp_connection_ref (&c->base);

  imp_gateway_lost (&c->base);
  teardown (c);
}

/* ---- transport vtable ---- */

static gboolean
ws_send (ImpConnection *conn, const guint8 *data, gsize len)
{
  ImpWsConn *c = (ImpWsConn *) conn;

  if (c->torn_down || soup_websocket_connection_get_state (c->ws) != SOUP_WEBSOCKET_STATE_OPEN)
    return TRUE;  /* closing: too late to matter */
  if (c->out != NULL && g_pollable_output_stream_is_writable (c->out))
    c->queued = 0;
  if (c->queued + len > (gsize) c->wsgw->gw->config->max_outbuf)
    return FALSE;
  c->queued += len;
  soup_websocket_connection_send_binary (c->ws, data, len);
  return TRUE;
}

static void
ws_close (ImpConnection *conn, gboolean flush_first)
{
  ImpWsConn *c = (ImpWsConn *) conn;

  if (c->torn_down)
    return;
  /* libsoup writes the queued frames, then the close frame; "closed" tears us down. */
  if (soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (c->ws, flush_first ? SOUP_WEBSOCKET_CLOSE_NORMAL
                                                        : SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, NULL);
  else if (soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_CLOSED)
    teardown (c);
}

static void
ws_finalize (ImpConnection *conn)
{
  ImpWsConn *c = (ImpWsConn *) conn;

  g_assert (c->torn_down);
  g_clear_object (&c->ws);
}

static const ImpTransportVTable ws_vtable = {
  .name = "websocket",
  .send = ws_send,
  .close = ws_close,
  .finalize = ws_finalize,
};

/* ---- listener ---- */

static void
on_websocket (SoupServer *server, SoupServerMessage *msg, const char *path,
              SoupWebsocketConnection *ws, gpointer data)
{
  ImpGatewayWs *self = data;
  GSocketAddress *addr = soup_server_message_get_remote_address (msg);
  g_autofree char *ip = NULL;
  g_autofree char *peer = NULL;
  GIOStream *io;
  ImpWsConn *c;

  if (G_IS_INET_SOCKET_ADDRESS (addr))
    {
      GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS (addr);

      ip = g_inet_address_to_string (g_inet_socket_address_get_address (inet));
      peer = g_strdup_printf ("%s:%u", ip, g_inet_socket_address_get_port (inet));
    }

  c = g_new0 (ImpWsConn, 1);
  imp_connection_init (&c->base, &ws_vtable, peer, ip);
  c->ws_link.data = c;
  c->wsgw = self;
  c->ws = g_object_ref (ws);
  io = soup_websocket_connection_get_io_stream (ws);
  if (G_IS_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (io)))
    c->out = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (io));
  soup_websocket_connection_set_max_incoming_payload_size (ws, (guint64) self->gw->config->max_frame);
  soup_websocket_connection_set_keepalive_interval (ws, 0);  /* we have Heartbeat */
  g_signal_connect (ws, "message", G_CALLBACK (on_message), c);
  g_signal_connect (ws, "closed", G_CALLBACK (on_closed), c);
  g_queue_push_tail_link (&self->conns, &c->ws_link);

  if (!imp_gateway_attach (self->gw, &c->base))
    {
      c->base.state = IMP_CONN_CLOSING;
      soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, NULL);
    }
}

ImpGatewayWs *
imp_gateway_ws_new (ImpGateway *gw, GError **error)
{
  const ImpServerConfig *config = gw->config;
  g_autoptr(GSocketAddress) addr = NULL;
  ImpGatewayWs *self;
  GSList *listeners;

  if (config->ws_port < 0 || config->ws_port > 65535)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "bad ws_port");
      return NULL;
    }
  addr = imp_gateway_bind_address (config->bind, (guint) config->ws_port, error);
  if (addr == NULL)
    return NULL;

  self = g_new0 (ImpGatewayWs, 1);
  self->gw = gw;
  self->server = soup_server_new ("server-header", "implus-gateway", NULL);
  soup_server_add_websocket_handler (self->server,
                                     config->ws_path != NULL && config->ws_path[0] == '/' ?
                                     config->ws_path : "/websocket",
                                     NULL, NULL, on_websocket, self, NULL);
  if (!soup_server_listen (self->server, addr, 0, error))
    {
      g_prefix_error (error, "gateway WebSocket %s:%" G_GINT64_FORMAT ": ", config->bind,
                      config->ws_port);
      imp_gateway_ws_free (self);
      return NULL;
    }
  listeners = soup_server_get_listeners (self->server);
  if (listeners != NULL)
    {
      g_autoptr(GSocketAddress) local = g_socket_get_local_address (listeners->data, NULL);

      if (G_IS_INET_SOCKET_ADDRESS (local))
        self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
    }
  g_slist_free (listeners);
  return self;
}

guint
imp_gateway_ws_get_port (ImpGatewayWs *self)
{
  return self->port;
}

void
imp_gateway_ws_free (ImpGatewayWs *self)
{
  if (self == NULL)
    return;
  if (self->server != NULL)
    soup_server_disconnect (self->server);
  while (self->conns.head != NULL)
    {
      ImpWsConn *c = self->conns.head->data;

      imp_gateway_lost (&c->base);
      teardown (c);
    }
  g_clear_object (&self->server);
  g_free (self);
}

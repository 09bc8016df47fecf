/* imp-gateway-tcp.c: the TCP transport (4-byte big-endian length + Envelope).
 *
 * Redis networking.c style: non-blocking sockets, one fd source per connection on the main
 * context (G_IO_OUT only while output is queued), reads straight into the connection's
 * ImpFrameReader, writes straight to the socket and buffers only what the kernel refused.
 * Idle connections hold no buffers: the reader is dropped when it holds no partial frame, the
 * output queue when it drains. */
#include "imp-gateway-private.h"
#include "imp-frame.h"

#include <gio/gio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define READS_PER_DISPATCH 16   /* then let other connections run; poll is level-triggered */
#define CLOSE_FLUSH_MS     5000 /* a closing connection that will not read its goodbye */
#define LISTEN_BACKLOG     1024
#define CORK_MAX           (64 * 1024) /* a corked connection sends once it holds this much */

struct _ImpGatewayTcp {
  ImpGateway *gw;         /* Borrowed */
  GSocket    *listener;   /* Owned */
  GSource    *accept_source;
  guint       port;
  GQueue      conns;      /* every live ImpTcpConn (tcp_link) */
  gboolean    corked;     /* between cork() and uncork(): sends are gathered per connection */
  GQueue      cork_list;  /* ImpTcpConn with gathered bytes (cork_link) */
};

typedef struct {
  ImpConnection   base;
  GList           tcp_link;
  ImpGatewayTcp  *tcp;       /* Borrowed; valid until teardown */
  GSocket        *socket;    /* Owned */
  GSource        *source;    /* Owned */
  gpointer        fd_tag;
  GSource        *close_timer;
  ImpFrameReader *reader;    /* lazy */
  GQueue         *out;       /* GBytes, lazy */
  GByteArray     *cork;      /* frames gathered while corked, sent in one call; lazy */
  GList           cork_link;
  gsize           out_offset;
  gsize           out_bytes;
  gboolean        closing;
  gboolean        torn_down;
} ImpTcpConn;

typedef struct {
  GSource     base;
  ImpTcpConn *conn;
} ImpTcpSource;

static void
teardown (ImpTcpConn *c)
{
  if (c->torn_down)
    return;
  c->torn_down = TRUE;
  g_queue_unlink (&c->tcp->conns, &c->tcp_link);
  if (c->close_timer != NULL)
    {
      g_source_destroy (c->close_timer);
      g_clear_pointer (&c->close_timer, g_source_unref);
    }
  g_source_destroy (c->source);
  g_clear_pointer (&c->source, g_source_unref);
  g_socket_close (c->socket, NULL);
  g_clear_pointer (&c->reader, imp_frame_reader_free);
  if (c->out != NULL)
    g_queue_free_full (g_steal_pointer (&c->out), (GDestroyNotify) g_bytes_unref);
  if (c->cork != NULL)
    {
      g_queue_unlink (&c->tcp->cork_list, &c->cork_link);
      g_clear_pointer (&c->cork, g_byte_array_unref);
    }
  c->base.state = IMP_CONN_CLOSED;
  imp_connection_unref (&c->base);  /* the transport's ref */
}

/* The peer went away or the socket broke. */
static void
lost (ImpTcpConn *c)
{
  imp_gateway_lost (&c->base);
  teardown (c);
}

static void
set_events (ImpTcpConn *c)
{
  GIOCondition events = 0;

  if (!c->closing)
    events |= G_IO_IN;
  if (c->out != NULL)
    events |= G_IO_OUT;
  g_source_modify_unix_fd (c->source, c->fd_tag, events);
}

static void
flush (ImpTcpConn *c)
{
  while (c->out != NULL && c->out->head != NULL)
    {
      GBytes *b = c->out->head->data;
      gsize len;
      const guint8 *data = g_bytes_get_data (b, &len);
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send (c->socket, (const char *) data + c->out_offset,
                                len - c->out_offset, NULL, &error);

      if (n < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            return;
          lost (c);
          return;
        }
      c->out_offset += n;
      c->out_bytes -= n;
      if (c->out_offset < len)
        return;
      g_bytes_unref (g_queue_pop_head (c->out));
      c->out_offset = 0;
    }
  g_clear_pointer (&c->out, g_queue_free);
  if (c->closing)
    teardown (c);
  else
    set_events (c);
}

/* Writes what was gathered while corked with one call; what the kernel refuses goes to the
 * output queue (bounded like any send). FALSE if the connection is gone. */
static gboolean
uncork_one (ImpTcpConn *c)
{
  g_autoptr(GByteArray) cork = g_steal_pointer (&c->cork);
  gsize sent = 0;

  if (cork == NULL)
    return !c->torn_down;
  g_queue_unlink (&c->tcp->cork_list, &c->cork_link);
  if (c->torn_down)
    return FALSE;
  /* Gathering starts only with an empty output queue, and nothing flushes while corked. */
  g_assert (c->out == NULL);
  {
    g_autoptr(GError) error = NULL;
    gssize n = g_socket_send (c->socket, (const char *) cork->data, cork->len, NULL, &error);

    if (n < 0 && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
      {
        lost (c);
        return FALSE;
      }
    if (n > 0)
      sent = (gsize) n;
  }
  if (sent == cork->len)
    return TRUE;
  if (cork->len - sent > (gsize) c->tcp->gw->config->max_outbuf)
    {
      g_message ("gateway: closing slow connection %s (conn %" G_GUINT64_FORMAT ")",
                 c->base.peer, c->base.id);
      lost (c);
      return FALSE;
    }
  c->out = g_queue_new ();
  c->out_offset = 0;
  c->out_bytes = cork->len - sent;
  g_queue_push_tail (c->out, g_bytes_new (cork->data + sent, cork->len - sent));
  set_events (c);
  return TRUE;
}

void
imp_gateway_tcp_cork (ImpGatewayTcp *self)
{
  if (self != NULL)
    self->corked = TRUE;
}

void
imp_gateway_tcp_uncork (ImpGatewayTcp *self)
{
  if (self == NULL)
    return;
  self->corked = FALSE;
  while (self->cork_list.head != NULL)
    {
      ImpTcpConn *c = self->cork_list.head->data;

      imp_connection_ref (&c->base);
      uncork_one (c);
      imp_connection_unref (&c->base);
    }
}

static void
read_frames (ImpTcpConn *c)
{
  ImpGateway *gw = c->base.gw;

  for (guint i = 0; i < READS_PER_DISPATCH; i++)
    {
      g_autoptr(GError) error = NULL;
      const guint8 *frame;
      gsize space_len, frame_len;
      guint8 *space;
      gssize n;

      if (c->reader == NULL)
        c->reader = imp_frame_reader_new ((gsize) gw->config->max_frame);
      space = imp_frame_reader_space (c->reader, &space_len);
      n = g_socket_receive (c->socket, (char *) space, space_len, NULL, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      if (n <= 0)
        {
          lost (c);
          return;
        }
      imp_frame_reader_commit (c->reader, n);

      while (imp_frame_reader_next (c->reader, &frame, &frame_len, &error))
        {
          imp_gateway_handle_frame (gw, &c->base, frame, frame_len);
          if (c->closing || c->torn_down)
            return;
        }
      if (error != NULL)
        {
          ImpErrorCode code = g_error_matches (error, IMP_ERROR, IMP_ERROR_FRAME_TOO_LARGE) ?
                              IMP_ERROR_FRAME_TOO_LARGE : IMP_ERROR_BAD_FRAME;

          imp_gateway_reject (&c->base, code, code == IMP_ERROR_FRAME_TOO_LARGE ?
                              "frame too large" : "bad frame", 0, TRUE);
          return;
        }
      if ((gsize) n < space_len)
        break;  /* drained the socket */
    }

  /* Nothing partial buffered: give the buffer back (an idle connection holds none). */
  if (c->reader != NULL && imp_frame_reader_pending (c->reader) == 0)
    g_clear_pointer (&c->reader, imp_frame_reader_free);
}

static gboolean
tcp_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  ImpTcpConn *c = ((ImpTcpSource *) source)->conn;
  GIOCondition cond = g_source_query_unix_fd (source, c->fd_tag);

  imp_connection_ref (&c->base);
  if ((cond & G_IO_OUT) && c->out != NULL)
    flush (c);
  if (!c->torn_down && (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
    {
      if (c->closing)
        {
          if (cond & (G_IO_HUP | G_IO_ERR))
            teardown (c);
        }
      else
        read_frames (c);
    }
  imp_connection_unref (&c->base);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs tcp_source_funcs = {
  .dispatch = tcp_source_dispatch,
};

/* ---- transport vtable ---- */

static gboolean
tcp_send (ImpConnection *conn, const guint8 *data, gsize len)
{
  ImpTcpConn *c = (ImpTcpConn *) conn;
  guint8 header[IMP_FRAME_HEADER_SIZE];
  gsize total = IMP_FRAME_HEADER_SIZE + len;
  gsize sent = 0;
  guint8 *rest;

  if (c->torn_down || c->closing)
    return TRUE;  /* too late to matter */
  imp_frame_write_header (header, (guint32) len);

  /* Corked (a batch of bus records in hand): gather, one send per connection at uncork. */
  if (c->out == NULL && (c->cork != NULL || c->tcp->corked))
    {
      if (c->cork == NULL)
        {
          c->cork = g_byte_array_sized_new ((guint) MIN (total * 4, (gsize) CORK_MAX));
          c->cork_link.data = c;
          g_queue_push_tail_link (&c->tcp->cork_list, &c->cork_link);
        }
      g_byte_array_append (c->cork, header, sizeof header);
      g_byte_array_append (c->cork, data, (guint) len);
      if (c->cork->len >= CORK_MAX || !c->tcp->corked)
        return uncork_one (c);
      return TRUE;
    }

  if (c->out == NULL)
    {
      GOutputVector vec[2] = { { header, sizeof header }, { data, len } };
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send_message (c->socket, NULL, vec, 2, NULL, 0, 0, NULL, &error);

      if (n < 0 && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return FALSE;
      if (n > 0)
        sent = n;
      if (sent == total)
        return TRUE;
    }

  /* The kernel is full: buffer the rest, bounded. */
  if (c->out_bytes + (total - sent) > (gsize) c->tcp->gw->config->max_outbuf)
    return FALSE;
  rest = g_malloc (total - sent);
  if (sent < sizeof header)
    {
      memcpy (rest, header + sent, sizeof header - sent);
      memcpy (rest + sizeof header - sent, data, len);
    }
  else
    memcpy (rest, data + (sent - sizeof header), total - sent);
  if (c->out == NULL)
    {
      c->out = g_queue_new ();
      c->out_offset = 0;
    }
  g_queue_push_tail (c->out, g_bytes_new_take (rest, total - sent));
  c->out_bytes += total - sent;
  set_events (c);
  return TRUE;
}

static gboolean
on_close_timeout (gpointer data)
{
  ImpTcpConn *c = data;

  g_clear_pointer (&c->close_timer, g_source_unref);
  teardown (c);
  return G_SOURCE_REMOVE;
}

static void
tcp_close (ImpConnection *conn, gboolean flush_first)
{
  ImpTcpConn *c = (ImpTcpConn *) conn;

  if (c->torn_down)
    return;
  /* Gathered frames were sent as far as callers know: hand them to the kernel as an unbuffered
   * send would have (a goodbye among them); only what it refuses is subject to flush_first. */
  if (!uncork_one (c))
    return;
  c->closing = TRUE;
  if (!flush_first || c->out == NULL)
    {
      teardown (c);
      return;
    }
  set_events (c);
  c->close_timer = g_timeout_source_new (CLOSE_FLUSH_MS);
  g_source_set_callback (c->close_timer, on_close_timeout, c, NULL);
  g_source_attach (c->close_timer, g_source_get_context (c->source));
}

static void
tcp_finalize (ImpConnection *conn)
{
  ImpTcpConn *c = (ImpTcpConn *) conn;

  g_assert (c->torn_down);
  g_clear_object (&c->socket);
}

static const ImpTransportVTable tcp_vtable = {
  .name = "tcp",
  .send = tcp_send,
  .close = tcp_close,
  .finalize = tcp_finalize,
};

/* ---- listener ---- */

static void
new_connection (ImpGatewayTcp *self, GSocket *socket)
{
  g_autoptr(GSocketAddress) addr = g_socket_get_remote_address (socket, NULL);
  g_autofree char *ip = NULL;
  g_autofree char *peer = NULL;
  ImpTcpConn *c;
  GSource *source;

  if (G_IS_INET_SOCKET_ADDRESS (addr))
    {
      GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS (addr);

      ip = g_inet_address_to_string (g_inet_socket_address_get_address (inet));
      peer = g_strdup_printf ("%s:%u", ip, g_inet_socket_address_get_port (inet));
    }

  g_socket_set_blocking (socket, FALSE);
  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  c = g_new0 (ImpTcpConn, 1);
  imp_connection_init (&c->base, &tcp_vtable, peer, ip);
  c->tcp_link.data = c;
  c->tcp = self;
  c->socket = g_object_ref (socket);
  source = g_source_new (&tcp_source_funcs, sizeof (ImpTcpSource));
  ((ImpTcpSource *) source)->conn = c;
  g_source_set_static_name (source, "imp-gateway-tcp");
  c->fd_tag = g_source_add_unix_fd (source, g_socket_get_fd (socket), G_IO_IN);
  c->source = source;
  g_queue_push_tail_link (&self->conns, &c->tcp_link);
  g_source_attach (source, self->gw->context);

  if (!imp_gateway_attach (self->gw, &c->base))
    teardown (c);
}

static gboolean
on_accept (GSocket *listener, GIOCondition cond, gpointer data)
{
  ImpGatewayTcp *self = data;

  /* Accept until EAGAIN. */
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocket) socket = g_socket_accept (listener, NULL, &error);

      if (socket == NULL)
        {
          if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            g_warning ("gateway: accept failed: %s", error->message);
          break;
        }
      new_connection (self, socket);
    }
  return G_SOURCE_CONTINUE;
}

GSocketAddress *
imp_gateway_bind_address (const char *bind, guint port, GError **error)
{
  g_autoptr(GInetAddress) inet = NULL;

  if (bind == NULL || bind[0] == '\0' || g_str_equal (bind, "localhost"))
    inet = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  else
    inet = g_inet_address_new_from_string (bind);
  if (inet == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "bad bind address “%s”", bind);
      return NULL;
    }
  return g_inet_socket_address_new (inet, port);
}

ImpGatewayTcp *
imp_gateway_tcp_new (ImpGateway *gw, GError **error)
{
  const ImpServerConfig *config = gw->config;
  g_autoptr(GSocketAddress) addr = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  ImpGatewayTcp *self;

  if (config->tcp_port < 0 || config->tcp_port > 65535)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "bad tcp_port");
      return NULL;
    }
  addr = imp_gateway_bind_address (config->bind, (guint) config->tcp_port, error);
  if (addr == NULL)
    return NULL;

  self = g_new0 (ImpGatewayTcp, 1);
  self->gw = gw;
  self->listener = g_socket_new (g_socket_address_get_family (addr), G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, error);
  if (self->listener == NULL)
    goto fail;
  g_socket_set_blocking (self->listener, FALSE);
  g_socket_set_listen_backlog (self->listener, LISTEN_BACKLOG);
  if (!g_socket_bind (self->listener, addr, TRUE, error) || !g_socket_listen (self->listener, error))
    goto fail;
  local = g_socket_get_local_address (self->listener, error);
  if (local == NULL)
    goto fail;
  self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));

  self->accept_source = g_socket_create_source (self->listener, G_IO_IN, NULL);
  g_source_set_callback (self->accept_source, G_SOURCE_FUNC (on_accept), self, NULL);
  g_source_set_static_name (self->accept_source, "imp-gateway-accept");
  g_source_attach (self->accept_source, gw->context);
  return self;

fail:
  g_prefix_error (error, "gateway TCP %s:%" G_GINT64_FORMAT ": ", config->bind, config->tcp_port);
  imp_gateway_tcp_free (self);
  return NULL;
}

guint
imp_gateway_tcp_get_port (ImpGatewayTcp *self)
{
  return self->port;
}

void
imp_gateway_tcp_free (ImpGatewayTcp *self)
{
  if (self == NULL)
    return;
  if (self->accept_source != NULL)
    {
      g_source_destroy (self->accept_source);
      g_source_unref (self->accept_source);
    }
  if (self->listener != NULL)
    g_socket_close (self->listener, NULL);
  g_clear_object (&self->listener);
  /* Connections still flushing a goodbye: detached already, just close them now. */
  while (self->conns.head != NULL)
    {
      ImpTcpConn *c = self->conns.head->data;

      imp_gateway_lost (&c->base);
      teardown (c);
    }
  g_free (self);
}

/* imp-gateway-tcp.c: the TCP transport (4-byte big-endian length + Envelope).
 *
 * Redis networking.c style: non-blocking sockets on ONE epoll fd per gateway, wrapped in a single
 * GSource on the main context. A GSource per connection made every main-loop iteration walk and
 * poll every connection (O(connections) per wakeup: 10,000 members took seconds per group
 * message, see docs/benchmarks.md); with epoll an iteration costs O(ready connections).
 * Edge-triggered (a level-triggered item is polled once more on the next epoll_wait just to be
 * dropped: 15 % of the gateway thread in a fan-out): a connection is read until the kernel has
 * nothing more or READS_PER_DISPATCH reads, and then it waits on the backlog for the next
 * dispatch; written until EAGAIN. EPOLLOUT only while output is queued. Reads go straight into the connection's
 * ImpFrameReader, writes straight to the socket, and only what the kernel refused is buffered.
 * Idle connections hold no buffers: the reader is dropped when it holds no partial frame, the
 * output queue when it drains. */
#define _GNU_SOURCE 1  /* accept4 */
#include "imp-gateway-private.h"
#include "imp-frame.h"

#include <gio/gio.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define READS_PER_DISPATCH 16   /* then let other connections run (the backlog) */
#define EPOLL_BATCH        256  /* ready connections handled per dispatch of the I/O source */
#define CLOSE_FLUSH_MS     5000 /* a closing connection that will not read its goodbye */
#define LISTEN_BACKLOG     1024
#define CORK_MAX           (64 * 1024) /* a corked connection sends once it holds this much */

struct _ImpGatewayTcp {
  ImpGateway *gw;         /* Borrowed */
  GSocket    *listener;   /* Owned */
  GSource    *accept_source;
  guint       port;
  int         epfd;       /* Owned: every connection's fd */
  GSource    *io_source;  /* Owned: epfd on the gateway's context */
  ImpFrameReader *spare;  /* Owned: an empty reader for the next connection that reads */
  GQueue      backlog;    /* ImpTcpConn that may have more to read (backlog_link) */
  GQueue      conns;      /* every live ImpTcpConn (tcp_link) */
  gboolean    corked;     /* between cork() and uncork(): sends are gathered per connection */
  GQueue      cork_list;  /* ImpTcpConn with gathered bytes (cork_link) */
};

typedef struct {
  ImpConnection   base;
  GList           tcp_link;
  ImpGatewayTcp  *tcp;       /* Borrowed; valid until teardown */
  int             fd;        /* Owned; -1 after teardown */
  guint32         events;    /* the epoll interest registered for fd */
  GSource        *close_timer;
  ImpFrameReader *reader;    /* lazy */
  GQueue         *out;       /* GBytes, lazy */
  GByteArray     *cork;      /* frames gathered while corked, sent in one call; lazy */
  GList           cork_link;
  GList           backlog_link;
  gboolean        in_backlog;
  gsize           out_offset;
  gsize           out_bytes;
  gboolean        closing;
  gboolean        torn_down;
} ImpTcpConn;

typedef struct {
  GSource     base;
  ImpGatewayTcp *tcp;
} ImpTcpIoSource;

#define EPOLL_EVENTS(in, out) (EPOLLET | ((in) ? EPOLLIN : 0) | ((out) ? EPOLLOUT : 0))

static void
teardown (ImpTcpConn *c)
{
  if (c->torn_down)
    return;
  c->torn_down = TRUE;
  g_queue_unlink (&c->tcp->conns, &c->tcp_link);
  if (c->in_backlog)
    {
      g_queue_unlink (&c->tcp->backlog, &c->backlog_link);
      c->in_backlog = FALSE;
    }
  if (c->close_timer != NULL)
    {
      g_source_destroy (c->close_timer);
      g_clear_pointer (&c->close_timer, g_source_unref);
    }
  /* Out of the epoll set before the fd number can be reused. */
  if (epoll_ctl (c->tcp->epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
    g_warning ("gateway: epoll_ctl DEL: %s", g_strerror (errno));
  close (c->fd);
  c->fd = -1;
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
  struct epoll_event ev = { .events = EPOLL_EVENTS (!c->closing, c->out != NULL) };

  if (ev.events == c->events)
    return;
  ev.data.ptr = c;
  /* Only ENOMEM is possible for a registered fd: the connection then keeps its old interest. */
  if (epoll_ctl (c->tcp->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
    {
      g_warning ("gateway: epoll_ctl MOD: %s", g_strerror (errno));
      return;
    }
  c->events = ev.events;
}

/* send(2) without SIGPIPE; -1 with errno EAGAIN when the kernel takes nothing. */
static gssize
sock_send (int fd, const void *data, gsize len)
{
  gssize n;

  do
    n = send (fd, data, len, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

static gboolean
would_block (void)
{
  return errno == EAGAIN || errno == EWOULDBLOCK;
}

static void
flush (ImpTcpConn *c)
{
  while (c->out != NULL && c->out->head != NULL)
    {
      GBytes *b = c->out->head->data;
      gsize len;
      const guint8 *data = g_bytes_get_data (b, &len);
      gssize n = sock_send (c->fd, data + c->out_offset, len - c->out_offset);

      if (n < 0)
        {
          if (would_block ())
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
    gssize n = sock_send (c->fd, cork->data, cork->len);

    if (n < 0 && !would_block ())
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

  for (guint i = 0; ; i++)
    {
      g_autoptr(GError) error = NULL;
      const guint8 *frame;
      gsize space_len, frame_len;
      guint8 *space;
      gssize n;

      if (i == READS_PER_DISPATCH)
        {
          /* Edge-triggered: no new event for bytes already there. Come back next dispatch. */
          if (!c->in_backlog)
            {
              c->in_backlog = TRUE;
              c->backlog_link.data = c;
              g_queue_push_tail_link (&c->tcp->backlog, &c->backlog_link);
            }
          break;
        }
      if (c->reader == NULL)
        c->reader = c->tcp->spare != NULL ? g_steal_pointer (&c->tcp->spare)
                                          : imp_frame_reader_new ((gsize) gw->config->max_frame);
      space = imp_frame_reader_space (c->reader, &space_len);
      do
        n = recv (c->fd, space, space_len, 0);
      while (n < 0 && errno == EINTR);
      if (n < 0 && would_block ())
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
        break;  /* drained the socket: later bytes raise a new edge */
    }

  /* Nothing partial buffered: give the buffer back (an idle connection holds none). One empty
   * reader is kept for the next read: most reads are one whole small frame (an ACK), and a
   * 4 KiB malloc + free per read showed in the fan-out profile. */
  if (c->reader != NULL && imp_frame_reader_pending (c->reader) == 0)
    {
      if (c->tcp->spare == NULL)
        c->tcp->spare = g_steal_pointer (&c->reader);
      else
        g_clear_pointer (&c->reader, imp_frame_reader_free);
    }
}

static void
handle_events (ImpTcpConn *c, guint32 events)
{
  if (c->torn_down)
    return;  /* closed by an earlier connection's handling in the same batch */
  if ((events & EPOLLOUT) && c->out != NULL)
    flush (c);
  if (!c->torn_down && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
    {
      if (c->closing)
        {
          if (events & (EPOLLHUP | EPOLLERR))
            teardown (c);
        }
      else
        read_frames (c);
    }
}

/* The backlog makes the source ready without an event on the epoll fd. */
static gboolean
io_source_prepare (GSource *source, gint *timeout)
{
  *timeout = -1;
  return ((ImpTcpIoSource *) source)->tcp->backlog.length > 0;
}

static gboolean
io_source_check (GSource *source)
{
  /* GLib adds the epoll fd's own readiness. */
  return ((ImpTcpIoSource *) source)->tcp->backlog.length > 0;
}

/* Connections that stopped at READS_PER_DISPATCH: one more round each (they may queue again). */
static void
run_backlog (ImpGatewayTcp *self)
{
  for (guint n = self->backlog.length; n > 0 && self->backlog.head != NULL; n--)
    {
      ImpTcpConn *c = self->backlog.head->data;

      g_queue_unlink (&self->backlog, &c->backlog_link);
      c->in_backlog = FALSE;
      imp_connection_ref (&c->base);
      if (!c->torn_down && !c->closing)
        read_frames (c);
      imp_connection_unref (&c->base);
    }
}

/* Handles up to EPOLL_BATCH ready connections. What is left (more ready connections) keeps the
 * epoll fd readable, and the main loop comes back after its other sources had their turn. */
static gboolean
io_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  ImpGatewayTcp *self = ((ImpTcpIoSource *) source)->tcp;
  struct epoll_event events[EPOLL_BATCH];
  int n;

  run_backlog (self);
  n = epoll_wait (self->epfd, events, EPOLL_BATCH, 0);
  if (n < 0)
    {
      if (errno != EINTR)
        g_warning ("gateway: epoll_wait: %s", g_strerror (errno));
      return G_SOURCE_CONTINUE;
    }
  /* Handling one connection may close another of this batch (a kick, a slow reader): refs keep
   * every struct valid, and a torn-down one is skipped. */
  for (int i = 0; i < n; i++)
    imp_connection_ref (events[i].data.ptr);
  for (int i = 0; i < n; i++)
    {
      ImpTcpConn *c = events[i].data.ptr;

      handle_events (c, events[i].events);
      imp_connection_unref (&c->base);
    }
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs io_source_funcs = {
  .prepare = io_source_prepare,
  .check = io_source_check,
  .dispatch = io_source_dispatch,
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
      struct iovec vec[2] = { { header, sizeof header }, { (void *) data, len } };
      struct msghdr msg = { .msg_iov = vec, .msg_iovlen = 2 };
      gssize n;

      do
        n = sendmsg (c->fd, &msg, MSG_NOSIGNAL);
      while (n < 0 && errno == EINTR);
      if (n < 0 && !would_block ())
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
  g_source_attach (c->close_timer, c->tcp->gw->context);
}

static void
tcp_finalize (ImpConnection *conn)
{
  ImpTcpConn *c = (ImpTcpConn *) conn;

  g_assert (c->torn_down);
}

static const ImpTransportVTable tcp_vtable = {
  .name = "tcp",
  .send = tcp_send,
  .close = tcp_close,
  .finalize = tcp_finalize,
};

/* ---- listener ---- */

/* Takes fd (non-blocking, accepted from the listener). */
static void
new_connection (ImpGatewayTcp *self, int fd, const struct sockaddr_storage *addr)
{
  char ip[INET6_ADDRSTRLEN] = "";
  g_autofree char *peer = NULL;
  struct epoll_event ev = { .events = EPOLL_EVENTS (TRUE, FALSE) };
  const int one = 1;
  ImpTcpConn *c;

  if (addr->ss_family == AF_INET)
    {
      const struct sockaddr_in *sin = (const struct sockaddr_in *) addr;

      inet_ntop (AF_INET, &sin->sin_addr, ip, sizeof ip);
      peer = g_strdup_printf ("%s:%u", ip, ntohs (sin->sin_port));
    }
  else if (addr->ss_family == AF_INET6)
    {
      const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) addr;

      inet_ntop (AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
      peer = g_strdup_printf ("%s:%u", ip, ntohs (sin6->sin6_port));
    }
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  c = g_new0 (ImpTcpConn, 1);
  imp_connection_init (&c->base, &tcp_vtable, peer, ip[0] != '\0' ? ip : NULL);
  c->tcp_link.data = c;
  c->tcp = self;
  c->fd = fd;
  c->events = ev.events;
  ev.data.ptr = c;
  if (epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      /* ENOMEM or ENOSPC (fs.epoll.max_user_watches): refuse this one, keep the others. */
      g_warning ("gateway: refusing %s: epoll_ctl ADD: %s", c->base.peer, g_strerror (errno));
      close (fd);
      c->fd = -1;
      c->torn_down = TRUE;
      c->base.state = IMP_CONN_CLOSED;
      imp_connection_unref (&c->base);
      return;
    }
  g_queue_push_tail_link (&self->conns, &c->tcp_link);

  if (!imp_gateway_attach (self->gw, &c->base))
    teardown (c);
}

static gboolean
on_accept (GSocket *listener, GIOCondition cond, gpointer data)
{
  ImpGatewayTcp *self = data;
  int lfd = g_socket_get_fd (listener);

  /* Accept until EAGAIN. Plain fds: a GSocket per connection is memory we do not need. */
  for (;;)
    {
      struct sockaddr_storage addr = { 0 };
      socklen_t addr_len = sizeof addr;
      int fd = accept4 (lfd, (struct sockaddr *) &addr, &addr_len, SOCK_NONBLOCK | SOCK_CLOEXEC);

      if (fd < 0)
        {
          if (errno == EINTR || errno == ECONNABORTED)
            continue;
          if (!would_block ())
            g_warning ("gateway: accept failed: %s", g_strerror (errno));
          break;
        }
      new_connection (self, fd, &addr);
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
  self->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (self->epfd < 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "epoll_create1: %s", g_strerror (errno));
      goto fail;
    }
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

  self->io_source = g_source_new (&io_source_funcs, sizeof (ImpTcpIoSource));
  ((ImpTcpIoSource *) self->io_source)->tcp = self;
  g_source_set_static_name (self->io_source, "imp-gateway-tcp");
  g_source_add_unix_fd (self->io_source, self->epfd, G_IO_IN);
  g_source_attach (self->io_source, gw->context);
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
  if (self->io_source != NULL)
    {
      g_source_destroy (self->io_source);
      g_source_unref (self->io_source);
    }
  if (self->epfd >= 0)
    close (self->epfd);
  imp_frame_reader_free (self->spare);
  g_free (self);
}

/* implus-bench-group: group fan-out latency against a running server.
 *
 * Registers members+1 users, creates one group of them through the user API (POST /groups, then
 * /groups/members/add in chunks under the 64 KiB body limit), connects every member over raw TCP
 * (spread over --threads epoll threads and --source-addrs 127.0.0.x), and then sends --messages
 * group messages from the owner, one at a time: each is sent once the previous one reached every
 * member. For each message it measures the time from the send until the LAST member has the push
 * (and every single delivery, and the sender's receipt). Members answer with GroupAck.
 */
#include "imp-bench.h"
#include "imp-frame.h"
#include "imp-wire.h"

#include <errno.h>
#include <arpa/inet.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FRAME      (1024 * 1024)
#define HEARTBEAT_US   (20 * G_USEC_PER_SEC)
#define CREATE_CHUNK   4000

typedef struct _Thread Thread;

typedef struct {
  int             fd;
  Thread         *thread;
  const ImpBenchUser *user;
  ImpFrameReader *reader;
  GByteArray     *out;
  gsize           out_pos;
  gint64          acked;
  gboolean        authed;
  gboolean        dead;
  gboolean        want_out;
} Conn;

typedef struct {
  /* Set before the threads start. */
  guint    members;
  guint    messages;
  gint64   base_seq;
  char    *conv;
  /* Written by the main thread, read by the workers. */
  gint64  *send_us;
  gint     stop;
  /* Counters. */
  gint     authed;
  gint     failed;
  gint    *got;          /* per message: members that have it */
  gint     duplicates;
  gint     notices;
  GMutex   lock;
  GCond    cond;
} Shared;

struct _Thread {
  Shared   *sh;
  GThread  *thread;
  int       epfd;
  Conn     *conns;
  guint     n;
  gint64   *last_us;     /* per message: latest arrival on this thread */
  GArray   *lat_us;      /* guint32 per delivery */
};

static void
conn_queue (Conn *c, Implus__Envelope *env)
{
  gsize size = implus__envelope__get_packed_size (env);
  guint old = c->out->len;

  g_byte_array_set_size (c->out, old + IMP_FRAME_HEADER_SIZE + size);
  imp_frame_write_header (c->out->data + old, (guint32) size);
  implus__envelope__pack (env, c->out->data + old + IMP_FRAME_HEADER_SIZE);
}

static void
conn_dead (Conn *c, const char *why)
{
  if (c->dead)
    return;
  c->dead = TRUE;
  g_atomic_int_inc (&c->thread->sh->failed);
  g_printerr ("member %s: %s\n", c->user->username, why);
  epoll_ctl (c->thread->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  g_mutex_lock (&c->thread->sh->lock);
  g_cond_broadcast (&c->thread->sh->cond);
  g_mutex_unlock (&c->thread->sh->lock);
}

static void
conn_flush (Conn *c)
{
  while (!c->dead && c->out_pos < c->out->len)
    {
      ssize_t n = send (c->fd, c->out->data + c->out_pos, c->out->len - c->out_pos, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        break;
      if (n <= 0)
        {
          conn_dead (c, "send failed");
          return;
        }
      c->out_pos += (gsize) n;
    }
  if (c->dead)
    return;
  if (c->out_pos == c->out->len)
    {
      g_byte_array_set_size (c->out, 0);
      c->out_pos = 0;
    }
  gboolean want = c->out_pos < c->out->len;
  if (want != c->want_out)
    {
      struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };
      c->want_out = want;
      epoll_ctl (c->thread->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

static void
signal_main (Shared *sh)
{
  g_mutex_lock (&sh->lock);
  g_cond_broadcast (&sh->cond);
  g_mutex_unlock (&sh->lock);
}

static void
handle_push (Conn *c, const Implus__Message *m, gint64 now, gint64 *max_seq)
{
  Thread *t = c->thread;
  Shared *sh = t->sh;
  gint64 idx;

  if (m == NULL || m->group_id == 0)
    return;
  *max_seq = MAX (*max_seq, m->seq);
  idx = m->seq - sh->base_seq - 1;
  if (idx < 0 || idx >= sh->messages)
    return;  /* a system message, or not ours */
  if (m->seq <= c->acked)
    {
      g_atomic_int_inc (&sh->duplicates);
      return;
    }
  gint64 sent = sh->send_us[idx];
  guint32 lat = (guint32) CLAMP (now - sent, 0, G_MAXUINT32);
  g_array_append_val (t->lat_us, lat);
  t->last_us[idx] = MAX (t->last_us[idx], now);
  if (g_atomic_int_add (&sh->got[idx], 1) + 1 == (gint) sh->members)
    signal_main (sh);
}

static void
conn_read (Conn *c)
{
  gint64 max_seq = 0;

  for (int i = 0; i < 8 && !c->dead; i++)
    {
      gsize room;
      guint8 *space = imp_frame_reader_space (c->reader, &room);
      ssize_t n = recv (c->fd, space, room, 0);
      const guint8 *frame;
      gsize len;
      g_autoptr(GError) error = NULL;
      gint64 now;

      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        break;
      if (n <= 0)
        {
          conn_dead (c, n == 0 ? "closed by the server" : "recv failed");
          return;
        }
      now = g_get_monotonic_time ();
      imp_frame_reader_commit (c->reader, (gsize) n);
      while (imp_frame_reader_next (c->reader, &frame, &len, &error))
        {
          g_autoptr(ImpEnvelope) env = imp_wire_decode (frame, len, &error);
          if (env == NULL)
            break;
          switch (env->body_case)
            {
            case IMPLUS__ENVELOPE__BODY_AUTH_OK:
              c->authed = TRUE;
              if (g_atomic_int_add (&c->thread->sh->authed, 1) + 1 == (gint) c->thread->sh->members)
                signal_main (c->thread->sh);
              break;
            case IMPLUS__ENVELOPE__BODY_PUSH:
              handle_push (c, env->push->message, now, &max_seq);
              break;
            case IMPLUS__ENVELOPE__BODY_GROUP_NOTICE:
              g_atomic_int_inc (&c->thread->sh->notices);
              break;
            case IMPLUS__ENVELOPE__BODY_KICK:
              conn_dead (c, "kicked");
              return;
            case IMPLUS__ENVELOPE__BODY_ERROR:
              if (!c->authed)
                {
                  conn_dead (c, env->error->reason ? env->error->reason : "auth error");
                  return;
                }
              break;
            default:
              break;
            }
        }
      if (error != NULL)
        {
          conn_dead (c, error->message);
          return;
        }
      if ((gsize) n < room)
        break;
    }
  if (max_seq > c->acked)
    {
      Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
      Implus__GroupAck ack = IMPLUS__GROUP_ACK__INIT;

      c->acked = max_seq;
      ack.conversation_id = c->thread->sh->conv;
      ack.up_to_seq = max_seq;
      env.body_case = IMPLUS__ENVELOPE__BODY_GROUP_ACK;
      env.group_ack = &ack;
      conn_queue (c, &env);
      conn_flush (c);
    }
}

static void
heartbeat_all (Thread *t)
{
  for (guint i = 0; i < t->n; i++)
    {
      Conn *c = &t->conns[i];
      Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
      Implus__Heartbeat hb = IMPLUS__HEARTBEAT__INIT;

      if (c->dead || !c->authed)
        continue;
      hb.client_time_ms = g_get_real_time () / 1000;
      env.body_case = IMPLUS__ENVELOPE__BODY_HEARTBEAT;
      env.heartbeat = &hb;
      conn_queue (c, &env);
      conn_flush (c);
    }
}

static gpointer
thread_main (gpointer data)
{
  Thread *t = data;
  struct epoll_event evs[256];
  gint64 next_hb = g_get_monotonic_time () + HEARTBEAT_US;

  while (!g_atomic_int_get (&t->sh->stop))
    {
      int n = epoll_wait (t->epfd, evs, G_N_ELEMENTS (evs), 500);
      for (int i = 0; i < n; i++)
        {
          Conn *c = evs[i].data.ptr;
          if (evs[i].events & EPOLLOUT)
            conn_flush (c);
          if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            conn_read (c);
        }
      if (g_get_monotonic_time () >= next_hb)
        {
          heartbeat_all (t);
          next_hb = g_get_monotonic_time () + HEARTBEAT_US;
        }
    }
  return NULL;
}

static gboolean
conn_open (Conn *c, const char *source, guint16 port, GError **error)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port) };
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Auth auth = IMPLUS__AUTH__INIT;
  g_autofree char *device = g_strdup_printf ("bench-group-%" G_GINT64_FORMAT, c->user->user_id);
  int one = 1;

  c->fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "socket: %s", g_strerror (errno));
      return FALSE;
    }
  setsockopt (c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source != NULL)
    {
      struct sockaddr_in src = { .sin_family = AF_INET };
      inet_pton (AF_INET, source, &src.sin_addr);
      if (bind (c->fd, (struct sockaddr *) &src, sizeof src) < 0)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "bind %s: %s", source, g_strerror (errno));
          close (c->fd);
          return FALSE;
        }
    }
  inet_pton (AF_INET, "127.0.0.1", &sa.sin_addr);
  if (connect (c->fd, (struct sockaddr *) &sa, sizeof sa) < 0 && errno != EINPROGRESS)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "connect: %s", g_strerror (errno));
      close (c->fd);
      return FALSE;
    }
  c->reader = imp_frame_reader_new (MAX_FRAME);
  c->out = g_byte_array_new ();
  auth.token = c->user->token;
  auth.device_id = device;
  env.frame_id = 1;
  env.body_case = IMPLUS__ENVELOPE__BODY_AUTH;
  env.auth = &auth;
  conn_queue (c, &env);
  c->want_out = TRUE;
  epoll_ctl (c->thread->epfd, EPOLL_CTL_ADD, c->fd, &ev);
  return TRUE;
}

/* ---- HTTP over keep-alive sockets ----------------------------------------------------------
 * A minimal blocking HTTP/1.1 client, one connection per setup thread, reused for every request:
 * a new connection per request would leave one server socket per request in CLOSE-WAIT (see
 * docs/benchmarks.md, "Found while measuring"), and 20,000 of them exhaust the server's fds. */

typedef struct {
  int   fd;
  guint16 port;
} Http;

static gboolean
http_connect (Http *h, GError **error)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (h->port) };

  inet_pton (AF_INET, "127.0.0.1", &sa.sin_addr);
  h->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (h->fd < 0 || connect (h->fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "HTTP connect: %s", g_strerror (errno));
      if (h->fd >= 0)
        close (h->fd);
      h->fd = -1;
      return FALSE;
    }
  return TRUE;
}

/* POST path with body (JSON text); returns the parsed object and the status. */
static JsonObject *
http_post (Http *h, const char *path, const char *token, const char *body, guint *status, GError **error)
{
  g_autoptr(GString) req = g_string_new (NULL);
  g_autoptr(GByteArray) in = g_byte_array_new ();
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize off = 0, head_end = 0, clen = 0;
  gboolean server_closes = FALSE;
  char *hdr;

  if (h->fd < 0 && !http_connect (h, error))
    return NULL;
  g_string_printf (req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\n", path, strlen (body));
  if (token != NULL)
    g_string_append_printf (req, "Authorization: Bearer %s\r\n", token);
  g_string_append (req, "\r\n");
  g_string_append (req, body);
  while (off < req->len)
    {
      ssize_t n = send (h->fd, req->str + off, req->len - off, MSG_NOSIGNAL);
      if (n <= 0)
        goto io_error;
      off += (gsize) n;
    }
  for (;;)
    {
      guint8 buf[16384];
      ssize_t n;

      if (head_end == 0 && in->len >= 4)
        {
          char *e = g_strstr_len ((char *) in->data, in->len, "\r\n\r\n");
          if (e != NULL)
            {
              head_end = (gsize) (e - (char *) in->data) + 4;
              hdr = g_ascii_strdown ((char *) in->data, (gssize) head_end);
              char *cl = strstr (hdr, "\r\ncontent-length:");
              clen = cl ? (gsize) g_ascii_strtoull (cl + 17, NULL, 10) : 0;
              server_closes = strstr (hdr, "\r\nconnection: close") != NULL;
              *status = (guint) g_ascii_strtoull ((char *) in->data + 9, NULL, 10);
              g_free (hdr);
              if (clen > 16 * 1024 * 1024)
                goto io_error;
            }
        }
      if (head_end > 0 && in->len >= head_end + clen)
        break;
      n = recv (h->fd, buf, sizeof buf, 0);
      if (n <= 0)
        goto io_error;
      g_byte_array_append (in, buf, (guint) n);
    }
  /* The server may answer "Connection: close": reconnect for the next request. */
  if (server_closes)
    {
      close (h->fd);
      h->fd = -1;
    }
  if (!json_parser_load_from_data (parser, (char *) in->data + head_end, (gssize) clen, error))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "POST %s: not a JSON object", path);
      return NULL;
    }
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));

io_error:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "POST %s: connection error", path);
  close (h->fd);
  h->fd = -1;
  return NULL;
}

typedef struct {
  ImpBenchUser *users;
  guint         n;
  guint16       port;
  gint          next;
  gint          failed;
} Setup;

static gpointer
setup_thread (gpointer data)
{
  Setup *s = data;
  Http h = { .fd = -1, .port = s->port };
  gint i;

  while (!g_atomic_int_get (&s->failed) && (i = g_atomic_int_add (&s->next, 1)) < (gint) s->n)
    {
      ImpBenchUser *u = &s->users[i];
      g_autofree char *body = g_strdup_printf ("{\"username\":\"%s\",\"password\":\"bench-password-1\"}", u->username);
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonObject) r = NULL;
      g_autoptr(JsonObject) l = NULL;
      guint st = 0;

      r = http_post (&h, "/users/register", NULL, body, &st, &error);
      if (r != NULL && st != 201 && st != 409)
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED, "register: HTTP %u", st);
      if (error == NULL)
        l = http_post (&h, "/users/login", NULL, body, &st, &error);
      if (error == NULL && (st != 200 || !json_object_has_member (l, "token")))
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED, "login: HTTP %u", st);
      if (error != NULL)
        {
          g_printerr ("user %s: %s\n", u->username, error->message);
          g_atomic_int_set (&s->failed, 1);
          break;
        }
      u->user_id = json_object_get_int_member (l, "user_id");
      u->token = g_strdup (json_object_get_string_member (l, "token"));
    }
  if (h.fd >= 0)
    close (h.fd);
  return NULL;
}

static gboolean
setup_users (ImpBenchUser *users, guint n, guint16 port, gint parallel)
{
  Setup s = { .users = users, .n = n, .port = port };
  GThread **ts = g_new0 (GThread *, parallel);

  for (gint i = 0; i < parallel; i++)
    ts[i] = g_thread_new ("bench-setup", setup_thread, &s);
  for (gint i = 0; i < parallel; i++)
    g_thread_join (ts[i]);
  g_free (ts);
  return !s.failed;
}

static gboolean
create_group (const ImpBenchOptions *opt, ImpBenchUser *users, guint n, gint64 *out_gid, gint64 *out_last,
              GError **error)
{
  Http h = { .fd = -1, .port = (guint16) opt->user_port };
  gboolean ok = TRUE;

  for (guint start = 1; ok && start < n; start += CREATE_CHUNK)
    {
      g_autoptr(GString) body = g_string_new (NULL);
      g_autoptr(JsonObject) res = NULL;
      guint st = 0;

      if (start == 1)
        g_string_append (body, "{\"name\":\"bench-group\",\"members\":[");
      else
        g_string_append_printf (body, "{\"group_id\":%" G_GINT64_FORMAT ",\"user_ids\":[", *out_gid);
      for (guint i = start; i < n && i < start + CREATE_CHUNK; i++)
        g_string_append_printf (body, "%s%" G_GINT64_FORMAT, i == start ? "" : ",", users[i].user_id);
      g_string_append (body, "]}");
      res = http_post (&h, start == 1 ? "/groups" : "/groups/members/add", users[0].token, body->str, &st, error);
      if (res == NULL || st != (start == 1 ? 201u : 200u))
        {
          if (res != NULL)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "group: HTTP %u", st);
          ok = FALSE;
          break;
        }
      if (start == 1)
        *out_gid = json_object_get_int_member_with_default (res, "group_id", 0);
      *out_last = json_object_get_int_member_with_default (res, "last_seq", 0);
    }
  if (h.fd >= 0)
    close (h.fd);
  return ok && *out_gid > 0;
}

/* ---- The sender (blocking socket on the main thread) -------------------------------------- */

static gboolean
send_frame (int fd, Implus__Envelope *env)
{
  gsize size = implus__envelope__get_packed_size (env);
  g_autofree guint8 *buf = g_malloc (IMP_FRAME_HEADER_SIZE + size);
  gsize off = 0;

  imp_frame_write_header (buf, (guint32) size);
  implus__envelope__pack (env, buf + IMP_FRAME_HEADER_SIZE);
  while (off < IMP_FRAME_HEADER_SIZE + size)
    {
      ssize_t n = send (fd, buf + off, IMP_FRAME_HEADER_SIZE + size - off, MSG_NOSIGNAL);
      if (n <= 0)
        return FALSE;
      off += (gsize) n;
    }
  return TRUE;
}

/* Reads frames until one of body_case arrives (others are dropped). */
static ImpEnvelope *
recv_body (int fd, ImpFrameReader *r, Implus__Envelope__BodyCase want, GError **error)
{
  for (;;)
    {
      const guint8 *frame;
      gsize len, room;
      guint8 *space;
      ssize_t n;

      while (imp_frame_reader_next (r, &frame, &len, error))
        {
          ImpEnvelope *env = imp_wire_decode (frame, len, error);
          if (env == NULL)
            return NULL;
          if (env->body_case == want)
            return env;
          if (env->body_case == IMPLUS__ENVELOPE__BODY_ERROR || env->body_case == IMPLUS__ENVELOPE__BODY_KICK)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "sender got an error or kick frame");
              imp_wire_envelope_free (env);
              return NULL;
            }
          imp_wire_envelope_free (env);
        }
      if (error != NULL && *error != NULL)
        return NULL;
      space = imp_frame_reader_space (r, &room);
      n = recv (fd, space, room, 0);
      if (n <= 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "sender connection closed");
          return NULL;
        }
      imp_frame_reader_commit (r, (gsize) n);
    }
}

static int
cmp_u32 (const void *a, const void *b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;
  return x < y ? -1 : x > y;
}

static double
pct_ms (GArray *a, double p)
{
  if (a->len == 0)
    return 0;
  gsize i = (gsize) (p / 100.0 * (a->len - 1) + 0.5);
  return g_array_index (a, guint32, MIN (i, a->len - 1)) / 1000.0;
}

static void
print_lat (const char *what, GArray *a)
{
  qsort (a->data, a->len, sizeof (guint32), cmp_u32);
  printf ("%-34s n=%-8u p50 %8.2f  p90 %8.2f  p99 %8.2f  max %8.2f ms\n", what, a->len, pct_ms (a, 50),
          pct_ms (a, 90), pct_ms (a, 99), pct_ms (a, 100));
}

int
main (int argc, char **argv)
{
  ImpBenchOptions opt = { .server = NULL, .user_port = 8090, .tcp_port = 0, .http_parallel = 8 };
  gint members = 10000, messages = 100, threads = 2, size = 32, msg_timeout_s = 30;
  g_autofree char *sources = NULL;
  g_autofree char *prefix = NULL;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_STRING, &opt.server, "server address (127.0.0.1)", "HOST" },
    { "user-port", 0, 0, G_OPTION_ARG_INT, &opt.user_port, "user HTTP port (8090)", "PORT" },
    { "tcp-port", 0, 0, G_OPTION_ARG_INT, &opt.tcp_port, "gateway TCP port (8900)", "PORT" },
    { "members", 0, 0, G_OPTION_ARG_INT, &members, "group members besides the sender (10000)", "N" },
    { "messages", 0, 0, G_OPTION_ARG_INT, &messages, "messages, one at a time (100)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "member I/O threads (2)", "N" },
    { "size", 0, 0, G_OPTION_ARG_INT, &size, "content bytes (32; above 1024 the server sends notices)", "N" },
    { "source-addrs", 0, 0, G_OPTION_ARG_STRING, &sources, "comma-separated 127.0.0.x to bind", "LIST" },
    { "http-parallel", 0, 0, G_OPTION_ARG_INT, &opt.http_parallel, "register/login threads (8)", "N" },
    { "prefix", 0, 0, G_OPTION_ARG_STRING, &prefix, "username prefix (default: from the time)", "P" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &msg_timeout_s, "seconds per message before giving up (30)", "S" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- group fan-out latency");
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) srcv = NULL;
  Shared sh = { 0 };
  struct rlimit rl;
  gint64 gid = 0, last = 0, t0;
  guint n_users;
  ImpBenchUser *users;
  Thread *ts;
  g_autoptr(GArray) rcpt = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_autoptr(GArray) lastlat = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_autoptr(GArray) all = g_array_new (FALSE, FALSE, sizeof (guint32));
  int rc = 0, sfd;
  guint incomplete = 0;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (members < 1 || members > 1000000 || messages < 1 || messages > 100000 || threads < 1 || threads > 64 ||
      size < 1 || size > 8192)
    {
      g_printerr ("option out of range\n");
      return 2;
    }
  if (opt.server == NULL)
    opt.server = g_strdup ("127.0.0.1");
  srcv = g_strsplit (sources ? sources : "", ",", -1);
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }

  n_users = (guint) members + 1;
  users = g_new0 (ImpBenchUser, n_users);
  if (prefix == NULL)
    prefix = g_strdup_printf ("g%x", (guint) (g_get_real_time () / G_USEC_PER_SEC) & 0xffffff);
  for (guint i = 0; i < n_users; i++)
    users[i].username = g_strdup_printf ("%s_%u", prefix, i);
  t0 = g_get_monotonic_time ();
  if (!setup_users (users, n_users, (guint16) opt.user_port, opt.http_parallel))
    return 1;
  printf ("users: %u registered and logged in in %.1f s\n", n_users, (g_get_monotonic_time () - t0) / 1e6);
  if (opt.tcp_port == 0)
    opt.tcp_port = 8900;
  t0 = g_get_monotonic_time ();
  if (!create_group (&opt, users, n_users, &gid, &last, &error))
    {
      g_printerr ("group: %s\n", error->message);
      return 1;
    }
  printf ("group: %" G_GINT64_FORMAT " with %u members created in %.2f s (last_seq %" G_GINT64_FORMAT ")\n",
          gid, n_users, (g_get_monotonic_time () - t0) / 1e6, last);

  sh.members = (guint) members;
  sh.messages = (guint) messages;
  sh.base_seq = last;
  sh.conv = g_strdup_printf ("group_%" G_GINT64_FORMAT, gid);
  sh.send_us = g_new0 (gint64, messages);
  sh.got = g_new0 (gint, messages);
  g_mutex_init (&sh.lock);
  g_cond_init (&sh.cond);

  /* Members 1..members, spread round-robin over the threads. */
  t0 = g_get_monotonic_time ();
  ts = g_new0 (Thread, threads);
  for (gint k = 0; k < threads; k++)
    {
      Thread *t = &ts[k];
      t->sh = &sh;
      t->epfd = epoll_create1 (EPOLL_CLOEXEC);
      t->conns = g_new0 (Conn, members / threads + 1);
      t->last_us = g_new0 (gint64, messages);
      t->lat_us = g_array_sized_new (FALSE, FALSE, sizeof (guint32), (guint) (members / threads + 1) * messages);
    }
  for (guint i = 1; i < n_users; i++)
    {
      Thread *t = &ts[(i - 1) % threads];
      Conn *c = &t->conns[t->n++];
      guint ns = g_strv_length (srcv);
      const char *src = ns > 0 && srcv[0][0] ? srcv[(i - 1) % ns] : NULL;

      c->thread = t;
      c->user = &users[i];
      if (!conn_open (c, src, (guint16) opt.tcp_port, &error))
        {
          g_printerr ("member %u: %s\n", i, error->message);
          return 1;
        }
    }
  for (gint k = 0; k < threads; k++)
    ts[k].thread = g_thread_new ("bench-members", thread_main, &ts[k]);
  g_mutex_lock (&sh.lock);
  {
    gint64 end = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
    while (g_atomic_int_get (&sh.authed) + g_atomic_int_get (&sh.failed) < members)
      if (!g_cond_wait_until (&sh.cond, &sh.lock, end))
        break;
  }
  g_mutex_unlock (&sh.lock);
  printf ("connections: %d of %d authenticated in %.2f s over %d threads, %u source address(es)\n",
          g_atomic_int_get (&sh.authed), members, (g_get_monotonic_time () - t0) / 1e6, threads,
          MAX (1u, g_strv_length (srcv)));
  if (g_atomic_int_get (&sh.authed) < members)
    {
      rc = 1;
      goto out;
    }

  /* The sender. */
  {
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((guint16) opt.tcp_port) };
    g_autoptr(ImpFrameReader) r = imp_frame_reader_new (MAX_FRAME);
    Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
    Implus__Auth auth = IMPLUS__AUTH__INIT;
    g_autoptr(ImpEnvelope) ok = NULL;
    g_autofree char *content = g_malloc (size + 1);
    int one = 1;

    memset (content, 'x', size);
    content[size] = '\0';
    inet_pton (AF_INET, "127.0.0.1", &sa.sin_addr);
    sfd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt (sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (sfd < 0 || connect (sfd, (struct sockaddr *) &sa, sizeof sa) < 0)
      {
        g_printerr ("sender: connect: %s\n", g_strerror (errno));
        rc = 1;
        goto out;
      }
    auth.token = users[0].token;
    auth.device_id = (char *) "bench-group-sender";
    env.body_case = IMPLUS__ENVELOPE__BODY_AUTH;
    env.auth = &auth;
    if (!send_frame (sfd, &env) || (ok = recv_body (sfd, r, IMPLUS__ENVELOPE__BODY_AUTH_OK, &error)) == NULL)
      {
        g_printerr ("sender auth: %s\n", error ? error->message : "send failed");
        rc = 1;
        goto out;
      }
    for (gint m = 0; m < messages; m++)
      {
        Implus__Envelope e = IMPLUS__ENVELOPE__INIT;
        Implus__ChatUp up = IMPLUS__CHAT_UP__INIT;
        g_autofree char *cmid = g_uuid_string_random ();
        g_autoptr(ImpEnvelope) rec = NULL;
        gint64 end;
        guint32 lat;

        up.client_msg_id = cmid;
        up.group_id = gid;
        up.content = content;
        up.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
        e.frame_id = (guint64) m + 2;
        e.body_case = IMPLUS__ENVELOPE__BODY_CHAT_UP;
        e.chat_up = &up;
        sh.send_us[m] = g_get_monotonic_time ();
        if (!send_frame (sfd, &e) || (rec = recv_body (sfd, r, IMPLUS__ENVELOPE__BODY_RECEIPT, &error)) == NULL)
          {
            g_printerr ("sender: %s\n", error ? error->message : "send failed");
            rc = 1;
            goto out;
          }
        lat = (guint32) (g_get_monotonic_time () - sh.send_us[m]);
        g_array_append_val (rcpt, lat);
        if (rec->receipt->error_code != 0 || rec->receipt->seq != last + 1 + m)
          {
            g_printerr ("receipt %d: error %d seq %" G_GINT64_FORMAT " (want %" G_GINT64_FORMAT ")\n", m,
                        rec->receipt->error_code, rec->receipt->seq, last + 1 + m);
            rc = 1;
            goto out;
          }
        end = g_get_monotonic_time () + (gint64) msg_timeout_s * G_USEC_PER_SEC;
        g_mutex_lock (&sh.lock);
        while (g_atomic_int_get (&sh.got[m]) + g_atomic_int_get (&sh.failed) < members)
          if (!g_cond_wait_until (&sh.cond, &sh.lock, end))
            break;
        g_mutex_unlock (&sh.lock);
        if (g_atomic_int_get (&sh.got[m]) < members)
          {
            incomplete++;
            g_printerr ("message %d: %d of %d members after %d s\n", m, g_atomic_int_get (&sh.got[m]), members,
                        msg_timeout_s);
            rc = 1;
            break;
          }
      }
    close (sfd);
  }

out:
  g_atomic_int_set (&sh.stop, 1);
  for (gint k = 0; k < threads; k++)
    if (ts[k].thread != NULL)
      g_thread_join (ts[k].thread);
  for (gint m = 0; m < messages; m++)
    {
      gint64 lastt = 0;
      guint32 v;

      if (sh.send_us[m] == 0 || g_atomic_int_get (&sh.got[m]) < members)
        continue;
      for (gint k = 0; k < threads; k++)
        lastt = MAX (lastt, ts[k].last_us[m]);
      v = (guint32) CLAMP (lastt - sh.send_us[m], 0, G_MAXUINT32);
      g_array_append_val (lastlat, v);
    }
  for (gint k = 0; k < threads; k++)
    g_array_append_vals (all, ts[k].lat_us->data, ts[k].lat_us->len);
  printf ("fan-out: %d members, %u of %d messages complete, %d duplicate pushes, %d notices, %d failed members\n",
          members, lastlat->len, messages, g_atomic_int_get (&sh.duplicates), g_atomic_int_get (&sh.notices),
          g_atomic_int_get (&sh.failed));
  print_lat ("send -> receipt", rcpt);
  print_lat ("send -> LAST member has it", lastlat);
  print_lat ("send -> each delivery", all);
  if (incomplete > 0 || g_atomic_int_get (&sh.failed) > 0)
    rc = 1;
  fflush (stdout);
  _exit (rc);  /* thousands of sockets and users: let the kernel reclaim them */
}

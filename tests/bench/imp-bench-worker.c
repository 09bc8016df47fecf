/* imp-bench-worker.c: one thread with its own GMainContext driving sender/receiver pairs over
 * raw TCP (non-blocking GSocket, 4-byte framing, protobuf Envelopes).
 *
 * Each ChatUp carries its send time twice: in the client_msg_id (a UUID whose last 48 bits are
 * the monotonic send time in µs, so the receipt can be timed without a lookup table) and at the
 * start of the content (so the receiver can time the push).
 */
#include "imp-bench.h"
#include "imp-frame.h"
#include "imp-wire.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#define MAX_FRAME        (1024 * 1024)
#define MAX_OUTBUF       (64 * 1024 * 1024)
#define READS_PER_WAKEUP 16
#define DRAIN_MS         3000
#define RATE_TICK_MS     5
#define OPEN_LOOP_CAP    100000 /* in-flight sends per pair in --rate mode before we hold back */

typedef struct _Pair Pair;

typedef struct {
  ImpBenchWorker *worker;
  Pair           *pair;
  const ImpBenchUser *user;
  gboolean        is_sender;
  GSocket        *socket;
  GSource        *in_source;
  GSource        *out_source;
  ImpFrameReader *reader;
  GByteArray     *out;
  gsize           out_pos;
  gboolean        connected;
  gboolean        authed;
  gboolean        dead;
  guint64         next_frame_id;
  gint64          max_seq;   /* highest push seq seen on this connection */
} Conn;

struct _Pair {
  guint   index;
  Conn    sender;
  Conn    receiver;
  guint32 counter;
  gint64  in_flight;   /* sent, not yet receipted */
};

struct _ImpBenchWorker {
  ImpBenchWorkerConfig config;
  guint         thread_index;
  guint32       run_id;
  GThread      *thread;
  GMainContext *context;
  GMainLoop    *loop;
  Pair         *pairs;
  guint         n_pairs;
  guint         n_authed;
  gboolean      ready_sent;
  /* Set on the worker thread by go(). */
  gboolean      sending;
  gboolean      stopping;
  gint64        start_us;
  gint64        measure_us;
  gint64        end_us;
  guint64       rate_sent;   /* sends since start in --rate mode */
  guint         rr;          /* round-robin cursor over pairs for --rate */
  char         *padding;
  guint         heartbeat_ms;
  GSource      *rate_source;
  GSource      *heartbeat_source;
  ImpBenchStats stats;
};

static void conn_flush (Conn *c);
static void conn_fail (Conn *c, const char *what, const GError *error);

/* ---- helpers running on the main context ---- */

typedef struct {
  ImpBenchWorker *w;
  GError *error;
} Notice;

static gboolean
notify_ready_cb (gpointer data)
{
  Notice *n = data;

  n->w->config.ready (n->w, n->error, n->w->config.data);
  g_clear_error (&n->error);
  g_free (n);
  return G_SOURCE_REMOVE;
}

static void
notify_ready (ImpBenchWorker *w, const GError *error)
{
  Notice *n;

  if (w->ready_sent)
    return;
  w->ready_sent = TRUE;
  n = g_new0 (Notice, 1);
  n->w = w;
  n->error = error != NULL ? g_error_copy (error) : NULL;
  g_main_context_invoke (w->config.main_context, notify_ready_cb, n);
}

/* ---- output ---- */

static guint8 *
conn_reserve (Conn *c, gsize len)
{
  gsize old = c->out->len;

  g_byte_array_set_size (c->out, old + len);
  return c->out->data + old;
}

static void
conn_queue (Conn *c, Implus__Envelope *env)
{
  gsize size;
  guint8 *p;

  if (c->dead)
    return;
  env->frame_id = ++c->next_frame_id;
  size = implus__envelope__get_packed_size (env);
  p = conn_reserve (c, IMP_FRAME_HEADER_SIZE + size);
  imp_frame_write_header (p, (guint32) size);
  implus__envelope__pack (env, p + IMP_FRAME_HEADER_SIZE);
  if (c->out->len - c->out_pos > MAX_OUTBUF)
    conn_fail (c, "output buffer overflow (server not reading)", NULL);
}

static gboolean
on_writable (GSocket *socket, GIOCondition cond, gpointer data)
{
  Conn *c = data;

  g_clear_pointer (&c->out_source, g_source_unref);
  conn_flush (c);
  return G_SOURCE_REMOVE;
}

static void
conn_flush (Conn *c)
{
  while (!c->dead && c->out_pos < c->out->len)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send (c->socket, (const char *) c->out->data + c->out_pos,
                                c->out->len - c->out_pos, NULL, &error);
      if (n < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            {
              if (c->out_source == NULL)
                {
                  c->out_source = g_socket_create_source (c->socket, G_IO_OUT, NULL);
                  g_source_set_callback (c->out_source, G_SOURCE_FUNC (on_writable), c, NULL);
                  g_source_attach (c->out_source, c->worker->context);
                }
              return;
            }
          conn_fail (c, "send", error);
          return;
        }
      c->out_pos += (gsize) n;
    }
  if (c->out_pos == c->out->len)
    {
      c->out_pos = 0;
      g_byte_array_set_size (c->out, 0);
    }
}

/* ---- sending chats ---- */

static gboolean
measuring (ImpBenchWorker *w, gint64 now)
{
  return now >= w->measure_us && now < w->end_us;
}

static void
pair_send (Pair *p)
{
  ImpBenchWorker *w = p->sender.worker;
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__ChatUp chat = IMPLUS__CHAT_UP__INIT;
  char msg_id[37];
  g_autofree char *content = NULL;
  gint64 now = g_get_monotonic_time ();
  guint32 n = ++p->counter;

  /* RFC 4122 layout: version nibble 4, variant nibble 8. */
  g_snprintf (msg_id, sizeof msg_id, "%08x-%04x-4%03x-8%03x-%012" G_GINT64_MODIFIER "x",
              w->run_id, p->index & 0xffff, (n >> 12) & 0xfff, n & 0xfff,
              (guint64) now & G_GUINT64_CONSTANT (0xffffffffffff));
  content = g_strdup_printf ("%" G_GINT64_FORMAT ":%s", now, w->padding);
  chat.client_msg_id = msg_id;
  chat.to_user_id = p->receiver.user->user_id;
  chat.content = content;
  chat.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  env.body_case = IMPLUS__ENVELOPE__BODY_CHAT_UP;
  env.chat_up = &chat;
  conn_queue (&p->sender, &env);
  p->in_flight++;
  if (measuring (w, now))
    w->stats.sent++;
}

static void
pair_fill_window (Pair *p)
{
  ImpBenchWorker *w = p->sender.worker;

  if (!w->sending || w->config.opt->rate > 0 || p->sender.dead || p->receiver.dead)
    return;
  while (p->in_flight < w->config.opt->window)
    pair_send (p);
}

static gboolean
on_rate_tick (gpointer data)
{
  ImpBenchWorker *w = data;
  gint64 now = g_get_monotonic_time ();
  /* This thread's share of the total rate. */
  double rate = (double) w->config.opt->rate * w->n_pairs / w->config.opt->pairs;
  guint64 due = (guint64) ((double) (now - w->start_us) * rate / G_USEC_PER_SEC);
  guint skipped = 0;

  while (w->rate_sent < due && skipped < w->n_pairs)
    {
      Pair *p = &w->pairs[w->rr++ % w->n_pairs];

      if (p->sender.dead || p->receiver.dead || p->in_flight >= OPEN_LOOP_CAP)
        {
          skipped++;
          continue;
        }
      skipped = 0;
      pair_send (p);
      w->rate_sent++;
    }
  for (guint i = 0; i < w->n_pairs; i++)
    conn_flush (&w->pairs[i].sender);
  return G_SOURCE_CONTINUE;
}

/* ---- receiving ---- */

static void
record (GArray *lat, gint64 us)
{
  guint32 v = (guint32) CLAMP (us, 0, G_MAXUINT32);

  g_array_append_val (lat, v);
}

static gboolean maybe_finish (ImpBenchWorker *w);

static void
handle_receipt (Conn *c, const Implus__SendReceipt *r)
{
  ImpBenchWorker *w = c->worker;
  gint64 now = g_get_monotonic_time ();
  const char *tail;
  guint64 sent_low;

  if (c->pair->in_flight > 0)
    c->pair->in_flight--;
  if (r->error_code != IMPLUS__ERROR_CODE__ERROR_CODE_NONE)
    {
      if (measuring (w, now))
        w->stats.receipt_errors++;
      if (w->stats.receipt_errors == 1)
        g_printerr ("implus-bench: send refused: code %d (%s)\n", r->error_code,
                    r->error_reason != NULL ? r->error_reason : "");
      return;
    }
  if (!measuring (w, now))
    return;
  w->stats.receipted++;
  tail = r->client_msg_id != NULL && strlen (r->client_msg_id) == 36 ? r->client_msg_id + 24 : NULL;
  if (tail != NULL && g_ascii_string_to_unsigned (tail, 16, 0, G_GUINT64_CONSTANT (0xffffffffffff),
                                                  &sent_low, NULL))
    {
      /* Rebuild the full timestamp from its low 48 bits. */
      gint64 sent = (gint64) (((guint64) now & ~G_GUINT64_CONSTANT (0xffffffffffff)) | sent_low);
      if (sent > now)
        sent -= G_GINT64_CONSTANT (1) << 48;
      record (w->stats.receipt_lat_us, now - sent);
    }
}

static gint64
handle_push (Conn *c, const Implus__Push *push)
{
  ImpBenchWorker *w = c->worker;
  const Implus__Message *m = push->message;
  gint64 now = g_get_monotonic_time ();
  gint64 sent;
  char *end = NULL;

  if (m == NULL)
    return 0;
  if (c->is_sender)
    return m->seq; /* another device's copy: just ACK it */
  if (m->seq <= c->max_seq)
    {
      if (measuring (w, now))
        w->stats.duplicate_pushes++;
      return m->seq;
    }
  c->max_seq = m->seq;
  if (measuring (w, now))
    {
      w->stats.pushed++;
      sent = m->content != NULL ? g_ascii_strtoll (m->content, &end, 10) : 0;
      if (end != NULL && *end == ':' && sent > 0 && sent <= now)
        record (w->stats.push_lat_us, now - sent);
    }
  return m->seq;
}

static void
handle_auth_ok (Conn *c, const Implus__AuthOk *ok)
{
  ImpBenchWorker *w = c->worker;

  if (c->authed)
    return;
  c->authed = TRUE;
  if (ok->heartbeat_interval_ms > 0)
    w->heartbeat_ms = w->heartbeat_ms == 0 ? ok->heartbeat_interval_ms
                                           : MIN (w->heartbeat_ms, ok->heartbeat_interval_ms);
  if (++w->n_authed == w->n_pairs * 2)
    notify_ready (w, NULL);
}

static void
conn_handle (Conn *c, ImpEnvelope *env, gint64 *max_seq)
{
  switch (env->body_case)
    {
    case IMPLUS__ENVELOPE__BODY_AUTH_OK:
      handle_auth_ok (c, env->auth_ok);
      break;
    case IMPLUS__ENVELOPE__BODY_RECEIPT:
      handle_receipt (c, env->receipt);
      break;
    case IMPLUS__ENVELOPE__BODY_PUSH:
      {
        /* Not inside MAX(): the macro evaluates its arguments twice. */
        gint64 seq = handle_push (c, env->push);
        *max_seq = MAX (*max_seq, seq);
      }
      break;
    case IMPLUS__ENVELOPE__BODY_HEARTBEAT:
      break;
    case IMPLUS__ENVELOPE__BODY_ERROR:
      {
        g_autoptr(GError) error = g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "server error %d: %s",
                                               env->error->code, env->error->reason);
        conn_fail (c, "protocol", error);
      }
      break;
    case IMPLUS__ENVELOPE__BODY_KICK:
      conn_fail (c, "kicked", NULL);
      break;
    default:
      break;
    }
}

static gboolean
on_readable (GSocket *socket, GIOCondition cond, gpointer data)
{
  Conn *c = data;
  gint64 max_seq = 0;

  for (int i = 0; i < READS_PER_WAKEUP && !c->dead; i++)
    {
      g_autoptr(GError) error = NULL;
      gsize room;
      guint8 *space = imp_frame_reader_space (c->reader, &room);
      gssize n = g_socket_receive (c->socket, (char *) space, room, NULL, &error);
      const guint8 *frame;
      gsize len;

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      if (n <= 0)
        {
          conn_fail (c, n == 0 ? "closed by server" : "receive", error);
          break;
        }
      imp_frame_reader_commit (c->reader, (gsize) n);
      while (!c->dead && imp_frame_reader_next (c->reader, &frame, &len, &error))
        {
          g_autoptr(ImpEnvelope) env = imp_wire_decode (frame, len, &error);
          if (env == NULL)
            break;
          conn_handle (c, env, &max_seq);
        }
      if (error != NULL)
        conn_fail (c, "bad frame", error);
      if ((gsize) n < room)
        break;
    }

  if (max_seq > 0 && !c->dead)
    {
      Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
      Implus__Ack ack = IMPLUS__ACK__INIT;

      /* One cumulative ACK per wakeup. */
      ack.up_to_seq = max_seq;
      env.body_case = IMPLUS__ENVELOPE__BODY_ACK;
      env.ack = &ack;
      conn_queue (c, &env);
    }
  if (c->is_sender)
    pair_fill_window (c->pair);
  conn_flush (c);
  maybe_finish (c->worker);
  return c->dead ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

/* ---- connection set-up and teardown ---- */

static void
conn_close (Conn *c)
{
  if (c->in_source != NULL)
    {
      g_source_destroy (c->in_source);
      g_clear_pointer (&c->in_source, g_source_unref);
    }
  if (c->out_source != NULL)
    {
      g_source_destroy (c->out_source);
      g_clear_pointer (&c->out_source, g_source_unref);
    }
  if (c->socket != NULL)
    g_socket_close (c->socket, NULL);
  g_clear_object (&c->socket);
  g_clear_pointer (&c->reader, imp_frame_reader_free);
  g_clear_pointer (&c->out, g_byte_array_unref);
}

static void
conn_fail (Conn *c, const char *what, const GError *error)
{
  ImpBenchWorker *w = c->worker;

  if (c->dead)
    return;
  c->dead = TRUE;
  w->stats.conn_errors++;
  if (!w->stopping)
    g_printerr ("implus-bench: %s (user %s): %s%s%s\n", c->is_sender ? "sender" : "receiver",
                c->user->username, what, error != NULL ? ": " : "", error != NULL ? error->message : "");
  if (!c->authed)
    {
      g_autoptr(GError) e = g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "connection for %s failed: %s",
                                         c->user->username, what);
      notify_ready (w, e);
    }
  /* Sources are removed by their callbacks returning or by conn_close at the end. */
}

static gboolean
on_connected (GSocket *socket, GIOCondition cond, gpointer data)
{
  Conn *c = data;
  g_autoptr(GError) error = NULL;
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Auth auth = IMPLUS__AUTH__INIT;
  char device[32];

  g_clear_pointer (&c->in_source, g_source_unref);
  if (!g_socket_check_connect_result (socket, &error))
    {
      conn_fail (c, "connect", error);
      return G_SOURCE_REMOVE;
    }
  c->connected = TRUE;
  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  g_snprintf (device, sizeof device, "bench-%08x", c->worker->run_id);
  auth.token = c->user->token;
  auth.device_id = device;
  env.body_case = IMPLUS__ENVELOPE__BODY_AUTH;
  env.auth = &auth;
  conn_queue (c, &env);

  c->in_source = g_socket_create_source (socket, G_IO_IN, NULL);
  g_source_set_callback (c->in_source, G_SOURCE_FUNC (on_readable), c, NULL);
  g_source_attach (c->in_source, c->worker->context);
  conn_flush (c);
  return G_SOURCE_REMOVE;
}

static void
conn_start (Conn *c)
{
  g_autoptr(GError) error = NULL;

  c->reader = imp_frame_reader_new (MAX_FRAME);
  c->out = g_byte_array_new ();
  c->socket = g_socket_new (g_socket_address_get_family (c->worker->config.tcp_addr),
                            G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  if (c->socket == NULL)
    {
      conn_fail (c, "socket", error);
      return;
    }
  g_socket_set_blocking (c->socket, FALSE);
  if (!g_socket_connect (c->socket, c->worker->config.tcp_addr, NULL, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PENDING))
    {
      conn_fail (c, "connect", error);
      return;
    }
  c->in_source = g_socket_create_source (c->socket, G_IO_OUT, NULL);
  g_source_set_callback (c->in_source, G_SOURCE_FUNC (on_connected), c, NULL);
  g_source_attach (c->in_source, c->worker->context);
}

/* ---- heartbeats, start, stop ---- */

static gboolean
on_heartbeat (gpointer data)
{
  ImpBenchWorker *w = data;
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Heartbeat hb = IMPLUS__HEARTBEAT__INIT;

  hb.client_time_ms = g_get_real_time () / 1000;
  env.body_case = IMPLUS__ENVELOPE__BODY_HEARTBEAT;
  env.heartbeat = &hb;
  for (guint i = 0; i < w->n_pairs; i++)
    {
      Conn *conns[2] = { &w->pairs[i].sender, &w->pairs[i].receiver };
      for (int k = 0; k < 2; k++)
        {
          conn_queue (conns[k], &env);
          conn_flush (conns[k]);
        }
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
finish_cb (gpointer data)
{
  ImpBenchWorker *w = data;

  g_main_loop_quit (w->loop);
  return G_SOURCE_REMOVE;
}

/* After the end: quit once every pair is drained (or the drain deadline passes). */
static gboolean
maybe_finish (ImpBenchWorker *w)
{
  if (!w->stopping)
    return FALSE;
  for (guint i = 0; i < w->n_pairs; i++)
    if (w->pairs[i].in_flight > 0 && !w->pairs[i].sender.dead)
      return FALSE;
  g_main_loop_quit (w->loop);
  return TRUE;
}

static gboolean
on_end (gpointer data)
{
  ImpBenchWorker *w = data;
  GSource *drain;

  w->sending = FALSE;
  w->stopping = TRUE;
  if (w->rate_source != NULL)
    {
      g_source_destroy (w->rate_source);
      g_clear_pointer (&w->rate_source, g_source_unref);
    }
  if (!maybe_finish (w))
    {
      drain = g_timeout_source_new (DRAIN_MS);
      g_source_set_callback (drain, finish_cb, w, NULL);
      g_source_attach (drain, w->context);
      g_source_unref (drain);
    }
  return G_SOURCE_REMOVE;
}

typedef struct {
  ImpBenchWorker *w;
  gint64 measure_us;
  gint64 end_us;
} Go;

static gboolean
go_cb (gpointer data)
{
  Go *go = data;
  ImpBenchWorker *w = go->w;
  gint64 now = g_get_monotonic_time ();
  GSource *end;

  w->start_us = now;
  w->measure_us = go->measure_us;
  w->end_us = go->end_us;
  w->sending = TRUE;
  g_free (go);

  end = g_timeout_source_new ((guint) MAX (0, (w->end_us - now) / 1000));
  g_source_set_callback (end, on_end, w, NULL);
  g_source_attach (end, w->context);
  g_source_unref (end);

  if (w->heartbeat_ms > 0)
    {
      w->heartbeat_source = g_timeout_source_new (MAX (w->heartbeat_ms / 2, 100u));
      g_source_set_callback (w->heartbeat_source, on_heartbeat, w, NULL);
      g_source_attach (w->heartbeat_source, w->context);
    }

  if (w->config.opt->rate > 0)
    {
      w->rate_source = g_timeout_source_new (RATE_TICK_MS);
      g_source_set_callback (w->rate_source, on_rate_tick, w, NULL);
      g_source_attach (w->rate_source, w->context);
    }
  else
    {
      for (guint i = 0; i < w->n_pairs; i++)
        {
          pair_fill_window (&w->pairs[i]);
          conn_flush (&w->pairs[i].sender);
        }
    }
  return G_SOURCE_REMOVE;
}

void
imp_bench_worker_go (ImpBenchWorker *w, gint64 measure_us, gint64 end_us)
{
  Go *go = g_new0 (Go, 1);

  go->w = w;
  go->measure_us = measure_us;
  go->end_us = end_us;
  g_main_context_invoke (w->context, go_cb, go);
}

void
imp_bench_worker_stop (ImpBenchWorker *w)
{
  g_main_context_invoke (w->context, finish_cb, w);
}

static gboolean
start_cb (gpointer data)
{
  ImpBenchWorker *w = data;

  for (guint i = 0; i < w->n_pairs; i++)
    {
      conn_start (&w->pairs[i].sender);
      conn_start (&w->pairs[i].receiver);
    }
  return G_SOURCE_REMOVE;
}

static gpointer
worker_thread (gpointer data)
{
  ImpBenchWorker *w = data;

  g_main_context_push_thread_default (w->context);
  g_main_context_invoke (w->context, start_cb, w);
  g_main_loop_run (w->loop);

  if (w->heartbeat_source != NULL)
    {
      g_source_destroy (w->heartbeat_source);
      g_clear_pointer (&w->heartbeat_source, g_source_unref);
    }
  if (w->rate_source != NULL)
    {
      g_source_destroy (w->rate_source);
      g_clear_pointer (&w->rate_source, g_source_unref);
    }
  w->stopping = TRUE;
  for (guint i = 0; i < w->n_pairs; i++)
    {
      conn_close (&w->pairs[i].sender);
      conn_close (&w->pairs[i].receiver);
    }
  g_main_context_pop_thread_default (w->context);
  w->config.done (w, w->config.data);
  return NULL;
}

ImpBenchWorker *
imp_bench_worker_start (const ImpBenchWorkerConfig *config, guint thread_index,
                        const ImpBenchUser *users, const guint *pair_ids, guint n_pairs,
                        guint32 run_id)
{
  ImpBenchWorker *w = g_new0 (ImpBenchWorker, 1);
  g_autofree char *name = g_strdup_printf ("bench-%u", thread_index);
  gint pad = MAX (0, config->opt->size - 24);

  w->config = *config;
  w->thread_index = thread_index;
  w->run_id = run_id;
  w->context = g_main_context_new ();
  w->loop = g_main_loop_new (w->context, FALSE);
  w->n_pairs = n_pairs;
  w->pairs = g_new0 (Pair, n_pairs);
  w->padding = g_strnfill ((gsize) pad, 'x');
  w->stats.receipt_lat_us = g_array_new (FALSE, FALSE, sizeof (guint32));
  w->stats.push_lat_us = g_array_new (FALSE, FALSE, sizeof (guint32));
  for (guint i = 0; i < n_pairs; i++)
    {
      Pair *p = &w->pairs[i];
      p->index = pair_ids[i];
      p->sender = (Conn) { .worker = w, .pair = p, .user = &users[2 * pair_ids[i]], .is_sender = TRUE };
      p->receiver = (Conn) { .worker = w, .pair = p, .user = &users[2 * pair_ids[i] + 1] };
    }
  if (n_pairs == 0)
    notify_ready (w, NULL);
  w->thread = g_thread_new (name, worker_thread, w);
  return w;
}

const ImpBenchStats *
imp_bench_worker_join (ImpBenchWorker *w)
{
  if (w->thread != NULL)
    g_thread_join (g_steal_pointer (&w->thread));
  return &w->stats;
}

void
imp_bench_worker_free (ImpBenchWorker *w)
{
  if (w == NULL)
    return;
  imp_bench_worker_join (w);
  g_array_unref (w->stats.receipt_lat_us);
  g_array_unref (w->stats.push_lat_us);
  g_free (w->pairs);
  g_free (w->padding);
  g_main_loop_unref (w->loop);
  g_main_context_unref (w->context);
  g_free (w);
}

/* test-gateway-tcp.c: the TCP transport's event loop (one epoll GSource per gateway): more ready
 * connections than one dispatch handles, a burst larger than one dispatch reads (the backlog),
 * output the kernel refuses (EPOLLOUT), slow readers, and peers that leave. */
#include "gateway-fixture.h"

#include <sys/socket.h>

#define N_CLIENTS 300    /* more than the transport's EPOLL_BATCH (256) */
#define N_BURST   10000  /* heartbeats in one write: ~120 KiB, more than READS_PER_DISPATCH reads */

static gboolean
all_have_frame (Client **clients, guint n)
{
  for (guint i = 0; i < n; i++)
    if (clients[i]->frames.length == 0)
      return FALSE;
  return TRUE;
}

/* Every connection is answered when more are ready at once than one dispatch takes, and every
 * one that leaves is removed. */
static void
test_many_ready (Fixture *fx, gconstpointer data)
{
  Client *clients[N_CLIENTS];

  for (guint i = 0; i < N_CLIENTS; i++)
    clients[i] = client_login (fx, 100 + i, "d");
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, N_CLIENTS);

  /* All written before the gateway runs again: N_CLIENTS connections ready together. */
  for (guint i = 0; i < N_CLIENTS; i++)
    client_send_heartbeat (clients[i], 1000 + i);
  g_assert_true (WAIT_UNTIL (all_have_frame (clients, N_CLIENTS), DEADLINE));
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      g_autoptr(ImpEnvelope) hb = client_expect (clients[i], IMPLUS__ENVELOPE__BODY_HEARTBEAT);

      g_assert_cmpint (hb->heartbeat->client_time_ms, ==, 1000 + i);
    }

  /* All leave at once: every one is detached (epoll removal before close, no stale event). */
  for (guint i = 0; i < N_CLIENTS; i++)
    client_free (clients[i]);
  g_assert_true (WAIT_UNTIL (imp_gateway_get_n_connections (fx->gw) == 0, DEADLINE));

  /* And the transport still accepts and serves. */
  clients[0] = client_login (fx, 7, "d");
  client_free (clients[0]);
}

/* One write of N_BURST frames: the connection is read a slice per dispatch (edge-triggered: the
 * rest waits on the backlog, no new event comes for it), and the answers, more than the kernel
 * takes at once, are queued and flushed on EPOLLOUT, all in order. */
static void
test_burst (Fixture *fx, gconstpointer data)
{
  Client *c = client_new (fx);
  g_autoptr(GByteArray) burst = g_byte_array_new ();
  Client *other = client_login (fx, 8, "d");
  g_autoptr(ImpEnvelope) hb = NULL;

  for (gint64 i = 0; i < N_BURST; i++)
    {
      Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
      Implus__Heartbeat h = IMPLUS__HEARTBEAT__INIT;
      g_autoptr(GBytes) bytes = NULL;

      h.client_time_ms = i + 1;
      env.body_case = IMPLUS__ENVELOPE__BODY_HEARTBEAT;
      env.heartbeat = &h;
      bytes = imp_wire_encode (&env, TRUE);
      g_byte_array_append (burst, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
    }
  g_assert_cmpuint (burst->len, >, 16 * 4096);
  client_send_raw (c, burst->data, burst->len);

  /* Another connection is served meanwhile. */
  client_send_heartbeat (other, 42);
  hb = client_expect (other, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
  g_assert_cmpint (hb->heartbeat->client_time_ms, ==, 42);

  g_assert_true (WAIT_UNTIL (c->frames.length >= N_BURST || c->eof, 4 * DEADLINE));
  g_assert_false (c->eof);
  g_assert_false (c->bad);
  g_assert_cmpuint (c->frames.length, ==, N_BURST);
  for (gint64 i = 0; i < N_BURST; i++)
    {
      g_autoptr(ImpEnvelope) e = g_queue_pop_head (&c->frames);

      g_assert_cmpint (e->body_case, ==, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
      g_assert_cmpint (e->heartbeat->client_time_ms, ==, i + 1);
    }
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 2);
  client_free (c);
  client_free (other);
}

static void
slow_setup (Fixture *fx, gconstpointer data)
{
  fixture_setup (fx, data);
  fx->config.max_outbuf = 64 * 1024;
  fx->config.max_unacked = 0;  /* only the output bound applies */
}

static void
publish_big_push (Fixture *fx, gint64 user_id, gint64 seq, const char *content)
{
  Implus__Bus__GatewayRecord rec = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  Implus__Bus__GatewayPush push = IMPLUS__BUS__GATEWAY_PUSH__INIT;
  Implus__Message msg = IMPLUS__MESSAGE__INIT;

  msg.msg_id = 1000 + seq;
  msg.seq = seq;
  msg.sender_id = 99;
  msg.to_user_id = user_id;
  msg.conversation_id = (char *) "private_7_99";
  msg.content = (char *) content;
  msg.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  push.user_id = user_id;
  push.message = &msg;
  rec.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_PUSH;
  rec.push = &push;
  publish_record (fx, &rec);
}

/* A reader that stops reading is closed once the output the kernel refused passes max_outbuf;
 * a reading one next to it gets everything. */
static void
test_slow_reader (Fixture *fx, gconstpointer data)
{
  Client *slow = client_login (fx, 7, "d");
  Client *fast = client_login (fx, 8, "d");
  g_autofree char *content = g_strnfill (3000, 'x');
  const int small = 4096;
  const guint n = 4000;  /* 12 MB: more than any loopback buffering plus max_outbuf */

  /* Stop reading: no source, a small receive buffer. */
  g_source_destroy (slow->src);
  g_assert_true (setsockopt (g_socket_get_fd (slow->sock), SOL_SOCKET, SO_RCVBUF, &small,
                             sizeof small) == 0);
  for (guint i = 1; i <= n; i++)
    {
      publish_big_push (fx, 7, i, content);
      if (i <= 100)
        publish_big_push (fx, 8, i, content);
    }
  g_assert_true (WAIT_UNTIL (imp_gateway_get_n_connections (fx->gw) == 1, 4 * DEADLINE));
  g_assert_true (WAIT_UNTIL (fast->frames.length >= 100, DEADLINE));
  for (gint64 i = 1; i <= 100; i++)
    {
      g_autoptr(ImpEnvelope) e = g_queue_pop_head (&fast->frames);

      g_assert_cmpint (e->body_case, ==, IMPLUS__ENVELOPE__BODY_PUSH);
      g_assert_cmpint (e->push->message->seq, ==, i);
    }
  client_free (slow);
  client_free (fast);
}

/* A peer that closes with bytes still unread by it, and one that half-closes: both detached. */
static void
test_peer_gone (Fixture *fx, gconstpointer data)
{
  Client *a = client_login (fx, 7, "a");
  Client *b = client_login (fx, 8, "b");

  publish_push (fx, 7, 1);
  g_socket_shutdown (b->sock, FALSE, TRUE, NULL);
  client_free (a);
  g_assert_true (WAIT_UNTIL (imp_gateway_get_n_connections (fx->gw) == 0, DEADLINE));
  client_free (b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, setup, func) \
  g_test_add (path, Fixture, NULL, setup, func, fixture_teardown)
  ADD ("/gateway-tcp/many-ready", fixture_setup, test_many_ready);
  ADD ("/gateway-tcp/burst", fixture_setup, test_burst);
  ADD ("/gateway-tcp/slow-reader", slow_setup, test_slow_reader);
  ADD ("/gateway-tcp/peer-gone", fixture_setup, test_peer_gone);
#undef ADD
  return g_test_run ();
}

/* test-imp-client-sync.c: ImpClient against an in-process fake gateway (a GSocketService speaking
 * the TCP framing) and a tiny SoupServer for login and /messages/sync. Proves: pull on connect in
 * pages, gap pull on a push past the watermark, duplicate push re-ACKed, cumulative acks, outbox
 * resend with the same client_msg_id after a reconnect and after a restart, kick without
 * reconnect. */
#include "client-fake.h"
#include "imp-client-private.h"

static gint64 wm (Fixture *f) { return imp_client_get_watermark (f->client); }
static gboolean acked_3 (Fixture *f) { return wm (f) == 3 && f->last_ack == 3; }
static gboolean acked_8 (Fixture *f) { return wm (f) == 8 && f->last_ack == 8; }
static guint saved_acks;
static gboolean reacked (Fixture *f) { return f->n_acks > saved_acks; }

static void
test_pull_and_gap (Fixture *f, gconstpointer data)
{
  for (int i = 0; i < 3; i++)
    stream_add (f, 2, 1, "offline", NULL);
  login_and_connect (f);
  /* Pull on connect, in pages of PAGE_MAX, then one cumulative ack. */
  g_assert_true (wait_until (acked_3, f));
  g_assert_cmpuint (f->n_sync_calls, >=, 2);
  assert_received_in_order (f, 1, 3);

  /* 4..8 are stored; only 8 is pushed: the client buffers it and pulls the gap. */
  for (int i = 0; i < 5; i++)
    stream_add (f, 2, 1, "live", NULL);
  gw_push (f, 8);
  g_assert_true (wait_until (acked_8, f));
  assert_received_in_order (f, 1, 8);

  /* A duplicate push is only re-acked. */
  saved_acks = f->n_acks;
  gw_push (f, 5);
  g_assert_true (wait_until (reacked, f));
  g_assert_cmpint (f->last_ack, ==, 8);
  assert_received_in_order (f, 1, 8);
  g_autoptr(GPtrArray) all = imp_mirror_list_messages (imp_client_get_mirror (f->client), NULL, 0);
  g_assert_cmpuint (all->len, ==, 8);
}

static gboolean one_chat_up (Fixture *f) { return f->chat_ups->len >= 1; }
static gboolean two_chat_ups (Fixture *f) { return f->chat_ups->len >= 2 && f->sent->len == 1; }
static gboolean outbox_empty (Fixture *f) { return f->sent->len == 1 && imp_client_get_outbox_pending (f->client) == 0 && wm (f) == 1; }

static void
test_resend_after_reconnect (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cmid = NULL;

  login_and_connect (f);
  f->answer_chat = FALSE;
  cmid = imp_client_send (f->client, 2, "hello bob", &error);
  g_assert_no_error (error);
  g_assert_cmpint (imp_client_get_outbox_pending (f->client), ==, 1);
  g_assert_true (wait_until (one_chat_up, f));
  g_assert_cmpstr (f->chat_ups->pdata[0], ==, cmid);

  /* The connection drops before any receipt: reconnect, resend the same client_msg_id. */
  f->answer_chat = TRUE;
  gw_close (f);
  g_assert_true (wait_until (two_chat_ups, f));
  g_assert_cmpuint (f->n_reconnecting, >=, 1);
  g_assert_cmpuint (f->n_auths, ==, 2);
  g_assert_cmpstr (f->chat_ups->pdata[1], ==, cmid);
  g_assert_true (wait_until (outbox_empty, f));
  g_assert_cmpstr (f->sent->pdata[0], ==, cmid);
  /* Our own copy is in the stream at the receipt's seq, with state sent; no message-received. */
  g_autoptr(ImpMessage) own = imp_mirror_get_message (imp_client_get_mirror (f->client), 1);
  g_assert_nonnull (own);
  g_assert_cmpstr (own->client_msg_id, ==, cmid);
  g_assert_cmpint (own->state, ==, IMP_MESSAGE_SENT);
  g_assert_cmpuint (f->received->len, ==, 0);
}

static void
test_outbox_survives_restart (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cmid = NULL;

  login_and_connect (f);
  f->answer_chat = FALSE;
  cmid = imp_client_send (f->client, 2, "before restart", &error);
  g_assert_no_error (error);
  g_assert_true (wait_until (one_chat_up, f));

  /* Quit without a receipt; a new client on the same data dir is still logged in and resends. */
  imp_client_shutdown (f->client);
  g_clear_object (&f->client);
  gw_close (f);
  f->answer_chat = TRUE;
  new_client (f);
  g_assert_true (imp_client_restore (f->client));
  g_assert_cmpint (imp_client_get_outbox_pending (f->client), ==, 1);
  g_assert_true (wait_until (outbox_empty, f));
  g_assert_cmpstr (f->chat_ups->pdata[f->chat_ups->len - 1], ==, cmid);
  g_assert_cmpstr (f->sent->pdata[0], ==, cmid);
}

static gboolean kicked (Fixture *f) { return f->n_kicked == 1; }

static void
test_kick_no_reconnect (Fixture *f, gconstpointer data)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Kick kick = IMPLUS__KICK__INIT;
  guint before;

  login_and_connect (f);
  before = f->n_reconnecting;
  kick.reason = IMPLUS__KICK_REASON__KICK_REASON_REPLACED;
  kick.message = "another login";
  env.body_case = IMPLUS__ENVELOPE__BODY_KICK;
  env.kick = &kick;
  gw_send (f, &env);
  g_assert_true (wait_until (kicked, f));
  g_assert_cmpint (imp_client_get_state (f->client), ==, IMP_CLIENT_OFFLINE);
  g_assert_cmpuint (f->n_reconnecting, ==, before);
  g_assert_cmpuint (f->n_auths, ==, 1);
}

static gboolean outbox_drained (Fixture *f) { return imp_client_get_outbox_pending (f->client) == 0 && wm (f) == 2; }
static gboolean wm_is_2 (Fixture *f) { return wm (f) == 2 && f->last_ack == 2; }
static guint saved_sync_calls;
static gboolean pulled_again (Fixture *f) { return f->n_sync_calls >= saved_sync_calls + 2; }

/* Messages the server stored but never pushed (its presence cache was lost, say) arrive anyway:
 * the engine pulls from its watermark now and then while online, with no gap or reconnect to
 * prompt it; and a pull that finds nothing new changes nothing. */
static void
test_periodic_pull (Fixture *f, gconstpointer data)
{
  f->client->periodic_pull_ms = 200;
  login_and_connect (f);
  stream_add (f, 2, 1, "never pushed", NULL);
  stream_add (f, 2, 1, "never pushed either", NULL);
  g_assert_true (wait_until (wm_is_2, f));
  assert_received_in_order (f, 1, 2);
  g_assert_cmpuint (f->n_auths, ==, 1);

  saved_sync_calls = f->n_sync_calls;
  g_assert_true (wait_until (pulled_again, f));
  assert_received_in_order (f, 1, 2);
  g_assert_cmpint (wm (f), ==, 2);
}

static guint saved_auths;
static gboolean authed_again (Fixture *f) { return f->n_auths > saved_auths && is_online (f); }

/* The gateway dies for good: after a few failed reconnects the engine asks the user service for
 * another gateway (GET /users/gateway with its token, naming the dead one) and goes online there;
 * the outbox and the pull carry on. */
static void
test_gateway_failover (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dead = NULL;
  g_autofree char *cmid = NULL;

  login_and_connect (f);
  dead = g_strdup_printf ("127.0.0.1:%u", f->tcp_port);
  saved_auths = f->n_auths;
  gw_move (f);
  stream_add (f, 2, 1, "while failing over", NULL);
  cmid = imp_client_send (f->client, 2, "sent during the failover", &error);
  g_assert_no_error (error);
  g_assert_true (wait_until (authed_again, f));
  g_assert_cmpuint (f->n_gateway_calls, >=, 1);
  g_assert_cmpstr (f->gateway_exclude, ==, dead);
  g_assert_true (wait_until (outbox_drained, f));
  g_assert_cmpstr (f->chat_ups->pdata[f->chat_ups->len - 1], ==, cmid);
  g_assert_cmpint (wm (f), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/client/sync/pull-and-gap", test_pull_and_gap);
  ADD ("/client/sync/resend-after-reconnect", test_resend_after_reconnect);
  ADD ("/client/sync/outbox-survives-restart", test_outbox_survives_restart);
  ADD ("/client/sync/kick-no-reconnect", test_kick_no_reconnect);
  ADD ("/client/sync/periodic-pull", test_periodic_pull);
  ADD ("/client/sync/gateway-failover", test_gateway_failover);
  return g_test_run ();
}

/* test-gateway.c: the gateway over TCP: auth, framing, heartbeats, idle timeout, chat to the
 * bus, pushes with retransmission and ACKs, kicks, limits. Fixture: gateway-fixture.h. */
#include "gateway-fixture.h"

/* ---- tests ---- */

static void
test_auth_ok (Fixture *fx, gconstpointer data)
{
  g_autofree char *token = issue (fx, 7, NULL);
  Client *c = client_new (fx);
  g_autoptr(ImpEnvelope) env = NULL;

  client_send_auth (c, token, "phone");
  env = client_expect (c, IMPLUS__ENVELOPE__BODY_AUTH_OK);
  g_assert_cmpint (env->auth_ok->user_id, ==, 7);
  g_assert_cmpstr (env->auth_ok->device_id, ==, "phone");
  g_assert_cmpint (env->auth_ok->server_time_ms, >, 0);
  g_assert_cmpuint (env->auth_ok->heartbeat_interval_ms, ==, 30000);
  g_assert_cmpuint (env->auth_ok->idle_timeout_ms, ==, 30000);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 1);
  g_assert_true (presence_has (fx, 7));

  /* The peer leaves: the connection and its presence go. */
  client_free (c);
  g_assert_true (WAIT_UNTIL (imp_gateway_get_n_connections (fx->gw) == 0, DEADLINE));
  g_assert_false (presence_has (fx, 7));
}

static void
test_default_device (Fixture *fx, gconstpointer data)
{
  g_autofree char *token = issue (fx, 7, NULL);
  Client *c = client_new (fx);
  g_autoptr(ImpEnvelope) env = NULL;

  client_send_auth (c, token, NULL);
  env = client_expect (c, IMPLUS__ENVELOPE__BODY_AUTH_OK);
  g_assert_cmpstr (env->auth_ok->device_id, ==, "default");
  client_free (c);
}

static void
test_frame_before_auth (Fixture *fx, gconstpointer data)
{
  Client *c = client_new (fx);

  client_send_ack (c, 3);
  client_expect_error (c, IMP_ERROR_NOT_AUTHENTICATED);
  client_expect_eof (c);
  client_free (c);
}

static void
test_bad_token (Fixture *fx, gconstpointer data)
{
  g_autofree char *token = issue (fx, 7, NULL);
  Client *c = client_new (fx);

  /* A tampered signature. */
  token[strlen (token) - 2] = token[strlen (token) - 2] == 'A' ? 'B' : 'A';
  client_send_auth (c, token, "d");
  client_expect_error (c, IMP_ERROR_AUTH_FAILED);
  client_expect_eof (c);
  g_assert_false (presence_has (fx, 7));
  client_free (c);

  c = client_new (fx);
  client_send_auth (c, "", "d");
  client_expect_error (c, IMP_ERROR_AUTH_FAILED);
  client_expect_eof (c);
  client_free (c);
}

static void
test_revoked_token (Fixture *fx, gconstpointer data)
{
  ImpTokenClaims claims;
  g_autofree char *token = issue (fx, 7, &claims);
  Client *c = client_new (fx);

  imp_cache_token_revoke (fx->cache, claims.token_id, claims.expires_at);
  client_send_auth (c, token, "d");
  client_expect_error (c, IMP_ERROR_TOKEN_REVOKED);
  client_expect_eof (c);
  client_free (c);
}

static void
test_frame_too_large (Fixture *fx, gconstpointer data)
{
  Client *c = client_new (fx);
  guint8 header[IMP_FRAME_HEADER_SIZE];
  guint8 some[64] = { 0 };

  imp_frame_write_header (header, MAX_FRAME + 1);
  client_send_raw (c, header, sizeof header);
  client_send_raw (c, some, sizeof some);
  client_expect_error (c, IMP_ERROR_FRAME_TOO_LARGE);
  client_expect_eof (c);
  client_free (c);

  /* Exactly max is a frame (here not an Envelope, so BAD_FRAME, not FRAME_TOO_LARGE). */
  c = client_new (fx);
  {
    g_autofree guint8 *big = g_malloc0 (IMP_FRAME_HEADER_SIZE + MAX_FRAME);

    imp_frame_write_header (big, MAX_FRAME);
    memset (big + IMP_FRAME_HEADER_SIZE, 0xff, MAX_FRAME);
    client_send_raw (c, big, IMP_FRAME_HEADER_SIZE + MAX_FRAME);
  }
  client_expect_error (c, IMP_ERROR_BAD_FRAME);
  client_expect_eof (c);
  client_free (c);
}

static void
test_garbage (Fixture *fx, gconstpointer data)
{
  Client *c = client_new (fx);
  const guint8 garbage[] = { 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff };

  client_send_raw (c, garbage, sizeof garbage);
  client_expect_error (c, IMP_ERROR_BAD_FRAME);
  client_expect_eof (c);
  client_free (c);

  /* A zero length prefix is no frame either. */
  c = client_new (fx);
  client_send_raw (c, garbage, 4 - 1);
  client_send_raw (c, (const guint8 *) "\0", 1);
  client_expect_error (c, IMP_ERROR_BAD_FRAME);
  client_expect_eof (c);
  client_free (c);
}

static void
test_heartbeat (Fixture *fx, gconstpointer data)
{
  Client *c = client_new (fx);
  g_autoptr(ImpEnvelope) a = NULL;
  g_autoptr(ImpEnvelope) b = NULL;

  /* Allowed before Auth. */
  client_send_heartbeat (c, 1234);
  a = client_expect (c, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
  g_assert_cmpint (a->heartbeat->client_time_ms, ==, 1234);
  g_assert_cmpint (a->heartbeat->server_time_ms, >, 0);
  client_free (c);

  c = client_login (fx, 8, "d");
  client_send_heartbeat (c, 5678);
  b = client_expect (c, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
  g_assert_cmpint (b->heartbeat->client_time_ms, ==, 5678);
  g_assert_true (presence_has (fx, 8));
  client_free (c);
}

static void
test_server_only_frame (Fixture *fx, gconstpointer data)
{
  Client *c = client_login (fx, 7, "d");
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Kick kick = IMPLUS__KICK__INIT;
  g_autoptr(ImpEnvelope) hb = NULL;

  env.frame_id = 42;
  env.body_case = IMPLUS__ENVELOPE__BODY_KICK;
  env.kick = &kick;
  client_send (c, &env);
  {
    g_autoptr(ImpEnvelope) err = client_expect (c, IMPLUS__ENVELOPE__BODY_ERROR);

    g_assert_cmpint (err->error->code, ==, IMP_ERROR_BAD_FRAME);
    g_assert_cmpuint (err->error->ref_frame_id, ==, 42);
  }
  /* The connection stays. */
  client_send_heartbeat (c, 1);
  hb = client_expect (c, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
  g_assert_false (c->eof);
  client_free (c);
}

static void
idle_setup (Fixture *fx, gconstpointer data)
{
  fixture_setup_full (fx, 200, 2000);
}

static void
test_idle_timeout (Fixture *fx, gconstpointer data)
{
  gint64 start = g_get_monotonic_time ();
  Client *c = client_login (fx, 7, "d");

  g_assert_true (presence_has (fx, 7));
  client_expect_eof (c);
  /* Silent since its Auth frame, sent after start: closed no earlier than idle_timeout_ms. */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 200 * 1000);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 0);
  g_assert_false (presence_has (fx, 7));
  client_free (c);
}

static void
test_chat_to_bus (Fixture *fx, gconstpointer data)
{
  Client *c = client_login (fx, 7, "laptop");
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__ChatUp chat = IMPLUS__CHAT_UP__INIT;
  g_autofree char *uuid = imp_uuid_new ();
  Implus__Bus__Chat *rec;

  chat.client_msg_id = uuid;
  chat.to_user_id = 10;
  chat.content = (char *) "hi";
  chat.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  env.body_case = IMPLUS__ENVELOPE__BODY_CHAT_UP;
  env.chat_up = &chat;
  client_send (c, &env);

  g_assert_true (WAIT_UNTIL (fx->chats->len == 1, DEADLINE));
  rec = g_ptr_array_index (fx->chats, 0);
  g_assert_cmpstr (g_ptr_array_index (fx->chat_keys, 0), ==, "private_7_10");
  g_assert_cmpint (rec->user_id, ==, 7);
  g_assert_cmpstr (rec->device_id, ==, "laptop");
  g_assert_cmpstr (rec->gateway_id, ==, GW_ID);
  g_assert_cmpuint (rec->conn_id, >, 0);
  g_assert_nonnull (rec->chat);
  g_assert_cmpstr (rec->chat->client_msg_id, ==, uuid);
  g_assert_cmpstr (rec->chat->content, ==, "hi");

  /* Claiming another sender: refused at the gateway, nothing on the bus. */
  chat.sender_id = 8;
  client_send (c, &env);
  {
    g_autoptr(ImpEnvelope) r = client_expect (c, IMPLUS__ENVELOPE__BODY_RECEIPT);

    g_assert_cmpint (r->receipt->error_code, ==, IMP_ERROR_WRONG_SENDER);
    g_assert_cmpstr (r->receipt->client_msg_id, ==, uuid);
  }
  /* Empty content too. */
  chat.sender_id = 7;
  chat.content = (char *) "";
  client_send (c, &env);
  {
    g_autoptr(ImpEnvelope) r = client_expect (c, IMPLUS__ENVELOPE__BODY_RECEIPT);

    g_assert_cmpint (r->receipt->error_code, ==, IMP_ERROR_CONTENT_EMPTY);
  }
  g_assert_cmpuint (fx->chats->len, ==, 1);

  /* A receipt for this connection from the worker reaches it. */
  {
    Implus__Bus__GatewayRecord gr = IMPLUS__BUS__GATEWAY_RECORD__INIT;
    Implus__Bus__GatewayReceipt grr = IMPLUS__BUS__GATEWAY_RECEIPT__INIT;
    Implus__SendReceipt receipt = IMPLUS__SEND_RECEIPT__INIT;
    g_autoptr(ImpEnvelope) r = NULL;

    receipt.client_msg_id = uuid;
    receipt.msg_id = 555;
    receipt.seq = 1;
    grr.conn_id = rec->conn_id;
    grr.receipt = &receipt;
    gr.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_RECEIPT;
    gr.receipt = &grr;
    publish_record (fx, &gr);
    r = client_expect (c, IMPLUS__ENVELOPE__BODY_RECEIPT);
    g_assert_cmpint (r->receipt->msg_id, ==, 555);
    g_assert_cmpint (r->receipt->error_code, ==, 0);
  }
  client_free (c);
}

static void
test_pipelined_after_auth (Fixture *fx, gconstpointer data)
{
  g_autofree char *token = issue (fx, 7, NULL);
  Client *c = client_new (fx);
  g_autoptr(ImpEnvelope) ok = NULL;
  g_autoptr(ImpEnvelope) hb = NULL;

  /* Frames sent right behind Auth wait for its result, in order. */
  client_send_auth (c, token, "d");
  client_send_heartbeat (c, 77);
  ok = client_expect (c, IMPLUS__ENVELOPE__BODY_AUTH_OK);
  hb = client_expect (c, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
  g_assert_cmpint (hb->heartbeat->client_time_ms, ==, 77);
  client_free (c);
}

static void
retransmit_setup (Fixture *fx, gconstpointer data)
{
  fixture_setup_full (fx, 30000, 50);
}

static void
test_push_retransmit_ack (Fixture *fx, gconstpointer data)
{
  Client *c = client_login (fx, 7, "d");
  Client *other = client_login (fx, 7, "tablet");
  guint n_other = 0;

  publish_push (fx, 7, 5);
  for (guint i = 0; i < 2; i++)
    {
      /* The first delivery, then at least one retransmission. */
      g_autoptr(ImpEnvelope) p = client_expect (c, IMPLUS__ENVELOPE__BODY_PUSH);

      g_assert_cmpint (p->push->message->seq, ==, 5);
      g_assert_cmpstr (p->push->message->content, ==, "hello");
    }
  client_send_ack (c, 5);
  g_assert_true (WAIT_UNTIL (fx->acks->len >= 1, DEADLINE));
  {
    Implus__Bus__AckRecord *ack = g_ptr_array_index (fx->acks, 0);

    g_assert_cmpint (ack->user_id, ==, 7);
    g_assert_cmpstr (ack->device_id, ==, "d");
    g_assert_cmpint (ack->up_to_seq, ==, 5);
  }

  /* Acked: nothing more comes (a heartbeat round trip flushes what was in flight). */
  client_send_heartbeat (c, 1);
  while (TRUE)
    {
      g_autoptr(ImpEnvelope) e = client_next (c, DEADLINE);

      g_assert_nonnull (e);
      if (e->body_case == IMPLUS__ENVELOPE__BODY_HEARTBEAT)
        break;
      g_assert_cmpint (e->body_case, ==, IMPLUS__ENVELOPE__BODY_PUSH);
    }
  g_assert_null (client_next (c, 500));

  /* The other device never acks: the first send plus retransmit_max (3) retries, then silence. */
  WAIT_UNTIL ((n_other = other->frames.length) >= 4, DEADLINE);
  g_assert_cmpuint (n_other, ==, 4);
  g_assert_false (WAIT_UNTIL (other->frames.length > 4, 1000));
  client_free (c);
  client_free (other);
}

static void
test_push_unacked_cap (Fixture *fx, gconstpointer data)
{
  Client *c = client_login (fx, 7, "d");

  /* max_unacked = 64: the 65th unacknowledged push marks a slow reader. */
  for (gint64 seq = 1; seq <= 65; seq++)
    publish_push (fx, 7, seq);
  g_assert_true (WAIT_UNTIL (c->eof, DEADLINE));
  g_assert_cmpuint (c->frames.length, ==, 64);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 0);
  client_free (c);
}

static void
test_second_login_kicks (Fixture *fx, gconstpointer data)
{
  Client *a = client_login (fx, 7, "phone");
  Client *b = NULL;
  Client *other = client_login (fx, 7, "laptop");
  g_autoptr(ImpEnvelope) k = NULL;

  b = client_login (fx, 7, "phone");
  k = client_expect (a, IMPLUS__ENVELOPE__BODY_KICK);
  g_assert_cmpint (k->kick->reason, ==, IMPLUS__KICK_REASON__KICK_REASON_REPLACED);
  client_expect_eof (a);
  g_assert_true (presence_has (fx, 7));
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 2);
  g_assert_cmpuint (other->frames.length, ==, 0);
  g_assert_false (other->eof);
  client_free (a);
  client_free (b);
  client_free (other);
}

/* A login of the same device through ANOTHER gateway replaces the first session too: the new
 * gateway sends a GatewayKick (device id, itself excluded) to the user's other gateways. Two
 * gateways on one local bus and one cache, both directions. */
static Client *
login_on (Fixture *fx, ImpGateway *gw, gint64 user_id, const char *device)
{
  ImpGateway *saved = fx->gw;
  Client *c;

  fx->gw = gw;
  c = client_login (fx, user_id, device);
  fx->gw = saved;
  return c;
}

static void
expect_alive (Client *c)
{
  g_autoptr(ImpEnvelope) hb = NULL;

  client_send_heartbeat (c, 42);
  hb = client_expect (c, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
  g_assert_cmpint (hb->heartbeat->client_time_ms, ==, 42);
}

static void
test_login_elsewhere_kicks (Fixture *fx, gconstpointer data)
{
  ImpServerConfig config2 = fx->config;
  g_autoptr(GError) error = NULL;
  ImpGateway *gw2;
  Client *a, *laptop, *b, *c;
  g_autoptr(ImpEnvelope) k = NULL;
  g_autoptr(ImpEnvelope) k2 = NULL;

  config2.gateway_id = (char *) GW_ID "-2";
  gw2 = imp_gateway_new (&config2, fx->auth, fx->bus, fx->cache, &error);
  g_assert_no_error (error);

  a = client_login (fx, 7, "phone");
  laptop = client_login (fx, 7, "laptop");
  b = login_on (fx, gw2, 7, "phone");
  k = client_expect (a, IMPLUS__ENVELOPE__BODY_KICK);
  g_assert_cmpint (k->kick->reason, ==, IMPLUS__KICK_REASON__KICK_REASON_REPLACED);
  client_expect_eof (a);
  /* Only that device, and not the new session itself. */
  expect_alive (laptop);
  expect_alive (b);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 1);
  g_assert_cmpuint (imp_gateway_get_n_connections (gw2), ==, 1);

  /* And back: the phone again on the first gateway replaces the one on the second. */
  c = client_login (fx, 7, "phone");
  k2 = client_expect (b, IMPLUS__ENVELOPE__BODY_KICK);
  g_assert_cmpint (k2->kick->reason, ==, IMPLUS__KICK_REASON__KICK_REASON_REPLACED);
  client_expect_eof (b);
  expect_alive (c);
  expect_alive (laptop);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 2);
  g_assert_true (WAIT_UNTIL (imp_gateway_get_n_connections (gw2) == 0, DEADLINE));

  client_free (a);
  client_free (b);
  client_free (c);
  client_free (laptop);
  imp_gateway_free (gw2);
}

static void
test_bus_kick_by_token (Fixture *fx, gconstpointer data)
{
  ImpTokenClaims claims;
  g_autofree char *token = issue (fx, 7, &claims);
  Client *a = client_new (fx);
  Client *b = client_login (fx, 7, "other");
  Implus__Bus__GatewayRecord rec = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  Implus__Bus__GatewayKick kick = IMPLUS__BUS__GATEWAY_KICK__INIT;
  g_autoptr(ImpEnvelope) ok = NULL;
  g_autoptr(ImpEnvelope) k = NULL;

  client_send_auth (a, token, "mine");
  ok = client_expect (a, IMPLUS__ENVELOPE__BODY_AUTH_OK);

  kick.user_id = 7;
  kick.token_id = claims.token_id;
  kick.reason = IMPLUS__KICK_REASON__KICK_REASON_TOKEN_REVOKED;
  kick.message = (char *) "logged out";
  rec.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_KICK;
  rec.kick = &kick;
  publish_record (fx, &rec);

  k = client_expect (a, IMPLUS__ENVELOPE__BODY_KICK);
  g_assert_cmpint (k->kick->reason, ==, IMPLUS__KICK_REASON__KICK_REASON_TOKEN_REVOKED);
  g_assert_cmpstr (k->kick->message, ==, "logged out");
  client_expect_eof (a);
  /* b has another token: untouched. */
  g_assert_false (b->eof);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 1);
  client_free (a);
  client_free (b);
}

static void
test_shutdown_kicks (Fixture *fx, gconstpointer data)
{
  Client *c = client_login (fx, 7, "d");
  g_autoptr(ImpEnvelope) k = NULL;

  imp_gateway_shutdown (fx->gw);
  k = client_expect (c, IMPLUS__ENVELOPE__BODY_KICK);
  g_assert_cmpint (k->kick->reason, ==, IMPLUS__KICK_REASON__KICK_REASON_SHUTDOWN);
  client_expect_eof (c);
  client_free (c);
}

static void
per_ip_setup (Fixture *fx, gconstpointer data)
{
  fixture_setup_full (fx, 30000, 2000);
  /* The gateway reads the config it was given at each accept. */
  fx->config.max_connections_per_ip = 2;
}

static void
test_per_ip_limit (Fixture *fx, gconstpointer data)
{
  Client *a = client_login (fx, 7, "a");
  Client *b = client_login (fx, 8, "b");
  Client *c = client_new (fx);

  /* The third from 127.0.0.1 is closed at once, without a word. */
  client_expect_eof (c);
  client_free (c);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 2);

  /* A slot frees when one leaves. */
  client_free (a);
  g_assert_true (WAIT_UNTIL (imp_gateway_get_n_connections (fx->gw) == 1, DEADLINE));
  c = client_login (fx, 9, "c");
  client_free (c);
  client_free (b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, setup, func) \
  g_test_add (path, Fixture, NULL, setup, func, fixture_teardown)
  ADD ("/gateway/auth/ok", fixture_setup, test_auth_ok);
  ADD ("/gateway/auth/default-device", fixture_setup, test_default_device);
  ADD ("/gateway/auth/frame-before-auth", fixture_setup, test_frame_before_auth);
  ADD ("/gateway/auth/bad-token", fixture_setup, test_bad_token);
  ADD ("/gateway/auth/revoked-token", fixture_setup, test_revoked_token);
  ADD ("/gateway/auth/pipelined", fixture_setup, test_pipelined_after_auth);
  ADD ("/gateway/auth/second-login-kicks", fixture_setup, test_second_login_kicks);
  ADD ("/gateway/auth/login-elsewhere-kicks", fixture_setup, test_login_elsewhere_kicks);
  ADD ("/gateway/frame/too-large", fixture_setup, test_frame_too_large);
  ADD ("/gateway/frame/garbage", fixture_setup, test_garbage);
  ADD ("/gateway/frame/server-only", fixture_setup, test_server_only_frame);
  ADD ("/gateway/heartbeat", fixture_setup, test_heartbeat);
  ADD ("/gateway/idle-timeout", idle_setup, test_idle_timeout);
  ADD ("/gateway/chat/to-bus", fixture_setup, test_chat_to_bus);
  ADD ("/gateway/push/retransmit-ack", retransmit_setup, test_push_retransmit_ack);
  ADD ("/gateway/push/unacked-cap", fixture_setup, test_push_unacked_cap);
  ADD ("/gateway/kick/by-token", fixture_setup, test_bus_kick_by_token);
  ADD ("/gateway/shutdown", fixture_setup, test_shutdown_kicks);
  ADD ("/gateway/per-ip-limit", per_ip_setup, test_per_ip_limit);
#undef ADD
  return g_test_run ();
}

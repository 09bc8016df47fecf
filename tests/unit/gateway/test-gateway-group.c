/* test-gateway-group.c: group delivery, read marks, delivered marks and typing, end to end: real
 * TCP clients, the real gateway and message worker, a SQLite store in a temp dir, the local bus
 * and the memory cache. A second gateway "gw2" is only announced in the registry; its push topic
 * is watched to count what the worker sends to every live gateway. */
#include "gateway-fixture.h"
#include "message/imp-message-worker.h"
#include "imp-convid.h"
#include "imp-time.h"

#include <string.h>

typedef struct {
  Fixture           fx;     /* first: the shared gateway fixture */
  ImpMessageWorker *worker;
  ImpIdGen         *ids;
  GPtrArray        *gw2;    /* Implus__Bus__GatewayRecord seen on push.gw2 */
  GPtrArray        *local;  /* Implus__Bus__GatewayRecord group pushes seen on push.<GW_ID> */
  ImpBusSubscription *gw2_sub;
  ImpBusSubscription *local_sub;
  gint64            alice, bob, carol, dave;
  gint64            group;
  char             *group_conv;
} GroupFixture;

static void
record_free (gpointer p)
{
  implus__bus__gateway_record__free_unpacked (p, NULL);
}

static gboolean
on_watch (GPtrArray *records, gpointer data)
{
  GPtrArray *into = data;

  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);
      gsize len;
      const guint8 *bytes = g_bytes_get_data (rec->value, &len);
      Implus__Bus__GatewayRecord *gr = implus__bus__gateway_record__unpack (NULL, len, bytes);

      g_assert_nonnull (gr);
      if (gr->body_case == IMPLUS__BUS__GATEWAY_RECORD__BODY_GROUP_PUSH)
        g_ptr_array_add (into, gr);
      else
        implus__bus__gateway_record__free_unpacked (gr, NULL);
    }
  return TRUE;
}

static gint64
new_user (GroupFixture *f, const char *name)
{
  g_autoptr(GError) error = NULL;
  gint64 id = 0;

  g_assert_true (imp_store_user_create (f->fx.store, name, name, "x", imp_now_ms (), &id, &error));
  g_assert_no_error (error);
  return id;
}

static void
group_setup_full (GroupFixture *f, gint64 retransmit_ms)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpGroupChange) change = NULL;
  g_autofree char *topic2 = imp_bus_push_topic ("gw2");
  g_autofree char *topic1 = imp_bus_push_topic (GW_ID);
  gint64 members[2];

  fixture_setup_full (&f->fx, 30000, retransmit_ms);
  f->fx.config.max_content = 3000;
  f->fx.config.worker_batch = 16;
  f->fx.config.pull_page_max = 500;
  imp_gateway_set_store (f->fx.gw, f->fx.store);

  f->alice = new_user (f, "alice");
  f->bob = new_user (f, "bob");
  f->carol = new_user (f, "carol");
  f->dave = new_user (f, "dave");   /* never a member */
  f->ids = imp_id_gen_new (7);
  members[0] = f->bob;
  members[1] = f->carol;
  change = imp_store_group_create (f->fx.store, f->alice, "friends", members, 2, 100, f->ids,
                                   imp_now_ms (), &error);
  g_assert_no_error (error);
  g_assert_nonnull (change);
  f->group = change->group_id;
  f->group_conv = imp_convid_group (f->group);

  /* A second live gateway, present only in the registry. */
  imp_cache_gateway_announce (f->fx.cache, "gw2", "127.0.0.9:8900", "ws://127.0.0.9:8902/", 0,
                              600000);
  f->gw2 = g_ptr_array_new_with_free_func (record_free);
  f->local = g_ptr_array_new_with_free_func (record_free);
  f->gw2_sub = imp_bus_subscribe (f->fx.bus, topic2, "gw2", NULL, 64, on_watch, f->gw2, NULL,
                                  &error);
  g_assert_no_error (error);
  f->local_sub = imp_bus_subscribe (f->fx.bus, topic1, "watcher", NULL, 64, on_watch, f->local,
                                    NULL, &error);
  g_assert_no_error (error);

  f->worker = imp_message_worker_new (&f->fx.config, 1, f->fx.store, f->fx.bus, f->fx.cache,
                                      &error);
  g_assert_no_error (error);
}

static void
group_setup (GroupFixture *f, gconstpointer data)
{
  group_setup_full (f, 2000);
}

static void
group_teardown (GroupFixture *f, gconstpointer data)
{
  g_clear_pointer (&f->worker, imp_message_worker_free);
  imp_bus_unsubscribe (f->fx.bus, f->gw2_sub);
  imp_bus_unsubscribe (f->fx.bus, f->local_sub);
  g_ptr_array_unref (f->gw2);
  g_ptr_array_unref (f->local);
  imp_id_gen_free (f->ids);
  g_free (f->group_conv);
  fixture_teardown (&f->fx, data);
}

/* ---- client helpers ---- */

static char *
send_chat (Client *c, gint64 to_user, gint64 group_id, const char *content)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__ChatUp chat = IMPLUS__CHAT_UP__INIT;
  char *uuid = imp_uuid_new ();

  chat.client_msg_id = uuid;
  chat.to_user_id = to_user;
  chat.group_id = group_id;
  chat.content = (char *) content;
  chat.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  env.body_case = IMPLUS__ENVELOPE__BODY_CHAT_UP;
  env.chat_up = &chat;
  client_send (c, &env);
  return uuid;
}

/* The receipt of the send just made (pushes of other messages may come first). */
static ImpEnvelope *
wait_body (Client *c, Implus__Envelope__BodyCase body)
{
  for (;;)
    {
      ImpEnvelope *env = client_next (c, DEADLINE);

      g_assert_nonnull (env);
      if (env->body_case == body)
        return env;
      imp_wire_envelope_free (env);
    }
}

/* Nothing is queued for c: a heartbeat's answer is the very next frame. */
static void
expect_quiet (Client *c)
{
  g_autoptr(ImpEnvelope) env = NULL;

  client_send_heartbeat (c, 4242);
  env = client_next (c, DEADLINE);
  g_assert_nonnull (env);
  g_assert_cmpint (env->body_case, ==, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
  g_assert_cmpint (env->heartbeat->client_time_ms, ==, 4242);
}

static void
send_group_ack (Client *c, const char *conv, gint64 up_to)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__GroupAck ack = IMPLUS__GROUP_ACK__INIT;

  ack.conversation_id = (char *) conv;
  ack.up_to_seq = up_to;
  env.body_case = IMPLUS__ENVELOPE__BODY_GROUP_ACK;
  env.group_ack = &ack;
  client_send (c, &env);
}

static void
send_typing (Client *c, gint64 to_user)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Typing typing = IMPLUS__TYPING__INIT;

  typing.to_user_id = to_user;
  env.body_case = IMPLUS__ENVELOPE__BODY_TYPING;
  env.typing = &typing;
  client_send (c, &env);
}

static void
send_read_mark (Client *c, const char *conv, gint64 seq)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__ReadMark mark = IMPLUS__READ_MARK__INIT;

  mark.conversation_id = (char *) conv;
  mark.seq = seq;
  env.body_case = IMPLUS__ENVELOPE__BODY_READ_MARK;
  env.read_mark = &mark;
  client_send (c, &env);
}

static gint64
group_last_seq (GroupFixture *f)
{
  g_autoptr(ImpGroupRecord) g = imp_store_group_get (f->fx.store, f->group, NULL);

  g_assert_nonnull (g);
  return g->last_seq;
}

/* ---- tests ---- */

/* One receipt with the conversation seq; one GatewayGroupPush per live gateway; delivered to the
 * local members' connections (the sender's other device too), not to the sending connection
 * and not to a non-member on the same gateway. */
static void
test_send (GroupFixture *f, gconstpointer data)
{
  Client *a1 = client_login (&f->fx, f->alice, "a1");
  Client *a2 = client_login (&f->fx, f->alice, "a2");
  Client *b = client_login (&f->fx, f->bob, "b");
  Client *d = client_login (&f->fx, f->dave, "d");
  gint64 before = group_last_seq (f);
  g_autofree char *id = send_chat (a1, 0, f->group, "hello group");
  g_autoptr(ImpEnvelope) receipt = wait_body (a1, IMPLUS__ENVELOPE__BODY_RECEIPT);
  g_autoptr(ImpEnvelope) pb = NULL;
  g_autoptr(ImpEnvelope) pa2 = NULL;
  Implus__Bus__GatewayGroupPush *gp;

  g_assert_cmpstr (receipt->receipt->client_msg_id, ==, id);
  g_assert_cmpint (receipt->receipt->error_code, ==, 0);
  g_assert_cmpstr (receipt->receipt->conversation_id, ==, f->group_conv);
  g_assert_cmpint (receipt->receipt->seq, ==, before + 1);

  pb = wait_body (b, IMPLUS__ENVELOPE__BODY_PUSH);
  g_assert_cmpint (pb->push->message->group_id, ==, f->group);
  g_assert_cmpint (pb->push->message->seq, ==, before + 1);
  g_assert_cmpint (pb->push->message->msg_id, ==, receipt->receipt->msg_id);
  g_assert_cmpint (pb->push->message->sender_id, ==, f->alice);
  g_assert_cmpstr (pb->push->message->conversation_id, ==, f->group_conv);
  g_assert_cmpstr (pb->push->message->content, ==, "hello group");
  pa2 = wait_body (a2, IMPLUS__ENVELOPE__BODY_PUSH);
  g_assert_cmpint (pa2->push->message->seq, ==, before + 1);

  expect_quiet (a1);
  expect_quiet (d);

  /* Exactly one record per live gateway, whatever the member count. */
  g_assert_true (WAIT_UNTIL (f->gw2->len >= 1 && f->local->len >= 1, DEADLINE));
  expect_quiet (b);  /* a round trip: anything else in flight has landed by now */
  g_assert_cmpuint (f->gw2->len, ==, 1);
  g_assert_cmpuint (f->local->len, ==, 1);
  gp = ((Implus__Bus__GatewayRecord *) g_ptr_array_index (f->gw2, 0))->group_push;
  g_assert_cmpint (gp->group_id, ==, f->group);
  g_assert_nonnull (gp->message);
  g_assert_null (gp->notice);
  g_assert_cmpuint (gp->exclude_conn_id, ==, 0);   /* not the origin gateway */
  gp = ((Implus__Bus__GatewayRecord *) g_ptr_array_index (f->local, 0))->group_push;
  g_assert_cmpuint (gp->exclude_conn_id, !=, 0);   /* the sending connection */
  g_assert_cmpstr (gp->origin_gateway_id, ==, GW_ID);

  client_free (a1);
  client_free (a2);
  client_free (b);
  client_free (d);
}

/* A message above the inline limit goes out as a GroupNotice: members pull it. */
static void
test_notice (GroupFixture *f, gconstpointer data)
{
  Client *a = client_login (&f->fx, f->alice, "a");
  Client *b = client_login (&f->fx, f->bob, "b");
  g_autofree char *big = g_strnfill (2000, 'x');
  g_autofree char *id = send_chat (a, 0, f->group, big);
  g_autoptr(ImpEnvelope) receipt = wait_body (a, IMPLUS__ENVELOPE__BODY_RECEIPT);
  g_autoptr(ImpEnvelope) notice = wait_body (b, IMPLUS__ENVELOPE__BODY_GROUP_NOTICE);
  g_autoptr(GPtrArray) rows = NULL;

  g_assert_cmpint (receipt->receipt->error_code, ==, 0);
  g_assert_cmpstr (notice->group_notice->conversation_id, ==, f->group_conv);
  g_assert_cmpint (notice->group_notice->seq, ==, receipt->receipt->seq);
  /* And the pull has it. */
  rows = imp_store_group_pull (f->fx.store, f->bob, f->group, receipt->receipt->seq - 1, 10, NULL);
  g_assert_nonnull (rows);
  g_assert_cmpuint (rows->len, ==, 1);
  g_assert_cmpstr (((ImpMessageRecord *) g_ptr_array_index (rows, 0))->content, ==, big);
  client_free (a);
  client_free (b);
}

/* A non-member's send is refused with NOT_MEMBER and nothing is pushed anywhere. */
static void
test_not_member (GroupFixture *f, gconstpointer data)
{
  Client *a = client_login (&f->fx, f->alice, "a");
  Client *b = client_login (&f->fx, f->bob, "b");
  Client *d = client_login (&f->fx, f->dave, "d");
  gint64 before = group_last_seq (f);
  g_autofree char *id = send_chat (d, 0, f->group, "let me in");
  g_autoptr(ImpEnvelope) refused = wait_body (d, IMPLUS__ENVELOPE__BODY_RECEIPT);
  g_autofree char *id2 = NULL;
  g_autoptr(ImpEnvelope) ok = NULL;
  g_autoptr(ImpEnvelope) push = NULL;

  g_assert_cmpstr (refused->receipt->client_msg_id, ==, id);
  g_assert_cmpint (refused->receipt->error_code, ==, IMP_ERROR_NOT_MEMBER);
  g_assert_cmpint (refused->receipt->seq, ==, 0);
  g_assert_cmpint (group_last_seq (f), ==, before);

  /* A member's send afterwards is the only thing pushed (the bus keeps per-key order). */
  id2 = send_chat (a, 0, f->group, "members only");
  ok = wait_body (a, IMPLUS__ENVELOPE__BODY_RECEIPT);
  g_assert_cmpint (ok->receipt->seq, ==, before + 1);
  push = client_expect (b, IMPLUS__ENVELOPE__BODY_PUSH);
  g_assert_cmpstr (push->push->message->content, ==, "members only");
  g_assert_true (WAIT_UNTIL (f->gw2->len >= 1, DEADLINE));
  expect_quiet (b);
  g_assert_cmpuint (f->gw2->len, ==, 1);
  client_free (a);
  client_free (b);
  client_free (d);
}

/* A removed member (GatewayMembership left) stops receiving; the others still do. */
static void
test_removed (GroupFixture *f, gconstpointer data)
{
  Client *a = client_login (&f->fx, f->alice, "a");
  Client *b = client_login (&f->fx, f->bob, "b");
  Client *c = client_login (&f->fx, f->carol, "c");
  Implus__Bus__GatewayRecord rec = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  Implus__Bus__GatewayMembership m = IMPLUS__BUS__GATEWAY_MEMBERSHIP__INIT;
  Implus__Bus__GatewayEphemeral eph = IMPLUS__BUS__GATEWAY_EPHEMERAL__INIT;
  Implus__Envelope marker = IMPLUS__ENVELOPE__INIT;
  Implus__Typing typing = IMPLUS__TYPING__INIT;
  g_autoptr(ImpGroupChange) change = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id1 = NULL, *id2 = NULL;
  ImpEnvelope *env;

  /* Before: carol gets the group's messages. */
  id1 = send_chat (a, 0, f->group, "one");
  env = wait_body (c, IMPLUS__ENVELOPE__BODY_PUSH);
  g_assert_cmpstr (env->push->message->content, ==, "one");
  imp_wire_envelope_free (env);

  change = imp_store_group_remove_member (f->fx.store, f->alice, f->group, f->carol, f->ids,
                                          imp_now_ms (), &error);
  g_assert_no_error (error);
  m.user_id = f->carol;
  m.group_id = f->group;
  m.joined = FALSE;
  rec.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_MEMBERSHIP;
  rec.membership = &m;
  publish_record (&f->fx, &rec);
  /* Same key, so after the membership: once carol sees the marker, the index is updated. */
  typing.from_user_id = 12345;
  marker.body_case = IMPLUS__ENVELOPE__BODY_TYPING;
  marker.typing = &typing;
  eph.user_id = f->carol;
  eph.envelope = &marker;
  rec.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_EPHEMERAL;
  rec.ephemeral = &eph;
  publish_record (&f->fx, &rec);
  env = wait_body (c, IMPLUS__ENVELOPE__BODY_TYPING);
  g_assert_cmpint (env->typing->from_user_id, ==, 12345);
  imp_wire_envelope_free (env);

  id2 = send_chat (a, 0, f->group, "two");
  env = wait_body (b, IMPLUS__ENVELOPE__BODY_PUSH);
  while (g_strcmp0 (env->push->message->content, "two") != 0)
    {
      imp_wire_envelope_free (env);
      env = wait_body (b, IMPLUS__ENVELOPE__BODY_PUSH);
    }
  imp_wire_envelope_free (env);
  expect_quiet (c);
  client_free (a);
  client_free (b);
  client_free (c);
}

/* A group push as the message role publishes it (from another gateway's sender). */
static void
publish_group_push (GroupFixture *f, gint64 seq, const char *content)
{
  Implus__Bus__GatewayRecord rec = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  Implus__Bus__GatewayGroupPush gp = IMPLUS__BUS__GATEWAY_GROUP_PUSH__INIT;
  Implus__Message msg = IMPLUS__MESSAGE__INIT;

  msg.msg_id = 500000 + seq;
  msg.conversation_id = f->group_conv;
  msg.sender_id = f->alice;
  msg.seq = seq;
  msg.content = (char *) content;
  msg.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  msg.group_id = f->group;
  gp.group_id = f->group;
  gp.message = &msg;
  gp.origin_gateway_id = (char *) "gw-elsewhere";
  rec.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_GROUP_PUSH;
  rec.group_push = &gp;
  publish_record (&f->fx, &rec);
}

static void
publish_membership (GroupFixture *f, gint64 user_id, gboolean joined, gint64 seq)
{
  Implus__Bus__GatewayRecord rec = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  Implus__Bus__GatewayMembership m = IMPLUS__BUS__GATEWAY_MEMBERSHIP__INIT;

  m.user_id = user_id;
  m.group_id = f->group;
  m.joined = joined;
  m.seq = seq;
  rec.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_MEMBERSHIP;
  rec.membership = &m;
  publish_record (&f->fx, &rec);
}

/* The next push to c has this seq and content; acknowledged so it is not sent again. */
static void
expect_group_push (GroupFixture *f, Client *c, gint64 seq, const char *content)
{
  g_autoptr(ImpEnvelope) env = wait_body (c, IMPLUS__ENVELOPE__BODY_PUSH);

  g_assert_cmpint (env->push->message->seq, ==, seq);
  g_assert_cmpstr (env->push->message->content, ==, content);
  send_group_ack (c, f->group_conv, seq);
}

/* The member window on a late bus: a push committed before a member joined that reaches the
 * gateway after their connection loaded the membership (with its join_seq) at auth is not given
 * to them (on Kafka this happened under load); stale membership records neither move the
 * window back nor end a newer membership. Records of one key keep their order, so the first
 * push a client gets tells what was skipped before it. */
static void
test_window (GroupFixture *f, gconstpointer data)
{
  g_autoptr(ImpGroupChange) added = NULL;
  g_autoptr(ImpGroupChange) removed = NULL;
  g_autoptr(ImpGroupChange) again = NULL;
  g_autoptr(GError) error = NULL;
  gint64 dave_join, carol_left, carol_join;
  Client *d, *c;

  added = imp_store_group_add_members (f->fx.store, f->alice, f->group, &f->dave, 1, 100, f->ids,
                                       imp_now_ms (), &error);
  g_assert_no_error (error);
  dave_join = g_array_index (added->join_seqs, gint64, 0);
  g_assert_cmpint (dave_join, >, 0);
  d = client_login (&f->fx, f->dave, "d");

  /* A late push from before dave's join (group_created), a stale "joined" with an older seq,
   * the same push again. */
  publish_group_push (f, dave_join, "just before the join");
  publish_membership (f, f->dave, TRUE, 0);
  publish_group_push (f, dave_join, "just before the join");
  publish_group_push (f, dave_join + 1, "member_added");
  expect_group_push (f, d, dave_join + 1, "member_added");
  expect_quiet (d);

  /* carol is removed and added again before she connects: her window starts at the new join. */
  removed = imp_store_group_remove_member (f->fx.store, f->alice, f->group, f->carol, f->ids,
                                           imp_now_ms (), &error);
  g_assert_no_error (error);
  carol_left = g_array_index (removed->left_seqs, gint64, 0);
  again = imp_store_group_add_members (f->fx.store, f->alice, f->group, &f->carol, 1, 100,
                                       f->ids, imp_now_ms (), &error);
  g_assert_no_error (error);
  carol_join = g_array_index (again->join_seqs, gint64, 0);
  g_assert_cmpint (carol_join, >=, carol_left);
  c = client_login (&f->fx, f->carol, "c");

  /* The records of the old leave arrive late: the leave is older than her membership. */
  publish_membership (f, f->carol, FALSE, carol_left);
  publish_group_push (f, carol_join + 1, "carol is back");
  expect_group_push (f, c, carol_join + 1, "carol is back");
  expect_group_push (f, d, carol_join + 1, "carol is back");

  /* A current leave ends her window: the push after it reaches dave only. */
  publish_membership (f, f->carol, FALSE, carol_join + 2);
  publish_group_push (f, carol_join + 3, "after carol left");
  expect_group_push (f, d, carol_join + 3, "after carol left");
  expect_quiet (c);
  expect_quiet (d);
  client_free (c);
  client_free (d);
}

/* Retransmission until GroupAck: an unacknowledging member gets the push again, one that ACKed
 * does not. */
static void
group_setup_fast_retransmit (GroupFixture *f, gconstpointer data)
{
  group_setup_full (f, 100);
}

static void
test_group_ack (GroupFixture *f, gconstpointer data)
{
  Client *a = client_login (&f->fx, f->alice, "a");
  Client *b = client_login (&f->fx, f->bob, "b");
  Client *c = client_login (&f->fx, f->carol, "c");
  g_autofree char *id = send_chat (a, 0, f->group, "ack me");
  g_autoptr(ImpEnvelope) pb = wait_body (b, IMPLUS__ENVELOPE__BODY_PUSH);
  g_autoptr(ImpEnvelope) pc = wait_body (c, IMPLUS__ENVELOPE__BODY_PUSH);
  g_autoptr(ImpEnvelope) again = NULL;

  send_group_ack (b, f->group_conv, pb->push->message->seq);
  /* carol did not ACK: the same push comes again. */
  again = wait_body (c, IMPLUS__ENVELOPE__BODY_PUSH);
  g_assert_cmpint (again->push->message->seq, ==, pc->push->message->seq);
  /* A user-stream Ack does not settle group pushes... */
  client_send_ack (c, pc->push->message->seq);
  g_clear_pointer (&again, imp_wire_envelope_free);
  again = wait_body (c, IMPLUS__ENVELOPE__BODY_PUSH);
  g_assert_cmpint (again->push->message->seq, ==, pc->push->message->seq);
  /* ...the GroupAck does; bob, who ACKed at once, got it once. */
  send_group_ack (c, f->group_conv, pc->push->message->seq);
  expect_quiet (b);
  /* The group ACK went to the ack topic with its conversation id. */
  g_assert_true (WAIT_UNTIL (f->fx.acks->len >= 1, DEADLINE));
  g_assert_cmpstr (((Implus__Bus__AckRecord *) g_ptr_array_index (f->fx.acks, 0))->conversation_id,
                   ==, f->group_conv);
  client_free (a);
  client_free (b);
  client_free (c);
}

/* Group AckRecords are coalesced like Acks: the first goes out at once, later ones within the
 * window are held and the latest position is published when it ends (never dropped). */
static gboolean
has_group_ack (Fixture *fx, const char *conv, gint64 seq)
{
  for (guint i = 0; i < fx->acks->len; i++)
    {
      Implus__Bus__AckRecord *rec = g_ptr_array_index (fx->acks, i);

      if (g_strcmp0 (rec->conversation_id, conv) == 0 && rec->up_to_seq == seq)
        return TRUE;
    }
  return FALSE;
}

static void
test_group_ack_coalesced (GroupFixture *f, gconstpointer data)
{
  Client *a = client_login (&f->fx, f->alice, "a");
  Client *b = client_login (&f->fx, f->bob, "b");
  gint64 seqs[3];
  guint n_group = 0;

  for (guint i = 0; i < G_N_ELEMENTS (seqs); i++)
    {
      g_autofree char *text = g_strdup_printf ("m%u", i);
      g_autofree char *id = send_chat (a, 0, f->group, text);
      g_autoptr(ImpEnvelope) p = wait_body (b, IMPLUS__ENVELOPE__BODY_PUSH);

      while (g_strcmp0 (p->push->message->content, text) != 0)
        {
          g_clear_pointer (&p, imp_wire_envelope_free);
          p = wait_body (b, IMPLUS__ENVELOPE__BODY_PUSH);
        }
      seqs[i] = p->push->message->seq;
      send_group_ack (b, f->group_conv, seqs[i]);
      if (i == 0)
        g_assert_true (WAIT_UNTIL (has_group_ack (&f->fx, f->group_conv, seqs[0]), DEADLINE));
    }
  /* The last position arrives (after the coalescing window), and ends the records. */
  g_assert_true (WAIT_UNTIL (has_group_ack (&f->fx, f->group_conv, seqs[2]), DEADLINE));
  for (guint i = 0; i < f->fx.acks->len; i++)
    {
      Implus__Bus__AckRecord *rec = g_ptr_array_index (f->fx.acks, i);

      if (g_strcmp0 (rec->conversation_id, f->group_conv) == 0)
        {
          g_assert_cmpint (rec->user_id, ==, f->bob);
          g_assert_cmpint (rec->up_to_seq, <=, seqs[2]);
          n_group++;
        }
    }
  g_assert_cmpuint (n_group, <=, G_N_ELEMENTS (seqs));
  client_free (a);
  client_free (b);
}

/* Typing reaches the peer, at most once per second per peer; the excess is dropped and counted. */
static void
test_typing (GroupFixture *f, gconstpointer data)
{
  Client *a = client_login (&f->fx, f->alice, "a");
  Client *b = client_login (&f->fx, f->bob, "b");
  Client *c = client_login (&f->fx, f->carol, "c");
  g_autoptr(ImpEnvelope) tb = NULL;
  g_autoptr(ImpEnvelope) tc = NULL;

  send_typing (a, f->bob);
  send_typing (a, f->bob);
  send_typing (a, f->bob);
  send_typing (a, f->carol);   /* another peer: its own allowance */
  tb = client_expect (b, IMPLUS__ENVELOPE__BODY_TYPING);
  g_assert_cmpint (tb->typing->from_user_id, ==, f->alice);
  tc = client_expect (c, IMPLUS__ENVELOPE__BODY_TYPING);
  g_assert_cmpint (tc->typing->from_user_id, ==, f->alice);
  g_assert_cmpuint (imp_gateway_get_typing_dropped (f->fx.gw), ==, 2);
  expect_quiet (b);
  expect_quiet (a);  /* dropped silently, no error */
  /* Typing to oneself is a bad request. */
  send_typing (a, f->alice);
  client_expect_error (a, IMP_ERROR_BAD_REQUEST);
  client_free (a);
  client_free (b);
  client_free (c);
}

/* A ReadMark: ReadUpdate to the reader's other device (with unread) and to the peer, whose
 * read_seq is in the peer's own stream numbering. */
static void
test_read (GroupFixture *f, gconstpointer data)
{
  Client *a1 = client_login (&f->fx, f->alice, "a1");
  Client *a2 = client_login (&f->fx, f->alice, "a2");
  Client *b1 = client_login (&f->fx, f->bob, "b1");
  Client *b2 = client_login (&f->fx, f->bob, "b2");
  Client *c = client_login (&f->fx, f->carol, "c");
  g_autofree char *conv = imp_convid_private (f->alice, f->bob);
  g_autofree char *i1 = NULL, *i2 = NULL, *i3 = NULL;
  g_autoptr(ImpEnvelope) r2 = NULL;
  ImpEnvelope *env;
  gint64 alice_seq2, bob_seq3;

  /* carol -> bob first, so bob's seqs run ahead of alice's for the alice-bob chat. */
  i1 = send_chat (c, f->bob, 0, "from carol");
  env = wait_body (c, IMPLUS__ENVELOPE__BODY_RECEIPT);
  imp_wire_envelope_free (env);
  i2 = send_chat (a1, f->bob, 0, "first");
  env = wait_body (a1, IMPLUS__ENVELOPE__BODY_RECEIPT);
  imp_wire_envelope_free (env);
  i3 = send_chat (a1, f->bob, 0, "second");
  r2 = wait_body (a1, IMPLUS__ENVELOPE__BODY_RECEIPT);
  alice_seq2 = r2->receipt->seq;
  for (bob_seq3 = 0; bob_seq3 < 3;)
    {
      env = wait_body (b1, IMPLUS__ENVELOPE__BODY_PUSH);
      bob_seq3 = env->push->message->seq;
      imp_wire_envelope_free (env);
    }
  g_assert_cmpint (bob_seq3, ==, 3);
  g_assert_cmpint (alice_seq2, ==, 2);

  /* bob reads up to "first" (his seq 2) on b1. */
  send_read_mark (b1, conv, 2);
  env = wait_body (b2, IMPLUS__ENVELOPE__BODY_READ_UPDATE);
  g_assert_cmpstr (env->read_update->conversation_id, ==, conv);
  g_assert_cmpint (env->read_update->user_id, ==, f->bob);
  g_assert_cmpint (env->read_update->read_seq, ==, 2);
  g_assert_cmpint (env->read_update->unread, ==, 1);   /* "second" */
  imp_wire_envelope_free (env);
  /* alice (both devices) learns bob read "first": alice's seq 1. */
  env = wait_body (a1, IMPLUS__ENVELOPE__BODY_READ_UPDATE);
  g_assert_cmpstr (env->read_update->conversation_id, ==, conv);
  g_assert_cmpint (env->read_update->user_id, ==, f->bob);
  g_assert_cmpint (env->read_update->read_seq, ==, 1);
  imp_wire_envelope_free (env);
  env = wait_body (a2, IMPLUS__ENVELOPE__BODY_READ_UPDATE);
  g_assert_cmpint (env->read_update->read_seq, ==, 1);
  imp_wire_envelope_free (env);

  /* Then everything: bob's 3 is alice's 2. */
  send_read_mark (b1, conv, 3);
  env = wait_body (b2, IMPLUS__ENVELOPE__BODY_READ_UPDATE);
  g_assert_cmpint (env->read_update->read_seq, ==, 3);
  g_assert_cmpint (env->read_update->unread, ==, 0);
  imp_wire_envelope_free (env);
  env = wait_body (a1, IMPLUS__ENVELOPE__BODY_READ_UPDATE);
  g_assert_cmpint (env->read_update->read_seq, ==, alice_seq2);
  imp_wire_envelope_free (env);
  /* The reading connection itself is not told again; carol (not in the chat) is not told. */
  expect_quiet (b1);
  expect_quiet (c);

  /* A read mark of someone else's chat is refused at the gateway. */
  send_read_mark (c, conv, 1);
  client_expect_error (c, IMP_ERROR_FORBIDDEN);
  client_free (a1);
  client_free (a2);
  client_free (b1);
  client_free (b2);
  client_free (c);
}

/* After the recipient's ACK the sender's devices get Delivered in the sender's numbering. */
static void
test_delivered (GroupFixture *f, gconstpointer data)
{
  Client *a1 = client_login (&f->fx, f->alice, "a1");
  Client *a2 = client_login (&f->fx, f->alice, "a2");
  Client *b = client_login (&f->fx, f->bob, "b");
  Client *c = client_login (&f->fx, f->carol, "c");
  g_autofree char *conv = imp_convid_private (f->alice, f->bob);
  g_autofree char *i1 = NULL, *i2 = NULL;
  g_autoptr(ImpEnvelope) receipt = NULL;
  ImpEnvelope *env;
  gint64 bob_seq = 0;

  i1 = send_chat (c, f->bob, 0, "from carol");   /* bob seq 1 */
  env = wait_body (c, IMPLUS__ENVELOPE__BODY_RECEIPT);
  imp_wire_envelope_free (env);
  i2 = send_chat (a1, f->bob, 0, "deliver me");  /* bob seq 2, alice seq 1 */
  receipt = wait_body (a1, IMPLUS__ENVELOPE__BODY_RECEIPT);
  while (bob_seq < 2)
    {
      env = wait_body (b, IMPLUS__ENVELOPE__BODY_PUSH);
      bob_seq = env->push->message->seq;
      imp_wire_envelope_free (env);
    }
  client_send_ack (b, bob_seq);

  env = wait_body (a1, IMPLUS__ENVELOPE__BODY_DELIVERED);
  g_assert_cmpstr (env->delivered->conversation_id, ==, conv);
  g_assert_cmpint (env->delivered->up_to_seq, ==, receipt->receipt->seq);
  g_assert_cmpint (env->delivered->by_user_id, ==, f->bob);
  imp_wire_envelope_free (env);
  env = wait_body (a2, IMPLUS__ENVELOPE__BODY_DELIVERED);
  g_assert_cmpint (env->delivered->up_to_seq, ==, receipt->receipt->seq);
  imp_wire_envelope_free (env);
  /* carol's message was delivered too: her own seq of it. */
  env = wait_body (c, IMPLUS__ENVELOPE__BODY_DELIVERED);
  g_assert_cmpint (env->delivered->up_to_seq, ==, 1);
  g_assert_cmpint (env->delivered->by_user_id, ==, f->bob);
  imp_wire_envelope_free (env);
  client_free (a1);
  client_free (a2);
  client_free (b);
  client_free (c);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/gateway-group/send", GroupFixture, NULL, group_setup, test_send, group_teardown);
  g_test_add ("/gateway-group/notice", GroupFixture, NULL, group_setup, test_notice, group_teardown);
  g_test_add ("/gateway-group/not-member", GroupFixture, NULL, group_setup, test_not_member,
              group_teardown);
  g_test_add ("/gateway-group/window", GroupFixture, NULL, group_setup, test_window,
              group_teardown);
  g_test_add ("/gateway-group/removed", GroupFixture, NULL, group_setup, test_removed,
              group_teardown);
  g_test_add ("/gateway-group/group-ack", GroupFixture, NULL, group_setup_fast_retransmit,
              test_group_ack, group_teardown);
  g_test_add ("/gateway-group/group-ack-coalesced", GroupFixture, NULL, group_setup,
              test_group_ack_coalesced, group_teardown);
  g_test_add ("/gateway-group/typing", GroupFixture, NULL, group_setup, test_typing,
              group_teardown);
  g_test_add ("/gateway-group/read", GroupFixture, NULL, group_setup, test_read, group_teardown);
  g_test_add ("/gateway-group/delivered", GroupFixture, NULL, group_setup, test_delivered,
              group_teardown);
  return g_test_run ();
}

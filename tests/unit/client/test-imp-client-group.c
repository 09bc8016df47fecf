/* test-imp-client-group.c: group streams, read marks, delivery/read states and typing of ImpClient
 * against the fake server of client-fake.c. Proves: a group conversation keeps its own contiguous
 * watermark (seqs before the membership window are skipped, a push past the watermark pulls the
 * gap via /groups/sync, a duplicate is re-acked with GroupAck), a GroupNotice pulls, a group send
 * goes out with ChatUp.group_id and its receipt lands in the group stream, ReadUpdate moves the
 * read position (own device) or marks own messages read (peer), Delivered marks them delivered,
 * ReadMark and Typing frames go out (Typing rate-limited) and Typing comes in. */
#include "client-fake.h"

static gint64 gwm (Fixture *f) { return imp_client_get_group_watermark (f->client, GROUP_CONV); }
static gboolean gacked_5 (Fixture *f) { return gwm (f) == 5 && f->last_group_ack == 5; }
static gboolean gacked_8 (Fixture *f) { return gwm (f) == 8 && f->last_group_ack == 8; }
static gboolean gacked_3 (Fixture *f) { return gwm (f) == 3 && f->last_group_ack == 3; }
static guint saved;
static gboolean greacked (Fixture *f) { return f->n_group_acks > saved; }

static void
assert_group_received (Fixture *f, gint64 first, gint64 last)
{
  g_assert_cmpuint (f->group_received->len, ==, last - first + 1);
  for (guint i = 0; i < f->group_received->len; i++)
    g_assert_cmpint (g_array_index (f->group_received, gint64, i), ==, first + i);
}

static void
test_group_gap_pull (Fixture *f, gconstpointer data)
{
  /* Alice joined at seq 2: she may see 3.. only. */
  for (int i = 0; i < 5; i++)
    gstream_add (f, 2, "hi all", NULL);
  f->join_seq = 2;
  f->group_listed = TRUE;
  login_and_connect (f);
  /* On connect: /conversations lists the group, it is pulled from 0 in pages; 1..2 are outside
   * the window, not a hole. */
  g_assert_true (wait_until (gacked_5, f));
  assert_group_received (f, 3, 5);
  g_assert_cmpuint (f->n_group_sync_calls, >=, 2);
  g_assert_cmpuint (f->received->len, ==, 0);
  {
    g_autofree char *name = imp_mirror_group_name (imp_client_get_mirror (f->client), GROUP_CONV);
    g_assert_cmpstr (name, ==, "crew");
  }

  /* 6..8 stored, only 8 pushed: buffered, the gap pulled. */
  for (int i = 0; i < 3; i++)
    gstream_add (f, 3, "live", NULL);
  gw_push_group (f, 8);
  g_assert_true (wait_until (gacked_8, f));
  assert_group_received (f, 3, 8);

  /* A duplicate is only re-acked. */
  saved = f->n_group_acks;
  gw_push_group (f, 6);
  g_assert_true (wait_until (greacked, f));
  g_assert_cmpint (f->last_group_ack, ==, 8);
  assert_group_received (f, 3, 8);
  g_autoptr(GPtrArray) all = imp_mirror_group_list_messages (imp_client_get_mirror (f->client), GROUP_CONV, 0);
  g_assert_cmpuint (all->len, ==, 6);
  g_assert_cmpint (((ImpMessage *) all->pdata[0])->seq, ==, 3);
  g_assert_cmpint (((ImpMessage *) all->pdata[0])->group_id, ==, GROUP_ID);
  /* The user stream is untouched. */
  g_assert_cmpint (imp_client_get_watermark (f->client), ==, 0);
}

static void
test_group_notice_pull (Fixture *f, gconstpointer data)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__GroupNotice notice = IMPLUS__GROUP_NOTICE__INIT;

  login_and_connect (f);
  for (int i = 0; i < 3; i++)
    gstream_add (f, 2, "too big to push", NULL);
  notice.conversation_id = GROUP_CONV;
  notice.seq = 3;
  env.body_case = IMPLUS__ENVELOPE__BODY_GROUP_NOTICE;
  env.group_notice = &notice;
  gw_send (f, &env);
  g_assert_true (wait_until (gacked_3, f));
  assert_group_received (f, 1, 3);
}

static gboolean group_sent (Fixture *f) { return f->sent->len == 1 && gwm (f) == 2 && f->last_group_ack == 2; }

static void
test_group_send (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cmid = NULL;

  gstream_add (f, 2, "first", NULL);
  f->group_listed = TRUE;
  login_and_connect (f);
  cmid = imp_client_send_group (f->client, GROUP_ID, "hello group", &error);
  g_assert_no_error (error);
  g_assert_true (wait_until (group_sent, f));
  g_assert_cmpstr (f->sent->pdata[0], ==, cmid);
  /* Our copy sits in the group stream at the conversation seq; no message-received for it. */
  g_autoptr(ImpMessage) own = imp_mirror_group_get_message (imp_client_get_mirror (f->client), GROUP_CONV, 2);
  g_assert_nonnull (own);
  g_assert_cmpstr (own->client_msg_id, ==, cmid);
  g_assert_cmpint (own->sender_id, ==, 1);
  assert_group_received (f, 1, 1);
  g_assert_null (imp_client_send_group (f->client, 0, "nowhere", &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_NOT_FOUND);
}

static gboolean conv_updated (Fixture *f) { return f->n_conv_updated >= 1; }
static gboolean delivered_2 (Fixture *f) { return f->state == IMP_MESSAGE_DELIVERED && f->state_seq == 2; }
static gboolean read_1 (Fixture *f) { return f->state == IMP_MESSAGE_READ && f->state_seq == 1; }
static gboolean own_sent (Fixture *f) { return imp_client_get_watermark (f->client) == 3; }

static void
send_read_update (Fixture *f, const char *conv, gint64 user_id, gint64 read_seq)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__ReadUpdate u = IMPLUS__READ_UPDATE__INIT;

  u.conversation_id = (char *) conv;
  u.user_id = user_id;
  u.read_seq = read_seq;
  env.body_case = IMPLUS__ENVELOPE__BODY_READ_UPDATE;
  env.read_update = &u;
  gw_send (f, &env);
}

static void
test_read_and_delivered (Fixture *f, gconstpointer data)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Delivered d = IMPLUS__DELIVERED__INIT;
  ImpMirror *mirror;

  /* Alice's stream: two own messages and one from bob. */
  stream_add (f, 1, 2, "mine 1", "c-1");
  stream_add (f, 1, 2, "mine 2", "c-2");
  stream_add (f, 2, 1, "bob's", NULL);
  login_and_connect (f);
  g_assert_true (wait_until (own_sent, f));
  mirror = imp_client_get_mirror (f->client);

  /* Read on another of alice's devices. */
  send_read_update (f, "private_1_2", 1, 3);
  g_assert_true (wait_until (conv_updated, f));
  g_assert_cmpint (imp_mirror_get_read (mirror, "private_1_2"), ==, 3);

  /* Bob's device stored both; then bob read the first. */
  d.conversation_id = "private_1_2";
  d.up_to_seq = 2;
  d.by_user_id = 2;
  env.body_case = IMPLUS__ENVELOPE__BODY_DELIVERED;
  env.delivered = &d;
  gw_send (f, &env);
  g_assert_true (wait_until (delivered_2, f));
  g_assert_cmpstr (f->state_conv, ==, "private_1_2");
  send_read_update (f, "private_1_2", 2, 1);
  g_assert_true (wait_until (read_1, f));
  {
    g_autoptr(ImpMessage) m1 = imp_mirror_get_message (mirror, 1);
    g_autoptr(ImpMessage) m2 = imp_mirror_get_message (mirror, 2);
    g_autoptr(ImpMessage) m3 = imp_mirror_get_message (mirror, 3);

    g_assert_cmpint (m1->state, ==, IMP_MESSAGE_READ);
    g_assert_cmpint (m2->state, ==, IMP_MESSAGE_DELIVERED);
    g_assert_cmpint (m3->state, ==, IMP_MESSAGE_SENT);  /* bob's own message is not ours to mark */
  }
}

static gboolean marked (Fixture *f) { return f->read_marks->len == 1 && f->typing_to->len == 1; }
static gboolean typed (Fixture *f) { return f->n_typing == 1; }

static void
test_read_mark_and_typing (Fixture *f, gconstpointer data)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Typing t = IMPLUS__TYPING__INIT;

  login_and_connect (f);
  g_assert_true (imp_client_mark_read (f->client, GROUP_CONV, 4));
  g_assert_false (imp_client_mark_read (f->client, GROUP_CONV, 3)); /* never backwards */
  g_assert_true (imp_client_send_typing (f->client, 2));
  g_assert_false (imp_client_send_typing (f->client, 2));           /* rate-limited */
  g_assert_true (wait_until (marked, f));
  g_assert_cmpstr (f->read_marks->pdata[0], ==, GROUP_CONV ":4");
  g_assert_cmpstr (f->typing_to->pdata[0], ==, "2");

  t.from_user_id = 2;
  env.body_case = IMPLUS__ENVELOPE__BODY_TYPING;
  env.typing = &t;
  gw_send (f, &env);
  g_assert_true (wait_until (typed, f));
  g_assert_cmpint (f->typing_from, ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/client/group/gap-pull", test_group_gap_pull);
  ADD ("/client/group/notice-pull", test_group_notice_pull);
  ADD ("/client/group/send", test_group_send);
  ADD ("/client/read/read-update-and-delivered", test_read_and_delivered);
  ADD ("/client/read/mark-and-typing", test_read_mark_and_typing);
  return g_test_run ();
}

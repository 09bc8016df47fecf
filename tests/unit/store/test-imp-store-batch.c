/* test-imp-store-batch.c: what the send transaction keeps per batch (docs/store.md "The send
 * transaction"): counters and conversation rows written once with the last values, a repeat that
 * takes no seq, a refused repeat answered with its receipt, the group counter; the batch form of
 * delivery records; and the SQLite store's WAL checkpointer. Same backends as test-imp-store.c. */
#include "test-store-fixture.h"

static gint64
sql_intf (Fixture *f, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gint64
sql_intf (Fixture *f, const char *fmt, ...)
{
  g_autofree char *sql = NULL;
  va_list ap;

  va_start (ap, fmt);
  sql = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return sql_int (f, sql);
}

static void
commit (Fixture *f, ImpChatRequest *reqs, guint n, ImpChatResult *res)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (imp_store_chat_commit (f->store, reqs, n, res, &error));
  g_assert_no_error (error);
}

/* Several messages of one conversation in one batch, both ways, and notes to oneself: every seq
 * dense, the counter and the list rows hold the last values, the conversation row the last
 * message. */
static void
test_batch_rows (Fixture *f, gconstpointer data)
{
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  g_autofree char *conv = imp_convid_private (a, b);
  g_autofree char *self_conv = imp_convid_private (a, a);
  ImpChatRequest reqs[6];
  ImpChatResult res[6];

  reqs[0] = req (a, b, "r0", "0");
  reqs[1] = req (b, a, "r1", "1");
  reqs[2] = req (a, a, "r2", "note");
  reqs[3] = req (a, b, "r3", "3");
  reqs[4] = req (a, a, "r4", "note 2");
  reqs[5] = req (b, a, "r5", "5");
  for (guint i = 0; i < G_N_ELEMENTS (reqs); i++)
    reqs[i].now_ms = 5000 + i;
  commit (f, reqs, G_N_ELEMENTS (reqs), res);

  /* alice: 1 (r0), 2 (r1), 3 (note), 4 (r3), 5 (note 2), 6 (r5); bob: 1, 2, 3 (r3), 4 (r5) */
  g_assert_cmpint (res[0].sender_seq, ==, 1);
  g_assert_cmpint (res[1].recipient_seq, ==, 2);
  g_assert_cmpint (res[2].sender_seq, ==, 3);
  g_assert_cmpint (res[2].recipient_seq, ==, 0);
  g_assert_cmpint (res[3].sender_seq, ==, 4);
  g_assert_cmpint (res[3].recipient_seq, ==, 3);
  g_assert_cmpint (res[4].sender_seq, ==, 5);
  g_assert_cmpint (res[5].sender_seq, ==, 4);
  g_assert_cmpint (res[5].recipient_seq, ==, 6);
  for (guint i = 0; i < G_N_ELEMENTS (res); i++)
    imp_chat_result_clear (&res[i]);

  g_assert_cmpint (sql_intf (f, "SELECT seq FROM user_seq WHERE user_id = %" G_GINT64_FORMAT, a),
                   ==, 6);
  g_assert_cmpint (sql_intf (f, "SELECT seq FROM user_seq WHERE user_id = %" G_GINT64_FORMAT, b),
                   ==, 4);
  g_assert_cmpint (sql_intf (f, "SELECT last_seq FROM user_conversation_list WHERE user_id = %"
                             G_GINT64_FORMAT " AND conversation_id = '%s'", a, conv), ==, 6);
  g_assert_cmpint (sql_intf (f, "SELECT last_seq FROM user_conversation_list WHERE user_id = %"
                             G_GINT64_FORMAT " AND conversation_id = '%s'", b, conv), ==, 4);
  g_assert_cmpint (sql_intf (f, "SELECT last_msg_id FROM user_conversation_list WHERE user_id = %"
                             G_GINT64_FORMAT " AND conversation_id = '%s'", b, conv),
                   ==, reqs[5].msg_id);
  g_assert_cmpint (sql_intf (f, "SELECT last_update_time FROM user_conversation_list "
                             "WHERE user_id = %" G_GINT64_FORMAT " AND conversation_id = '%s'",
                             a, conv), ==, 5005);
  g_assert_cmpint (sql_intf (f, "SELECT create_time FROM user_conversation_list "
                             "WHERE user_id = %" G_GINT64_FORMAT " AND conversation_id = '%s'",
                             b, conv), ==, 5000);
  g_assert_cmpint (sql_intf (f, "SELECT last_seq FROM user_conversation_list WHERE user_id = %"
                             G_GINT64_FORMAT " AND conversation_id = '%s'", a, self_conv), ==, 5);
  g_assert_cmpint (sql_intf (f, "SELECT peer_id FROM user_conversation_list WHERE user_id = %"
                             G_GINT64_FORMAT " AND conversation_id = '%s'", a, self_conv), ==, a);
  g_assert_cmpint (sql_intf (f, "SELECT last_msg_id FROM conversation WHERE conversation_id = '%s'",
                             conv), ==, reqs[5].msg_id);
  g_assert_cmpint (sql_intf (f, "SELECT create_time FROM conversation WHERE conversation_id = '%s'",
                             conv), ==, 5000);
  g_assert_cmpint (sql_intf (f, "SELECT member_count FROM conversation "
                             "WHERE conversation_id = '%s'", self_conv), ==, 1);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM user_conversation_list"), ==, 3);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM user_msg_list"), ==, 10);

  /* The list: bob has two unread from alice (r0, r3); the last message is his own r5. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) list = imp_store_conversations_list (f->store, b, &error);
    ImpConversationRecord *c;

    g_assert_no_error (error);
    g_assert_cmpuint (list->len, ==, 1);
    c = g_ptr_array_index (list, 0);
    g_assert_cmpint (c->last_seq, ==, 4);
    g_assert_cmpint (c->unread, ==, 2);
    g_assert_nonnull (c->last_message);
    g_assert_cmpint (c->last_message->msg_id, ==, reqs[5].msg_id);
  }
}

/* A repeat from an earlier batch is each user's first request of the batch: it takes no seq
 * (the counter's bump is given back), and the next send continues densely. */
static void
test_batch_repeat_first (Fixture *f, gconstpointer data)
{
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  ImpChatRequest reqs[3];
  ImpChatResult res[3];

  reqs[0] = req (a, b, "k1", "one");
  commit (f, reqs, 1, res);
  imp_chat_result_clear (&res[0]);

  reqs[0] = req (a, b, "k1", "one, again");
  reqs[1] = req (b, a, "k2", "two");
  reqs[2] = req (a, b, "k1", "one, a third time");
  commit (f, reqs, 3, res);
  g_assert_true (res[0].duplicate);
  g_assert_cmpint (res[0].sender_seq, ==, 1);
  g_assert_false (res[1].duplicate);
  g_assert_cmpint (res[1].sender_seq, ==, 2);
  g_assert_cmpint (res[1].recipient_seq, ==, 2);
  g_assert_true (res[2].duplicate);
  for (guint i = 0; i < 3; i++)
    imp_chat_result_clear (&res[i]);
  g_assert_cmpint (sql_intf (f, "SELECT seq FROM user_seq WHERE user_id = %" G_GINT64_FORMAT, a),
                   ==, 2);
  g_assert_cmpint (sql_intf (f, "SELECT seq FROM user_seq WHERE user_id = %" G_GINT64_FORMAT, b),
                   ==, 2);

  /* Only repeats in a batch: nothing moves. */
  reqs[0] = req (a, b, "k1", "x");
  reqs[1] = req (b, a, "k2", "y");
  commit (f, reqs, 2, res);
  g_assert_true (res[0].duplicate && res[1].duplicate);
  for (guint i = 0; i < 2; i++)
    imp_chat_result_clear (&res[i]);
  g_assert_cmpint (sql_intf (f, "SELECT seq FROM user_seq WHERE user_id = %" G_GINT64_FORMAT, a),
                   ==, 2);
  send_one (f->store, a, b, "k3", &res[0]);
  g_assert_cmpint (res[0].sender_seq, ==, 3);
  g_assert_cmpint (res[0].recipient_seq, ==, 3);
  imp_chat_result_clear (&res[0]);
}

/* The key decides before the checks: once banned, a repeat of an accepted send still gets its
 * receipt, a new send is refused and writes nothing. */
static void
test_batch_refused_repeat (Fixture *f, gconstpointer data)
{
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  ImpChatRequest reqs[3];
  ImpChatResult res[3];

  reqs[0] = req (a, b, "k1", "one");
  commit (f, reqs, 1, res);
  imp_chat_result_clear (&res[0]);
  sql_intf (f, "UPDATE users SET status = 2 WHERE id = %" G_GINT64_FORMAT, a);

  reqs[0] = req (a, b, "k2", "refused");
  reqs[1] = req (a, b, "k1", "a repeat");
  reqs[2] = req (b, a, "k3", "to a banned user");
  commit (f, reqs, 3, res);
  g_assert_cmpint (res[0].error_code, ==, IMP_ERROR_BANNED);
  g_assert_null (res[0].conversation_id);
  g_assert_cmpint (res[1].error_code, ==, IMP_ERROR_NONE);
  g_assert_true (res[1].duplicate);
  g_assert_cmpint (res[1].sender_seq, ==, 1);
  g_assert_cmpint (res[2].error_code, ==, IMP_ERROR_BANNED);
  for (guint i = 0; i < 3; i++)
    imp_chat_result_clear (&res[i]);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM send_dedup"), ==, 1);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM message"), ==, 1);
  g_assert_cmpint (sql_int (f, "SELECT max(seq) FROM user_seq"), ==, 1);
}

/* Refusals next to accepted sends in one batch leave no hole in anyone's seqs: a counter the
 * MySQL store bumps ahead (for every user of the batch) is given back when no send takes it. */
static void
test_batch_refused_no_hole (Fixture *f, gconstpointer data)
{
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  gint64 c = add_user (f->store, "carol");
  gint64 nobody = c + 1000;
  ImpChatRequest reqs[4];
  ImpChatResult res[4];

  reqs[0] = req (a, nobody, "n1", "to nobody");
  reqs[1] = req (c, nobody, "n2", "carol to nobody");
  reqs[2] = req (b, a, "n3", "one");
  reqs[3] = req (a, b, "n4", "two");
  commit (f, reqs, 4, res);
  g_assert_cmpint (res[0].error_code, ==, IMP_ERROR_UNKNOWN_USER);
  g_assert_cmpint (res[1].error_code, ==, IMP_ERROR_UNKNOWN_USER);
  g_assert_cmpint (res[2].sender_seq, ==, 1);
  g_assert_cmpint (res[2].recipient_seq, ==, 1);
  g_assert_cmpint (res[3].sender_seq, ==, 2);
  g_assert_cmpint (res[3].recipient_seq, ==, 2);
  for (guint i = 0; i < 4; i++)
    imp_chat_result_clear (&res[i]);
  g_assert_cmpint (sql_intf (f, "SELECT coalesce(max(seq), 0) FROM user_seq WHERE user_id = %"
                             G_GINT64_FORMAT, nobody), ==, 0);
  g_assert_cmpint (sql_intf (f, "SELECT coalesce(max(seq), 0) FROM user_seq WHERE user_id = %"
                             G_GINT64_FORMAT, c), ==, 0);

  /* The next batch goes on where the last left off. */
  reqs[0] = req (c, a, "n5", "carol's first");
  reqs[1] = req (b, c, "n6", "to carol");
  commit (f, reqs, 2, res);
  g_assert_cmpint (res[0].sender_seq, ==, 1);
  g_assert_cmpint (res[0].recipient_seq, ==, 3);
  g_assert_cmpint (res[1].sender_seq, ==, 3);
  g_assert_cmpint (res[1].recipient_seq, ==, 2);
  for (guint i = 0; i < 2; i++)
    imp_chat_result_clear (&res[i]);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM message"), ==, 4);
}

/* Group sends in one batch: dense conversation seqs, the counter and the conversation row
 * written once with the last values; a repeat takes no seq. */
static void
test_batch_group (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpIdGen) ids = imp_id_gen_new (901);
  g_autoptr(ImpGroupChange) change = NULL;
  g_autofree char *conv = NULL;
  gint64 o = add_user (f->store, "owner");
  gint64 m = add_user (f->store, "member");
  gint64 x = add_user (f->store, "outsider");
  ImpChatRequest reqs[5];
  ImpChatResult res[5];
  gint64 gid;

  change = imp_store_group_create (f->store, o, "G", &m, 1, 100, ids, 1000, &error);
  g_assert_no_error (error);
  gid = change->group_id;
  conv = imp_convid_group (gid);

  reqs[0] = req (o, 0, "g1", "one");
  reqs[1] = req (m, 0, "g2", "two");
  reqs[2] = req (x, 0, "g3", "not a member");
  reqs[3] = req (o, 0, "g1", "one again");
  reqs[4] = req (m, 0, "g4", "four");
  for (guint i = 0; i < G_N_ELEMENTS (reqs); i++)
    reqs[i].group_id = gid;
  commit (f, reqs, G_N_ELEMENTS (reqs), res);
  /* seq 1 is group_created */
  g_assert_cmpint (res[0].sender_seq, ==, 2);
  g_assert_cmpint (res[1].sender_seq, ==, 3);
  g_assert_cmpint (res[2].error_code, ==, IMP_ERROR_NOT_MEMBER);
  g_assert_true (res[3].duplicate);
  g_assert_cmpint (res[3].sender_seq, ==, 2);
  g_assert_cmpint (res[4].sender_seq, ==, 4);
  for (guint i = 0; i < G_N_ELEMENTS (res); i++)
    imp_chat_result_clear (&res[i]);
  g_assert_cmpint (sql_intf (f, "SELECT seq FROM `groups` WHERE id = %" G_GINT64_FORMAT, gid),
                   ==, 4);
  g_assert_cmpint (sql_intf (f, "SELECT last_msg_id FROM conversation "
                             "WHERE conversation_id = '%s'", conv), ==, reqs[4].msg_id);
  g_assert_cmpint (sql_intf (f, "SELECT count(*) FROM conversation_msg_list "
                             "WHERE conversation_id = '%s'", conv), ==, 4);

  /* Only a repeat: the counter stays. */
  reqs[0] = req (m, 0, "g2", "two again");
  reqs[0].group_id = gid;
  commit (f, reqs, 1, res);
  g_assert_true (res[0].duplicate);
  imp_chat_result_clear (&res[0]);
  g_assert_cmpint (sql_intf (f, "SELECT seq FROM `groups` WHERE id = %" G_GINT64_FORMAT, gid),
                   ==, 4);
}

static void
test_delivery_batch (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  const ImpDeliveryRecord recs[] = {
    { 1, "phone", 5 }, { 1, "laptop", 2 }, { 2, "phone", 7 }, { 1, "phone", 3 },
  };
  const ImpDeliveryRecord later[] = { { 1, "phone", 4 }, { 1, "laptop", 9 } };

  g_assert_true (imp_store_delivery_record_batch (f->store, NULL, 0, &error));
  g_assert_true (imp_store_delivery_record_batch (f->store, recs, G_N_ELEMENTS (recs), &error));
  g_assert_no_error (error);
  g_assert_cmpint (sql_int (f, "SELECT up_to_seq FROM device_delivery "
                               "WHERE user_id = 1 AND device_id = 'phone'"), ==, 5);
  g_assert_cmpint (sql_int (f, "SELECT up_to_seq FROM device_delivery "
                               "WHERE user_id = 2 AND device_id = 'phone'"), ==, 7);
  g_assert_true (imp_store_delivery_record_batch (f->store, later, G_N_ELEMENTS (later), &error));
  g_assert_no_error (error);
  g_assert_cmpint (sql_int (f, "SELECT up_to_seq FROM device_delivery "
                               "WHERE user_id = 1 AND device_id = 'phone'"), ==, 5);
  g_assert_cmpint (sql_int (f, "SELECT up_to_seq FROM device_delivery "
                               "WHERE user_id = 1 AND device_id = 'laptop'"), ==, 9);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM device_delivery"), ==, 3);
}

static goffset
file_size (const char *path)
{
  GStatBuf st;

  return g_stat (path, &st) == 0 ? st.st_size : 0;
}

/* The SQLite checkpointer: the WAL stays bounded under a stream of commits (checkpointed off
 * the commit path and started over), shrinks to nothing once quiet, and close leaves no WAL. */
static void
test_sqlite_wal (Fixture *f, gconstpointer data)
{
  enum { USERS = 50, BATCHES = 60, BATCH = 200 };
  g_autofree char *wal = g_strconcat (f->path, "-wal", NULL);
  g_autofree ImpChatRequest *reqs = g_new0 (ImpChatRequest, BATCH);
  g_autofree ImpChatResult *res = g_new0 (ImpChatResult, BATCH);
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  gint64 ids[USERS];
  goffset max_wal = 0;
  gint64 deadline;

  for (guint i = 0; i < USERS; i++)
    {
      g_autofree char *name = g_strdup_printf ("u%u", i);
      ids[i] = add_user (f->store, name);
    }
  for (guint n = 0; n < BATCHES; n++)
    {
      g_ptr_array_set_size (keys, 0);
      for (guint i = 0; i < BATCH; i++)
        {
          g_ptr_array_add (keys, g_strdup_printf ("w-%u-%u", n, i));
          reqs[i] = req (ids[(n + i) % USERS], ids[(n * 7 + i * 3 + 1) % USERS], keys->pdata[i],
                         "a message of typical length, about fifty bytes, give or take");
        }
      commit (f, reqs, BATCH, res);
      for (guint i = 0; i < BATCH; i++)
        imp_chat_result_clear (&res[i]);
      max_wal = MAX (max_wal, file_size (wal));
    }
  /* 12,000 sends write ~60 MB of WAL frames in all; the checkpointer starts it over every
   * ~1,000 pages (4 MB), so the file stays far below that, even on a loaded machine. */
  g_test_message ("largest WAL: %" G_GOFFSET_FORMAT " bytes", max_wal);
  g_assert_cmpint (max_wal, <, 40 * 1024 * 1024);

  /* Quiet: truncated to nothing (after 500 ms without a commit). */
  deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  while (file_size (wal) > 0 && g_get_monotonic_time () < deadline)
    g_usleep (20 * 1000);
  g_assert_cmpint (file_size (wal), ==, 0);

  /* Close: checkpointed, no WAL left; everything is in the database file. */
  send_one (f->store, ids[0], ids[1], "last", &res[0]);
  imp_chat_result_clear (&res[0]);
  g_clear_pointer (&f->store, imp_store_free);
  g_assert_cmpint (file_size (wal), ==, 0);
  f->store = imp_store_sqlite_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM message"), ==, BATCHES * BATCH + 1);
}

static const Case cases[] = {
  { "batch-rows", test_batch_rows },
  { "batch-repeat-first", test_batch_repeat_first },
  { "batch-refused-repeat", test_batch_refused_repeat },
  { "batch-refused-no-hole", test_batch_refused_no_hole },
  { "batch-group", test_batch_group },
  { "delivery-batch", test_delivery_batch },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  add_cases (&sqlite_backend, cases, G_N_ELEMENTS (cases), NULL);
  g_test_add_vtable ("/store/sqlite/wal", sizeof (Fixture), &sqlite_backend,
                     (GTestFixtureFunc) fixture_setup, (GTestFixtureFunc) test_sqlite_wal,
                     (GTestFixtureFunc) fixture_teardown);
#ifdef IMPLUS_HAVE_MYSQL
  add_cases (&mysql_backend, cases, G_N_ELEMENTS (cases),
             mysql_params_load () ? NULL : MYSQL_SKIP);
#endif
  return g_test_run ();
}

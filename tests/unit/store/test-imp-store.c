/* test-imp-store.c: the store against the invariants of DESIGN §3, the same cases for every
 * backend (a table of backend openers): SQLite always; MySQL/MariaDB when IMPLUS_TEST_MYSQL is
 * "host:port:user:password:database" (each case starts from an empty database), else skipped.
 * MySQL-only cases: two stores (two connection pools, as two processes) on the same users,
 * a killed connection, concurrent migration, an unreachable server. */
#include "test-store-fixture.h"


static void
assert_dense_stream (ImpStore *store, gint64 user, gint64 expect_n)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) msgs = imp_store_stream_pull (store, user, 0, 100000, &error);
  g_autoptr(GHashTable) ids = g_hash_table_new (g_int64_hash, g_int64_equal);
  gint64 max = -1;

  g_assert_no_error (error);
  g_assert_cmpuint (msgs->len, ==, expect_n);
  for (guint i = 0; i < msgs->len; i++)
    {
      ImpMessageRecord *m = g_ptr_array_index (msgs, i);
      g_assert_cmpint (m->seq, ==, i + 1);
      g_assert_false (g_hash_table_contains (ids, &m->msg_id));
      g_hash_table_add (ids, &m->msg_id);
    }
  g_assert_true (imp_store_stream_max_seq (store, user, &max, &error));
  g_assert_cmpint (max, ==, expect_n);
}

static void
test_users (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpUserRecord) rec = NULL;
  g_autoptr(ImpUserRecord) found = NULL;
  gint64 alice = add_user (f->store, "alice");
  gint64 bob, id = 0;

  g_assert_true (imp_store_user_create (f->store, "bob", "Bobby", "h", 2000, &bob, &error));
  g_assert_cmpint (bob, >, alice);

  g_assert_false (imp_store_user_create (f->store, "alice", NULL, "h", 1, &id, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_CONFLICT);
  g_clear_error (&error);
  /* Login names are case-insensitive, as with MySQL's default collation. */
  g_assert_false (imp_store_user_create (f->store, "ALICE", NULL, "h", 1, &id, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_CONFLICT);
  g_clear_error (&error);

  rec = imp_store_user_get (f->store, bob, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (rec->username, ==, "bob");
  g_assert_cmpstr (rec->nickname, ==, "Bobby");
  g_assert_cmpstr (rec->password_hash, ==, "h");
  g_assert_cmpint (rec->status, ==, IMP_USER_STATUS_NORMAL);
  g_assert_cmpint (rec->created_ms, ==, 2000);

  found = imp_store_user_find (f->store, "alice", &error);
  g_assert_no_error (error);
  g_assert_cmpint (found->id, ==, alice);
  g_assert_cmpstr (found->nickname, ==, "alice");

  g_assert_null (imp_store_user_get (f->store, 9999, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER);
  g_clear_error (&error);
  g_assert_null (imp_store_user_find (f->store, "nobody", &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER);
  g_clear_error (&error);

  g_assert_true (imp_store_user_touch_login (f->store, alice, 5000, &error));
  g_assert_no_error (error);
  g_assert_false (imp_store_user_touch_login (f->store, 9999, 5000, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER);
}

static void
test_chat_batch (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sql = NULL;
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  gint64 c = add_user (f->store, "carol");
  g_autofree char *conv = imp_convid_private (a, b);
  ImpChatRequest reqs[8];
  ImpChatResult res[8];
  ImpChatResult again = { 0 };

  sql = g_strdup_printf ("UPDATE users SET status = 2 WHERE id = %" G_GINT64_FORMAT, c);
  g_assert_cmpint (sql_int (f, sql), ==, -1);

  reqs[0] = req (a, b, "m1", "one");
  reqs[1] = req (a, 9999, "m-unknown", "lost");
  reqs[2] = req (b, a, "m2", "two");
  reqs[3] = req (a, b, "m1", "one again");  /* duplicate inside the batch */
  reqs[4] = req (a, b, "m3", "three");
  reqs[5] = req (a, c, "m-banned", "nope");
  reqs[6] = req (a, b, "", "no key");
  reqs[7] = req (b, a, "m1", "same key, other sender");
  g_assert_true (imp_store_chat_commit (f->store, reqs, G_N_ELEMENTS (reqs), res, &error));
  g_assert_no_error (error);

  g_assert_cmpint (res[0].error_code, ==, IMP_ERROR_NONE);
  g_assert_false (res[0].duplicate);
  g_assert_cmpint (res[0].msg_id, ==, reqs[0].msg_id);
  g_assert_cmpstr (res[0].conversation_id, ==, conv);
  g_assert_cmpint (res[0].sender_seq, ==, 1);
  g_assert_cmpint (res[0].recipient_seq, ==, 1);
  g_assert_cmpint (res[0].send_time_ms, ==, reqs[0].now_ms);

  g_assert_cmpint (res[1].error_code, ==, IMP_ERROR_UNKNOWN_USER);
  g_assert_cmpint (res[2].sender_seq, ==, 2);
  g_assert_cmpint (res[2].recipient_seq, ==, 2);

  g_assert_true (res[3].duplicate);
  g_assert_cmpint (res[3].error_code, ==, IMP_ERROR_NONE);
  g_assert_cmpint (res[3].msg_id, ==, reqs[0].msg_id);
  g_assert_cmpint (res[3].sender_seq, ==, 1);
  g_assert_cmpint (res[3].recipient_seq, ==, 1);
  g_assert_cmpstr (res[3].conversation_id, ==, conv);

  g_assert_cmpint (res[4].sender_seq, ==, 3);
  g_assert_cmpint (res[4].recipient_seq, ==, 3);
  g_assert_cmpint (res[5].error_code, ==, IMP_ERROR_BANNED);
  g_assert_cmpint (res[6].error_code, ==, IMP_ERROR_BAD_REQUEST);
  g_assert_false (res[7].duplicate);
  g_assert_cmpint (res[7].sender_seq, ==, 4);

  for (guint i = 0; i < G_N_ELEMENTS (res); i++)
    imp_chat_result_clear (&res[i]);

  /* Refused requests wrote nothing: dense streams, no row for carol. */
  assert_dense_stream (f->store, a, 4);
  assert_dense_stream (f->store, b, 4);
  assert_dense_stream (f->store, c, 0);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM message"), ==, 4);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM send_dedup"), ==, 4);

  /* A retry in a later batch gets the original receipt. */
  send_one (f->store, b, a, "m2", &again);
  g_assert_true (again.duplicate);
  g_assert_cmpint (again.msg_id, ==, reqs[2].msg_id);
  g_assert_cmpint (again.sender_seq, ==, 2);
  g_assert_cmpint (again.recipient_seq, ==, 2);
  g_assert_cmpint (again.send_time_ms, ==, reqs[2].now_ms);
  imp_chat_result_clear (&again);
  assert_dense_stream (f->store, a, 4);
}

static void
test_rollback (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  ImpChatRequest reqs[3];
  ImpChatResult res[3];

  reqs[0] = req (a, b, "r1", "x");
  reqs[1] = req (a, b, "r2", "y");
  reqs[2] = req (b, a, "r3", "z");
  reqs[2].msg_id = reqs[0].msg_id;  /* a broken worker: the message row collides */
  g_assert_false (imp_store_chat_commit (f->store, reqs, 3, res, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_INTERNAL);
  g_assert_null (res[0].conversation_id);
  g_clear_error (&error);

  /* Nothing of the batch stayed, and the next send gets seq 1. */
  assert_dense_stream (f->store, a, 0);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM send_dedup"), ==, 0);
  reqs[2].msg_id = 777777;
  g_assert_true (imp_store_chat_commit (f->store, reqs, 3, res, &error));
  g_assert_cmpint (res[0].sender_seq, ==, 1);
  g_assert_cmpint (res[2].sender_seq, ==, 3);
  for (guint i = 0; i < 3; i++)
    imp_chat_result_clear (&res[i]);
  assert_dense_stream (f->store, a, 3);
  assert_dense_stream (f->store, b, 3);
}

static void
test_pull_and_history (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  gint64 c = add_user (f->store, "carol");
  g_autofree char *conv = imp_convid_private (a, b);
  g_autoptr(GPtrArray) hist = NULL;
  g_autoptr(GPtrArray) older = NULL;
  gint64 after = 0;
  guint pages = 0;

  for (int i = 0; i < 25; i++)
    {
      g_autofree char *cmid = g_strdup_printf ("p%d", i);
      ImpChatResult res = { 0 };
      send_one (f->store, a, b, cmid, &res);
      imp_chat_result_clear (&res);
    }

  /* Paging: 10 + 10 + 5, then empty. */
  for (;;)
    {
      g_autoptr(GPtrArray) page = imp_store_stream_pull (f->store, b, after, 10, &error);
      g_assert_no_error (error);
      if (page->len == 0)
        break;
      pages++;
      g_assert_cmpuint (page->len, ==, pages < 3 ? 10 : 5);
      for (guint i = 0; i < page->len; i++)
        {
          ImpMessageRecord *m = g_ptr_array_index (page, i);
          g_assert_cmpint (m->seq, ==, after + 1);
          g_assert_cmpint (m->sender_id, ==, a);
          g_assert_cmpint (m->to_user_id, ==, b);
          g_assert_cmpstr (m->conversation_id, ==, conv);
          g_assert_cmpstr (m->content, ==, "hello");
          g_assert_null (m->client_msg_id);  /* not the sender's copy */
          after = m->seq;
        }
    }
  g_assert_cmpuint (pages, ==, 3);
  g_assert_cmpint (after, ==, 25);

  {
    g_autoptr(GPtrArray) own = imp_store_stream_pull (f->store, a, 24, 10, &error);
    ImpMessageRecord *m = g_ptr_array_index (own, 0);
    g_assert_cmpuint (own->len, ==, 1);
    g_assert_cmpstr (m->client_msg_id, ==, "p24");
  }

  /* History: newest first, seq < before. */
  hist = imp_store_conversation_history (f->store, a, conv, 0, 5, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hist->len, ==, 5);
  g_assert_cmpint (((ImpMessageRecord *) hist->pdata[0])->seq, ==, 25);
  g_assert_cmpint (((ImpMessageRecord *) hist->pdata[4])->seq, ==, 21);
  older = imp_store_conversation_history (f->store, a, conv, 3, 5, &error);
  g_assert_cmpuint (older->len, ==, 2);
  g_assert_cmpint (((ImpMessageRecord *) older->pdata[0])->seq, ==, 2);

  g_assert_null (imp_store_conversation_history (f->store, c, conv, 0, 5, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_assert_null (imp_store_conversation_history (f->store, a, "private_02_1", 0, 5, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  /* Not a member of that group (migration 0002): NOT_MEMBER, also 403 over HTTP. */
  g_assert_null (imp_store_conversation_history (f->store, a, "group_5", 0, 5, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_NOT_MEMBER);
}

static ImpConversationRecord *
find_conv (GPtrArray *list, const char *conv_id)
{
  for (guint i = 0; i < list->len; i++)
    {
      ImpConversationRecord *r = g_ptr_array_index (list, i);
      if (g_strcmp0 (r->conversation_id, conv_id) == 0)
        return r;
    }
  return NULL;
}

static void
test_unread (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  gint64 c = add_user (f->store, "carol");
  g_autofree char *ab = imp_convid_private (a, b);
  g_autofree char *bc = imp_convid_private (b, c);
  ImpChatResult res = { 0 };
  ImpConversationRecord *r;

  for (int i = 0; i < 3; i++)
    {
      g_autofree char *cmid = g_strdup_printf ("u%d", i);
      send_one (f->store, a, b, cmid, &res);
      imp_chat_result_clear (&res);
    }
  send_one (f->store, b, a, "reply", &res);
  imp_chat_result_clear (&res);

  {
    g_autoptr(GPtrArray) list = imp_store_conversations_list (f->store, b, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (list->len, ==, 1);
    r = list->pdata[0];
    g_assert_cmpstr (r->conversation_id, ==, ab);
    g_assert_cmpint (r->kind, ==, IMP_CONV_PRIVATE);
    g_assert_cmpint (r->peer_id, ==, a);
    g_assert_cmpstr (r->peer_username, ==, "alice");
    g_assert_cmpint (r->unread, ==, 3);  /* own reply not counted */
    g_assert_cmpint (r->read_seq, ==, 0);
    g_assert_cmpint (r->last_seq, ==, 4);
    g_assert_nonnull (r->last_message);
    g_assert_cmpint (r->last_message->sender_id, ==, b);
    g_assert_cmpint (r->last_message->seq, ==, 4);
    g_assert_cmpstr (r->last_message->client_msg_id, ==, "reply");
  }
  {
    g_autoptr(GPtrArray) list = imp_store_conversations_list (f->store, a, &error);
    r = list->pdata[0];
    g_assert_cmpint (r->unread, ==, 1);
    g_assert_cmpstr (r->peer_username, ==, "bob");
    g_assert_null (r->last_message->client_msg_id);  /* bob's message, seen by alice */
  }

  /* Read position moves forward only, and not past the conversation's last message. */
  g_assert_true (imp_store_conversation_mark_read (f->store, b, ab, 2, &error));
  g_assert_no_error (error);
  g_assert_true (imp_store_conversation_mark_read (f->store, b, ab, 1, &error));
  {
    g_autoptr(GPtrArray) list = imp_store_conversations_list (f->store, b, &error);
    r = list->pdata[0];
    g_assert_cmpint (r->read_seq, ==, 2);
    g_assert_cmpint (r->unread, ==, 1);
  }
  g_assert_true (imp_store_conversation_mark_read (f->store, b, ab, 1000, &error));
  {
    g_autoptr(GPtrArray) list = imp_store_conversations_list (f->store, b, &error);
    r = list->pdata[0];
    g_assert_cmpint (r->read_seq, ==, 4);
    g_assert_cmpint (r->unread, ==, 0);
  }
  g_assert_false (imp_store_conversation_mark_read (f->store, c, ab, 1, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN);
  g_clear_error (&error);

  /* A newer conversation comes first; the other's unread is untouched. */
  send_one (f->store, c, b, "from-carol", &res);
  imp_chat_result_clear (&res);
  send_one (f->store, a, b, "u-late", &res);
  imp_chat_result_clear (&res);
  send_one (f->store, c, b, "from-carol-2", &res);
  imp_chat_result_clear (&res);
  {
    g_autoptr(GPtrArray) list = imp_store_conversations_list (f->store, b, &error);
    g_assert_cmpuint (list->len, ==, 2);
    r = list->pdata[0];
    g_assert_cmpstr (r->conversation_id, ==, bc);
    g_assert_cmpint (r->unread, ==, 2);
    g_assert_cmpint (r->last_seq, ==, 7);
    r = find_conv (list, ab);
    g_assert_cmpint (r->unread, ==, 1);
    g_assert_cmpint (r->last_seq, ==, 6);
  }
}

/* A one-to-one message's seq in each participant's stream, by its msg id; nobody else's. */
static void
test_seq_of (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  gint64 c = add_user (f->store, "carol");
  ImpChatResult res[4] = { { 0 } };
  gint64 seq = -1;
  gboolean found = TRUE;

  send_one (f->store, a, c, "to-carol", &res[0]);   /* alice 1, carol 1 */
  send_one (f->store, a, b, "one", &res[1]);        /* alice 2, bob 1 */
  send_one (f->store, b, a, "back", &res[2]);       /* bob 2, alice 3 */
  send_one (f->store, a, a, "note", &res[3]);       /* alice 4 (to oneself) */
  for (guint i = 1; i < 3; i++)
    {
      gint64 sender = i == 2 ? b : a, recipient = i == 2 ? a : b;

      g_assert_true (imp_store_message_seq_of (f->store, sender, res[i].msg_id, &seq, &found,
                                               &error));
      g_assert_no_error (error);
      g_assert_true (found);
      g_assert_cmpint (seq, ==, res[i].sender_seq);
      g_assert_true (imp_store_message_seq_of (f->store, recipient, res[i].msg_id, &seq, &found,
                                               &error));
      g_assert_true (found);
      g_assert_cmpint (seq, ==, res[i].recipient_seq);
      /* carol is neither side. */
      g_assert_true (imp_store_message_seq_of (f->store, c, res[i].msg_id, &seq, &found, &error));
      g_assert_false (found);
    }
  g_assert_cmpint (res[1].sender_seq, ==, 2);
  g_assert_cmpint (res[2].recipient_seq, ==, 3);
  g_assert_true (imp_store_message_seq_of (f->store, a, res[3].msg_id, &seq, &found, &error));
  g_assert_true (found);
  g_assert_cmpint (seq, ==, 4);
  g_assert_true (imp_store_message_seq_of (f->store, a, 12345, &seq, &found, &error));
  g_assert_false (found);
  /* A group message is in no user stream: not found, for its sender either. */
  {
    g_autoptr(ImpIdGen) ids = imp_id_gen_new (3);
    g_autoptr(ImpGroupChange) change = imp_store_group_create (f->store, a, "G", &b, 1, 10, ids,
                                                               1000, &error);
    gint64 group_msg;

    g_assert_no_error (error);
    group_msg = ((ImpMessageRecord *) change->messages->pdata[0])->msg_id;
    g_assert_true (imp_store_message_seq_of (f->store, a, group_msg, &seq, &found, &error));
    g_assert_false (found);
  }
  for (guint i = 0; i < G_N_ELEMENTS (res); i++)
    imp_chat_result_clear (&res[i]);
}

static void
test_self (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  g_autofree char *aa = imp_convid_private (a, a);
  ImpChatResult res = { 0 };

  send_one (f->store, a, b, "x", &res);
  imp_chat_result_clear (&res);
  send_one (f->store, a, a, "note", &res);
  g_assert_cmpint (res.error_code, ==, IMP_ERROR_NONE);
  g_assert_cmpstr (res.conversation_id, ==, aa);
  g_assert_cmpint (res.sender_seq, ==, 2);
  g_assert_cmpint (res.recipient_seq, ==, 0);
  imp_chat_result_clear (&res);
  send_one (f->store, a, a, "note", &res);
  g_assert_true (res.duplicate);
  g_assert_cmpint (res.sender_seq, ==, 2);
  imp_chat_result_clear (&res);

  assert_dense_stream (f->store, a, 2);
  {
    g_autoptr(GPtrArray) list = imp_store_conversations_list (f->store, a, &error);
    ImpConversationRecord *r = find_conv (list, aa);
    g_assert_cmpuint (list->len, ==, 2);
    g_assert_nonnull (r);
    g_assert_cmpint (r->peer_id, ==, a);
    g_assert_cmpint (r->unread, ==, 0);
    g_assert_cmpint (r->last_seq, ==, 2);
  }
  {
    g_autoptr(GPtrArray) hist = imp_store_conversation_history (f->store, a, aa, 0, 10, &error);
    g_assert_cmpuint (hist->len, ==, 1);
    g_assert_cmpint (((ImpMessageRecord *) hist->pdata[0])->to_user_id, ==, a);
  }
}

static void
test_reopen (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  gint64 applied, applied_ms;
  ImpChatResult res = { 0 };

  send_one (f->store, a, b, "before", &res);
  imp_chat_result_clear (&res);
  g_autofree char *ab = imp_convid_private (a, b);

  g_assert_true (imp_store_conversation_mark_read (f->store, b, ab, 1, &error));
  applied = sql_int (f, "SELECT count(*) FROM schema_version");
  applied_ms = sql_int (f, "SELECT max(applied_ms) FROM schema_version");
  g_assert_cmpint (applied, >=, 1);

  g_clear_pointer (&f->store, imp_store_free);
  f->store = f->backend->open (f, &error);
  g_assert_no_error (error);

  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM schema_version"), ==, applied);
  g_assert_cmpint (sql_int (f, "SELECT max(applied_ms) FROM schema_version"), ==, applied_ms);
  {
    g_autoptr(ImpUserRecord) u = imp_store_user_find (f->store, "bob", &error);
    g_assert_no_error (error);
    g_assert_cmpint (u->id, ==, b);
  }
  /* The dedup key survived: a retry gets the original receipt; seqs go on. */
  send_one (f->store, a, b, "before", &res);
  g_assert_true (res.duplicate);
  g_assert_cmpint (res.sender_seq, ==, 1);
  imp_chat_result_clear (&res);
  send_one (f->store, a, b, "after", &res);
  g_assert_cmpint (res.sender_seq, ==, 2);
  g_assert_cmpint (res.recipient_seq, ==, 2);
  imp_chat_result_clear (&res);
  assert_dense_stream (f->store, b, 2);
  {
    g_autoptr(GPtrArray) list = imp_store_conversations_list (f->store, b, &error);
    ImpConversationRecord *r = list->pdata[0];
    g_assert_cmpint (r->read_seq, ==, 1);
    g_assert_cmpint (r->unread, ==, 1);
  }
}

typedef struct {
  ImpStore *store;
  gint64    from, to;
  int       tag;
  guint     batches, per_batch;
  guint     retries;
} SenderArgs;

/* Commits a batch as the message worker does: UNAVAILABLE (a deadlock or lock wait timeout
 * between concurrent writers) rolled everything back, so the whole batch is sent again. */
static void
commit_retrying (ImpStore *store, const ImpChatRequest *reqs, guint n, ImpChatResult *res,
                 guint *retries)
{
  for (guint attempt = 0;; attempt++)
    {
      g_autoptr(GError) error = NULL;

      if (imp_store_chat_commit (store, reqs, n, res, &error))
        return;
      g_assert_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE);
      g_assert_cmpuint (attempt, <, 200);
      for (guint i = 0; i < n; i++)
        g_assert_null (res[i].conversation_id);
      (*retries)++;
    }
}

static gpointer
sender_thread (gpointer data)
{
  SenderArgs *s = data;
  g_autofree ImpChatRequest *reqs = g_new0 (ImpChatRequest, s->per_batch);
  g_autofree ImpChatResult *res = g_new0 (ImpChatResult, s->per_batch);
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);

  for (guint n = 0; n < s->batches; n++)
    {
      g_autoptr(GError) error = NULL;

      for (guint i = 0; i < s->per_batch; i++)
        {
          char *cmid = g_strdup_printf ("t%d-%u-%u", s->tag, n, i);
          g_ptr_array_add (keys, cmid);
          reqs[i] = req (s->from, s->to, cmid, "concurrent");
        }
      commit_retrying (s->store, reqs, s->per_batch, res, &s->retries);
      for (guint i = 0; i < s->per_batch; i++)
        {
          g_assert_cmpint (res[i].error_code, ==, IMP_ERROR_NONE);
          imp_chat_result_clear (&res[i]);
        }
      /* A reader beside the writers: its snapshot is always dense. */
      {
        g_autoptr(GPtrArray) page = imp_store_stream_pull (s->store, s->to, 0, 5000, &error);
        g_assert_no_error (error);
        for (guint i = 0; i < page->len; i++)
          g_assert_cmpint (((ImpMessageRecord *) page->pdata[i])->seq, ==, i + 1);
      }
    }
  return NULL;
}

static void
test_threads (Fixture *f, gconstpointer data)
{
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  gint64 c = add_user (f->store, "carol");
  SenderArgs args[3] = {
    { f->store, a, b, 0, 20, 25 },
    { f->store, b, a, 1, 20, 25 },
    { f->store, c, b, 2, 20, 25 },
  };
  GThread *threads[3];

  for (guint i = 0; i < 3; i++)
    threads[i] = g_thread_new ("sender", sender_thread, &args[i]);
  for (guint i = 0; i < 3; i++)
    g_thread_join (threads[i]);

  /* b receives from a and c and sends to a: 1500 rows, dense, no msg_id twice. */
  assert_dense_stream (f->store, b, 1500);
  assert_dense_stream (f->store, a, 1000);
  assert_dense_stream (f->store, c, 500);
}

static void
test_tokens (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 future = g_get_real_time () / G_USEC_PER_SEC + 3600;
  gboolean revoked = TRUE;

  g_assert_true (imp_store_token_is_revoked (f->store, "tok-1", &revoked, &error));
  g_assert_false (revoked);
  g_assert_true (imp_store_token_revoke (f->store, "tok-1", 1, future, &error));
  g_assert_true (imp_store_token_revoke (f->store, "tok-1", 1, future, &error));  /* idempotent */
  g_assert_no_error (error);
  g_assert_true (imp_store_token_is_revoked (f->store, "tok-1", &revoked, &error));
  g_assert_true (revoked);
  g_assert_true (imp_store_token_is_revoked (f->store, "tok-2", &revoked, &error));
  g_assert_false (revoked);

  /* Revocations of tokens past their expiry are dropped (those tokens fail on expiry). */
  g_assert_true (imp_store_token_revoke (f->store, "tok-old", 1, 10, &error));
  g_assert_true (imp_store_token_revoke (f->store, "tok-3", 1, future, &error));
  g_assert_true (imp_store_token_is_revoked (f->store, "tok-old", &revoked, &error));
  g_assert_false (revoked);
  g_assert_true (imp_store_token_is_revoked (f->store, "tok-3", &revoked, &error));
  g_assert_true (revoked);
}

static void
test_delivery (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (imp_store_delivery_record (f->store, 1, "phone", 5, &error));
  g_assert_true (imp_store_delivery_record (f->store, 1, "phone", 3, &error));
  g_assert_true (imp_store_delivery_record (f->store, 1, "laptop", 2, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sql_int (f, "SELECT up_to_seq FROM device_delivery "
                                     "WHERE user_id = 1 AND device_id = 'phone'"), ==, 5);
  g_assert_cmpint (sql_int (f, "SELECT up_to_seq FROM device_delivery "
                                     "WHERE user_id = 1 AND device_id = 'laptop'"), ==, 2);
}

/* Durability against kill -9: a child commits and is killed before closing anything; the
 * parent reopens the file and finds every committed row (WAL recovery). */
static void
test_killed (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  ImpStore *store;
  gint64 a, b;

  if (g_test_subprocess ())
    {
      ImpChatResult res = { 0 };

      store = imp_store_sqlite_open (g_getenv ("IMPLUS_TEST_STORE_PATH"), &error);
      g_assert_no_error (error);
      a = add_user (store, "alice");
      b = add_user (store, "bob");
      for (int i = 0; i < 3; i++)
        {
          g_autofree char *cmid = g_strdup_printf ("k%d", i);
          send_one (store, a, b, cmid, &res);
          imp_chat_result_clear (&res);
        }
      raise (SIGKILL);
      g_assert_not_reached ();
    }

  dir = g_dir_make_tmp ("implus-store-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (dir, "store.db", NULL);
  g_setenv ("IMPLUS_TEST_STORE_PATH", path, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_assert_false (g_test_trap_has_passed ());

  store = imp_store_sqlite_open (path, &error);
  g_assert_no_error (error);
  {
    g_autoptr(ImpUserRecord) u = imp_store_user_find (store, "bob", &error);
    g_assert_no_error (error);
    assert_dense_stream (store, u->id, 3);
  }
  imp_store_free (store);

  {
    const char *suffixes[] = { "", "-wal", "-shm" };
    for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
      {
        g_autofree char *p = g_strconcat (path, suffixes[i], NULL);
        g_remove (p);
      }
    g_assert_cmpint (g_rmdir (dir), ==, 0);
  }
}

static double
thread_cpu_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
test_throughput (Fixture *f, gconstpointer data)
{
  enum { USERS = 200, BATCHES = 40, BATCH = 256 };
  gint64 ids[USERS];
  g_autofree ImpChatRequest *reqs = g_new0 (ImpChatRequest, BATCH);
  g_autofree ImpChatResult *res = g_new0 (ImpChatResult, BATCH);
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  gint64 total = 0;
  double secs, cpu;

  for (guint i = 0; i < USERS; i++)
    {
      g_autofree char *name = g_strdup_printf ("user%u", i);
      ids[i] = add_user (f->store, name);
    }
  for (guint i = 0; i < BATCHES * BATCH; i++)
    g_ptr_array_add (keys, g_strdup_printf ("%08x-0000-4000-8000-%012u", g_rand_int (rand), i));

  cpu = thread_cpu_seconds ();
  g_test_timer_start ();
  for (guint n = 0; n < BATCHES; n++)
    {
      g_autoptr(GError) error = NULL;

      for (guint i = 0; i < BATCH; i++)
        reqs[i] = req (ids[g_rand_int_range (rand, 0, USERS)], ids[g_rand_int_range (rand, 0, USERS)],
                       keys->pdata[n * BATCH + i], "a message of typical length, about fifty bytes");
      g_assert_true (imp_store_chat_commit (f->store, reqs, BATCH, res, &error));
      g_assert_no_error (error);
      for (guint i = 0; i < BATCH; i++)
        imp_chat_result_clear (&res[i]);
    }
  secs = g_test_timer_elapsed ();
  cpu = thread_cpu_seconds () - cpu;
  for (guint i = 0; i < USERS; i++)
    {
      gint64 max = 0;
      g_assert_true (imp_store_stream_max_seq (f->store, ids[i], &max, NULL));
      total += max;
    }
  g_assert_cmpint (total, >, BATCHES * BATCH);  /* every send made one or two rows */
  /* CPU time too: the wall-clock rate drops when other work shares the two cores. */
  g_test_message ("%s chat_commit: %d sends in batches of %d in %.3f s: %.0f sends/s "
                  "(%.0f sends per CPU second)", f->backend->name, BATCHES * BATCH, BATCH, secs,
                  BATCHES * BATCH / secs, BATCHES * BATCH / MAX (cpu, 1e-6));
}

#ifdef IMPLUS_HAVE_MYSQL
/* Two stores, so two connection pools, as two message workers in two processes: both commit
 * to the same users at once, in both directions. Seqs stay dense and unique; deadlocks end as
 * UNAVAILABLE and the batch is retried whole. */
static void
test_mysql_two_stores (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpStore) other = mysql_open_pool (2, &error);
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  gint64 c = add_user (f->store, "carol");
  SenderArgs args[4] = {
    { f->store, a, b, 0, 20, 25 },
    { other, b, a, 1, 20, 25 },
    { f->store, c, b, 2, 20, 25 },
    { other, a, c, 3, 20, 25 },
  };
  GThread *threads[4];
  guint retries = 0;

  g_assert_no_error (error);
  for (guint i = 0; i < 4; i++)
    threads[i] = g_thread_new ("sender", sender_thread, &args[i]);
  for (guint i = 0; i < 4; i++)
    {
      g_thread_join (threads[i]);
      retries += args[i].retries;
    }
  g_test_message ("two stores: %u batches retried after a deadlock or lock wait", retries);

  /* a: sends 1000 (to b and c) + receives 500 from b; b: 500 + 1000; c: 500 + 500. */
  assert_dense_stream (f->store, a, 1500);
  assert_dense_stream (other, b, 1500);
  assert_dense_stream (f->store, c, 1000);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM message"), ==, 2000);
}

typedef struct {
  ImpStore     *store;
  gint64        from, to;
  guint         n;
  ImpChatResult *res;
  GCond        *cond;
  GMutex       *lock;
  guint        *ready;
} DupArgs;

/* Sends the same keys as its twin, one per batch, starting together. */
static gpointer
dup_thread (gpointer data)
{
  DupArgs *d = data;
  guint retries = 0;

  g_mutex_lock (d->lock);
  if (++*d->ready == 2)
    g_cond_broadcast (d->cond);
  while (*d->ready < 2)
    g_cond_wait (d->cond, d->lock);
  g_mutex_unlock (d->lock);

  for (guint i = 0; i < d->n; i++)
    {
      g_autofree char *cmid = g_strdup_printf ("dup-%u", i);
      ImpChatRequest r = req (d->from, d->to, cmid, "twice");

      commit_retrying (d->store, &r, 1, &d->res[i], &retries);
    }
  return NULL;
}

/* Two workers get the same sends at once (a replay racing the original): each key is stored
 * once and both answers are the same receipt. */
static void
test_mysql_concurrent_dedup (Fixture *f, gconstpointer data)
{
  enum { N = 200 };
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpStore) other = mysql_open_pool (1, &error);
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  g_autofree ImpChatResult *r1 = g_new0 (ImpChatResult, N);
  g_autofree ImpChatResult *r2 = g_new0 (ImpChatResult, N);
  GMutex lock;
  GCond cond;
  guint ready = 0, dups = 0;
  DupArgs d1 = { f->store, a, b, N, r1, &cond, &lock, &ready };
  DupArgs d2 = { other, a, b, N, r2, &cond, &lock, &ready };
  GThread *t1, *t2;

  g_assert_no_error (error);
  g_mutex_init (&lock);
  g_cond_init (&cond);
  t1 = g_thread_new ("dup1", dup_thread, &d1);
  t2 = g_thread_new ("dup2", dup_thread, &d2);
  g_thread_join (t1);
  g_thread_join (t2);
  g_mutex_clear (&lock);
  g_cond_clear (&cond);

  for (guint i = 0; i < N; i++)
    {
      g_assert_cmpint (r1[i].error_code, ==, IMP_ERROR_NONE);
      g_assert_cmpint (r2[i].error_code, ==, IMP_ERROR_NONE);
      g_assert_true (r1[i].duplicate != r2[i].duplicate);
      g_assert_cmpint (r1[i].msg_id, ==, r2[i].msg_id);
      g_assert_cmpint (r1[i].sender_seq, ==, r2[i].sender_seq);
      g_assert_cmpint (r1[i].recipient_seq, ==, r2[i].recipient_seq);
      g_assert_cmpstr (r1[i].conversation_id, ==, r2[i].conversation_id);
      dups += r2[i].duplicate;
      imp_chat_result_clear (&r1[i]);
      imp_chat_result_clear (&r2[i]);
    }
  g_test_message ("concurrent dedup: the second store answered %u of %u as duplicates", dups, N);
  assert_dense_stream (f->store, a, N);
  assert_dense_stream (f->store, b, N);
}

/* Kills every connection of the store's user but the test's own (KILL, as a restart would). */
static guint
mysql_kill_others (Fixture *f)
{
  MYSQL_RES *res;
  MYSQL_ROW row;
  g_autoptr(GPtrArray) kills = g_ptr_array_new_with_free_func (g_free);

  mysql_admin_exec (f->admin, "SELECT id FROM information_schema.processlist "
                              "WHERE user = CURRENT_USER() OR user = SUBSTRING_INDEX(USER(), '@', 1)");
  res = mysql_store_result (f->admin);
  while ((row = mysql_fetch_row (res)) != NULL)
    if (g_ascii_strtoull (row[0], NULL, 10) != mysql_thread_id (f->admin))
      g_ptr_array_add (kills, g_strdup_printf ("KILL %s", row[0]));
  mysql_free_result (res);
  for (guint i = 0; i < kills->len; i++)
    mysql_query (f->admin, kills->pdata[i]);  /* may have gone already */
  return kills->len;
}

/* A lost connection: the call that meets it fails with UNAVAILABLE (never crashes), the next
 * one reconnects. For a read, a write and the send transaction, with one connection and with
 * the default pool. */
static void
test_mysql_reconnect (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 a = add_user (f->store, "alice");
  gint64 b = add_user (f->store, "bob");
  ImpChatResult res = { 0 };

  for (guint pool = 1; pool <= 4; pool += 3)
    {
      g_autoptr(ImpStore) store = mysql_open_pool (pool, &error);
      g_autoptr(ImpUserRecord) u = NULL;
      ImpChatRequest r;
      g_autofree char *cmid = g_strdup_printf ("after-kill-%u", pool);
      gboolean revoked = TRUE;

      g_assert_no_error (error);
      g_assert_true (imp_store_token_is_revoked (store, "t", &revoked, &error));
      g_assert_no_error (error);

      /* A read. */
      g_assert_cmpuint (mysql_kill_others (f), >=, 1);
      g_assert_null (imp_store_user_get (store, a, &error));
      g_assert_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE);
      g_clear_error (&error);
      u = imp_store_user_get (store, a, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (u->username, ==, "alice");

      /* A write. */
      mysql_kill_others (f);
      g_assert_false (imp_store_delivery_record (store, a, "phone", 1, &error));
      g_assert_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE);
      g_clear_error (&error);
      g_assert_true (imp_store_delivery_record (store, a, "phone", 1, &error));
      g_assert_no_error (error);

      /* The send transaction: nothing of the failed batch stays; the retry commits it. */
      mysql_kill_others (f);
      r = req (a, b, cmid, "after a restart");
      g_assert_false (imp_store_chat_commit (store, &r, 1, &res, &error));
      g_assert_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE);
      g_assert_null (res.conversation_id);
      g_clear_error (&error);
      g_assert_true (imp_store_chat_commit (store, &r, 1, &res, &error));
      g_assert_no_error (error);
      g_assert_false (res.duplicate);
      g_assert_cmpint (res.sender_seq, ==, pool == 1 ? 1 : 2);
      imp_chat_result_clear (&res);
    }
  /* f->store's connection was killed too: a fresh store checks what was committed. */
  {
    g_autoptr(ImpStore) check = mysql_open_pool (1, &error);
    g_assert_no_error (error);
    assert_dense_stream (check, b, 2);
  }
}

typedef struct {
  GError   *error;
  ImpStore *store;
} OpenArgs;

static gpointer
open_thread (gpointer data)
{
  OpenArgs *o = data;

  o->store = mysql_open_pool (1, &o->error);
  return NULL;
}

/* Two processes opening an empty database at once: one migrates, the other waits for the
 * lock and finds the schema done. */
static void
test_mysql_concurrent_migrate (Fixture *f, gconstpointer data)
{
  OpenArgs o[2] = { { 0 } };
  GThread *t[2];

  g_clear_pointer (&f->store, imp_store_free);
  mysql_close (f->admin);
  mysql_setup (f);  /* empty again */
  for (guint i = 0; i < 2; i++)
    t[i] = g_thread_new ("open", open_thread, &o[i]);
  for (guint i = 0; i < 2; i++)
    {
      g_thread_join (t[i]);
      g_assert_no_error (o[i].error);
      g_assert_nonnull (o[i].store);
    }
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM schema_version"), ==, 2);
  f->store = o[0].store;
  imp_store_free (o[1].store);
  add_user (f->store, "alice");
}

/* Nothing listening: UNAVAILABLE (the caller retries), no crash. */
static void
test_mysql_unreachable (void)
{
  g_autoptr(GError) error = NULL;
  ImpStore *store = imp_store_mysql_open ("127.0.0.1", 1, "nobody", "x", "implus", 1, &error);

  g_assert_null (store);
  g_assert_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE);
}

#endif

/* The cases every backend runs. */
static const Case common_cases[] = {
  { "users", test_users },
  { "chat-batch", test_chat_batch },
  { "rollback", test_rollback },
  { "pull-and-history", test_pull_and_history },
  { "unread", test_unread },
  { "self", test_self },
  { "seq-of", test_seq_of },
  { "reopen", test_reopen },
  { "threads", test_threads },
  { "tokens", test_tokens },
  { "delivery", test_delivery },
  { "throughput", test_throughput },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  add_cases (&sqlite_backend, common_cases, G_N_ELEMENTS (common_cases), NULL);
  g_test_add_func ("/store/sqlite/killed", test_killed);

#ifdef IMPLUS_HAVE_MYSQL
  {
    static const Case mysql_cases[] = {
      { "two-stores", test_mysql_two_stores },
      { "concurrent-dedup", test_mysql_concurrent_dedup },
      { "reconnect", test_mysql_reconnect },
      { "concurrent-migrate", test_mysql_concurrent_migrate },
    };
    const char *skip = mysql_params_load () ? NULL : MYSQL_SKIP;

    add_cases (&mysql_backend, common_cases, G_N_ELEMENTS (common_cases), skip);
    add_cases (&mysql_backend, mysql_cases, G_N_ELEMENTS (mysql_cases), skip);
    if (skip != NULL)
      g_test_add_data_func ("/store/mysql/unreachable", skip, (GTestDataFunc) test_skip_any);
    else
      g_test_add_func ("/store/mysql/unreachable", test_mysql_unreachable);
  }
#endif

  return g_test_run ();
}

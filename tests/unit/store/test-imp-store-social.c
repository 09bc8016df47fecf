/* test-imp-store-social.c: friends, blacklist, moderation and groups in the store (migration
 * 0002), the same cases for every backend (test-store-fixture.h): SQLite always, MySQL/MariaDB
 * with IMPLUS_TEST_MYSQL. Group sends are read diffusion: one conversation_msg_list row per
 * message whatever the group's size, dense conversation seqs, each member's window. */
#include "test-store-fixture.h"

#include <string.h>

static ImpIdGen *ids;

static void
assert_refused (ImpStore *store, ImpChatRequest *r, ImpErrorCode code)
{
  g_autoptr(GError) error = NULL;
  ImpChatResult res = { 0 };

  g_assert_true (imp_store_chat_commit (store, r, 1, &res, &error));
  g_assert_no_error (error);
  g_assert_cmpint (res.error_code, ==, code);
  imp_chat_result_clear (&res);
}

static void
assert_sent (ImpStore *store, ImpChatRequest *r, ImpChatResult *out)
{
  g_autoptr(GError) error = NULL;
  ImpChatResult res = { 0 };

  g_assert_true (imp_store_chat_commit (store, r, 1, &res, &error));
  g_assert_no_error (error);
  g_assert_cmpint (res.error_code, ==, IMP_ERROR_NONE);
  if (out != NULL)
    *out = res;
  else
    imp_chat_result_clear (&res);
}

static ImpChatRequest
greq (gint64 from, gint64 group, const char *cmid)
{
  ImpChatRequest r = req (from, 0, cmid, "hi group");

  r.group_id = group;
  return r;
}

static int
friend_state (ImpStore *store, gint64 user, gint64 other)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = imp_store_friend_list (store, user, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < list->len; i++)
    {
      ImpFriendRecord *f = list->pdata[i];
      if (f->user_id == other)
        return f->state;
    }
  return IMP_FRIEND_NONE;
}

static void
test_friends (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 a = add_user (f->store, "alice"), b = add_user (f->store, "bob");
  gint64 c = add_user (f->store, "carol");
  int state = 0;

  g_assert_true (imp_store_friend_request (f->store, a, b, 10, &state, &error));
  g_assert_no_error (error);
  g_assert_cmpint (state, ==, IMP_FRIEND_OUTGOING);
  g_assert_cmpint (friend_state (f->store, a, b), ==, IMP_FRIEND_OUTGOING);
  g_assert_cmpint (friend_state (f->store, b, a), ==, IMP_FRIEND_INCOMING);
  /* Repeating is harmless. */
  g_assert_true (imp_store_friend_request (f->store, a, b, 11, &state, &error));
  g_assert_cmpint (state, ==, IMP_FRIEND_OUTGOING);

  g_assert_true (imp_store_friend_respond (f->store, b, a, TRUE, 12, &error));
  g_assert_no_error (error);
  g_assert_cmpint (friend_state (f->store, a, b), ==, IMP_FRIEND_ACCEPTED);
  g_assert_cmpint (friend_state (f->store, b, a), ==, IMP_FRIEND_ACCEPTED);
  {
    g_autoptr(GPtrArray) list = imp_store_friend_list (f->store, a, &error);
    ImpFriendRecord *fr = list->pdata[0];
    g_assert_cmpuint (list->len, ==, 1);
    g_assert_cmpstr (fr->username, ==, "bob");
  }

  /* No pending request: nothing to answer. */
  g_assert_false (imp_store_friend_respond (f->store, a, c, TRUE, 13, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* Crossing requests agree; a declined request disappears. */
  g_assert_true (imp_store_friend_request (f->store, c, a, 14, &state, &error));
  g_assert_true (imp_store_friend_request (f->store, a, c, 15, &state, &error));
  g_assert_cmpint (state, ==, IMP_FRIEND_ACCEPTED);
  g_assert_cmpint (friend_state (f->store, c, a), ==, IMP_FRIEND_ACCEPTED);
  g_assert_true (imp_store_friend_request (f->store, c, b, 16, &state, &error));
  g_assert_true (imp_store_friend_respond (f->store, b, c, FALSE, 17, &error));
  g_assert_cmpint (friend_state (f->store, b, c), ==, IMP_FRIEND_NONE);
  g_assert_cmpint (friend_state (f->store, c, b), ==, IMP_FRIEND_NONE);

  g_assert_true (imp_store_friend_remove (f->store, b, a, &error));
  g_assert_no_error (error);
  g_assert_cmpint (friend_state (f->store, a, b), ==, IMP_FRIEND_NONE);
  g_assert_false (imp_store_friend_remove (f->store, b, a, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_false (imp_store_friend_request (f->store, a, a, 18, &state, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  g_assert_false (imp_store_friend_request (f->store, a, 9999, 18, &state, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER);
  g_clear_error (&error);
  /* Blocked: a request is refused with BLOCKED. */
  g_assert_true (imp_store_block (f->store, b, a, 19, &error));
  g_assert_false (imp_store_friend_request (f->store, a, b, 20, &state, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BLOCKED);
}

static void
test_blacklist_and_moderation (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  gint64 a = add_user (f->store, "alice"), b = add_user (f->store, "bob");
  gint64 c = add_user (f->store, "carol");
  gboolean blocked = TRUE;
  ImpChatRequest r;
  ImpChatResult res = { 0 };
  gint64 now = g_get_real_time () / 1000;

  r = req (a, b, "m1", "x");
  assert_sent (f->store, &r, NULL);

  g_assert_true (imp_store_block (f->store, b, a, 5, &error));
  g_assert_no_error (error);
  g_assert_true (imp_store_block (f->store, b, a, 6, &error));  /* twice: still one row */
  g_assert_true (imp_store_is_blocked (f->store, b, a, &blocked, &error));
  g_assert_true (blocked);
  g_assert_true (imp_store_is_blocked (f->store, a, b, &blocked, &error));
  g_assert_false (blocked);
  {
    g_autoptr(GPtrArray) list = imp_store_block_list (f->store, b, &error);
    g_assert_cmpuint (list->len, ==, 1);
    g_assert_cmpint (((ImpUserRecord *) list->pdata[0])->id, ==, a);
    g_assert_cmpstr (((ImpUserRecord *) list->pdata[0])->username, ==, "alice");
  }
  /* The blocked sender gets BLOCKED; the other direction still works. */
  r = req (a, b, "m2", "x");
  assert_refused (f->store, &r, IMP_ERROR_BLOCKED);
  r = req (b, a, "m3", "x");
  assert_sent (f->store, &r, NULL);
  g_assert_true (imp_store_unblock (f->store, b, a, &error));
  g_assert_false (imp_store_unblock (f->store, b, a, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_NOT_FOUND);
  g_clear_error (&error);
  r = req (a, b, "m2", "x");  /* the same key, now accepted: a refusal wrote nothing */
  assert_sent (f->store, &r, NULL);
  g_assert_false (imp_store_block (f->store, a, a, 7, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_clear_error (&error);

  /* Banned sender: BANNED; banned recipient: BANNED. */
  g_assert_true (imp_store_user_set_status (f->store, c, IMP_USER_STATUS_BANNED, &error));
  g_assert_no_error (error);
  r = req (c, a, "c1", "x");
  assert_refused (f->store, &r, IMP_ERROR_BANNED);
  r = req (a, c, "a-to-c", "x");
  assert_refused (f->store, &r, IMP_ERROR_BANNED);
  g_assert_true (imp_store_user_set_status (f->store, c, IMP_USER_STATUS_NORMAL, &error));
  r = req (c, a, "c1", "x");
  assert_sent (f->store, &r, NULL);
  g_assert_false (imp_store_user_set_status (f->store, 9999, IMP_USER_STATUS_BANNED, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER);
  g_clear_error (&error);

  /* Muted until a time: MUTED and until when; a past time no longer mutes. */
  g_assert_true (imp_store_user_set_muted (f->store, c, now + 3600000, &error));
  {
    g_autoptr(ImpUserRecord) rec = imp_store_user_get (f->store, c, &error);
    g_assert_cmpint (rec->muted_until_ms, ==, now + 3600000);
  }
  r = req (c, a, "c2", "x");
  g_assert_true (imp_store_chat_commit (f->store, &r, 1, &res, &error));
  g_assert_cmpint (res.error_code, ==, IMP_ERROR_MUTED);
  g_assert_cmpint (res.muted_until_ms, ==, now + 3600000);
  imp_chat_result_clear (&res);
  g_assert_true (imp_store_user_set_muted (f->store, c, now - 1, &error));
  assert_sent (f->store, &r, NULL);

  /* friends_only: only friends may start (or continue) a one-to-one chat. */
  imp_store_set_friends_only (f->store, TRUE);
  r = req (a, c, "fo-1", "x");
  assert_refused (f->store, &r, IMP_ERROR_FORBIDDEN);
  r = req (a, a, "fo-self", "x");  /* a note to oneself is always allowed */
  assert_sent (f->store, &r, NULL);
  {
    int state = 0;
    g_assert_true (imp_store_friend_request (f->store, a, c, 1, &state, &error));
    g_assert_true (imp_store_friend_respond (f->store, c, a, TRUE, 2, &error));
  }
  r = req (a, c, "fo-1", "x");
  assert_sent (f->store, &r, NULL);
  imp_store_set_friends_only (f->store, FALSE);
}

/* Counts the rows of table for conversation conv. */
static gint64
rows (Fixture *f, const char *table, const char *conv)
{
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM %s WHERE conversation_id = '%s'",
                                          table, conv);
  return sql_int (f, sql);
}

static GPtrArray *
pull (ImpStore *store, gint64 user, gint64 group, gint64 after, GError **error)
{
  return imp_store_group_pull (store, user, group, after, 10000, error);
}

static gboolean
has_event (GPtrArray *msgs, const char *event, gint64 user)
{
  g_autofree char *needle = g_strdup_printf ("\"event\":\"%s\"", event);
  g_autofree char *uid = g_strdup_printf ("\"user_id\":%" G_GINT64_FORMAT, user);

  for (guint i = 0; i < msgs->len; i++)
    {
      ImpMessageRecord *m = msgs->pdata[i];
      if (m->content_type == IMP_CONTENT_TYPE_SYSTEM && strstr (m->content, needle) != NULL
          && (user == 0 || strstr (m->content, uid) != NULL))
        return TRUE;
    }
  return FALSE;
}

static void
test_group_large (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpGroupChange) change = NULL;
  g_autoptr(ImpGroupRecord) g = NULL;
  g_autoptr(GArray) members = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autofree char *conv = NULL;
  gint64 owner = add_user (f->store, "owner");
  gint64 t0;

  for (int i = 0; i < 4999; i++)
    {
      g_autofree char *name = g_strdup_printf ("member%04d", i);
      gint64 id = add_user (f->store, name);
      g_array_append_val (members, id);
    }
  t0 = g_get_monotonic_time ();
  change = imp_store_group_create (f->store, owner, "Big", (gint64 *) members->data, members->len,
                                   10000, ids, 1000, &error);
  g_assert_no_error (error);
  g_test_message ("%s: created a group of 5,000 in %.0f ms", f->backend->name,
                  (g_get_monotonic_time () - t0) / 1000.0);
  g_assert_cmpuint (change->joined->len, ==, 5000);
  g_assert_cmpuint (change->join_seqs->len, ==, 5000);
  g_assert_cmpint (g_array_index (change->join_seqs, gint64, 4999), ==, 0);  /* see seq 1 on */
  g_assert_cmpuint (change->messages->len, ==, 1);  /* group_created */
  conv = imp_convid_group (change->group_id);
  g = imp_store_group_get (f->store, change->group_id, &error);
  g_assert_cmpint (g->member_count, ==, 5000);
  g_assert_cmpint (g->owner_id, ==, owner);
  g_assert_cmpstr (g->name, ==, "Big");

  /* 100 sends in one batch: 100 stream rows, dense seqs 2..101, nothing per member. */
  {
    ImpChatRequest reqs[100];
    ImpChatResult res[100];
    char cmids[100][16];

    for (int i = 0; i < 100; i++)
      {
        g_snprintf (cmids[i], sizeof cmids[i], "g-%d", i);
        reqs[i] = greq (g_array_index (members, gint64, i % 50), change->group_id, cmids[i]);
      }
    t0 = g_get_monotonic_time ();
    g_assert_true (imp_store_chat_commit (f->store, reqs, 100, res, &error));
    g_test_message ("%s: 100 sends to a group of 5,000 in %.1f ms", f->backend->name,
                    (g_get_monotonic_time () - t0) / 1000.0);
    for (int i = 0; i < 100; i++)
      {
        g_assert_cmpint (res[i].error_code, ==, IMP_ERROR_NONE);
        g_assert_cmpint (res[i].sender_seq, ==, i + 2);
        g_assert_cmpint (res[i].recipient_seq, ==, 0);
        g_assert_cmpstr (res[i].conversation_id, ==, conv);
        imp_chat_result_clear (&res[i]);
      }
  }
  g_assert_cmpint (rows (f, "conversation_msg_list", conv), ==, 101);
  {
    g_autofree char *sql = g_strdup_printf ("SELECT count(*) FROM conversation_msg_list l JOIN "
                                            "message m ON m.msg_id = l.msg_id WHERE "
                                            "l.conversation_id = '%s' AND m.content_type <> 99",
                                            conv);
    g_assert_cmpint (sql_int (f, sql), ==, 100);
  }
  g_assert_cmpint (rows (f, "user_msg_list", conv), ==, 0);
  g_assert_cmpint (rows (f, "message", conv), ==, 101);
  g_assert_cmpint (sql_int (f, "SELECT count(*) FROM user_msg_list"), ==, 0);

  /* A member's pull: everything, dense. */
  {
    g_autoptr(GPtrArray) msgs = pull (f->store, g_array_index (members, gint64, 4000),
                                      change->group_id, 0, &error);
    g_assert_cmpuint (msgs->len, ==, 101);
    for (guint i = 0; i < msgs->len; i++)
      {
        ImpMessageRecord *m = msgs->pdata[i];
        g_assert_cmpint (m->seq, ==, i + 1);
        g_assert_cmpint (m->group_id, ==, change->group_id);
        g_assert_null (m->client_msg_id);
      }
  }
  /* Over the limit. */
  {
    gint64 extra = add_user (f->store, "extra");
    g_autoptr(ImpGroupChange) c2 = imp_store_group_add_members (f->store, owner, change->group_id,
                                                               &extra, 1, 5000, ids, 2000, &error);
    g_assert_null (c2);
    g_assert_error (error, IMP_ERROR, IMP_ERROR_PAYLOAD_TOO_LARGE);
  }
}

/* Store work per group message does not grow with the group: times 200 sends at 100 and at
 * 10,000 members, and counts the rows written (printed; asserts only the rows). */
static void
test_group_cost (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) members = g_array_new (FALSE, FALSE, sizeof (gint64));
  gint64 owner = add_user (f->store, "owner");
  guint sizes[] = { 100, 10000 };

  for (int i = 0; i < 9999; i++)
    {
      g_autofree char *name = g_strdup_printf ("m%05d", i);
      gint64 id = add_user (f->store, name);
      g_array_append_val (members, id);
    }
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      g_autoptr(ImpGroupChange) change =
        imp_store_group_create (f->store, owner, "cost", (gint64 *) members->data, sizes[s] - 1,
                                10000, ids, 1000, &error);
      gint64 before = sql_int (f, "SELECT (SELECT count(*) FROM message) + "
                                  "(SELECT count(*) FROM conversation_msg_list) + "
                                  "(SELECT count(*) FROM send_dedup) + "
                                  "(SELECT count(*) FROM user_msg_list) + "
                                  "(SELECT count(*) FROM user_conversation_list) + "
                                  "(SELECT count(*) FROM group_members)");
      gint64 t0 = g_get_monotonic_time (), after;

      g_assert_no_error (error);
      for (int i = 0; i < 200; i += 50)
        {
          ImpChatRequest reqs[50];
          ImpChatResult res[50];
          char cmids[50][32];

          for (int k = 0; k < 50; k++)
            {
              g_snprintf (cmids[k], sizeof cmids[k], "c-%u-%d", sizes[s], i + k);
              reqs[k] = greq (owner, change->group_id, cmids[k]);
            }
          g_assert_true (imp_store_chat_commit (f->store, reqs, 50, res, &error));
          for (int k = 0; k < 50; k++)
            {
              g_assert_cmpint (res[k].error_code, ==, IMP_ERROR_NONE);
              imp_chat_result_clear (&res[k]);
            }
        }
      after = sql_int (f, "SELECT (SELECT count(*) FROM message) + "
                          "(SELECT count(*) FROM conversation_msg_list) + "
                          "(SELECT count(*) FROM send_dedup) + "
                          "(SELECT count(*) FROM user_msg_list) + "
                          "(SELECT count(*) FROM user_conversation_list) + "
                          "(SELECT count(*) FROM group_members)");
      /* Three inserted rows per message (message, stream row, dedup key) + two updated. */
      g_assert_cmpint (after - before, ==, 3 * 200);
      g_test_message ("%s: group of %u: 200 sends in %.1f ms, %" G_GINT64_FORMAT
                      " rows inserted per message (+ 2 updated: group counter, conversation)",
                      f->backend->name, sizes[s], (g_get_monotonic_time () - t0) / 1000.0,
                      (after - before) / 200);
    }
}

static void
test_group_windows (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpGroupChange) change = NULL;
  gint64 o = add_user (f->store, "owner"), m1 = add_user (f->store, "m1");
  gint64 m2 = add_user (f->store, "m2"), out = add_user (f->store, "outsider");
  gint64 gid;
  ImpChatRequest r;
  ImpChatResult res = { 0 };

  change = imp_store_group_create (f->store, o, "G", &m1, 1, 100, ids, 1000, &error);
  g_assert_no_error (error);
  gid = change->group_id;
  g_clear_pointer (&change, imp_group_change_free);

  r = greq (o, gid, "o1");  /* seq 2 */
  assert_sent (f->store, &r, NULL);
  r = greq (m1, gid, "m1-1");  /* seq 3 */
  assert_sent (f->store, &r, NULL);

  /* Late joiner: sees from their own member_added (seq 4) on. */
  change = imp_store_group_add_members (f->store, o, gid, &m2, 1, 100, ids, 2000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (change->joined->len, ==, 1);
  g_assert_cmpint (((ImpMessageRecord *) change->messages->pdata[0])->seq, ==, 4);
  /* What the gateways get with the join: the window starts after seq 3. */
  g_assert_cmpuint (change->join_seqs->len, ==, 1);
  g_assert_cmpint (g_array_index (change->join_seqs, gint64, 0), ==, 3);
  g_clear_pointer (&change, imp_group_change_free);
  r = greq (m2, gid, "m2-1");  /* seq 5 */
  assert_sent (f->store, &r, &res);
  g_assert_cmpint (res.sender_seq, ==, 5);
  imp_chat_result_clear (&res);
  {
    g_autoptr(GPtrArray) msgs = pull (f->store, m2, gid, 0, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (msgs->len, ==, 2);
    g_assert_cmpint (((ImpMessageRecord *) msgs->pdata[0])->seq, ==, 4);
    g_assert_true (has_event (msgs, "member_added", m2));
    g_assert_cmpstr (((ImpMessageRecord *) msgs->pdata[1])->client_msg_id, ==, "m2-1");
  }

  /* Removed: sees their removal (seq 6), nothing after, and NOT_MEMBER on send. */
  change = imp_store_group_remove_member (f->store, o, gid, m1, ids, 3000, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_array_index (change->left, gint64, 0), ==, m1);
  g_assert_cmpuint (change->left_seqs->len, ==, 1);
  g_assert_cmpint (g_array_index (change->left_seqs, gint64, 0), ==, 6);
  g_clear_pointer (&change, imp_group_change_free);
  r = greq (o, gid, "o2");  /* seq 7 */
  assert_sent (f->store, &r, NULL);
  r = greq (m1, gid, "m1-2");
  assert_refused (f->store, &r, IMP_ERROR_NOT_MEMBER);
  {
    g_autoptr(GPtrArray) msgs = pull (f->store, m1, gid, 0, &error);
    g_autoptr(GPtrArray) later = pull (f->store, m1, gid, 6, &error);
    g_autoptr(GPtrArray) hist = imp_store_conversation_history (f->store, m1, "group_1", 0, 100,
                                                                &error);
    g_assert_no_error (error);
    g_assert_cmpuint (msgs->len, ==, 6);
    g_assert_cmpint (((ImpMessageRecord *) msgs->pdata[5])->seq, ==, 6);
    g_assert_true (has_event (msgs, "member_removed", m1));
    g_assert_cmpuint (later->len, ==, 0);
    g_assert_cmpuint (hist->len, ==, 6);
    g_assert_cmpint (((ImpMessageRecord *) hist->pdata[0])->seq, ==, 6);
  }
  {
    g_autoptr(GPtrArray) mine = imp_store_user_groups (f->store, m1, FALSE, &error);
    g_autoptr(GPtrArray) all = imp_store_user_groups (f->store, m1, TRUE, &error);
    g_assert_cmpuint (mine->len, ==, 0);
    g_assert_cmpuint (all->len, ==, 1);
    g_assert_cmpint (((ImpGroupMemberRecord *) all->pdata[0])->left_seq, ==, 6);
  }

  /* Never a member: an error, not data. */
  g_assert_null (pull (f->store, out, gid, 0, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_NOT_MEMBER);
  g_clear_error (&error);
  r = greq (out, gid, "out-1");
  assert_refused (f->store, &r, IMP_ERROR_NOT_MEMBER);
  g_assert_false (imp_store_conversation_mark_read (f->store, out, "group_1", 3, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_NOT_MEMBER);
  g_clear_error (&error);
  r = greq (o, 999, "nogroup");
  assert_refused (f->store, &r, IMP_ERROR_NOT_FOUND);

  /* A repeated group send returns the original receipt. */
  r = greq (o, gid, "o2");
  assert_sent (f->store, &r, &res);
  g_assert_true (res.duplicate);
  g_assert_cmpint (res.sender_seq, ==, 7);
  imp_chat_result_clear (&res);

  /* Member mute: MUTED with until; admins may not mute their peers. */
  change = imp_store_group_mute (f->store, o, gid, m2, 4102444800000, ids, 4000, &error);
  g_assert_no_error (error);
  g_clear_pointer (&change, imp_group_change_free);
  r = greq (m2, gid, "m2-muted");
  g_assert_true (imp_store_chat_commit (f->store, &r, 1, &res, &error));
  g_assert_cmpint (res.error_code, ==, IMP_ERROR_MUTED);
  g_assert_cmpint (res.muted_until_ms, ==, 4102444800000);
  imp_chat_result_clear (&res);
  g_assert_null (imp_store_group_mute (f->store, m2, gid, o, 4102444800000, ids, 4000, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN);
  g_clear_error (&error);
  change = imp_store_group_mute (f->store, o, gid, m2, 0, ids, 4001, &error);
  g_clear_pointer (&change, imp_group_change_free);
  r = greq (m2, gid, "m2-muted");
  assert_sent (f->store, &r, NULL);
}

static void
test_group_roles (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpGroupChange) change = NULL;
  gint64 o = add_user (f->store, "owner"), a = add_user (f->store, "admin");
  gint64 m = add_user (f->store, "member"), x = add_user (f->store, "x");
  gint64 users[] = { a, m, m, o };  /* duplicates and the owner are ignored */
  gint64 gid;

  change = imp_store_group_create (f->store, o, "Roles", users, G_N_ELEMENTS (users), 100, ids,
                                   1000, &error);
  g_assert_no_error (error);
  gid = change->group_id;
  g_assert_cmpuint (change->joined->len, ==, 3);
  g_clear_pointer (&change, imp_group_change_free);

  /* Only the owner changes roles. */
  g_assert_null (imp_store_group_set_role (f->store, m, gid, a, IMP_GROUP_ROLE_ADMIN, ids, 1, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN);
  g_clear_error (&error);
  change = imp_store_group_set_role (f->store, o, gid, a, IMP_GROUP_ROLE_ADMIN, ids, 1, &error);
  g_assert_no_error (error);
  g_clear_pointer (&change, imp_group_change_free);

  /* An admin adds and removes plain members, not admins or the owner. */
  change = imp_store_group_add_members (f->store, a, gid, &x, 1, 100, ids, 2, &error);
  g_assert_no_error (error);
  g_clear_pointer (&change, imp_group_change_free);
  g_assert_null (imp_store_group_add_members (f->store, m, gid, &x, 1, 100, ids, 2, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_assert_null (imp_store_group_remove_member (f->store, a, gid, o, ids, 3, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN);
  g_clear_error (&error);
  change = imp_store_group_remove_member (f->store, a, gid, x, ids, 3, &error);
  g_assert_no_error (error);
  g_clear_pointer (&change, imp_group_change_free);
  g_assert_null (imp_store_group_add_members (f->store, x, gid, &x, 1, 100, ids, 2, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_NOT_MEMBER);
  g_clear_error (&error);
  {
    gint64 nobody = 9999;
    g_assert_null (imp_store_group_add_members (f->store, o, gid, &nobody, 1, 100, ids, 2, &error));
    g_assert_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER);
    g_clear_error (&error);
  }

  /* The owner cannot leave; transfers first, then may. */
  g_assert_null (imp_store_group_leave (f->store, o, gid, ids, 4, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN);
  g_clear_error (&error);
  change = imp_store_group_transfer (f->store, o, gid, m, ids, 5, &error);
  g_assert_no_error (error);
  g_clear_pointer (&change, imp_group_change_free);
  {
    g_autoptr(ImpGroupRecord) g = imp_store_group_get (f->store, gid, &error);
    g_autoptr(ImpGroupMemberRecord) old = imp_store_group_member_get (f->store, gid, o, &error);
    g_assert_cmpint (g->owner_id, ==, m);
    g_assert_cmpint (old->role, ==, IMP_GROUP_ROLE_ADMIN);
  }
  change = imp_store_group_leave (f->store, o, gid, ids, 6, &error);
  g_assert_no_error (error);
  g_clear_pointer (&change, imp_group_change_free);
  {
    g_autoptr(GPtrArray) members = imp_store_group_members (f->store, gid, 0, 100, &error);
    g_autoptr(GPtrArray) page = imp_store_group_members (f->store, gid, a, 100, &error);
    g_assert_cmpuint (members->len, ==, 2);  /* admin and the new owner */
    g_assert_cmpstr (((ImpGroupMemberRecord *) members->pdata[0])->username, ==, "admin");
    g_assert_cmpuint (page->len, ==, 1);
  }
  /* Every change wrote its system message, in the order of the changes. */
  {
    g_autoptr(GPtrArray) msgs = pull (f->store, m, gid, 0, &error);
    const char *events[] = { "group_created", "role_changed", "member_added", "member_removed",
                             "owner_transferred", "member_left" };
    g_assert_cmpuint (msgs->len, ==, G_N_ELEMENTS (events));
    for (guint i = 0; i < G_N_ELEMENTS (events); i++)
      {
        g_autoptr(GPtrArray) one = g_ptr_array_new ();
        g_ptr_array_add (one, msgs->pdata[i]);
        g_assert_true (has_event (one, events[i], 0));
        g_assert_cmpint (((ImpMessageRecord *) msgs->pdata[i])->seq, ==, i + 1);
      }
  }

  /* Dissolve: owner only; afterwards sends are refused, the history stays. */
  g_assert_null (imp_store_group_dissolve (f->store, a, gid, ids, 7, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN);
  g_clear_error (&error);
  change = imp_store_group_dissolve (f->store, m, gid, ids, 7, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (change->left->len, ==, 2);
  /* Both windows end with the dissolution notice. */
  g_assert_cmpuint (change->left_seqs->len, ==, 2);
  g_assert_cmpint (g_array_index (change->left_seqs, gint64, 0), ==,
                   ((ImpMessageRecord *) change->messages->pdata[change->messages->len - 1])->seq);
  g_assert_cmpint (g_array_index (change->left_seqs, gint64, 1), ==,
                   g_array_index (change->left_seqs, gint64, 0));
  g_clear_pointer (&change, imp_group_change_free);
  {
    ImpChatRequest r = greq (m, gid, "after-dissolve");
    g_autoptr(GPtrArray) msgs = pull (f->store, a, gid, 0, &error);
    g_autoptr(GPtrArray) current = imp_store_user_groups (f->store, a, FALSE, &error);
    assert_refused (f->store, &r, IMP_ERROR_NOT_FOUND);
    g_assert_true (has_event (msgs, "group_dissolved", 0));
    g_assert_cmpuint (current->len, ==, 0);
  }
  g_assert_null (imp_store_group_add_members (f->store, m, gid, &x, 1, 100, ids, 8, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_NOT_FOUND);
  g_clear_error (&error);
}

static ImpConversationRecord *
conv_of (GPtrArray *list, const char *conv)
{
  for (guint i = 0; i < list->len; i++)
    if (g_strcmp0 (((ImpConversationRecord *) list->pdata[i])->conversation_id, conv) == 0)
      return list->pdata[i];
  return NULL;
}

static void
test_group_unread (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpGroupChange) change = NULL;
  gint64 o = add_user (f->store, "owner"), m = add_user (f->store, "member");
  gint64 late = add_user (f->store, "late"), gid;
  g_autofree char *conv = NULL;
  ImpChatRequest r;

  change = imp_store_group_create (f->store, o, "Unread", &m, 1, 100, ids, 1000, &error);
  conv = imp_convid_group (change->group_id);
  gid = change->group_id;
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *id = g_strdup_printf ("o%d", i);
      r = greq (o, change->group_id, id);  /* seqs 2..4 */
      assert_sent (f->store, &r, NULL);
    }
  for (int i = 0; i < 2; i++)
    {
      g_autofree char *id = g_strdup_printf ("m%d", i);
      r = greq (m, change->group_id, id);  /* seqs 5..6 */
      assert_sent (f->store, &r, NULL);
    }
  r = req (o, m, "private", "p");
  assert_sent (f->store, &r, NULL);
  {
    g_autoptr(GPtrArray) lo = imp_store_conversations_list (f->store, o, &error);
    g_autoptr(GPtrArray) lm = imp_store_conversations_list (f->store, m, &error);
    ImpConversationRecord *co = conv_of (lo, conv), *cm = conv_of (lm, conv);

    g_assert_no_error (error);
    g_assert_cmpuint (lo->len, ==, 2);
    /* Own messages (the owner's group_created too) never count. */
    g_assert_cmpint (co->unread, ==, 2);
    g_assert_cmpint (cm->unread, ==, 4);
    g_assert_cmpint (co->kind, ==, IMP_CONV_GROUP);
    g_assert_cmpstr (co->name, ==, "Unread");
    g_assert_cmpint (co->group_id, ==, change->group_id);
    g_assert_cmpint (co->last_seq, ==, 6);
    g_assert_cmpstr (co->last_message->client_msg_id, ==, NULL);
    g_assert_cmpstr (cm->last_message->client_msg_id, ==, "m1");
    g_assert_cmpint (cm->last_message->seq, ==, 6);
    g_assert_nonnull (conv_of (lo, "private_1_2"));
  }
  /* Reads: forward only, clamped to the stream, exact counts after. */
  g_assert_true (imp_store_conversation_mark_read (f->store, m, conv, 3, &error));
  g_assert_true (imp_store_conversation_mark_read (f->store, m, conv, 2, &error));
  {
    g_autoptr(GPtrArray) lm = imp_store_conversations_list (f->store, m, &error);
    g_assert_cmpint (conv_of (lm, conv)->unread, ==, 1);
    g_assert_cmpint (conv_of (lm, conv)->read_seq, ==, 3);
  }
  g_assert_true (imp_store_conversation_mark_read (f->store, m, conv, 1000, &error));
  {
    g_autoptr(GPtrArray) lm = imp_store_conversations_list (f->store, m, &error);
    g_assert_cmpint (conv_of (lm, conv)->unread, ==, 0);
    g_assert_cmpint (conv_of (lm, conv)->read_seq, ==, 6);
  }
  /* A late joiner counts only from their join. */
  g_clear_pointer (&change, imp_group_change_free);
  {
    change = imp_store_group_add_members (f->store, o, gid, &late, 1, 100, ids, 5000, &error);
    r = greq (m, gid, "m-after");
    assert_sent (f->store, &r, NULL);
    g_autoptr(GPtrArray) ll = imp_store_conversations_list (f->store, late, &error);
    g_assert_cmpuint (ll->len, ==, 1);
    g_assert_cmpint (conv_of (ll, conv)->unread, ==, 2);  /* member_added + m-after */
  }
}

int
main (int argc, char **argv)
{
  static const Case cases[] = {
    { "friends", test_friends },
    { "blacklist-moderation", test_blacklist_and_moderation },
    { "group-large", test_group_large },
    { "group-cost", test_group_cost },
    { "group-windows", test_group_windows },
    { "group-roles", test_group_roles },
    { "group-unread", test_group_unread },
  };
  int rc;

  g_test_init (&argc, &argv, NULL);
  ids = imp_id_gen_new (900);
  add_cases (&sqlite_backend, cases, G_N_ELEMENTS (cases), NULL);
#ifdef IMPLUS_HAVE_MYSQL
  add_cases (&mysql_backend, cases, G_N_ELEMENTS (cases),
             mysql_params_load () ? NULL : MYSQL_SKIP);
#endif
  rc = g_test_run ();
  imp_id_gen_free (ids);
  return rc;
}

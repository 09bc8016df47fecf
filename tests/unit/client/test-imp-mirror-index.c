/* test-imp-mirror-index.c: conversation summaries, unread counts, drafts and search over the mirror. */
#include <glib/gstdio.h>
#include "imp-mirror.h"
#include "imp-mirror-index.h"
#include "imp-error.h"

/* The local user is 1; peers are 2 and 3. */
typedef struct {
  char           *dir;
  char           *path;
  ImpMirror      *mirror;
  ImpMirrorIndex *index;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("imp-mirror-index-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "mirror.db", NULL);
  f->mirror = imp_mirror_open (f->path, &error);
  g_assert_no_error (error);
  f->index = imp_mirror_index_open (f->path, 1, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->index);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autoptr(GDir) d = NULL;
  const char *name;

  g_clear_object (&f->index);
  g_clear_object (&f->mirror);
  d = g_dir_open (f->dir, 0, NULL);
  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *p = g_build_filename (f->dir, name, NULL);
      g_unlink (p);
    }
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static void
store (Fixture *f, gint64 seq, gint64 from, gint64 to, const char *content)
{
  g_autoptr(ImpMessage) m = imp_message_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) applied = NULL;
  gint64 lo = MIN (from, to), hi = MAX (from, to);

  m->seq = seq;
  m->msg_id = 1000 + seq;
  m->conversation_id = g_strdup_printf ("private_%" G_GINT64_FORMAT "_%" G_GINT64_FORMAT, lo, hi);
  m->sender_id = from;
  m->to_user_id = to;
  m->content = g_strdup (content);
  m->send_time_ms = 1700000000000 + seq;
  g_assert_true (imp_mirror_store (f->mirror, m, NULL, &applied, &error));
  g_assert_no_error (error);
}

static void
test_conversations_and_unread (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) convs = NULL;
  ImpConversationInfo *first;

  imp_mirror_user_put (f->mirror, 2, "bob", "Bob");
  store (f, 1, 2, 1, "hi from bob");
  store (f, 2, 1, 2, "hi bob");
  store (f, 3, 3, 1, "hello from carol");
  store (f, 4, 2, 1, "again");
  /* Above a hole: stored but not applied, so neither listed nor counted. */
  store (f, 6, 3, 1, "buffered");

  convs = imp_mirror_index_list_conversations (f->index);
  g_assert_cmpuint (convs->len, ==, 2);
  first = convs->pdata[0];
  g_assert_cmpstr (first->conversation_id, ==, "private_1_2");
  g_assert_cmpint (first->peer_id, ==, 2);
  g_assert_cmpstr (first->peer_name, ==, "bob");
  g_assert_cmpstr (first->last_content, ==, "again");
  g_assert_cmpint (first->last_seq, ==, 4);
  /* Own messages are never unread. */
  g_assert_cmpuint (first->unread, ==, 2);
  g_assert_cmpuint (((ImpConversationInfo *) convs->pdata[1])->unread, ==, 1);
  g_assert_null (((ImpConversationInfo *) convs->pdata[1])->peer_name);
  g_assert_cmpuint (imp_mirror_index_total_unread (f->index), ==, 3);

  /* Read positions move forward only. */
  g_assert_true (imp_mirror_index_set_read (f->index, "private_1_2", 1));
  g_assert_cmpuint (imp_mirror_index_unread (f->index, "private_1_2"), ==, 1);
  g_assert_true (imp_mirror_index_set_read (f->index, "private_1_2", 4));
  g_assert_false (imp_mirror_index_set_read (f->index, "private_1_2", 2));
  g_assert_cmpint (imp_mirror_index_get_read (f->index, "private_1_2"), ==, 4);
  g_assert_cmpuint (imp_mirror_index_unread (f->index, "private_1_2"), ==, 0);
  g_assert_cmpuint (imp_mirror_index_total_unread (f->index), ==, 1);

  /* The hole fills: seq 5 and the buffered 6 are applied. */
  store (f, 5, 3, 1, "five");
  g_assert_cmpuint (imp_mirror_index_unread (f->index, "private_1_3"), ==, 3);
  g_assert_cmpint (imp_mirror_index_last_seq (f->index, "private_1_3"), ==, 6);
}

static void
test_history_pages (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) last = NULL;
  g_autoptr(GPtrArray) older = NULL;
  g_autoptr(GPtrArray) after = NULL;

  for (gint64 seq = 1; seq <= 10; seq++)
    store (f, seq, seq % 2 ? 2 : 1, seq % 2 ? 1 : 2, "m");
  last = imp_mirror_index_list_before (f->index, "private_1_2", 0, 4);
  g_assert_cmpuint (last->len, ==, 4);
  g_assert_cmpint (((ImpMessage *) last->pdata[0])->seq, ==, 7);
  g_assert_cmpint (((ImpMessage *) last->pdata[3])->seq, ==, 10);
  older = imp_mirror_index_list_before (f->index, "private_1_2", 7, 4);
  g_assert_cmpuint (older->len, ==, 4);
  g_assert_cmpint (((ImpMessage *) older->pdata[0])->seq, ==, 3);
  g_assert_cmpint (((ImpMessage *) older->pdata[3])->seq, ==, 6);
  after = imp_mirror_index_list_after (f->index, "private_1_2", 8);
  g_assert_cmpuint (after->len, ==, 2);
}

static void
test_drafts_persist (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *draft = NULL;

  g_assert_null (imp_mirror_index_get_draft (f->index, "private_1_2"));
  g_assert_true (imp_mirror_index_set_draft (f->index, "private_1_2", "half a thought"));
  g_assert_true (imp_mirror_index_set_draft (f->index, "private_1_2", "half a thought, 草稿"));
  /* A fresh connection (an app restart) sees it. */
  g_clear_object (&f->index);
  f->index = imp_mirror_index_open (f->path, 1, &error);
  g_assert_no_error (error);
  draft = imp_mirror_index_get_draft (f->index, "private_1_2");
  g_assert_cmpstr (draft, ==, "half a thought, 草稿");
  g_assert_true (imp_mirror_index_set_draft (f->index, "private_1_2", ""));
  g_assert_null (imp_mirror_index_get_draft (f->index, "private_1_2"));
}

static void
test_outbox_unsent (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) unsent = NULL;
  g_autoptr(GPtrArray) convs = NULL;
  ImpConversationInfo *info;

  /* Read first: the index's connection must not keep an old snapshot afterwards. */
  convs = imp_mirror_index_list_conversations (f->index);
  g_assert_cmpuint (convs->len, ==, 0);
  g_clear_pointer (&convs, g_ptr_array_unref);
  g_assert_cmpuint (imp_mirror_index_total_unread (f->index), ==, 0);
  g_assert_true (imp_mirror_outbox_add (f->mirror, "c1", 3, "queued while offline", 1700000000500, &error));
  g_assert_true (imp_mirror_outbox_add (f->mirror, "c2", 3, "second", 1700000000600, &error));
  g_assert_true (imp_mirror_outbox_mark_failed (f->mirror, "c2", 20));
  unsent = imp_mirror_index_outbox_unsent (f->index, 3);
  g_assert_cmpuint (unsent->len, ==, 2);
  g_assert_cmpint (((ImpOutboxItem *) unsent->pdata[1])->state, ==, IMP_MESSAGE_FAILED);

  /* A peer with nothing but unsent rows still has a conversation. */
  convs = imp_mirror_index_list_conversations (f->index);
  g_assert_cmpuint (convs->len, ==, 1);
  info = convs->pdata[0];
  g_assert_cmpstr (info->conversation_id, ==, "private_1_3");
  g_assert_cmpstr (info->last_content, ==, "second");
  g_assert_cmpint (info->last_state, ==, IMP_MESSAGE_FAILED);

  g_assert_false (imp_mirror_index_outbox_forget (f->index, "c1"));  /* still sending: kept */
  g_assert_true (imp_mirror_index_outbox_forget (f->index, "c2"));
  g_clear_pointer (&unsent, g_ptr_array_unref);
  unsent = imp_mirror_index_outbox_unsent (f->index, 3);
  g_assert_cmpuint (unsent->len, ==, 1);
}

static void
test_search (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) hits = NULL;
  g_autoptr(GPtrArray) short_hits = NULL;
  g_autoptr(GPtrArray) none = NULL;
  g_autoptr(GPtrArray) quoted = NULL;
  g_autoptr(GError) error = NULL;

  store (f, 1, 2, 1, "Meeting at the library tomorrow");
  store (f, 2, 1, 2, "我们明天在图书馆见面");
  store (f, 3, 3, 1, "the LIBRARY is closed");
  store (f, 4, 3, 1, "say \"hi\" 100% sure");

  hits = imp_mirror_index_search (f->index, "library", 10);
  g_assert_cmpuint (hits->len, ==, 2);
  g_assert_cmpint (((ImpMessage *) hits->pdata[0])->seq, ==, 3);   /* newest first */
  g_clear_pointer (&hits, g_ptr_array_unref);
  hits = imp_mirror_index_search (f->index, "明天在图书馆", 10);
  g_assert_cmpuint (hits->len, ==, 1);
  short_hits = imp_mirror_index_search (f->index, "图书", 10);
  g_assert_cmpuint (short_hits->len, ==, 1);
  none = imp_mirror_index_search (f->index, "nothing like it", 10);
  g_assert_cmpuint (none->len, ==, 0);
  quoted = imp_mirror_index_search (f->index, "\"hi\" 100%", 10);
  g_assert_cmpuint (quoted->len, ==, 1);

  /* Messages stored before the index was created are indexed when it first opens. */
  g_clear_object (&f->index);
  g_clear_object (&f->mirror);
  {
    g_autofree char *p2 = g_build_filename (f->dir, "second.db", NULL);
    g_autoptr(ImpMirror) m2 = imp_mirror_open (p2, &error);
    g_autoptr(ImpMessage) m = imp_message_new ();
    g_autoptr(ImpMirrorIndex) i2 = NULL;
    g_autoptr(GPtrArray) old = NULL;

    g_assert_no_error (error);
    m->seq = 1;
    m->conversation_id = g_strdup ("private_1_2");
    m->sender_id = 2;
    m->to_user_id = 1;
    m->content = g_strdup ("written before indexing");
    g_assert_true (imp_mirror_store (m2, m, NULL, NULL, &error));
    i2 = imp_mirror_index_open (p2, 1, &error);
    g_assert_no_error (error);
    old = imp_mirror_index_search (i2, "before index", 10);
    g_assert_cmpuint (old->len, ==, 1);
  }
  f->mirror = imp_mirror_open (f->path, &error);
  g_assert_no_error (error);
}

static void
gstore (Fixture *f, const char *conv, gint64 seq, gint64 from, int type, const char *content)
{
  g_autoptr(ImpMessage) m = imp_message_new ();
  g_autoptr(GError) error = NULL;

  m->seq = seq;
  m->msg_id = 5000 + seq;
  m->conversation_id = g_strdup (conv);
  m->group_id = g_ascii_strtoll (conv + 6, NULL, 10);
  m->sender_id = from;
  m->content_type = type;
  m->content = g_strdup (content);
  m->send_time_ms = 1700000001000 + seq;
  g_assert_true (imp_mirror_group_store (f->mirror, m, NULL, NULL, &error));
  g_assert_no_error (error);
}

static ImpConversationInfo *
find_conv (GPtrArray *convs, const char *id)
{
  for (guint i = 0; i < convs->len; i++)
    if (g_strcmp0 (((ImpConversationInfo *) convs->pdata[i])->conversation_id, id) == 0)
      return convs->pdata[i];
  return NULL;
}

/* Group streams appear in the list (with their name, even when empty), count unread per their
 * own watermark (a row above a hole is not applied), page, and are searched. */
static void
test_groups (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) convs = NULL;
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(GPtrArray) hits = NULL;
  g_autoptr(GPtrArray) unsent = NULL;
  g_autoptr(GError) error = NULL;
  ImpConversationInfo *g, *empty;

  store (f, 1, 2, 1, "private hello");
  g_assert_true (imp_mirror_group_ensure (f->mirror, "group_7", 7, "crew"));
  g_assert_true (imp_mirror_group_ensure (f->mirror, "group_8", 8, "quiet"));
  gstore (f, "group_7", 1, 1, IMP_CONTENT_TYPE_SYSTEM, "{\"event\":\"group_created\",\"name\":\"crew\"}");
  gstore (f, "group_7", 2, 1, 0, "hello crew");
  gstore (f, "group_7", 3, 2, 0, "hi from bob");
  gstore (f, "group_7", 4, 3, 0, "carol says hello");
  gstore (f, "group_7", 6, 3, 0, "above the hole");

  convs = imp_mirror_index_list_conversations (f->index);
  g_assert_cmpuint (convs->len, ==, 3);
  g = find_conv (convs, "group_7");
  g_assert_nonnull (g);
  g_assert_cmpint (g->group_id, ==, 7);
  g_assert_cmpstr (g->group_name, ==, "crew");
  g_assert_cmpint (g->peer_id, ==, 0);
  g_assert_cmpint (g->last_seq, ==, 4);
  g_assert_cmpstr (g->last_content, ==, "carol says hello");
  g_assert_cmpuint (g->unread, ==, 2);   /* bob's and carol's; the system event and our own are not */
  g_assert_true (convs->pdata[0] == g);  /* most recent first */
  empty = find_conv (convs, "group_8");
  g_assert_nonnull (empty);
  g_assert_cmpstr (empty->group_name, ==, "quiet");
  g_assert_cmpint (empty->last_seq, ==, 0);
  g_assert_cmpuint (imp_mirror_index_total_unread (f->index), ==, 3);
  g_assert_cmpint (imp_mirror_index_last_seq (f->index, "group_7"), ==, 4);

  page = imp_mirror_index_list_before (f->index, "group_7", 0, 2);
  g_assert_cmpuint (page->len, ==, 2);
  g_assert_cmpint (((ImpMessage *) page->pdata[0])->seq, ==, 3);
  g_assert_cmpint (((ImpMessage *) page->pdata[1])->group_id, ==, 7);
  g_clear_pointer (&page, g_ptr_array_unref);
  page = imp_mirror_index_list_after (f->index, "group_7", 1);
  g_assert_cmpuint (page->len, ==, 3);

  g_assert_true (imp_mirror_index_set_read (f->index, "group_7", 3));
  g_assert_cmpuint (imp_mirror_index_unread (f->index, "group_7"), ==, 1);

  /* Filling the hole applies seq 5 and 6. */
  gstore (f, "group_7", 5, 2, 0, "filler");
  g_assert_cmpint (imp_mirror_index_last_seq (f->index, "group_7"), ==, 6);
  g_assert_cmpuint (imp_mirror_index_unread (f->index, "group_7"), ==, 3);

  hits = imp_mirror_index_search (f->index, "hello", 10);
  g_assert_cmpuint (hits->len, ==, 3);   /* carol's, ours in the group, the private one */
  g_assert_cmpstr (((ImpMessage *) hits->pdata[0])->conversation_id, ==, "group_7");
  g_clear_pointer (&hits, g_ptr_array_unref);
  hits = imp_mirror_index_search (f->index, "hi", 10);   /* short: LIKE over both streams */
  g_assert_cmpuint (hits->len, ==, 1);
  g_assert_cmpstr (((ImpMessage *) hits->pdata[0])->content, ==, "hi from bob");

  g_assert_true (imp_mirror_outbox_add_full (f->mirror, "g-1", 0, 7, "queued for the group", 1800000000000, &error));
  g_assert_no_error (error);
  unsent = imp_mirror_index_outbox_unsent_group (f->index, 7);
  g_assert_cmpuint (unsent->len, ==, 1);
  g_clear_pointer (&unsent, g_ptr_array_unref);
  unsent = imp_mirror_index_outbox_unsent (f->index, 0);
  g_assert_cmpuint (unsent->len, ==, 0);
  g_clear_pointer (&convs, g_ptr_array_unref);
  convs = imp_mirror_index_list_conversations (f->index);
  g_assert_cmpuint (convs->len, ==, 3);
  g = find_conv (convs, "group_7");
  g_assert_cmpstr (g->last_content, ==, "queued for the group");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, fn) g_test_add ("/client/mirror-index/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("conversations-unread", test_conversations_and_unread);
  ADD ("history-pages", test_history_pages);
  ADD ("drafts-persist", test_drafts_persist);
  ADD ("outbox-unsent", test_outbox_unsent);
  ADD ("search", test_search);
  ADD ("groups", test_groups);
  return g_test_run ();
}

/* test-imp-mirror.c: the local mirror's sync invariants (DESIGN section 3, items 6 and 7). */
#include <glib/gstdio.h>
#include "imp-mirror.h"
#include "imp-error.h"

typedef struct {
  char      *dir;
  char      *path;
  ImpMirror *mirror;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("imp-mirror-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "mirror.db", NULL);
  f->mirror = imp_mirror_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->mirror);
}

static void
rm_rf (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      g_unlink (p);
    }
  g_rmdir (dir);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->mirror);
  rm_rf (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static ImpMessage *
make (gint64 seq, const char *content)
{
  ImpMessage *m = imp_message_new ();

  m->seq = seq;
  m->msg_id = 1000 + seq;
  m->conversation_id = g_strdup ("private_1_2");
  m->sender_id = 2;
  m->to_user_id = 1;
  m->content = g_strdup (content);
  m->send_time_ms = 1700000000000 + seq;
  return m;
}

/* Stores seq; returns how many messages it applied; *dup whether it was a duplicate. */
static guint
store (ImpMirror *mirror, gint64 seq, const char *content, gboolean *dup)
{
  g_autoptr(ImpMessage) m = make (seq, content);
  g_autoptr(GPtrArray) applied = NULL;
  g_autoptr(GError) error = NULL;
  gboolean duplicate = FALSE;

  g_assert_true (imp_mirror_store (mirror, m, &duplicate, &applied, &error));
  g_assert_no_error (error);
  if (dup)
    *dup = duplicate;
  for (guint i = 1; i < applied->len; i++)
    g_assert_cmpint (((ImpMessage *) applied->pdata[i])->seq, ==, ((ImpMessage *) applied->pdata[i - 1])->seq + 1);
  return applied->len;
}

static void
test_apply_in_order (Fixture *f, gconstpointer data)
{
  gboolean dup = TRUE;

  g_assert_cmpint (imp_mirror_get_watermark (f->mirror), ==, 0);
  for (gint64 seq = 1; seq <= 5; seq++)
    {
      g_assert_cmpuint (store (f->mirror, seq, "hello", &dup), ==, 1);
      g_assert_false (dup);
      g_assert_cmpint (imp_mirror_get_watermark (f->mirror), ==, seq);
    }
  g_autoptr(GPtrArray) all = imp_mirror_list_messages (f->mirror, NULL, 0);
  g_assert_cmpuint (all->len, ==, 5);
  g_assert_cmpint (((ImpMessage *) all->pdata[0])->seq, ==, 1);
  g_assert_cmpint (((ImpMessage *) all->pdata[4])->seq, ==, 5);
  g_autoptr(GPtrArray) last2 = imp_mirror_list_messages (f->mirror, "private_1_2", 2);
  g_assert_cmpuint (last2->len, ==, 2);
  g_assert_cmpint (((ImpMessage *) last2->pdata[0])->seq, ==, 4);
  g_autoptr(GPtrArray) other = imp_mirror_list_messages (f->mirror, "private_1_3", 0);
  g_assert_cmpuint (other->len, ==, 0);
}

static void
test_duplicate_seq (Fixture *f, gconstpointer data)
{
  gboolean dup = FALSE;

  store (f->mirror, 1, "a", NULL);
  store (f->mirror, 2, "b", NULL);
  g_assert_cmpuint (store (f->mirror, 1, "a", &dup), ==, 0);
  g_assert_true (dup);
  g_assert_cmpuint (store (f->mirror, 2, "b", &dup), ==, 0);
  g_assert_true (dup);
  g_assert_cmpint (imp_mirror_get_watermark (f->mirror), ==, 2);
  g_autoptr(GPtrArray) all = imp_mirror_list_messages (f->mirror, NULL, 0);
  g_assert_cmpuint (all->len, ==, 2);
}

static void
test_out_of_order (Fixture *f, gconstpointer data)
{
  g_autoptr(ImpMirror) reopened = NULL;
  g_autoptr(GError) error = NULL;

  store (f->mirror, 1, "a", NULL);
  /* 3 and 5 arrive before 2 and 4: the watermark stays at the hole. */
  g_assert_cmpuint (store (f->mirror, 3, "c", NULL), ==, 0);
  g_assert_cmpuint (store (f->mirror, 5, "e", NULL), ==, 0);
  g_assert_cmpint (imp_mirror_get_watermark (f->mirror), ==, 1);
  g_assert_cmpint (imp_mirror_count_buffered (f->mirror), ==, 2);
  /* Buffered messages are not part of the applied stream yet. */
  g_autoptr(GPtrArray) visible = imp_mirror_list_messages (f->mirror, NULL, 0);
  g_assert_cmpuint (visible->len, ==, 1);

  /* The buffer survives a restart. */
  g_clear_object (&f->mirror);
  f->mirror = imp_mirror_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (imp_mirror_get_watermark (f->mirror), ==, 1);
  g_assert_cmpint (imp_mirror_count_buffered (f->mirror), ==, 2);

  /* Filling 2 applies 2 and 3, not past the next hole at 4. */
  g_assert_cmpuint (store (f->mirror, 2, "b", NULL), ==, 2);
  g_assert_cmpint (imp_mirror_get_watermark (f->mirror), ==, 3);
  g_assert_cmpuint (store (f->mirror, 4, "d", NULL), ==, 2);
  g_assert_cmpint (imp_mirror_get_watermark (f->mirror), ==, 5);
  g_assert_cmpint (imp_mirror_count_buffered (f->mirror), ==, 0);
}

static void
test_upsert_idempotent (Fixture *f, gconstpointer data)
{
  g_autoptr(ImpMessage) m = make (1, "first");
  g_autoptr(ImpMessage) got = NULL;

  m->state = IMP_MESSAGE_DELIVERED;
  m->client_msg_id = g_strdup ("c0ffee00-0000-4000-8000-000000000001");
  g_assert_true (imp_mirror_store (f->mirror, m, NULL, NULL, NULL));
  /* A replay with an older state and no client_msg_id changes neither. */
  g_clear_pointer (&m->client_msg_id, g_free);
  m->state = IMP_MESSAGE_SENT;
  for (int i = 0; i < 3; i++)
    g_assert_true (imp_mirror_store (f->mirror, m, NULL, NULL, NULL));
  got = imp_mirror_get_message (f->mirror, 1);
  g_assert_nonnull (got);
  g_assert_cmpstr (got->content, ==, "first");
  g_assert_cmpint (got->state, ==, IMP_MESSAGE_DELIVERED);
  g_assert_cmpstr (got->client_msg_id, ==, "c0ffee00-0000-4000-8000-000000000001");
  g_assert_cmpint (imp_mirror_get_watermark (f->mirror), ==, 1);
  g_autoptr(GPtrArray) all = imp_mirror_list_messages (f->mirror, NULL, 0);
  g_assert_cmpuint (all->len, ==, 1);
}

static void
test_outbox_persistence (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) pending = NULL;
  g_autoptr(ImpOutboxItem) item = NULL;

  g_assert_true (imp_mirror_outbox_add (f->mirror, "id-1", 2, "one", 10, &error));
  g_assert_true (imp_mirror_outbox_add (f->mirror, "id-2", 2, "two", 11, &error));
  g_assert_true (imp_mirror_outbox_add (f->mirror, "id-3", 3, "three", 12, &error));
  g_assert_no_error (error);
  /* The same client_msg_id twice is refused. */
  g_assert_false (imp_mirror_outbox_add (f->mirror, "id-1", 2, "again", 13, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_INTERNAL);
  g_clear_error (&error);
  g_assert_true (imp_mirror_outbox_bump_attempts (f->mirror, "id-2"));

  g_clear_object (&f->mirror);
  f->mirror = imp_mirror_open (f->path, &error);
  g_assert_no_error (error);

  g_assert_cmpint (imp_mirror_outbox_count_pending (f->mirror), ==, 3);
  pending = imp_mirror_outbox_pending (f->mirror, 0, 10);
  g_assert_cmpuint (pending->len, ==, 3);
  g_assert_cmpstr (((ImpOutboxItem *) pending->pdata[0])->client_msg_id, ==, "id-1");
  g_assert_cmpstr (((ImpOutboxItem *) pending->pdata[1])->client_msg_id, ==, "id-2");
  g_assert_cmpuint (((ImpOutboxItem *) pending->pdata[1])->attempts, ==, 1);
  g_assert_cmpstr (((ImpOutboxItem *) pending->pdata[2])->content, ==, "three");

  g_assert_true (imp_mirror_outbox_mark_sent (f->mirror, "id-1", 77, 4));
  g_assert_false (imp_mirror_outbox_mark_sent (f->mirror, "id-1", 77, 4)); /* only once */
  g_assert_true (imp_mirror_outbox_mark_failed (f->mirror, "id-3", IMP_ERROR_BLOCKED));
  g_assert_false (imp_mirror_outbox_mark_sent (f->mirror, "id-3", 1, 1)); /* failed stays failed */
  g_assert_cmpint (imp_mirror_outbox_count_pending (f->mirror), ==, 1);
  g_clear_pointer (&pending, g_ptr_array_unref);
  pending = imp_mirror_outbox_pending (f->mirror, 0, 10);
  g_assert_cmpuint (pending->len, ==, 1);
  g_assert_cmpstr (((ImpOutboxItem *) pending->pdata[0])->client_msg_id, ==, "id-2");

  item = imp_mirror_outbox_get (f->mirror, "id-1");
  g_assert_cmpint (item->state, ==, IMP_MESSAGE_SENT);
  g_assert_cmpint (item->msg_id, ==, 77);
  g_assert_cmpint (item->seq, ==, 4);
  g_clear_pointer (&item, imp_outbox_item_free);
  item = imp_mirror_outbox_get (f->mirror, "id-3");
  g_assert_cmpint (item->state, ==, IMP_MESSAGE_FAILED);
  g_assert_cmpint (item->error_code, ==, IMP_ERROR_BLOCKED);
}

static void
test_user_cache_and_kv (Fixture *f, gconstpointer data)
{
  g_autofree char *name = NULL, *v = NULL;

  g_assert_cmpint (imp_mirror_user_id (f->mirror, "bob"), ==, 0);
  g_assert_true (imp_mirror_user_put (f->mirror, 2, "bob", "Bob"));
  g_assert_cmpint (imp_mirror_user_id (f->mirror, "bob"), ==, 2);
  name = imp_mirror_user_name (f->mirror, 2);
  g_assert_cmpstr (name, ==, "bob");
  /* The name moved to a new id. */
  g_assert_true (imp_mirror_user_put (f->mirror, 9, "bob", NULL));
  g_assert_cmpint (imp_mirror_user_id (f->mirror, "bob"), ==, 9);

  g_assert_true (imp_mirror_kv_set (f->mirror, "k", "v", NULL));
  v = imp_mirror_kv_get (f->mirror, "k");
  g_assert_cmpstr (v, ==, "v");
  g_assert_true (imp_mirror_kv_set (f->mirror, "k", NULL, NULL));
  g_clear_pointer (&v, g_free);
  v = imp_mirror_kv_get (f->mirror, "k");
  g_assert_null (v);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/client/mirror/apply-in-order", test_apply_in_order);
  ADD ("/client/mirror/duplicate-seq", test_duplicate_seq);
  ADD ("/client/mirror/out-of-order", test_out_of_order);
  ADD ("/client/mirror/upsert-idempotent", test_upsert_idempotent);
  ADD ("/client/mirror/outbox-persistence", test_outbox_persistence);
  ADD ("/client/mirror/user-cache-and-kv", test_user_cache_and_kv);
  return g_test_run ();
}

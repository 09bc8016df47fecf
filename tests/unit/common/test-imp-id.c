/* test-imp-id.c: snowflake ids and UUIDs. */
#include "imp-id.h"
#include "imp-time.h"

#include <string.h>

#define N_THREADS 4
#define PER_THREAD 20000

static void
test_monotonic (void)
{
  g_autoptr(ImpIdGen) gen = imp_id_gen_new (5);
  gint64 prev = 0;

  for (int i = 0; i < 100000; i++)
    {
      gint64 id = imp_id_gen_next (gen);
      g_assert_cmpint (id, >, prev);
      prev = id;
    }
  g_assert_cmpuint (imp_id_worker (prev), ==, 5);
  g_assert_cmpint (ABS (imp_id_timestamp_ms (prev) - imp_now_ms ()), <, 60 * 1000);
}

static void
test_fields (void)
{
  g_autoptr(ImpIdGen) gen = imp_id_gen_new (1023);
  gint64 t = G_GINT64_CONSTANT (1750000000000);
  gint64 id = imp_id_gen_next_at (gen, t);

  g_assert_cmpint (imp_id_timestamp_ms (id), ==, t);
  g_assert_cmpuint (imp_id_worker (id), ==, 1023);
  g_assert_cmpint (id, >, 0);
}

static void
test_never_zero (void)
{
  g_autoptr(ImpIdGen) gen = imp_id_gen_new (0);

  /* A clock before the epoch would give all-zero fields. */
  g_assert_cmpint (imp_id_gen_next_at (gen, 0), >, 0);
  g_assert_cmpint (imp_id_gen_next_at (gen, 0), >, 0);
}

static void
test_clock_backwards (void)
{
  g_autoptr(ImpIdGen) gen = imp_id_gen_new (3);
  gint64 t = G_GINT64_CONSTANT (1750000000000);
  gint64 a = imp_id_gen_next_at (gen, t);
  gint64 b = imp_id_gen_next_at (gen, t - 5000);
  gint64 c = imp_id_gen_next_at (gen, t - 10);
  gint64 d = imp_id_gen_next_at (gen, t + 1);

  g_assert_cmpint (b, >, a);
  g_assert_cmpint (c, >, b);
  g_assert_cmpint (d, >, c);
  g_assert_cmpint (imp_id_timestamp_ms (b), ==, t);
}

static void
test_sequence_overflow (void)
{
  g_autoptr(ImpIdGen) gen = imp_id_gen_new (9);
  gint64 t = G_GINT64_CONSTANT (1750000000000);
  gint64 prev = 0;

  /* More than 4096 ids in one millisecond stay strictly increasing. */
  for (int i = 0; i < 10000; i++)
    {
      gint64 id = imp_id_gen_next_at (gen, t);
      g_assert_cmpint (id, >, prev);
      prev = id;
    }
  g_assert_cmpint (imp_id_timestamp_ms (prev), >, t);
}

static gpointer
worker (gpointer data)
{
  ImpIdGen *gen = data;
  gint64 *ids = g_new (gint64, PER_THREAD);

  for (int i = 0; i < PER_THREAD; i++)
    {
      ids[i] = imp_id_gen_next (gen);
      if (i > 0)
        g_assert_cmpint (ids[i], >, ids[i - 1]);
    }
  return ids;
}

static void
test_threads_unique (void)
{
  g_autoptr(ImpIdGen) gen = imp_id_gen_new (7);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_int64_hash, g_int64_equal);
  GThread *threads[N_THREADS];
  gint64 *results[N_THREADS];

  for (int i = 0; i < N_THREADS; i++)
    threads[i] = g_thread_new ("ids", worker, gen);
  for (int i = 0; i < N_THREADS; i++)
    results[i] = g_thread_join (threads[i]);
  for (int i = 0; i < N_THREADS; i++)
    for (int j = 0; j < PER_THREAD; j++)
      g_assert_true (g_hash_table_add (seen, &results[i][j]));
  g_assert_cmpuint (g_hash_table_size (seen), ==, N_THREADS * PER_THREAD);
  for (int i = 0; i < N_THREADS; i++)
    g_free (results[i]);
}

static void
test_uuid (void)
{
  g_autofree char *a = imp_uuid_new ();
  g_autofree char *b = imp_uuid_new ();

  g_assert_true (imp_uuid_is_valid (a));
  g_assert_true (imp_uuid_is_valid (b));
  g_assert_cmpstr (a, !=, b);
  g_assert_cmpuint (strlen (a), ==, 36);
  g_assert_false (imp_uuid_is_valid (NULL));
  g_assert_false (imp_uuid_is_valid (""));
  g_assert_false (imp_uuid_is_valid ("not-a-uuid"));
  g_assert_false (imp_uuid_is_valid ("0b7c7f0e-8a3b-4c1e-9d7a-2f3e4d5c6b7"));
  g_assert_false (imp_uuid_is_valid ("0b7c7f0e-8a3b-4c1e-9d7a-2f3e4d5c6b7a0"));
  g_assert_false (imp_uuid_is_valid ("0b7c7f0e_8a3b-4c1e-9d7a-2f3e4d5c6b7a"));
  g_assert_false (imp_uuid_is_valid ("0b7c7f0e-8a3b-4c1e-9d7a-2f3e4d5c6b7g"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/id/monotonic", test_monotonic);
  g_test_add_func ("/id/fields", test_fields);
  g_test_add_func ("/id/never-zero", test_never_zero);
  g_test_add_func ("/id/clock-backwards", test_clock_backwards);
  g_test_add_func ("/id/sequence-overflow", test_sequence_overflow);
  g_test_add_func ("/id/threads-unique", test_threads_unique);
  g_test_add_func ("/id/uuid", test_uuid);
  return g_test_run ();
}

/* test-imp-bus-local.c: the in-process bus: per-key order under concurrent publishers, batching,
 * redelivery after a refused batch, consumer groups, unsubscribe. */
#include "bus/imp-bus.h"

#include <string.h>

#define DEADLINE_US (10 * G_USEC_PER_SEC)

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the thread-default context until cond(data) holds; fails the test at the deadline. */
static void
wait_for (gboolean (*cond) (gpointer), gpointer data)
{
  GMainContext *ctx = g_main_context_get_thread_default ();
  gboolean expired = FALSE;
  GSource *timeout = g_timeout_source_new (DEADLINE_US / 1000);

  g_source_set_callback (timeout, set_flag, &expired, NULL);
  g_source_attach (timeout, ctx);
  while (!cond (data) && !expired)
    g_main_context_iteration (ctx, TRUE);
  g_source_destroy (timeout);
  g_source_unref (timeout);
  g_assert_true (cond (data));
}

/* Lets every source that is ready now run, without blocking. */
static void
drain (void)
{
  while (g_main_context_iteration (g_main_context_get_thread_default (), FALSE))
    ;
}

static GBytes *
bytes_printf (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static GBytes *
bytes_printf (const char *fmt, ...)
{
  va_list args;
  char *s;

  va_start (args, fmt);
  s = g_strdup_vprintf (fmt, args);
  va_end (args);
  return g_bytes_new_take (s, strlen (s));
}

static char *
value_string (const ImpBusRecord *rec)
{
  gsize len;
  const char *data = g_bytes_get_data (rec->value, &len);

  return g_strndup (data, len);
}

typedef struct {
  guint       max_batch;
  guint       received;
  guint       batches;
  GArray     *batch_sizes;   /* guint */
  GPtrArray  *values;        /* char *, in delivery order */
  GPtrArray  *keys;          /* char *, in delivery order */
  guint       refuse;        /* batches to refuse before accepting */
  gint64      first_call_us;
  gint64      accept_us;
  char       *last_refused;  /* the first value of the refused batch */
  gboolean    redelivered_same;
  int         destroyed;
  ImpBus     *bus;
  ImpBusSubscription *sub;
  gboolean    unsubscribe_in_handler;
  /* order test: per "key/thread" the last counter seen */
  GHashTable *last;
  gboolean    order_ok;
} Collector;

static void
collector_init (Collector *c, guint max_batch)
{
  memset (c, 0, sizeof *c);
  c->max_batch = max_batch;
  c->batch_sizes = g_array_new (FALSE, FALSE, sizeof (guint));
  c->values = g_ptr_array_new_with_free_func (g_free);
  c->keys = g_ptr_array_new_with_free_func (g_free);
  c->last = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  c->order_ok = TRUE;
}

static void
collector_clear (Collector *c)
{
  g_array_unref (c->batch_sizes);
  g_ptr_array_unref (c->values);
  g_ptr_array_unref (c->keys);
  g_hash_table_unref (c->last);
  g_free (c->last_refused);
}

static void
collector_destroyed (gpointer data)
{
  ((Collector *) data)->destroyed++;
}

static gboolean
collect (GPtrArray *records, gpointer data)
{
  Collector *c = data;

  g_assert_cmpuint (records->len, >, 0);
  g_assert_cmpuint (records->len, <=, c->max_batch);
  if (c->first_call_us == 0)
    c->first_call_us = g_get_monotonic_time ();
  if (c->refuse > 0)
    {
      c->refuse--;
      if (c->last_refused == NULL)
        c->last_refused = value_string (g_ptr_array_index (records, 0));
      return FALSE;
    }
  if (c->last_refused != NULL && c->accept_us == 0)
    {
      g_autofree char *first = value_string (g_ptr_array_index (records, 0));

      c->accept_us = g_get_monotonic_time ();
      c->redelivered_same = g_str_equal (first, c->last_refused);
    }
  c->batches++;
  g_array_append_val (c->batch_sizes, records->len);
  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);
      char *value = value_string (rec);
      g_auto(GStrv) parts = g_strsplit (value, ":", 2);

      g_ptr_array_add (c->values, value);
      g_ptr_array_add (c->keys, g_strdup (rec->key));
      /* Values "thread:counter": per (key, thread) counters must arrive 0, 1, 2, ... */
      if (parts[0] != NULL && parts[1] != NULL)
        {
          char *id = g_strdup_printf ("%s/%s", rec->key, parts[0]);
          gint64 *last = g_hash_table_lookup (c->last, id);
          gint64 counter = g_ascii_strtoll (parts[1], NULL, 10);

          if (last == NULL)
            {
              if (counter != 0)
                c->order_ok = FALSE;
              g_hash_table_insert (c->last, id, g_memdup2 (&counter, sizeof counter));
            }
          else
            {
              if (counter != *last + 1)
                c->order_ok = FALSE;
              *last = counter;
              g_free (id);
            }
        }
    }
  c->received += records->len;
  if (c->unsubscribe_in_handler)
    imp_bus_unsubscribe (c->bus, c->sub);
  return TRUE;
}

typedef struct {
  guint   want;
  Collector *c;
} Want;

static gboolean
received_enough (gpointer data)
{
  Want *w = data;
  return w->c->received >= w->want;
}

#define N_PER_THREAD 5000
#define N_KEYS 7

typedef struct {
  ImpBus *bus;
  int     thread;
} Publisher;

static gpointer
publish_thread (gpointer data)
{
  Publisher *p = data;
  guint counters[N_KEYS] = { 0 };

  for (guint i = 0; i < N_PER_THREAD; i++)
    {
      guint k = g_random_int_range (0, N_KEYS);
      g_autofree char *key = g_strdup_printf ("conv-%u", k);
      g_autoptr(GBytes) value = bytes_printf ("%d:%u", p->thread, counters[k]++);

      g_assert_true (imp_bus_publish (p->bus, "t", key, value, NULL));
    }
  return NULL;
}

static void
test_order_two_threads (void)
{
  g_autoptr(ImpBus) bus = imp_bus_local_new ();
  Collector c;
  Want want;
  Publisher pubs[2] = { { bus, 0 }, { bus, 1 } };
  GThread *threads[2];
  ImpBusSubscription *sub;

  collector_init (&c, 64);
  sub = imp_bus_subscribe (bus, "t", "g", NULL, 64, collect, &c, NULL, NULL);
  g_assert_nonnull (sub);
  for (int i = 0; i < 2; i++)
    threads[i] = g_thread_new ("publisher", publish_thread, &pubs[i]);
  want = (Want) { 2 * N_PER_THREAD, &c };
  wait_for (received_enough, &want);
  for (int i = 0; i < 2; i++)
    g_thread_join (threads[i]);
  drain ();
  g_assert_cmpuint (c.received, ==, 2 * N_PER_THREAD);
  g_assert_true (c.order_ok);
  /* Both threads, every key. */
  g_assert_cmpuint (g_hash_table_size (c.last), ==, 2 * N_KEYS);
  imp_bus_unsubscribe (bus, sub);
  collector_clear (&c);
}

static void
test_batching (void)
{
  g_autoptr(ImpBus) bus = imp_bus_local_new ();
  Collector c;
  Want want = { 10, &c };
  ImpBusSubscription *sub;

  collector_init (&c, 4);
  sub = imp_bus_subscribe (bus, "t", "g", NULL, 4, collect, &c, NULL, NULL);
  for (int i = 0; i < 10; i++)
    {
      g_autoptr(GBytes) value = bytes_printf ("0:%d", i);
      imp_bus_publish (bus, "t", "k", value, NULL);
    }
  wait_for (received_enough, &want);
  g_assert_cmpuint (c.batch_sizes->len, ==, 3);
  g_assert_cmpuint (g_array_index (c.batch_sizes, guint, 0), ==, 4);
  g_assert_cmpuint (g_array_index (c.batch_sizes, guint, 1), ==, 4);
  g_assert_cmpuint (g_array_index (c.batch_sizes, guint, 2), ==, 2);
  g_assert_true (c.order_ok);

  /* Later records wake the context again (no polling: the queue going non-empty does it). */
  {
    g_autoptr(GBytes) value = bytes_printf ("0:%d", 10);
    imp_bus_publish (bus, "t", "k", value, NULL);
  }
  want.want = 11;
  wait_for (received_enough, &want);
  g_assert_true (c.order_ok);
  imp_bus_unsubscribe (bus, sub);
  collector_clear (&c);
}

static void
test_redeliver (void)
{
  g_autoptr(ImpBus) bus = imp_bus_local_new ();
  Collector c;
  Want want = { 3, &c };
  ImpBusSubscription *sub;

  collector_init (&c, 8);
  c.refuse = 2;
  sub = imp_bus_subscribe (bus, "t", NULL, NULL, 8, collect, &c, NULL, NULL);
  for (int i = 0; i < 3; i++)
    {
      g_autoptr(GBytes) value = bytes_printf ("0:%d", i);
      imp_bus_publish (bus, "t", "k", value, NULL);
    }
  wait_for (received_enough, &want);
  g_assert_cmpuint (c.refuse, ==, 0);
  g_assert_true (c.redelivered_same);
  g_assert_true (c.order_ok);
  g_assert_cmpuint (c.batches, ==, 1);
  /* Two refusals: backoffs of 50 and 100 ms before the batch came back. */
  g_assert_cmpint (c.accept_us - c.first_call_us, >=, 140 * 1000);
  imp_bus_unsubscribe (bus, sub);
  collector_clear (&c);
}

static gboolean
groups_done (gpointer data)
{
  Collector *c = data;
  return c[0].received + c[1].received >= 200 && c[2].received >= 200 && c[3].received >= 200;
}

static void
test_groups (void)
{
  g_autoptr(ImpBus) bus = imp_bus_local_new ();
  Collector c[4];
  ImpBusSubscription *subs[4];
  g_autoptr(GHashTable) owner = g_hash_table_new (g_str_hash, g_str_equal);

  for (int i = 0; i < 4; i++)
    collector_init (&c[i], 1000);
  /* c0, c1: group "workers"; c2: group "audit"; c3: no group (gets everything). */
  subs[0] = imp_bus_subscribe (bus, "t", "workers", NULL, 1000, collect, &c[0], NULL, NULL);
  subs[1] = imp_bus_subscribe (bus, "t", "workers", NULL, 1000, collect, &c[1], NULL, NULL);
  subs[2] = imp_bus_subscribe (bus, "t", "audit", NULL, 1000, collect, &c[2], NULL, NULL);
  subs[3] = imp_bus_subscribe (bus, "t", NULL, NULL, 1000, collect, &c[3], NULL, NULL);
  for (int round = 0; round < 2; round++)
    for (int k = 0; k < 100; k++)
      {
        g_autofree char *key = g_strdup_printf ("key-%d", k);
        g_autoptr(GBytes) value = bytes_printf ("0:%d", round);

        imp_bus_publish (bus, "t", key, value, NULL);
      }
  /* Another topic never reaches these subscribers; a topic without any is dropped quietly. */
  {
    g_autoptr(GBytes) value = bytes_printf ("x");
    imp_bus_publish (bus, "other", "key-1", value, NULL);
  }
  wait_for (groups_done, c);
  drain ();
  /* Exactly once per group, split between the two workers. */
  g_assert_cmpuint (c[0].received + c[1].received, ==, 200);
  g_assert_cmpuint (c[0].received, >, 0);
  g_assert_cmpuint (c[1].received, >, 0);
  g_assert_cmpuint (c[2].received, ==, 200);
  g_assert_cmpuint (c[3].received, ==, 200);
  for (int i = 0; i < 4; i++)
    g_assert_true (c[i].order_ok);
  /* One key, one worker. */
  for (int i = 0; i < 2; i++)
    for (guint j = 0; j < c[i].keys->len; j++)
      {
        const char *key = g_ptr_array_index (c[i].keys, j);
        gpointer prev = g_hash_table_lookup (owner, key);

        g_assert_true (prev == NULL || prev == &c[i]);
        g_hash_table_insert (owner, (gpointer) key, &c[i]);
      }
  g_assert_cmpuint (g_hash_table_size (owner), ==, 100);
  g_hash_table_remove_all (owner);
  for (int i = 0; i < 4; i++)
    {
      imp_bus_unsubscribe (bus, subs[i]);
      collector_clear (&c[i]);
    }
}

static void
test_unsubscribe (void)
{
  g_autoptr(ImpBus) bus = imp_bus_local_new ();
  Collector a, b;
  Want want = { 1, &a };

  /* From inside the handler: that batch is the last one, the destroy notify runs once. */
  collector_init (&a, 1);
  a.bus = bus;
  a.unsubscribe_in_handler = TRUE;
  a.sub = imp_bus_subscribe (bus, "t", NULL, NULL, 1, collect, &a, collector_destroyed, NULL);
  for (int i = 0; i < 5; i++)
    {
      g_autoptr(GBytes) value = bytes_printf ("0:%d", i);
      imp_bus_publish (bus, "t", "k", value, NULL);
    }
  wait_for (received_enough, &want);
  drain ();
  g_assert_cmpuint (a.received, ==, 1);
  g_assert_cmpint (a.destroyed, ==, 1);
  {
    g_autoptr(GBytes) value = bytes_printf ("0:9");
    imp_bus_publish (bus, "t", "k", value, NULL);
  }
  drain ();
  g_assert_cmpuint (a.received, ==, 1);
  collector_clear (&a);

  /* From outside, with records still queued: the group's other member takes them over, in order. */
  collector_init (&a, 100);
  collector_init (&b, 100);
  a.sub = imp_bus_subscribe (bus, "t", "g", NULL, 100, collect, &a, collector_destroyed, NULL);
  b.sub = imp_bus_subscribe (bus, "t", "g", NULL, 100, collect, &b, collector_destroyed, NULL);
  for (int k = 0; k < 20; k++)
    {
      g_autofree char *key = g_strdup_printf ("key-%d", k);
      g_autoptr(GBytes) value = bytes_printf ("0:0");

      imp_bus_publish (bus, "t", key, value, NULL);
    }
  imp_bus_unsubscribe (bus, a.sub);
  g_assert_cmpint (a.destroyed, ==, 1);
  want = (Want) { 20, &b };
  wait_for (received_enough, &want);
  drain ();
  g_assert_cmpuint (a.received, ==, 0);
  g_assert_cmpuint (b.received, ==, 20);
  g_assert_true (b.order_ok);
  imp_bus_unsubscribe (bus, b.sub);
  imp_bus_unsubscribe (bus, NULL);
  g_assert_cmpint (b.destroyed, ==, 1);
  collector_clear (&a);
  collector_clear (&b);
}

static void
test_push_topic (void)
{
  g_autofree char *topic = imp_bus_push_topic ("gw7");

  g_assert_cmpstr (topic, ==, "push.gw7");
}

int
main (int argc, char **argv)
{
  g_autoptr(GMainContext) ctx = g_main_context_new ();
  int ret;

  g_test_init (&argc, &argv, NULL);
  g_main_context_push_thread_default (ctx);
  g_test_add_func ("/bus-local/order-two-threads", test_order_two_threads);
  g_test_add_func ("/bus-local/batching", test_batching);
  g_test_add_func ("/bus-local/redeliver", test_redeliver);
  g_test_add_func ("/bus-local/groups", test_groups);
  g_test_add_func ("/bus-local/unsubscribe", test_unsubscribe);
  g_test_add_func ("/bus-local/push-topic", test_push_topic);
  ret = g_test_run ();
  g_main_context_pop_thread_default (ctx);
  return ret;
}

/* test-imp-bus-kafka.c: the Kafka bus against librdkafka's mock cluster (in this process, one
 * per test): round trip, per-key order under concurrent publishers, redelivery of a refused
 * batch, offsets committed only after the handler's TRUE, dead letters, consumer groups,
 * unsubscribe from inside a handler, the topic prefix. With IMPLUS_TEST_KAFKA=host:port, also a
 * round trip against a real broker (under a prefix of its own). */
#include "bus/imp-bus.h"
#include "bus/kafka/imp-bus-kafka.h"
#include "imp-error.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <string.h>

/* A consumer group's first join takes about 3 s on the mock cluster. */
#define DEADLINE_US (30 * G_USEC_PER_SEC)

typedef struct {
  rd_kafka_t              *rk;   /* only hosts the mock cluster */
  rd_kafka_mock_cluster_t *mc;
  ImpBus                  *bus;
} Fixture;

static gint dead_letter_warnings;

static const char *mock_topics[] = {
  IMP_TOPIC_CONVERSATION_MESSAGES, IMP_TOPIC_MESSAGE_ACKS, "t-order", "t-refuse", "t-commit",
  "t-poison", "t-poison.dlq", "t-groups", "t-quit", "t-close",
  /* What a bus with the prefix "p1." needs (see test_topic_prefix). */
  "p1." IMP_TOPIC_CONVERSATION_MESSAGES, "p1." IMP_TOPIC_MESSAGE_ACKS, "p1.t-prefix", "p1.t-prefix.dlq",
};

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default context until cond(data) holds; fails the test at the deadline. */
static void
wait_for (gboolean (*cond) (gpointer), gpointer data)
{
  GMainContext *ctx = g_main_context_default ();
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

static void
publish (ImpBus *bus, const char *topic, const char *key, const char *value)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_bytes_new (value, strlen (value));

  g_assert_true (imp_bus_publish (bus, topic, key, bytes, &error));
  g_assert_no_error (error);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();
  char errstr[256];
  g_autoptr(GError) error = NULL;

  /* This handle has no brokers of its own: keep its notice about that quiet. */
  g_assert_cmpint (rd_kafka_conf_set (conf, "log_level", "3", errstr, sizeof errstr), ==,
                   RD_KAFKA_CONF_OK);

  f->rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  g_assert_nonnull (f->rk);
  f->mc = rd_kafka_mock_cluster_new (f->rk, 3);
  g_assert_nonnull (f->mc);
  /* The mock cluster of librdkafka 2.0.2 names no controller, so the Admin API cannot create
   * topics there: they are made here and the bus finds them in the metadata. */
  for (guint i = 0; i < G_N_ELEMENTS (mock_topics); i++)
    g_assert_cmpint (rd_kafka_mock_topic_create (f->mc, mock_topics[i], 8, 3), ==, 0);
  f->bus = imp_bus_kafka_new (rd_kafka_mock_cluster_bootstraps (f->mc), "test", NULL, 8, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->bus);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->bus, imp_bus_free);
  rd_kafka_mock_cluster_destroy (f->mc);
  rd_kafka_destroy (f->rk);
}

/* A collecting subscriber: records values (in arrival order) and answers per its policy. */
typedef struct {
  ImpBus             *bus;
  ImpBusSubscription *sub;
  GPtrArray          *values;      /* char *, every value seen (redeliveries included) */
  GPtrArray          *accepted;    /* char *, values of batches answered TRUE */
  GPtrArray          *batches;     /* char *, each call's values joined by ',' */
  GArray             *call_times;  /* gint64 */
  guint               calls;
  guint               refuse_first; /* refuse this many calls */
  gboolean            refuse_all;
  const char         *poison;       /* refuse any batch that holds this value */
  const char         *expect_topic; /* if set, every record must carry this topic name */
  guint               wrong_topic;  /* records that did not */
  gboolean            unsubscribe_in_handler;
  guint               destroyed;
} Collector;

static Collector *
collector_new (ImpBus *bus)
{
  Collector *c = g_new0 (Collector, 1);

  c->bus = bus;
  c->values = g_ptr_array_new_with_free_func (g_free);
  c->accepted = g_ptr_array_new_with_free_func (g_free);
  c->batches = g_ptr_array_new_with_free_func (g_free);
  c->call_times = g_array_new (FALSE, FALSE, sizeof (gint64));
  return c;
}

static void
collector_free (Collector *c)
{
  g_ptr_array_unref (c->values);
  g_ptr_array_unref (c->accepted);
  g_ptr_array_unref (c->batches);
  g_array_unref (c->call_times);
  g_free (c);
}

static void
collector_destroyed (gpointer data)
{
  ((Collector *) data)->destroyed++;
}

static gboolean
collector_handler (GPtrArray *records, gpointer user_data)
{
  Collector *c = user_data;
  g_autoptr(GString) joined = g_string_new (NULL);
  gint64 now = g_get_monotonic_time ();
  gboolean ok = TRUE;

  c->calls++;
  g_array_append_val (c->call_times, now);
  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);
      char *v = value_string (rec);

      if (c->expect_topic != NULL && g_strcmp0 (rec->topic, c->expect_topic) != 0)
        c->wrong_topic++;
      g_string_append_printf (joined, "%s%s", i > 0 ? "," : "", v);
      if (c->poison != NULL && strcmp (v, c->poison) == 0)
        ok = FALSE;
      g_ptr_array_add (c->values, v);
    }
  g_ptr_array_add (c->batches, g_string_free (g_steal_pointer (&joined), FALSE));
  if (c->refuse_all || c->calls <= c->refuse_first)
    ok = FALSE;
  if (ok)
    for (guint i = 0; i < records->len; i++)
      g_ptr_array_add (c->accepted, value_string (g_ptr_array_index (records, i)));
  if (c->unsubscribe_in_handler && c->sub != NULL)
    imp_bus_unsubscribe (c->bus, g_steal_pointer (&c->sub));
  return ok;
}

static void
collector_subscribe (Collector *c, const char *topic, const char *group, guint max_batch)
{
  g_autoptr(GError) error = NULL;

  c->sub = imp_bus_subscribe (c->bus, topic, group, NULL, max_batch, collector_handler, c,
                              collector_destroyed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (c->sub);
}

static void
collector_unsubscribe (Collector *c)
{
  if (c->sub != NULL)
    imp_bus_unsubscribe (c->bus, g_steal_pointer (&c->sub));
}

static gboolean
has_value (GPtrArray *values, const char *v)
{
  for (guint i = 0; i < values->len; i++)
    if (strcmp (g_ptr_array_index (values, i), v) == 0)
      return TRUE;
  return FALSE;
}

typedef struct {
  GPtrArray  *values;
  const char *want[8];
} HasAll;

static gboolean
has_all (gpointer data)
{
  HasAll *h = data;

  for (guint i = 0; i < G_N_ELEMENTS (h->want) && h->want[i] != NULL; i++)
    if (!has_value (h->values, h->want[i]))
      return FALSE;
  return TRUE;
}

typedef struct {
  GPtrArray *values;
  guint      n;
} AtLeast;

static gboolean
at_least (gpointer data)
{
  AtLeast *a = data;

  return a->values->len >= a->n;
}

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->bus);

  collector_subscribe (c, IMP_TOPIC_CONVERSATION_MESSAGES, "workers", 16);
  publish (f->bus, IMP_TOPIC_CONVERSATION_MESSAGES, "private_1_2", "one");
  publish (f->bus, IMP_TOPIC_CONVERSATION_MESSAGES, "private_1_2", "two");
  publish (f->bus, IMP_TOPIC_CONVERSATION_MESSAGES, "private_1_2", "three");
  wait_for (has_all, &(HasAll) { c->accepted, { "one", "two", "three" } });
  g_assert_cmpuint (c->accepted->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (c->accepted, 0), ==, "one");
  g_assert_cmpstr (g_ptr_array_index (c->accepted, 2), ==, "three");
  collector_unsubscribe (c);
  g_assert_cmpuint (c->destroyed, ==, 1);
  collector_free (c);
}

/* A consumer whose brokers stop answering in time (every response delayed by 20 s) does not
 * hold up the shutdown: imp_bus_free returns after the close timeout and leaves that consumer
 * to finish on its own. Without the bound it waits for the group's final commit and LeaveGroup
 * (the message role once missed its 30 s SIGTERM deadline this way after a Kafka restart). */
static void
test_close_bounded (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->bus);
  gint64 t0, elapsed_ms;

  collector_subscribe (c, "t-close", "closers", 16);
  publish (f->bus, "t-close", "k", "one");
  wait_for (has_all, &(HasAll) { c->accepted, { "one" } });
  for (int b = 1; b <= 3; b++)
    g_assert_cmpint (rd_kafka_mock_broker_set_rtt (f->mc, b, 20000), ==, 0);
  imp_bus_kafka_set_close_timeout (f->bus, 500);
  collector_unsubscribe (c);
  g_assert_cmpuint (c->destroyed, ==, 1);
  g_test_expect_message ("implus-server", G_LOG_LEVEL_WARNING,
                         "bus: a consumer of t-close did not leave its group within 500 ms*");
  t0 = g_get_monotonic_time ();
  g_clear_pointer (&f->bus, imp_bus_free);
  g_test_assert_expected_messages ();
  elapsed_ms = (g_get_monotonic_time () - t0) / 1000;
  g_test_message ("imp_bus_free returned after %" G_GINT64_FORMAT " ms", elapsed_ms);
  /* 0.5 s of close timeout, the producer's poller and flush (nothing outstanding): well below
   * the 20 s the brokers take for each answer. */
  g_assert_cmpint (elapsed_ms, <, 10000);
  /* The consumer left behind ends once its answers come, before the cluster goes away. */
  for (int b = 1; b <= 3; b++)
    rd_kafka_mock_broker_set_rtt (f->mc, b, 0);
  g_assert_true (imp_bus_kafka_wait_abandoned (60000));
  collector_free (c);
}

static gboolean
check_key_topic (GPtrArray *records, gpointer user_data)
{
  guint *seen = user_data;

  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);

      g_assert_cmpstr (rec->topic, ==, IMP_TOPIC_MESSAGE_ACKS);
      g_assert_cmpstr (rec->key, ==, "42");
      (*seen)++;
    }
  return TRUE;
}

static gboolean
uint_at_least_one (gpointer data)
{
  return *(guint *) data >= 1;
}

static void
test_record_fields (Fixture *f, gconstpointer data)
{
  guint seen = 0;
  g_autoptr(GError) error = NULL;
  ImpBusSubscription *sub = imp_bus_subscribe (f->bus, IMP_TOPIC_MESSAGE_ACKS, "acks", NULL, 8,
                                               check_key_topic, &seen, NULL, &error);

  g_assert_no_error (error);
  publish (f->bus, IMP_TOPIC_MESSAGE_ACKS, "42", "ack");
  wait_for (uint_at_least_one, &seen);
  imp_bus_unsubscribe (f->bus, sub);
}

typedef struct {
  ImpBus *bus;
  guint   thread;
} Publisher;

#define ORDER_KEYS    8
#define ORDER_PER_KEY 60

static gpointer
publisher_main (gpointer data)
{
  Publisher *p = data;

  for (guint seq = 0; seq < ORDER_PER_KEY; seq++)
    for (guint k = 0; k < ORDER_KEYS; k++)
      {
        g_autofree char *key = g_strdup_printf ("private_%u_%u", p->thread, k);
        g_autoptr(GBytes) value = bytes_printf ("%s:%u", key, seq);
        g_autoptr(GError) error = NULL;

        g_assert_true (imp_bus_publish (p->bus, "t-order", key, value, &error));
      }
  return NULL;
}

typedef struct {
  GHashTable *next;   /* key -> expected next seq (GUINT_TO_POINTER (seq + 1)) */
  guint       total;
  gboolean    out_of_order;
} OrderCheck;

static gboolean
order_handler (GPtrArray *records, gpointer user_data)
{
  OrderCheck *o = user_data;

  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);
      g_autofree char *v = value_string (rec);
      const char *colon = strrchr (v, ':');
      guint seq = (guint) g_ascii_strtoull (colon + 1, NULL, 10);
      guint expect = GPOINTER_TO_UINT (g_hash_table_lookup (o->next, rec->key));

      g_assert_true (g_str_has_prefix (v, rec->key));
      if (seq != expect)
        o->out_of_order = TRUE;
      g_hash_table_insert (o->next, g_strdup (rec->key), GUINT_TO_POINTER (seq + 1));
      o->total++;
    }
  return TRUE;
}

static gboolean
order_done (gpointer data)
{
  OrderCheck *o = data;

  return o->out_of_order || o->total >= 2 * ORDER_KEYS * ORDER_PER_KEY;
}

static void
test_key_order (Fixture *f, gconstpointer data)
{
  OrderCheck o = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL), 0, FALSE };
  Publisher p[2] = { { f->bus, 1 }, { f->bus, 2 } };
  GThread *threads[2];
  g_autoptr(GError) error = NULL;
  ImpBusSubscription *sub = imp_bus_subscribe (f->bus, "t-order", "order", NULL, 64,
                                               order_handler, &o, NULL, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    threads[i] = g_thread_new ("publisher", publisher_main, &p[i]);
  for (guint i = 0; i < 2; i++)
    g_thread_join (threads[i]);
  wait_for (order_done, &o);
  g_assert_false (o.out_of_order);
  g_assert_cmpuint (o.total, ==, 2 * ORDER_KEYS * ORDER_PER_KEY);
  g_assert_cmpuint (g_hash_table_size (o.next), ==, 2 * ORDER_KEYS);
  imp_bus_unsubscribe (f->bus, sub);
  g_hash_table_unref (o.next);
}

static gboolean
calls_at_least_1 (gpointer data)
{
  return ((Collector *) data)->calls >= 1;
}

static gboolean
calls_at_least_3 (gpointer data)
{
  return ((Collector *) data)->calls >= 3;
}

static void
test_refused_batch_redelivered (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->bus);

  c->refuse_first = 2;
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *v = g_strdup_printf ("r%u", i);

      publish (f->bus, "t-refuse", "group_7", v);
    }
  collector_subscribe (c, "t-refuse", "refuse", 64);
  wait_for (calls_at_least_3, c);
  /* The same batch, three times, with a backoff of 50 then 100 ms in between. */
  g_assert_cmpstr (g_ptr_array_index (c->batches, 0), ==, g_ptr_array_index (c->batches, 1));
  g_assert_cmpstr (g_ptr_array_index (c->batches, 0), ==, g_ptr_array_index (c->batches, 2));
  g_assert_cmpint (g_array_index (c->call_times, gint64, 1) - g_array_index (c->call_times, gint64, 0),
                   >=, 50 * 1000);
  g_assert_cmpint (g_array_index (c->call_times, gint64, 2) - g_array_index (c->call_times, gint64, 1),
                   >=, 100 * 1000);
  wait_for (has_all, &(HasAll) { c->accepted, { "r0", "r1", "r2", "r3", "r4" } });
  g_assert_cmpuint (c->accepted->len, ==, 5);
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *v = g_strdup_printf ("r%u", i);

      g_assert_cmpstr (g_ptr_array_index (c->accepted, i), ==, v);
    }
  collector_unsubscribe (c);
  collector_free (c);
}

static void
test_commit_after_success (Fixture *f, gconstpointer data)
{
  Collector *a = collector_new (f->bus);
  Collector *crash = collector_new (f->bus);
  Collector *b = collector_new (f->bus);

  /* A takes r1..r3 and says TRUE: committed. */
  collector_subscribe (a, "t-commit", "g", 64);
  publish (f->bus, "t-commit", "k", "r1");
  publish (f->bus, "t-commit", "k", "r2");
  publish (f->bus, "t-commit", "k", "r3");
  wait_for (has_all, &(HasAll) { a->accepted, { "r1", "r2", "r3" } });
  collector_unsubscribe (a);

  /* The next member sees only r4, r5, never says TRUE, and goes away as if it crashed. */
  publish (f->bus, "t-commit", "k", "r4");
  publish (f->bus, "t-commit", "k", "r5");
  crash->refuse_all = TRUE;
  collector_subscribe (crash, "t-commit", "g", 64);
  wait_for (has_all, &(HasAll) { crash->values, { "r4" } });
  g_assert_false (has_value (crash->values, "r1"));
  g_assert_false (has_value (crash->values, "r3"));
  collector_unsubscribe (crash);
  g_assert_cmpuint (crash->destroyed, ==, 1);

  /* Its successor in the group gets r4 and r5 again, and nothing committed before. */
  collector_subscribe (b, "t-commit", "g", 64);
  wait_for (has_all, &(HasAll) { b->accepted, { "r4", "r5" } });
  g_assert_false (has_value (b->values, "r1"));
  g_assert_false (has_value (b->values, "r2"));
  g_assert_false (has_value (b->values, "r3"));
  collector_unsubscribe (b);

  collector_free (a);
  collector_free (crash);
  collector_free (b);
}

static gboolean
is_dead_letter_line (GLogLevelFlags level, const char *message)
{
  return (level & G_LOG_LEVEL_WARNING) && g_str_has_prefix (message, "bus: record ");
}

/* The dead-letter warning is expected here: counted, kept quiet and not fatal; anything else
 * goes to the default handler and stays fatal. */
static gboolean
allow_dead_letter_warning (const char *domain, GLogLevelFlags level, const char *message,
                           gpointer data)
{
  return !is_dead_letter_line (level, message);
}

static void
count_dead_letter_warning (const char *domain, GLogLevelFlags level, const char *message,
                           gpointer data)
{
  if (is_dead_letter_line (level, message))
    g_atomic_int_inc (&dead_letter_warnings);
  else
    g_log_default_handler (domain, level, message, data);
}

static guint
expect_dead_letters_begin (void)
{
  g_atomic_int_set (&dead_letter_warnings, 0);
  g_test_log_set_fatal_handler (allow_dead_letter_warning, NULL);
  return g_log_set_handler ("implus-server", G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL,
                            count_dead_letter_warning, NULL);
}

static void
expect_dead_letters_end (guint handler_id)
{
  g_log_remove_handler ("implus-server", handler_id);
  g_test_log_set_fatal_handler (NULL, NULL);
}

static void
test_dead_letter (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->bus);
  Collector *dlq = collector_new (f->bus);
  ImpBusKafkaStats stats;
  guint handler_id = expect_dead_letters_begin ();

  c->poison = "poison";
  publish (f->bus, "t-poison", "group_9", "a");
  publish (f->bus, "t-poison", "group_9", "poison");
  publish (f->bus, "t-poison", "group_9", "b");
  publish (f->bus, "t-poison", "group_9", "c");
  collector_subscribe (c, "t-poison", "worker", 64);
  collector_subscribe (dlq, "t-poison.dlq", "dlq-reader", 64);

  wait_for (has_all, &(HasAll) { c->accepted, { "a", "b", "c" } });
  wait_for (has_all, &(HasAll) { dlq->accepted, { "poison" } });
  /* The good records went through once each, in order; the poison one was tried a bounded
   * number of times and is on the dead-letter topic, once. */
  g_assert_cmpuint (c->accepted->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (c->accepted, 0), ==, "a");
  g_assert_cmpstr (g_ptr_array_index (c->accepted, 1), ==, "b");
  g_assert_cmpstr (g_ptr_array_index (c->accepted, 2), ==, "c");
  g_assert_cmpuint (c->calls, <=, 4 + 5 + 5);
  g_assert_cmpuint (dlq->accepted->len, ==, 1);
  imp_bus_kafka_get_stats (f->bus, &stats);
  g_assert_cmpuint (stats.dead_letters, ==, 1);
  g_assert_cmpuint (stats.refusals, >=, 5);
  g_assert_cmpint (g_atomic_int_get (&dead_letter_warnings), ==, 1);

  /* Later records still flow. */
  publish (f->bus, "t-poison", "group_9", "d");
  wait_for (has_all, &(HasAll) { c->accepted, { "d" } });

  collector_unsubscribe (c);
  collector_unsubscribe (dlq);
  collector_free (c);
  collector_free (dlq);
  expect_dead_letters_end (handler_id);
}

/* A handler that refuses everything for a while (the store is down) is an outage, not poison:
 * a record refused more than 5 + 5 times on its own is retried until the handler takes it,
 * never dead-lettered. */
static void
test_outage_not_dead_lettered (Fixture *f, gconstpointer data)
{
  Collector *c = collector_new (f->bus);
  ImpBusKafkaStats stats;

  c->refuse_first = 8;
  publish (f->bus, "t-refuse", "group_8", "only");
  collector_subscribe (c, "t-refuse", "outage", 64);
  wait_for (has_all, &(HasAll) { c->accepted, { "only" } });
  g_assert_cmpuint (c->calls, ==, 9);
  g_assert_cmpuint (c->accepted->len, ==, 1);
  imp_bus_kafka_get_stats (f->bus, &stats);
  g_assert_cmpuint (stats.dead_letters, ==, 0);
  g_assert_cmpuint (stats.refusals, ==, 8);
  collector_unsubscribe (c);
  collector_free (c);
}

static void
test_two_groups (Fixture *f, gconstpointer data)
{
  Collector *g1 = collector_new (f->bus);
  Collector *g2 = collector_new (f->bus);

  collector_subscribe (g1, "t-groups", "gateway-a", 8);
  collector_subscribe (g2, "t-groups", "gateway-b", 8);
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *key = g_strdup_printf ("k%u", i);
      g_autofree char *v = g_strdup_printf ("v%u", i);

      publish (f->bus, "t-groups", key, v);
    }
  wait_for (at_least, &(AtLeast) { g1->accepted, 20 });
  wait_for (at_least, &(AtLeast) { g2->accepted, 20 });
  g_assert_cmpuint (g1->accepted->len, ==, 20);
  g_assert_cmpuint (g2->accepted->len, ==, 20);
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *v = g_strdup_printf ("v%u", i);

      g_assert_true (has_value (g1->accepted, v));
      g_assert_true (has_value (g2->accepted, v));
    }
  collector_unsubscribe (g1);
  collector_unsubscribe (g2);
  collector_free (g1);
  collector_free (g2);
}

static void
test_unsubscribe_in_handler (Fixture *f, gconstpointer data)
{
  Collector *quitter = collector_new (f->bus);
  Collector *witness = collector_new (f->bus);

  quitter->unsubscribe_in_handler = TRUE;
  collector_subscribe (quitter, "t-quit", "quitter", 1);
  collector_subscribe (witness, "t-quit", "witness", 64);
  publish (f->bus, "t-quit", "k", "first");
  wait_for (has_all, &(HasAll) { witness->accepted, { "first" } });
  wait_for (calls_at_least_1, quitter);
  g_assert_cmpuint (quitter->calls, ==, 1);
  g_assert_null (quitter->sub);
  g_assert_cmpuint (quitter->destroyed, ==, 1);

  /* Nothing more reaches the handler, though the topic keeps flowing (the witness sees it). */
  publish (f->bus, "t-quit", "k", "second");
  publish (f->bus, "t-quit", "k", "third");
  wait_for (has_all, &(HasAll) { witness->accepted, { "second", "third" } });
  g_assert_cmpuint (quitter->calls, ==, 1);
  g_assert_cmpuint (quitter->destroyed, ==, 1);

  collector_unsubscribe (witness);
  collector_free (quitter);
  collector_free (witness);
}

static void
test_bad_arguments (void)
{
  g_autoptr(GError) error = NULL;

  g_assert_null (imp_bus_kafka_new ("", "test", NULL, 8, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  g_assert_null (imp_bus_kafka_new ("127.0.0.1:1", "test", "", 0, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  /* Checked before any broker is asked: these fail at once. */
  g_assert_null (imp_bus_kafka_new ("127.0.0.1:1", "test", "bad prefix/", 8, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  {
    g_autofree char *long_prefix = g_strnfill (200, 'p');

    g_assert_null (imp_bus_kafka_new ("127.0.0.1:1", "test", long_prefix, 8, &error));
    g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  }
}

/* A bus with a prefix uses prefixed topics (the dead-letter topic too) and hands out the plain
 * names; a bus without one sees the records under the prefixed names. */
static void
test_topic_prefix (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  ImpBus *pb = imp_bus_kafka_new (rd_kafka_mock_cluster_bootstraps (f->mc), "test-p", "p1.", 8,
                                  &error);
  Collector *c, *raw, *raw_dlq;
  guint handler_id;

  g_assert_no_error (error);
  g_assert_nonnull (pb);
  c = collector_new (pb);
  raw = collector_new (f->bus);
  raw_dlq = collector_new (f->bus);
  c->poison = "poison";
  c->expect_topic = "t-prefix";
  raw->expect_topic = "p1.t-prefix";

  handler_id = expect_dead_letters_begin ();
  publish (pb, "t-prefix", "k", "a");
  publish (pb, "t-prefix", "k", "poison");
  publish (pb, "t-prefix", "k", "b");
  collector_subscribe (c, "t-prefix", "g", 16);
  collector_subscribe (raw, "p1.t-prefix", "raw", 16);
  collector_subscribe (raw_dlq, "p1.t-prefix.dlq", "raw-dlq", 16);
  wait_for (has_all, &(HasAll) { c->accepted, { "a", "b" } });
  wait_for (has_all, &(HasAll) { raw->accepted, { "a", "poison", "b" } });
  wait_for (has_all, &(HasAll) { raw_dlq->accepted, { "poison" } });
  g_assert_cmpuint (c->wrong_topic, ==, 0);
  g_assert_cmpuint (raw->wrong_topic, ==, 0);
  g_assert_cmpuint (c->accepted->len, ==, 2);
  g_assert_cmpuint (raw_dlq->accepted->len, ==, 1);
  expect_dead_letters_end (handler_id);

  collector_unsubscribe (c);
  collector_unsubscribe (raw);
  collector_unsubscribe (raw_dlq);
  collector_free (c);
  collector_free (raw);
  collector_free (raw_dlq);
  imp_bus_free (pb);
}

/* The partition count the brokers report for topic, or -1. */
static int
topic_partitions (const char *brokers, const char *topic)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();
  char errstr[256];
  rd_kafka_t *rk;
  const struct rd_kafka_metadata *md = NULL;
  int n = -1;

  g_assert_cmpint (rd_kafka_conf_set (conf, "bootstrap.servers", brokers, errstr, sizeof errstr),
                   ==, RD_KAFKA_CONF_OK);
  rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  g_assert_nonnull (rk);
  g_assert_cmpint (rd_kafka_metadata (rk, 1, NULL, &md, 10000), ==, RD_KAFKA_RESP_ERR_NO_ERROR);
  for (int i = 0; i < md->topic_cnt; i++)
    if (strcmp (md->topics[i].topic, topic) == 0)
      n = md->topics[i].partition_cnt;
  rd_kafka_metadata_destroy (md);
  rd_kafka_destroy (rk);
  return n;
}

static void
test_real_broker (void)
{
  const char *brokers = g_getenv ("IMPLUS_TEST_KAFKA");
  g_autoptr(GError) error = NULL;
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *prefix = g_strdup_printf ("implus-test-%s.", uuid);
  const char *topic = "t-real";
  g_autofree char *kafka_topic = g_strconcat (prefix, topic, NULL);
  g_autofree char *dlq_topic = NULL;
  g_autofree char *kafka_dlq_topic = NULL;
  ImpBus *bus;
  Collector *c, *dlq;
  guint handler_id;

  if (brokers == NULL || brokers[0] == '\0')
    {
      g_test_skip ("IMPLUS_TEST_KAFKA=host:port is not set (scripts/services/start.sh kafka "
                   "starts a broker on 127.0.0.1:39092)");
      return;
    }
  bus = imp_bus_kafka_new (brokers, "test-real", prefix, 4, &error);
  g_assert_no_error (error);
  /* The poison record may come first in its batch, with nothing accepted after it: it then
   * looks like an outage, retried this long (10 minutes by default) before its dead letter. */
  imp_bus_kafka_set_outage_max (bus, 1000);
  c = collector_new (bus);
  c->poison = "poison";
  collector_subscribe (c, topic, "real", 16);
  publish (bus, topic, "k", "x1");
  publish (bus, topic, "k", "x2");
  wait_for (has_all, &(HasAll) { c->accepted, { "x1", "x2" } });
  g_assert_cmpstr (g_ptr_array_index (c->accepted, 0), ==, "x1");
  g_assert_cmpstr (g_ptr_array_index (c->accepted, 1), ==, "x2");
  /* Created under the prefixed names only. */
  g_assert_cmpint (topic_partitions (brokers, kafka_topic), ==, 4);
  g_assert_cmpint (topic_partitions (brokers, topic), ==, -1);
  {
    g_autofree char *conv = g_strconcat (prefix, IMP_TOPIC_CONVERSATION_MESSAGES, NULL);

    g_assert_cmpint (topic_partitions (brokers, conv), ==, 4);
  }

  /* The Admin API creates the dead-letter topic on a real broker. */
  handler_id = expect_dead_letters_begin ();
  publish (bus, topic, "k", "poison");
  publish (bus, topic, "k", "x3");
  wait_for (has_all, &(HasAll) { c->accepted, { "x3" } });
  dlq_topic = g_strconcat (topic, ".dlq", NULL);
  dlq = collector_new (bus);
  collector_subscribe (dlq, dlq_topic, "real-dlq", 16);
  wait_for (has_all, &(HasAll) { dlq->accepted, { "poison" } });
  g_assert_cmpint (g_atomic_int_get (&dead_letter_warnings), ==, 1);
  kafka_dlq_topic = g_strconcat (prefix, dlq_topic, NULL);
  g_assert_cmpint (topic_partitions (brokers, kafka_dlq_topic), ==, 4);
  expect_dead_letters_end (handler_id);

  collector_unsubscribe (c);
  collector_unsubscribe (dlq);
  collector_free (c);
  collector_free (dlq);
  imp_bus_free (bus);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/bus-kafka/round-trip", test_round_trip);
  ADD ("/bus-kafka/record-fields", test_record_fields);
  ADD ("/bus-kafka/key-order", test_key_order);
  ADD ("/bus-kafka/refused-batch-redelivered", test_refused_batch_redelivered);
  ADD ("/bus-kafka/commit-after-success", test_commit_after_success);
  ADD ("/bus-kafka/dead-letter", test_dead_letter);
  ADD ("/bus-kafka/outage-not-dead-lettered", test_outage_not_dead_lettered);
  ADD ("/bus-kafka/two-groups", test_two_groups);
  ADD ("/bus-kafka/unsubscribe-in-handler", test_unsubscribe_in_handler);
  ADD ("/bus-kafka/topic-prefix", test_topic_prefix);
  ADD ("/bus-kafka/close-bounded", test_close_bounded);
#undef ADD
  g_test_add_func ("/bus-kafka/bad-arguments", test_bad_arguments);
  g_test_add_func ("/bus-kafka/real-broker", test_real_broker);
  return g_test_run ();
}

/* imp-bus-kafka.c: the bus of the distributed deployment, over Kafka (librdkafka); the producer
 * side, topic creation and the bus object. Subscriptions are in imp-bus-kafka-sub.c; the policy
 * (topics, keys, commits, retries, dead letters) is described in docs/bus.md.
 *
 * One idempotent producer (acks=all) per bus; producev () is thread-safe, so publish () may be
 * called from any thread. Its delivery reports are served by a poller thread of its own: a
 * record the brokers never acknowledge is counted and logged (topic and error, never content).
 * Before its first use a topic is looked up in the cluster's metadata and, if missing, created
 * with the configured partition count (Admin API; "already exists" is fine), then remembered,
 * so the brokers' auto-creation never picks the partition count for us.
 *
 * A topic prefix (config [bus] kafka_topic_prefix) is prepended to every topic and group name
 * here and in imp-bus-kafka-sub.c, so several deployments (or test runs) share one cluster
 * without seeing each other's records; the bus's users never see it. */
#include "bus/kafka/imp-bus-kafka-private.h"
#include "imp-error.h"

#include <string.h>

#define ADMIN_TIMEOUT_MS   10000
#define POLL_TIMEOUT_MS    1000
#define FLUSH_TIMEOUT_MS   10000
#define CLOSE_TIMEOUT_MS   10000  /* consumers leaving their groups at shutdown, all together */

/* Consumer threads signal their end here (imp_bus_kafka_sub_ended), so shutdown waits on a
 * condition, not a poll. Consumers that did not close in time, and their buses, are kept in
 * `abandoned`: still used by their threads, so reachable (and never freed) until the process
 * exits. */
static GMutex     ended_lock;
static GCond      ended_cond;
static GPtrArray *abandoned;

void
imp_bus_kafka_sub_ended (void)
{
  g_mutex_lock (&ended_lock);
  g_cond_broadcast (&ended_cond);
  g_mutex_unlock (&ended_lock);
}

/* Waits until sub's thread has ended or the deadline passed; TRUE if it ended. */
static gboolean
wait_ended (ImpBusSubscription *sub, gint64 deadline)
{
  g_mutex_lock (&ended_lock);
  while (!imp_bus_kafka_sub_finished (sub) &&
         g_cond_wait_until (&ended_cond, &ended_lock, deadline))
    ;
  g_mutex_unlock (&ended_lock);
  return imp_bus_kafka_sub_finished (sub);
}

gboolean
imp_bus_kafka_wait_abandoned (guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + timeout_ms * G_TIME_SPAN_MILLISECOND;
  gboolean all = TRUE;

  g_mutex_lock (&ended_lock);
  for (guint i = 0; abandoned != NULL && i < abandoned->len; i += 2)
    {
      ImpBusSubscription *sub = g_ptr_array_index (abandoned, i);

      while (!imp_bus_kafka_sub_finished (sub) &&
             g_cond_wait_until (&ended_cond, &ended_lock, deadline))
        ;
      all = all && imp_bus_kafka_sub_finished (sub);
    }
  g_mutex_unlock (&ended_lock);
  return all;
}
#define MAX_VALUE_BYTES    (1000 * 1000)  /* below the brokers' default message.max.bytes */
#define MAX_TOPIC_NAME     249            /* Kafka's own limit */
#define VISIBLE_RETRY_US   (50 * 1000)

typedef struct {
  gint                refs;     /* atomic: the waiter and the delivery report */
  gboolean            done;     /* under bus->dr_lock */
  rd_kafka_resp_err_t err;
} DeliveryWait;

static void
delivery_wait_unref (DeliveryWait *wait)
{
  if (g_atomic_int_dec_and_test (&wait->refs))
    g_free (wait);
}

static void
log_cb (const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
  /* librdkafka's own errors are mostly transient (a broker restarting); its fatal ones come
   * through error_cb. syslog levels: 0..4 are emerg..warning. */
  if (level <= 4)
    g_message ("kafka %s: %s: %s", rd_kafka_name (rk), fac, buf);
  else
    g_debug ("kafka %s: %s: %s", rd_kafka_name (rk), fac, buf);
}

static void
error_cb (rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
  if (err == RD_KAFKA_RESP_ERR__FATAL)
    {
      char buf[512];
      rd_kafka_resp_err_t fatal = rd_kafka_fatal_error (rk, buf, sizeof buf);

      g_warning ("kafka %s: fatal error %s: %s", rd_kafka_name (rk), rd_kafka_err2name (fatal), buf);
    }
  else if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
    g_debug ("kafka %s: %s: %s", rd_kafka_name (rk), rd_kafka_err2name (err), reason);
  else
    g_message ("kafka %s: %s: %s", rd_kafka_name (rk), rd_kafka_err2name (err), reason);
}

static void
dr_msg_cb (rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
  ImpBusKafka *bus = opaque;
  DeliveryWait *wait = msg->_private;

  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      g_atomic_pointer_add (&bus->delivery_failures, 1);
      g_message ("bus: a record for %s was not delivered: %s",
                 rd_kafka_topic_name (msg->rkt), rd_kafka_err2str (msg->err));
    }
  if (wait == NULL)
    return;
  g_mutex_lock (&bus->dr_lock);
  wait->done = TRUE;
  wait->err = msg->err;
  g_cond_broadcast (&bus->dr_cond);
  g_mutex_unlock (&bus->dr_lock);
  delivery_wait_unref (wait);
}

gboolean
imp_bus_kafka_conf_set (rd_kafka_conf_t *conf, const char *name, const char *value,
                        GError **error)
{
  char errstr[512];

  if (rd_kafka_conf_set (conf, name, value, errstr, sizeof errstr) == RD_KAFKA_CONF_OK)
    return TRUE;
  g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "kafka setting %s: %s", name, errstr);
  return FALSE;
}

rd_kafka_conf_t *
imp_bus_kafka_conf_new (ImpBusKafka *bus)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();

  /* Both names are checked by the constructor, so these cannot fail. */
  rd_kafka_conf_set (conf, "bootstrap.servers", bus->brokers, NULL, 0);
  rd_kafka_conf_set (conf, "client.id", bus->client_id, NULL, 0);
  rd_kafka_conf_set (conf, "log.connection.close", "false", NULL, 0);
  rd_kafka_conf_set_log_cb (conf, log_cb);
  rd_kafka_conf_set_error_cb (conf, error_cb);
  return conf;
}

static gpointer
poller_main (gpointer data)
{
  ImpBusKafka *bus = data;

  /* Blocks in rd_kafka_poll () until a delivery report arrives or rd_kafka_yield () wakes it. */
  while (!g_atomic_int_get (&bus->stopping))
    rd_kafka_poll (bus->producer, POLL_TIMEOUT_MS);
  return NULL;
}

static gboolean
name_chars_ok (const char *name)
{
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("._-", *p) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
topic_name_ok (const char *topic, GError **error)
{
  gsize len = strlen (topic);

  if (len == 0 || len > MAX_TOPIC_NAME)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "bad topic name length %" G_GSIZE_FORMAT, len);
      return FALSE;
    }
  if (!name_chars_ok (topic))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "topic names take only letters, digits, '.', '_' and '-'");
      return FALSE;
    }
  return TRUE;
}

char *
imp_bus_kafka_name (ImpBusKafka *bus, const char *name)
{
  return g_strconcat (bus->topic_prefix, name, NULL);
}

typedef enum {
  TOPIC_EXISTS,
  TOPIC_MISSING,
  TOPIC_UNKNOWN,    /* the brokers did not answer */
} TopicState;

/* Asks for the cluster's topic list rather than for this topic alone, which brokers with
 * auto.create.topics.enable would answer by creating it with their default partition count. */
static TopicState
topic_exists (ImpBusKafka *bus, const char *topic, GError **error)
{
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t err;
  TopicState state = TOPIC_MISSING;

  err = rd_kafka_metadata (bus->producer, 1, NULL, &md, ADMIN_TIMEOUT_MS);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "kafka metadata for %s: %s", topic,
                   rd_kafka_err2str (err));
      return TOPIC_UNKNOWN;
    }
  for (int i = 0; i < md->topic_cnt; i++)
    if (strcmp (md->topics[i].topic, topic) == 0 && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      {
        state = TOPIC_EXISTS;
        if ((guint) md->topics[i].partition_cnt != bus->partitions)
          g_debug ("bus: topic %s has %d partitions (configured: %u); keeping them", topic,
                   md->topics[i].partition_cnt, bus->partitions);
      }
  rd_kafka_metadata_destroy (md);
  return state;
}

static void
topic_mark_ready (ImpBusKafka *bus, const char *topic)
{
  g_mutex_lock (&bus->lock);
  g_hash_table_add (bus->ready_topics, g_strdup (topic));
  g_mutex_unlock (&bus->lock);
}

/* The controller answers CreateTopics before every broker's metadata cache has the topic. A
 * consumer that subscribes in that window is told "unknown topic" and looks again only at its
 * next metadata refresh (topic.metadata.refresh.interval.ms, 5 min): so wait, within a deadline,
 * until the metadata shows the topic. There is no event for this, hence the short retries. */
static void
wait_visible (ImpBusKafka *bus, const char *topic)
{
  gint64 end = g_get_monotonic_time () + (gint64) ADMIN_TIMEOUT_MS * 1000;

  while (topic_exists (bus, topic, NULL) != TOPIC_EXISTS)
    {
      if (g_get_monotonic_time () >= end)
        {
          g_message ("bus: topic %s created but not in the metadata after %d ms", topic,
                     ADMIN_TIMEOUT_MS);
          return;
        }
      g_usleep (VISIBLE_RETRY_US);
    }
}

gboolean
imp_bus_kafka_ensure_topic (ImpBusKafka *bus, const char *topic, GError **error)
{
  char errstr[512];
  rd_kafka_NewTopic_t *nt;
  rd_kafka_AdminOptions_t *options;
  rd_kafka_queue_t *queue;
  rd_kafka_event_t *ev;
  rd_kafka_resp_err_t err;
  const char *reason = NULL;
  gboolean known;

  g_mutex_lock (&bus->lock);
  known = g_hash_table_contains (bus->ready_topics, topic);
  g_mutex_unlock (&bus->lock);
  if (known)
    return TRUE;
  if (!topic_name_ok (topic, error))
    return FALSE;
  switch (topic_exists (bus, topic, error))
    {
    case TOPIC_EXISTS:
      topic_mark_ready (bus, topic);
      return TRUE;
    case TOPIC_UNKNOWN:
      return FALSE;
    case TOPIC_MISSING:
      break;
    }

  /* Replication factor -1: the brokers' default.replication.factor decides. */
  nt = rd_kafka_NewTopic_new (topic, (int) bus->partitions, -1, errstr, sizeof errstr);
  if (nt == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "topic %s: %s", topic, errstr);
      return FALSE;
    }
  options = rd_kafka_AdminOptions_new (bus->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout (options, ADMIN_TIMEOUT_MS, NULL, 0);
  rd_kafka_AdminOptions_set_operation_timeout (options, ADMIN_TIMEOUT_MS, NULL, 0);
  queue = rd_kafka_queue_new (bus->producer);
  rd_kafka_CreateTopics (bus->producer, &nt, 1, options, queue);
  ev = rd_kafka_queue_poll (queue, ADMIN_TIMEOUT_MS + 2000);
  rd_kafka_NewTopic_destroy (nt);
  rd_kafka_AdminOptions_destroy (options);
  rd_kafka_queue_destroy (queue);

  if (ev == NULL)
    {
      err = RD_KAFKA_RESP_ERR__TIMED_OUT;
      reason = "no answer from the brokers";
    }
  else if ((err = rd_kafka_event_error (ev)) != RD_KAFKA_RESP_ERR_NO_ERROR)
    reason = rd_kafka_event_error_string (ev);
  else
    {
      const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result (ev);
      size_t n = 0;
      const rd_kafka_topic_result_t **results = rd_kafka_CreateTopics_result_topics (res, &n);

      err = n == 1 ? rd_kafka_topic_result_error (results[0]) : RD_KAFKA_RESP_ERR__BAD_MSG;
      reason = n == 1 ? rd_kafka_topic_result_error_string (results[0]) : "no topic result";
    }
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    {
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        g_debug ("bus: created topic %s with %u partitions", topic, bus->partitions);
      g_clear_pointer (&ev, rd_kafka_event_destroy);
      wait_visible (bus, topic);
      topic_mark_ready (bus, topic);
      return TRUE;
    }
  g_set_error (error, IMP_ERROR,
               err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION ? IMP_ERROR_BAD_REQUEST
                                                                : IMP_ERROR_UNAVAILABLE,
               "creating topic %s: %s (%s)", topic, rd_kafka_err2name (err),
               reason != NULL ? reason : "");
  g_clear_pointer (&ev, rd_kafka_event_destroy);
  return FALSE;
}

static gboolean
produce (ImpBusKafka *bus, const char *plain_topic, const char *key, GBytes *value,
         rd_kafka_headers_t *headers, DeliveryWait *wait, GError **error)
{
  g_autofree char *topic = imp_bus_kafka_name (bus, plain_topic);
  gsize len = 0;
  const void *data = value != NULL ? g_bytes_get_data (value, &len) : NULL;
  size_t key_len = key != NULL ? strlen (key) : 0;
  rd_kafka_resp_err_t err;

  if (len > MAX_VALUE_BYTES)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_PAYLOAD_TOO_LARGE,
                   "record of %" G_GSIZE_FORMAT " bytes for %s is too large", len, topic);
      return FALSE;
    }
  if (!imp_bus_kafka_ensure_topic (bus, topic, error))
    return FALSE;
  /* Copied: the caller keeps value. headers are taken only on success. */
  if (headers != NULL)
    err = rd_kafka_producev (bus->producer,
                             RD_KAFKA_V_TOPIC (topic),
                             RD_KAFKA_V_KEY (key, key_len),
                             RD_KAFKA_V_VALUE ((void *) data, len),
                             RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_HEADERS (headers),
                             RD_KAFKA_V_OPAQUE (wait),
                             RD_KAFKA_V_END);
  else
    err = rd_kafka_producev (bus->producer,
                             RD_KAFKA_V_TOPIC (topic),
                             RD_KAFKA_V_KEY (key, key_len),
                             RD_KAFKA_V_VALUE ((void *) data, len),
                             RD_KAFKA_V_MSGFLAGS (RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_OPAQUE (wait),
                             RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      g_set_error (error, IMP_ERROR,
                   err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? IMP_ERROR_PAYLOAD_TOO_LARGE
                                                               : IMP_ERROR_UNAVAILABLE,
                   "publishing to %s: %s", topic, rd_kafka_err2str (err));
      return FALSE;
    }
  g_atomic_pointer_add (&bus->published, 1);
  return TRUE;
}

gboolean
imp_bus_kafka_produce_sync (ImpBusKafka *bus, const char *topic, const char *key, GBytes *value,
                            rd_kafka_headers_t *headers, gint *cancel, GError **error)
{
  DeliveryWait *wait = g_new0 (DeliveryWait, 1);
  rd_kafka_resp_err_t err;
  gboolean done;

  wait->refs = 2;
  if (!produce (bus, topic, key, value, headers, wait, error))
    {
      g_clear_pointer (&headers, rd_kafka_headers_destroy);
      g_free (wait);
      return FALSE;
    }
  g_mutex_lock (&bus->dr_lock);
  while (!wait->done && !g_atomic_int_get (cancel))
    g_cond_wait (&bus->dr_cond, &bus->dr_lock);
  done = wait->done;
  err = wait->err;
  g_mutex_unlock (&bus->dr_lock);
  delivery_wait_unref (wait);
  if (!done)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "cancelled");
      return FALSE;
    }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "publishing to %s: %s", topic,
                   rd_kafka_err2str (err));
      return FALSE;
    }
  return TRUE;
}

static gboolean
kafka_publish (ImpBus *base, const char *topic, const char *key, GBytes *value, GError **error)
{
  return produce ((ImpBusKafka *) base, topic, key, value, NULL, NULL, error);
}

/* Joins the threads of unsubscribed subscriptions that have finished closing. Under bus->lock. */
static void
reap_closing_locked (ImpBusKafka *bus)
{
  for (guint i = bus->closing->len; i > 0; i--)
    {
      ImpBusSubscription *sub = g_ptr_array_index (bus->closing, i - 1);

      if (imp_bus_kafka_sub_finished (sub))
        {
          g_ptr_array_remove_index_fast (bus->closing, i - 1);
          imp_bus_kafka_sub_join (sub);
        }
    }
}

static ImpBusSubscription *
kafka_subscribe (ImpBus *base, const char *topic, const char *group, GMainContext *context,
                 guint max_batch, ImpBusHandler handler, gpointer user_data,
                 GDestroyNotify destroy, GError **error)
{
  ImpBusKafka *bus = (ImpBusKafka *) base;
  g_autofree char *kafka_topic = imp_bus_kafka_name (bus, topic);
  ImpBusSubscription *sub;

  if (!imp_bus_kafka_ensure_topic (bus, kafka_topic, error))
    return NULL;
  sub = imp_bus_kafka_sub_new (bus, topic, group, context, max_batch, handler, user_data,
                               destroy, error);
  if (sub == NULL)
    return NULL;
  g_mutex_lock (&bus->lock);
  g_ptr_array_add (bus->subs, sub);
  reap_closing_locked (bus);
  g_mutex_unlock (&bus->lock);
  return sub;
}

static void
kafka_unsubscribe (ImpBus *base, ImpBusSubscription *sub)
{
  ImpBusKafka *bus = (ImpBusKafka *) base;

  if (!imp_bus_kafka_sub_stop (sub))
    return;
  /* The consumer leaves its group on its own thread; we join it later, not here, so the
   * subscriber's context never waits for the brokers. */
  g_mutex_lock (&bus->lock);
  if (g_ptr_array_remove_fast (bus->subs, sub))
    g_ptr_array_add (bus->closing, sub);
  reap_closing_locked (bus);
  g_mutex_unlock (&bus->lock);
}

/* Joins the closing subscriptions' threads, waiting close_timeout_ms at most for them all.
 * librdkafka's consumer close can hang when the brokers do not answer (the message role once
 * missed its SIGTERM deadline after a Kafka restart); a stuck one is left running for the
 * process exit, which loses nothing: only handled offsets are ever committed, the rest is
 * replayed. Returns how many were left. */
static guint
join_closing (ImpBusKafka *bus, GPtrArray *closing)
{
  gint64 deadline = g_get_monotonic_time () + bus->close_timeout_ms * G_TIME_SPAN_MILLISECOND;
  guint stuck = 0;

  for (guint i = 0; i < closing->len; i++)
    {
      ImpBusSubscription *sub = g_ptr_array_index (closing, i);

      if (wait_ended (sub, deadline))
        {
          imp_bus_kafka_sub_join (sub);
          continue;
        }
      g_warning ("bus: a consumer of %s did not leave its group within %u ms; left to the "
                 "process exit (its unhandled records go to the next owner)",
                 imp_bus_kafka_sub_topic (sub), bus->close_timeout_ms);
      /* Pairs (consumer, its bus): see imp_bus_kafka_wait_abandoned. */
      g_mutex_lock (&ended_lock);
      if (abandoned == NULL)
        abandoned = g_ptr_array_new ();
      g_ptr_array_add (abandoned, sub);
      g_ptr_array_add (abandoned, bus);
      g_mutex_unlock (&ended_lock);
      stuck++;
    }
  return stuck;
}

static void
kafka_free (ImpBus *base)
{
  ImpBusKafka *bus = (ImpBusKafka *) base;
  ImpBusKafkaStats stats;
  GPtrArray *closing;
  guint stuck;

  /* Subscribers should have left; whoever did not is stopped here. */
  for (;;)
    {
      ImpBusSubscription *sub = NULL;

      g_mutex_lock (&bus->lock);
      if (bus->subs->len > 0)
        sub = g_ptr_array_index (bus->subs, bus->subs->len - 1);
      g_mutex_unlock (&bus->lock);
      if (sub == NULL)
        break;
      kafka_unsubscribe (base, sub);
    }
  /* Joined without the lock: a closing thread may still need it (a dead letter's topic). */
  g_mutex_lock (&bus->lock);
  closing = g_steal_pointer (&bus->closing);
  bus->closing = g_ptr_array_new ();
  g_mutex_unlock (&bus->lock);
  stuck = join_closing (bus, closing);
  g_ptr_array_unref (closing);

  g_atomic_int_set (&bus->stopping, 1);
  rd_kafka_yield (bus->producer);
  g_thread_join (bus->poller);
  if (rd_kafka_flush (bus->producer, FLUSH_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
    g_message ("bus: %d records were still unacknowledged at shutdown",
               rd_kafka_outq_len (bus->producer));
  imp_bus_kafka_get_stats (base, &stats);
  g_debug ("bus: kafka: %" G_GUINT64_FORMAT " published, %" G_GUINT64_FORMAT " undelivered, %"
           G_GUINT64_FORMAT " dead letters", stats.published, stats.delivery_failures,
           stats.dead_letters);
  /* A consumer still closing points at the bus, and may still use its producer (a dead letter's
   * topic): both stay for the process exit. */
  if (stuck > 0)
    return;
  rd_kafka_destroy (bus->producer);
  g_hash_table_unref (bus->ready_topics);
  g_ptr_array_unref (bus->subs);
  g_ptr_array_unref (bus->closing);
  g_mutex_clear (&bus->lock);
  g_mutex_clear (&bus->dr_lock);
  g_cond_clear (&bus->dr_cond);
  g_free (bus->brokers);
  g_free (bus->client_id);
  g_free (bus->topic_prefix);
  g_free (bus);
}

void
imp_bus_kafka_set_close_timeout (ImpBus *base, guint ms)
{
  ((ImpBusKafka *) base)->close_timeout_ms = ms;
}

void
imp_bus_kafka_set_outage_max (ImpBus *base, guint ms)
{
  g_atomic_int_set (&((ImpBusKafka *) base)->outage_max_ms, (gint) MIN (ms, G_MAXINT32));
}

void
imp_bus_kafka_get_stats (ImpBus *base, ImpBusKafkaStats *stats)
{
  ImpBusKafka *bus = (ImpBusKafka *) base;

  g_return_if_fail (base != NULL && g_strcmp0 (base->vt->name, "kafka") == 0 && stats != NULL);
  stats->published = (guint64) g_atomic_pointer_get (&bus->published);
  stats->delivery_failures = (guint64) g_atomic_pointer_get (&bus->delivery_failures);
  stats->refusals = (guint64) g_atomic_pointer_get (&bus->refusals);
  stats->dead_letters = (guint64) g_atomic_pointer_get (&bus->dead_letters);
  stats->commit_failures = (guint64) g_atomic_pointer_get (&bus->commit_failures);
}

static const ImpBusVTable kafka_vtable = {
  .name = "kafka",
  .free = kafka_free,
  .publish = kafka_publish,
  .subscribe = kafka_subscribe,
  .unsubscribe = kafka_unsubscribe,
};

static void
bus_free_partial (ImpBusKafka *bus)
{
  g_clear_pointer (&bus->producer, rd_kafka_destroy);
  g_clear_pointer (&bus->ready_topics, g_hash_table_unref);
  g_clear_pointer (&bus->subs, g_ptr_array_unref);
  g_clear_pointer (&bus->closing, g_ptr_array_unref);
  g_mutex_clear (&bus->lock);
  g_mutex_clear (&bus->dr_lock);
  g_cond_clear (&bus->dr_cond);
  g_free (bus->brokers);
  g_free (bus->client_id);
  g_free (bus->topic_prefix);
  g_free (bus);
}

ImpBus *
imp_bus_kafka_new (const char *brokers, const char *client_id, const char *topic_prefix,
                   guint partitions, GError **error)
{
  ImpBusKafka *bus;
  rd_kafka_conf_t *conf;
  char errstr[512];
  const char *fixed[] = { IMP_TOPIC_CONVERSATION_MESSAGES, IMP_TOPIC_MESSAGE_ACKS };

  g_return_val_if_fail (brokers != NULL && client_id != NULL, NULL);
  if (brokers[0] == '\0' || partitions == 0 || partitions > 10000)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "kafka bus needs brokers and 1..10000 partitions");
      return NULL;
    }
  if (topic_prefix == NULL)
    topic_prefix = "";
  /* Leaves room for the longest name we add (push.<gateway id>.dlq) under Kafka's limit. */
  if (strlen (topic_prefix) > MAX_TOPIC_NAME / 2 || !name_chars_ok (topic_prefix))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "kafka topic prefix takes at most %d letters, digits, '.', '_' and '-'",
                   MAX_TOPIC_NAME / 2);
      return NULL;
    }

  bus = g_new0 (ImpBusKafka, 1);
  bus->parent.vt = &kafka_vtable;
  bus->brokers = g_strdup (brokers);
  bus->client_id = g_strdup (client_id);
  bus->topic_prefix = g_strdup (topic_prefix);
  bus->partitions = partitions;
  bus->close_timeout_ms = CLOSE_TIMEOUT_MS;
  g_mutex_init (&bus->lock);
  g_mutex_init (&bus->dr_lock);
  g_cond_init (&bus->dr_cond);
  bus->ready_topics = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  bus->subs = g_ptr_array_new ();
  bus->closing = g_ptr_array_new ();

  conf = rd_kafka_conf_new ();
  if (!imp_bus_kafka_conf_set (conf, "bootstrap.servers", brokers, error) ||
      !imp_bus_kafka_conf_set (conf, "client.id", client_id, error))
    {
      rd_kafka_conf_destroy (conf);
      bus_free_partial (bus);
      return NULL;
    }
  rd_kafka_conf_destroy (conf);

  conf = imp_bus_kafka_conf_new (bus);
  rd_kafka_conf_set_opaque (conf, bus);
  rd_kafka_conf_set_dr_msg_cb (conf, dr_msg_cb);
  /* Idempotence implies acks=all and keeps per-partition order across retries; murmur2 places
   * keys as the Java clients do, so any tool agrees on a conversation's partition. */
  if (!imp_bus_kafka_conf_set (conf, "enable.idempotence", "true", error) ||
      !imp_bus_kafka_conf_set (conf, "acks", "all", error) ||
      !imp_bus_kafka_conf_set (conf, "linger.ms", "2", error) ||
      !imp_bus_kafka_conf_set (conf, "partitioner", "murmur2_random", error))
    {
      rd_kafka_conf_destroy (conf);
      bus_free_partial (bus);
      return NULL;
    }
  bus->producer = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (bus->producer == NULL)
    {
      rd_kafka_conf_destroy (conf);
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "kafka producer: %s", errstr);
      bus_free_partial (bus);
      return NULL;
    }
  for (guint i = 0; i < G_N_ELEMENTS (fixed); i++)
    {
      g_autofree char *kafka_topic = imp_bus_kafka_name (bus, fixed[i]);

      if (!imp_bus_kafka_ensure_topic (bus, kafka_topic, error))
        {
          bus_free_partial (bus);
          return NULL;
        }
    }
  bus->poller = g_thread_try_new ("imp-kafka-dr", poller_main, bus, error);
  if (bus->poller == NULL)
    {
      bus_free_partial (bus);
      return NULL;
    }
  return &bus->parent;
}

/* imp-bus-kafka-sub.c: one subscription of the Kafka bus = one consumer in the subscription's
 * group + one thread that owns it.
 *
 * The thread blocks in rd_kafka_consumer_poll (), gathers up to max_batch records, hands them
 * to the subscriber's GMainContext through a source of its own (never g_main_context_invoke,
 * which would run the handler on this thread whenever the context is not owned) and waits for
 * the handler's answer. Rebalances are served inside poll, so a partition never changes hands
 * while its batch is with the handler; batches are sequential, so per-partition (= per-key)
 * order holds.
 *
 * TRUE: the next batch is polled at once; the handled offsets are committed asynchronously, at
 * most every COMMIT_INTERVAL_US (only handled offsets are ever committed, so a lost or late
 * commit means replays, never a skip); before a partition leaves (rebalance, close) they are
 * committed synchronously.
 * FALSE: the same batch (kept in memory) is handed again after a backoff of 50 ms doubling to
 * 2 s. After MAX_ATTEMPTS refusals the batch's records are retried one at a time. A record
 * refused alone goes to "<topic>.dlq" (counted, logged without content), then its offset is
 * committed and the next record flows: after MAX_ATTEMPTS refusals if another record of its
 * batch went through (poison: the handler works, not on this record), else only after
 * OUTAGE_MAX_US (the handler refuses everything: a transient outage, FALSE's meaning).
 *
 * Unsubscribe marks the subscription inactive on the subscriber's context (so no handler call
 * can start afterwards), wakes the thread and returns; the thread then closes the consumer
 * (leaving the group, committing nothing) and the bus joins it later.
 *
 * With a topic prefix, the consumer subscribes to prefix + topic in the group prefix + group;
 * the records handed to the handler carry the plain topic name. */
#include "bus/kafka/imp-bus-kafka-private.h"
#include "imp-error.h"

#include <string.h>

#define POLL_TIMEOUT_MS   1000
/* Handled offsets are committed at most this often (asynchronously): one OffsetCommit per
 * batch would cost the brokers more than the records at moderate rates. A crash replays at
 * most this much (at least once; the handlers' dedup absorbs it). */
#define COMMIT_INTERVAL_US (100 * 1000)
#define BACKOFF_FIRST_MS  50
#define BACKOFF_MAX_MS    2000
#define MAX_ATTEMPTS      5
/* A record refused while nothing else goes through waits this long for the handler (a store
 * outage, say) before it is dead-lettered; below max.poll.interval.ms (MAX_POLL_INTERVAL_MS),
 * which must not expire while a batch is retried. */
#define OUTAGE_MAX_US     (G_GINT64_CONSTANT (600) * G_USEC_PER_SEC)
#define MAX_POLL_INTERVAL_MS "900000"
#define MAX_BATCH_LIMIT   65536

typedef enum {
  CALL_PENDING,
  CALL_OK,
  CALL_REFUSED,
} CallState;

typedef enum {
  RUN_DONE,
  RUN_STOPPED,
} RunResult;

typedef struct {
  int32_t partition;
  int64_t offset;
} Position;

struct _ImpBusSubscription {
  gatomicrefcount   refs;
  /* Borrowed */
  ImpBusKafka      *bus;
  /* Owned */
  char             *topic;        /* the bus's name, handed to the handler */
  char             *kafka_topic;  /* the name in Kafka (prefix + topic) */
  char             *group;        /* the name in Kafka (prefix + group) */
  GMainContext     *context;
  rd_kafka_t       *rk;           /* used by the thread only, once it runs */
  rd_kafka_topic_partition_list_t *done; /* thread: handled offsets per partition, to commit */
  gboolean          dirty;        /* thread: done has offsets not sent to the coordinator yet */
  gint64            committed_us; /* thread: when done was last sent */
  GThread          *thread;
  guint             max_batch;
  ImpBusHandler     handler;
  gpointer          user_data;
  GDestroyNotify    destroy;
  GMutex            lock;
  GCond             cond;
  /* Under lock */
  gboolean          active;
  rd_kafka_queue_t *queue;        /* the consumer queue, to wake the thread; NULL once closing */
  GSource          *pending;      /* a batch on its way to the handler */
  /* Atomic */
  gint              stopping;
  gint              finished;
};

typedef struct {
  gatomicrefcount     refs;
  ImpBusSubscription *sub;        /* owned reference */
  GPtrArray          *records;    /* owned reference */
  CallState           state;      /* under sub->lock */
} Call;

static ImpBusSubscription *
sub_ref (ImpBusSubscription *sub)
{
  g_atomic_ref_count_inc (&sub->refs);
  return sub;
}

static void
sub_unref (ImpBusSubscription *sub)
{
  if (!g_atomic_ref_count_dec (&sub->refs))
    return;
  g_free (sub->topic);
  g_free (sub->kafka_topic);
  g_free (sub->group);
  g_clear_pointer (&sub->done, rd_kafka_topic_partition_list_destroy);
  g_clear_pointer (&sub->context, g_main_context_unref);
  g_mutex_clear (&sub->lock);
  g_cond_clear (&sub->cond);
  g_free (sub);
}

static void
call_unref (gpointer data)
{
  Call *call = data;

  if (!g_atomic_ref_count_dec (&call->refs))
    return;
  sub_unref (call->sub);
  g_ptr_array_unref (call->records);
  g_free (call);
}

/* On the subscriber's context. */
static gboolean
call_dispatch (gpointer data)
{
  Call *call = data;
  ImpBusSubscription *sub = call->sub;
  gboolean ok;

  g_mutex_lock (&sub->lock);
  if (!sub->active)
    {
      g_mutex_unlock (&sub->lock);
      return G_SOURCE_REMOVE;
    }
  g_clear_pointer (&sub->pending, g_source_unref);
  g_mutex_unlock (&sub->lock);

  ok = sub->handler (call->records, sub->user_data);

  g_mutex_lock (&sub->lock);
  call->state = ok ? CALL_OK : CALL_REFUSED;
  g_cond_broadcast (&sub->cond);
  g_mutex_unlock (&sub->lock);
  return G_SOURCE_REMOVE;
}

/* On the thread: hands records to the handler and waits for its answer or for unsubscribe. */
static CallState
call_handler (ImpBusSubscription *sub, GPtrArray *records, gboolean *stopped)
{
  Call *call = g_new0 (Call, 1);
  GSource *source;
  CallState state;

  g_atomic_ref_count_init (&call->refs);
  g_atomic_ref_count_inc (&call->refs);   /* one for the source */
  call->sub = sub_ref (sub);
  call->records = g_ptr_array_ref (records);
  call->state = CALL_PENDING;

  g_mutex_lock (&sub->lock);
  if (sub->active)
    {
      source = g_idle_source_new ();
      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      g_source_set_name (source, "ImpBusKafka delivery");
      g_source_set_callback (source, call_dispatch, call, call_unref);
      sub->pending = g_source_ref (source);
      g_source_attach (source, sub->context);
      g_source_unref (source);
      while (call->state == CALL_PENDING && !g_atomic_int_get (&sub->stopping))
        g_cond_wait (&sub->cond, &sub->lock);
    }
  else
    call_unref (call);                    /* the source's reference: no source */
  state = call->state;
  *stopped = g_atomic_int_get (&sub->stopping);
  g_mutex_unlock (&sub->lock);
  call_unref (call);
  return state;
}

/* Waits ms or until unsubscribe; FALSE if stopped. */
static gboolean
backoff_wait (ImpBusSubscription *sub, guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;
  gboolean stopped;

  g_mutex_lock (&sub->lock);
  while (!g_atomic_int_get (&sub->stopping) && g_cond_wait_until (&sub->cond, &sub->lock, end))
    ;
  stopped = g_atomic_int_get (&sub->stopping);
  g_mutex_unlock (&sub->lock);
  return !stopped;
}


/* Remembers pos[0..n) (the next offset to read, per partition) as the offsets to commit. */
static rd_kafka_topic_partition_list_t *
positions_note (ImpBusSubscription *sub, const Position *pos, guint n)
{
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new ((int) n);

  for (guint i = 0; i < n; i++)
    {
      rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find (list, sub->kafka_topic,
                                                                           pos[i].partition);
      rd_kafka_topic_partition_t *done;

      if (tp == NULL)
        tp = rd_kafka_topic_partition_list_add (list, sub->kafka_topic, pos[i].partition);
      /* The committed offset is the next one to read. */
      tp->offset = MAX (tp->offset, pos[i].offset + 1);
      done = rd_kafka_topic_partition_list_find (sub->done, sub->kafka_topic, pos[i].partition);
      if (done == NULL)
        done = rd_kafka_topic_partition_list_add (sub->done, sub->kafka_topic, pos[i].partition);
      done->offset = MAX (done->offset, tp->offset);
    }
  return list;
}

static void
commit_failed (ImpBusSubscription *sub, rd_kafka_resp_err_t err)
{
  /* A rebalance took the partition, say: its new owner starts from the last commit. */
  g_atomic_pointer_add (&sub->bus->commit_failures, 1);
  g_message ("bus: committing %s for group %s failed (%s); those records will be seen again",
             sub->kafka_topic, sub->group, rd_kafka_err2name (err));
}

/* Sends the handled offsets (sub->done) to the coordinator, asynchronously. */
static void
commit_flush (ImpBusSubscription *sub)
{
  rd_kafka_resp_err_t err;

  sub->dirty = FALSE;
  sub->committed_us = g_get_monotonic_time ();
  err = rd_kafka_commit (sub->rk, sub->done, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    commit_failed (sub, err);
}

/* Records pos[0..n) as handled. sync: committed now, waiting for the coordinator (past a dead
 * letter). Otherwise committed asynchronously, at most every COMMIT_INTERVAL_US (the thread
 * flushes what is left when the stream pauses, see sub_main): the next batch does not wait for
 * the coordinator. Still at least once: only offsets of records the handler took are ever
 * committed, so a commit lost in a crash or a rebalance means replays, never a skip. Before a
 * partition leaves (rebalance, close) the handled offsets are committed synchronously
 * (on_rebalance). */
static void
commit (ImpBusSubscription *sub, const Position *pos, guint n, gboolean sync)
{
  rd_kafka_topic_partition_list_t *list = positions_note (sub, pos, n);

  if (sync)
    {
      rd_kafka_resp_err_t err = rd_kafka_commit (sub->rk, list, 0);

      if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        commit_failed (sub, err);
    }
  else
    {
      sub->dirty = TRUE;
      if (g_get_monotonic_time () - sub->committed_us >= COMMIT_INTERVAL_US)
        commit_flush (sub);
    }
  rd_kafka_topic_partition_list_destroy (list);
}

/* The results of asynchronous commits (served inside consumer_poll, on the thread). */
static void
on_offset_commit (rd_kafka_t *rk, rd_kafka_resp_err_t err,
                  rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
  ImpBusSubscription *sub = opaque;

  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
    commit_failed (sub, err);
}

/* Eager rebalances, inside poll or close on the thread: before partitions go, what was handled
 * on them is committed synchronously, so their next owner does not replay it (a failure only
 * means replays). */
static void
on_rebalance (rd_kafka_t *rk, rd_kafka_resp_err_t err,
              rd_kafka_topic_partition_list_t *partitions, void *opaque)
{
  ImpBusSubscription *sub = opaque;

  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
    {
      rd_kafka_assign (rk, partitions);
      return;
    }
  if (sub->done->cnt > 0)
    {
      rd_kafka_resp_err_t cerr = rd_kafka_commit (rk, sub->done, 0);

      if (cerr != RD_KAFKA_RESP_ERR_NO_ERROR && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
        commit_failed (sub, cerr);
      rd_kafka_topic_partition_list_destroy (sub->done);
      sub->done = rd_kafka_topic_partition_list_new (8);
    }
  sub->dirty = FALSE;
  rd_kafka_assign (rk, NULL);
}

static rd_kafka_headers_t *
dead_letter_headers (ImpBusSubscription *sub, const Position *pos)
{
  rd_kafka_headers_t *headers = rd_kafka_headers_new (4);
  g_autofree char *partition = g_strdup_printf ("%" G_GINT32_FORMAT, pos->partition);
  g_autofree char *offset = g_strdup_printf ("%" G_GINT64_FORMAT, pos->offset);

  rd_kafka_header_add (headers, "imp-dlq-topic", -1, sub->kafka_topic, -1);
  rd_kafka_header_add (headers, "imp-dlq-partition", -1, partition, -1);
  rd_kafka_header_add (headers, "imp-dlq-offset", -1, offset, -1);
  rd_kafka_header_add (headers, "imp-dlq-group", -1, sub->group, -1);
  return headers;
}

/* Puts rec on "<topic>.dlq" (prefixed by produce), retrying until the brokers take it (never
 * drop it silently). */
static RunResult
dead_letter (ImpBusSubscription *sub, const ImpBusRecord *rec, const Position *pos)
{
  g_autofree char *dlq = g_strconcat (sub->topic, IMP_BUS_KAFKA_DLQ_SUFFIX, NULL);

  for (;;)
    {
      g_autoptr(GError) error = NULL;

      if (imp_bus_kafka_produce_sync (sub->bus, dlq, rec->key, rec->value,
                                      dead_letter_headers (sub, pos), &sub->stopping, &error))
        break;
      if (g_atomic_int_get (&sub->stopping))
        return RUN_STOPPED;
      g_message ("bus: dead letter for %s not accepted yet: %s", dlq, error->message);
      if (!backoff_wait (sub, BACKOFF_MAX_MS))
        return RUN_STOPPED;
    }
  g_atomic_pointer_add (&sub->bus->dead_letters, 1);
  g_warning ("bus: record %s[%" G_GINT32_FORMAT "]@%" G_GINT64_FORMAT " refused %d times by "
             "group %s; moved to %s%s", sub->kafka_topic, pos->partition, pos->offset,
             MAX_ATTEMPTS, sub->group, sub->bus->topic_prefix, dlq);
  return RUN_DONE;
}

static ImpBusRecord *
record_copy (const ImpBusRecord *rec)
{
  ImpBusRecord *copy = g_new0 (ImpBusRecord, 1);

  copy->topic = g_strdup (rec->topic);
  copy->key = g_strdup (rec->key);
  copy->value = g_bytes_ref (rec->value);
  return copy;
}

/* A record refused on its own is poison (dead-lettered after MAX_ATTEMPTS) only when another
 * record of its batch went through meanwhile: the handler works, this record does not. Otherwise
 * the handler refuses everything (the store is down): that is an outage, retried at
 * BACKOFF_MAX_MS for OUTAGE_MAX_US before the record is dead-lettered anyway. */
static gint64
outage_max_us (ImpBusSubscription *sub)
{
  gint ms = g_atomic_int_get (&sub->bus->outage_max_ms);

  return ms > 0 ? (gint64) ms * 1000 : OUTAGE_MAX_US;
}

static gboolean
give_up (ImpBusSubscription *sub, guint attempt, gint64 refused_since, gboolean others_accepted)
{
  if (attempt < MAX_ATTEMPTS)
    return FALSE;
  return others_accepted || g_get_monotonic_time () - refused_since >= outage_max_us (sub);
}

/* Delivers records (at pos[0..n)) until the handler takes them, as the file comment says.
 * *accepted is set when the handler takes any of them (shared by the records of one batch). */
static RunResult
run_batch (ImpBusSubscription *sub, GPtrArray *records, const Position *pos, guint n,
           gboolean *accepted)
{
  guint backoff_ms = 0;
  gboolean stopped = FALSE;
  gint64 refused_since = 0;
  gboolean logged = FALSE;

  for (guint attempt = 1;; attempt++)
    {
      CallState state = call_handler (sub, records, &stopped);

      if (state == CALL_OK)
        {
          /* Even when unsubscribed meanwhile: the handler did its work, so record that. */
          commit (sub, pos, n, FALSE);
          *accepted = TRUE;
          if (logged)
            g_message ("bus: %s[%" G_GINT32_FORMAT "]@%" G_GINT64_FORMAT " taken by group %s "
                       "after %u refusals", sub->kafka_topic, pos->partition, pos->offset,
                       sub->group, attempt - 1);
          return stopped ? RUN_STOPPED : RUN_DONE;
        }
      if (stopped)
        return RUN_STOPPED;
      g_atomic_pointer_add (&sub->bus->refusals, 1);
      if (refused_since == 0)
        refused_since = g_get_monotonic_time ();
      if (n > 1 ? attempt >= MAX_ATTEMPTS : give_up (sub, attempt, refused_since, *accepted))
        break;
      if (n == 1 && attempt == MAX_ATTEMPTS)
        {
          logged = TRUE;
          g_message ("bus: %s[%" G_GINT32_FORMAT "]@%" G_GINT64_FORMAT " refused %u times by "
                     "group %s and nothing else goes through: waiting for the handler (up to "
                     "%d s) before dead-lettering it", sub->kafka_topic, pos->partition,
                     pos->offset, attempt, sub->group, (int) (outage_max_us (sub) / G_USEC_PER_SEC));
        }
      backoff_ms = backoff_ms == 0 ? BACKOFF_FIRST_MS : MIN (backoff_ms * 2, BACKOFF_MAX_MS);
      if (!backoff_wait (sub, backoff_ms))
        return RUN_STOPPED;
    }

  if (n == 1)
    {
      if (dead_letter (sub, g_ptr_array_index (records, 0), pos) == RUN_STOPPED)
        return RUN_STOPPED;
      commit (sub, pos, 1, TRUE);   /* past a dead letter: no replay of it */
      return RUN_DONE;
    }
  /* Find the record(s) at fault: the others still go through, in order. */
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GPtrArray) one = g_ptr_array_new_full (1, (GDestroyNotify) imp_bus_record_free);

      g_ptr_array_add (one, record_copy (g_ptr_array_index (records, i)));
      if (run_batch (sub, one, &pos[i], 1, accepted) == RUN_STOPPED)
        return RUN_STOPPED;
    }
  return RUN_DONE;
}

static void
note_consumer_error (ImpBusSubscription *sub, rd_kafka_message_t *msg)
{
  if (msg->err == RD_KAFKA_RESP_ERR__TRANSPORT || msg->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
      msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
    g_debug ("bus: consumer of %s: %s", sub->kafka_topic, rd_kafka_message_errstr (msg));
  else
    g_message ("bus: consumer of %s (group %s): %s: %s", sub->kafka_topic, sub->group,
               rd_kafka_err2name (msg->err), rd_kafka_message_errstr (msg));
}

/* Blocks up to POLL_TIMEOUT_MS for a first record (while handled offsets wait for their commit,
 * only until it is due), then takes what is already there. */
static void
poll_batch (ImpBusSubscription *sub, GPtrArray *records, GArray *pos)
{
  int timeout_ms = POLL_TIMEOUT_MS;
  rd_kafka_message_t *msg;

  if (sub->dirty)
    {
      gint64 due_us = sub->committed_us + COMMIT_INTERVAL_US - g_get_monotonic_time ();

      timeout_ms = (int) CLAMP (due_us / 1000 + 1, 0, POLL_TIMEOUT_MS);
    }
  msg = rd_kafka_consumer_poll (sub->rk, timeout_ms);

  while (msg != NULL)
    {
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        note_consumer_error (sub, msg);
      else
        {
          ImpBusRecord *rec = g_new0 (ImpBusRecord, 1);
          Position p = { msg->partition, msg->offset };

          rec->topic = g_strdup (sub->topic);  /* one topic per consumer, without the prefix */
          rec->key = msg->key != NULL ? g_strndup (msg->key, msg->key_len) : NULL;
          rec->value = g_bytes_new (msg->payload, msg->len);
          g_ptr_array_add (records, rec);
          g_array_append_val (pos, p);
        }
      rd_kafka_message_destroy (msg);
      if (records->len >= sub->max_batch)
        break;
      msg = rd_kafka_consumer_poll (sub->rk, 0);
    }
}

static gpointer
sub_main (gpointer data)
{
  ImpBusSubscription *sub = data;
  rd_kafka_queue_t *queue;

  while (!g_atomic_int_get (&sub->stopping))
    {
      g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_bus_record_free);
      g_autoptr(GArray) pos = g_array_new (FALSE, FALSE, sizeof (Position));

      gboolean accepted = FALSE;

      poll_batch (sub, records, pos);
      /* The stream paused: what was handled does not wait for the next batch. */
      if (records->len == 0 && sub->dirty
          && g_get_monotonic_time () - sub->committed_us >= COMMIT_INTERVAL_US)
        commit_flush (sub);
      if (records->len > 0 &&
          run_batch (sub, records, (const Position *) pos->data, records->len, &accepted)
          == RUN_STOPPED)
        break;
    }

  g_mutex_lock (&sub->lock);
  queue = g_steal_pointer (&sub->queue);
  g_mutex_unlock (&sub->lock);
  rd_kafka_queue_destroy (queue);
  /* Leaves the group at once (no session timeout for the others to wait out); the revocation
   * inside commits what was handled (on_rebalance), so only unhandled records go to the next
   * owner. */
  rd_kafka_consumer_close (sub->rk);
  g_clear_pointer (&sub->rk, rd_kafka_destroy);
  g_atomic_int_set (&sub->finished, 1);
  imp_bus_kafka_sub_ended ();
  return NULL;
}

static rd_kafka_t *
consumer_new (ImpBusSubscription *sub, const char *group, gboolean private_group, GError **error)
{
  rd_kafka_conf_t *conf = imp_bus_kafka_conf_new (sub->bus);
  char errstr[512];
  rd_kafka_t *rk;

  /* Offsets move only through commit (); "range" is an eager strategy: a partition has one
   * owner at a time and is revoked only inside poll, between batches. A private group (NULL)
   * starts at the end, like a local subscriber that sees only what is published after it.
   * 6 s is the brokers' minimum session timeout: a crashed member's partitions move soon
   * (heartbeats come from librdkafka's own thread, so a slow handler does not expire it). */
  if (!imp_bus_kafka_conf_set (conf, "group.id", group, error) ||
      !imp_bus_kafka_conf_set (conf, "enable.auto.commit", "false", error) ||
      !imp_bus_kafka_conf_set (conf, "enable.auto.offset.store", "false", error) ||
      !imp_bus_kafka_conf_set (conf, "auto.offset.reset", private_group ? "latest" : "earliest",
                               error) ||
      !imp_bus_kafka_conf_set (conf, "partition.assignment.strategy", "range", error) ||
      !imp_bus_kafka_conf_set (conf, "enable.partition.eof", "false", error) ||
      !imp_bus_kafka_conf_set (conf, "session.timeout.ms", "6000", error) ||
      !imp_bus_kafka_conf_set (conf, "heartbeat.interval.ms", "1000", error) ||
      !imp_bus_kafka_conf_set (conf, "max.poll.interval.ms", MAX_POLL_INTERVAL_MS, error))
    {
      rd_kafka_conf_destroy (conf);
      return NULL;
    }
  rd_kafka_conf_set_opaque (conf, sub);
  rd_kafka_conf_set_offset_commit_cb (conf, on_offset_commit);
  rd_kafka_conf_set_rebalance_cb (conf, on_rebalance);
  rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == NULL)
    {
      rd_kafka_conf_destroy (conf);
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "kafka consumer: %s", errstr);
      return NULL;
    }
  rd_kafka_poll_set_consumer (rk);
  return rk;
}

ImpBusSubscription *
imp_bus_kafka_sub_new (ImpBusKafka *bus, const char *topic, const char *group,
                       GMainContext *context, guint max_batch, ImpBusHandler handler,
                       gpointer user_data, GDestroyNotify destroy, GError **error)
{
  ImpBusSubscription *sub;
  rd_kafka_topic_partition_list_t *topics;
  rd_kafka_resp_err_t err;

  sub = g_new0 (ImpBusSubscription, 1);
  g_atomic_ref_count_init (&sub->refs);
  g_mutex_init (&sub->lock);
  g_cond_init (&sub->cond);
  sub->bus = bus;
  sub->topic = g_strdup (topic);
  sub->kafka_topic = imp_bus_kafka_name (bus, topic);
  if (group != NULL)
    sub->group = imp_bus_kafka_name (bus, group);
  else
    {
      g_autofree char *uuid = g_uuid_string_random ();

      sub->group = g_strdup_printf ("%s%s-%s", bus->topic_prefix, bus->client_id, uuid);
    }
  sub->context = context != NULL ? g_main_context_ref (context)
                                 : g_main_context_ref_thread_default ();
  sub->max_batch = CLAMP (max_batch, 1, MAX_BATCH_LIMIT);
  sub->handler = handler;
  sub->user_data = user_data;
  sub->active = TRUE;

  sub->done = rd_kafka_topic_partition_list_new (8);
  sub->rk = consumer_new (sub, sub->group, group == NULL, error);
  if (sub->rk == NULL)
    {
      sub_unref (sub);
      return NULL;
    }
  topics = rd_kafka_topic_partition_list_new (1);
  rd_kafka_topic_partition_list_add (topics, sub->kafka_topic, RD_KAFKA_PARTITION_UA);
  err = rd_kafka_subscribe (sub->rk, topics);
  rd_kafka_topic_partition_list_destroy (topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "subscribing to %s: %s", topic,
                   rd_kafka_err2str (err));
      g_clear_pointer (&sub->rk, rd_kafka_destroy);
      sub_unref (sub);
      return NULL;
    }
  sub->queue = rd_kafka_queue_get_consumer (sub->rk);
  sub->thread = g_thread_try_new ("imp-kafka-sub", sub_main, sub, error);
  if (sub->thread == NULL)
    {
      g_clear_pointer (&sub->queue, rd_kafka_queue_destroy);
      rd_kafka_consumer_close (sub->rk);
      g_clear_pointer (&sub->rk, rd_kafka_destroy);
      sub_unref (sub);
      return NULL;
    }
  /* Set last: a failed subscribe must not call destroy (the caller still owns user_data). */
  sub->destroy = destroy;
  return sub;
}

gboolean
imp_bus_kafka_sub_stop (ImpBusSubscription *sub)
{
  GSource *pending;

  g_mutex_lock (&sub->lock);
  if (!sub->active)
    {
      g_mutex_unlock (&sub->lock);
      return FALSE;
    }
  sub->active = FALSE;
  g_atomic_int_set (&sub->stopping, 1);
  pending = g_steal_pointer (&sub->pending);
  if (sub->queue != NULL)
    rd_kafka_queue_yield (sub->queue);
  g_cond_broadcast (&sub->cond);
  g_mutex_unlock (&sub->lock);

  /* A dead letter may be waiting for its delivery report. */
  g_mutex_lock (&sub->bus->dr_lock);
  g_cond_broadcast (&sub->bus->dr_cond);
  g_mutex_unlock (&sub->bus->dr_lock);

  if (pending != NULL)
    {
      g_source_destroy (pending);
      g_source_unref (pending);
    }
  if (sub->destroy != NULL)
    sub->destroy (sub->user_data);
  return TRUE;
}

gboolean
imp_bus_kafka_sub_finished (ImpBusSubscription *sub)
{
  return g_atomic_int_get (&sub->finished);
}

const char *
imp_bus_kafka_sub_topic (ImpBusSubscription *sub)
{
  return sub->kafka_topic;
}

void
imp_bus_kafka_sub_join (ImpBusSubscription *sub)
{
  g_thread_join (sub->thread);
  sub->thread = NULL;
  sub_unref (sub);
}

/* imp-bus-local.c: the in-process bus of the embedded deployment.
 *
 * Each subscription owns a FIFO queue (unbounded in memory; its depth is counted and a warning is
 * logged each time it doubles past 64 Ki records, since a stuck consumer would otherwise grow it
 * silently). Publishing appends under one mutex, so records with the same key keep their publish
 * order. A queue going from empty to non-empty wakes the subscriber's GMainContext through the
 * subscription's own GSource (ready time 0); nothing polls. The source takes up to max_batch
 * records and hands them to the handler; FALSE keeps the batch and redelivers it after a backoff
 * (50 ms doubling to 2 s) by moving the same source's ready time into the future.
 *
 * Groups: per topic, every record goes to exactly one subscriber of each group, chosen by the
 * hash of the key over the group's subscribers, so one key always lands on one subscriber while
 * the group's membership is stable. A NULL group is a private group of one (broadcast). Records
 * published to a topic nobody subscribes to are dropped (and counted): push topics of gateways
 * that are gone must not pile up. */
#include "bus/imp-bus.h"
#include "imp-error.h"

#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS   2000
#define WARN_DEPTH_FIRST (64 * 1024)

typedef struct _ImpBusLocal ImpBusLocal;

typedef struct {
  GSource             source;
  ImpBusSubscription *sub;      /* borrowed: the subscription owns this source */
} WakeSource;

typedef struct {
  char      *name;              /* NULL: a private group of one */
  GPtrArray *subs;              /* borrowed ImpBusSubscription */
} Group;

typedef struct {
  GPtrArray *groups;            /* owned Group */
} Topic;

struct _ImpBusSubscription {
  gatomicrefcount refs;
  /* Borrowed */
  ImpBusLocal    *bus;
  /* Owned */
  char           *topic;
  char           *group;
  GSource        *wake;
  guint           max_batch;
  ImpBusHandler   handler;
  gpointer        user_data;
  GDestroyNotify  destroy;
  /* Under bus->lock */
  GQueue          queue;        /* ImpBusRecord */
  gboolean        active;
  gboolean        backing_off;  /* a failed batch waits for its retry time */
  guint           warn_depth;
  /* Subscriber's context only */
  GPtrArray      *batch;        /* in hand (kept across a redelivery) */
  guint           backoff_ms;
};

struct _ImpBusLocal {
  ImpBus      parent;
  GMutex      lock;
  GHashTable *topics;           /* char * -> Topic */
  GPtrArray  *subs;             /* every active subscription (one reference each) */
  guint64     dropped;
};

static void
group_free (Group *group)
{
  g_free (group->name);
  g_ptr_array_unref (group->subs);
  g_free (group);
}

static void
topic_free (Topic *topic)
{
  g_ptr_array_unref (topic->groups);
  g_free (topic);
}

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
  g_queue_clear_full (&sub->queue, (GDestroyNotify) imp_bus_record_free);
  g_clear_pointer (&sub->batch, g_ptr_array_unref);
  g_clear_pointer (&sub->wake, g_source_unref);
  g_free (sub->topic);
  g_free (sub->group);
  g_free (sub);
}

/* Called with bus->lock held. Takes rec. */
static void
sub_enqueue_locked (ImpBusSubscription *sub, ImpBusRecord *rec)
{
  gboolean was_empty = g_queue_is_empty (&sub->queue);

  g_queue_push_tail (&sub->queue, rec);
  if (was_empty && !sub->backing_off)
    g_source_set_ready_time (sub->wake, 0);
  if (sub->queue.length >= sub->warn_depth)
    {
      g_warning ("bus: subscription to %s has %u records queued; its consumer is not keeping up",
                 sub->topic, sub->queue.length);
      sub->warn_depth *= 2;
    }
}

static gboolean
wake_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  ImpBusSubscription *sub = ((WakeSource *) source)->sub;
  ImpBusLocal *bus = sub->bus;
  gboolean ok;

  /* Cleared before taking records: a publish after this point wakes us again. */
  g_source_set_ready_time (source, -1);

  if (sub->batch == NULL)
    {
      guint n;

      g_mutex_lock (&bus->lock);
      if (!sub->active)
        {
          g_mutex_unlock (&bus->lock);
          return G_SOURCE_REMOVE;
        }
      n = MIN (sub->queue.length, sub->max_batch);
      if (n == 0)
        {
          g_mutex_unlock (&bus->lock);
          return G_SOURCE_CONTINUE;
        }
      sub->batch = g_ptr_array_new_full (n, (GDestroyNotify) imp_bus_record_free);
      for (guint i = 0; i < n; i++)
        g_ptr_array_add (sub->batch, g_queue_pop_head (&sub->queue));
      g_mutex_unlock (&bus->lock);
    }

  /* The handler may unsubscribe; keep the subscription alive until we are done with it. */
  sub_ref (sub);
  ok = sub->handler (sub->batch, sub->user_data);

  g_mutex_lock (&bus->lock);
  if (!sub->active)
    {
      g_mutex_unlock (&bus->lock);
      g_clear_pointer (&sub->batch, g_ptr_array_unref);
      sub_unref (sub);
      return G_SOURCE_REMOVE;
    }
  if (ok)
    {
      g_clear_pointer (&sub->batch, g_ptr_array_unref);
      sub->backoff_ms = 0;
      sub->backing_off = FALSE;
      if (!g_queue_is_empty (&sub->queue))
        g_source_set_ready_time (source, 0);
    }
  else
    {
      sub->backoff_ms = sub->backoff_ms == 0 ? BACKOFF_FIRST_MS
                                             : MIN (sub->backoff_ms * 2, BACKOFF_MAX_MS);
      sub->backing_off = TRUE;
      g_source_set_ready_time (source, g_get_monotonic_time () + (gint64) sub->backoff_ms * 1000);
    }
  g_mutex_unlock (&bus->lock);
  sub_unref (sub);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs wake_funcs = {
  .dispatch = wake_dispatch,
};

static Topic *
topic_lookup_locked (ImpBusLocal *bus, const char *name, gboolean create)
{
  Topic *topic = g_hash_table_lookup (bus->topics, name);

  if (topic == NULL && create)
    {
      topic = g_new0 (Topic, 1);
      topic->groups = g_ptr_array_new_with_free_func ((GDestroyNotify) group_free);
      g_hash_table_insert (bus->topics, g_strdup (name), topic);
    }
  return topic;
}

static ImpBusRecord *
record_new (const char *topic, const char *key, GBytes *value)
{
  ImpBusRecord *rec = g_new0 (ImpBusRecord, 1);

  rec->topic = g_strdup (topic);
  rec->key = g_strdup (key);
  rec->value = g_bytes_ref (value);
  return rec;
}

static gboolean
local_publish (ImpBus *base, const char *topic_name, const char *key, GBytes *value, GError **error)
{
  ImpBusLocal *bus = (ImpBusLocal *) base;
  guint hash = g_str_hash (key != NULL ? key : "");
  Topic *topic;

  g_mutex_lock (&bus->lock);
  topic = topic_lookup_locked (bus, topic_name, FALSE);
  if (topic == NULL || topic->groups->len == 0)
    {
      bus->dropped++;
      g_mutex_unlock (&bus->lock);
      return TRUE;
    }
  for (guint i = 0; i < topic->groups->len; i++)
    {
      Group *group = g_ptr_array_index (topic->groups, i);
      ImpBusSubscription *sub = g_ptr_array_index (group->subs, hash % group->subs->len);

      sub_enqueue_locked (sub, record_new (topic_name, key, value));
    }
  g_mutex_unlock (&bus->lock);
  return TRUE;
}

static ImpBusSubscription *
local_subscribe (ImpBus *base, const char *topic_name, const char *group_name,
                 GMainContext *context, guint max_batch, ImpBusHandler handler,
                 gpointer user_data, GDestroyNotify destroy, GError **error)
{
  ImpBusLocal *bus = (ImpBusLocal *) base;
  ImpBusSubscription *sub;
  Group *group = NULL;
  Topic *topic;
  g_autoptr(GMainContext) ctx = context != NULL ? g_main_context_ref (context)
                                                : g_main_context_ref_thread_default ();

  sub = g_new0 (ImpBusSubscription, 1);
  g_atomic_ref_count_init (&sub->refs);
  sub->bus = bus;
  sub->topic = g_strdup (topic_name);
  sub->group = g_strdup (group_name);
  sub->max_batch = MAX (max_batch, 1);
  sub->handler = handler;
  sub->user_data = user_data;
  sub->destroy = destroy;
  sub->active = TRUE;
  sub->warn_depth = WARN_DEPTH_FIRST;
  g_queue_init (&sub->queue);
  sub->wake = g_source_new (&wake_funcs, sizeof (WakeSource));
  ((WakeSource *) sub->wake)->sub = sub;
  g_source_set_name (sub->wake, "ImpBusLocal delivery");

  g_mutex_lock (&bus->lock);
  topic = topic_lookup_locked (bus, topic_name, TRUE);
  if (group_name != NULL)
    for (guint i = 0; i < topic->groups->len && group == NULL; i++)
      {
        Group *g = g_ptr_array_index (topic->groups, i);

        if (g_strcmp0 (g->name, group_name) == 0)
          group = g;
      }
  if (group == NULL)
    {
      group = g_new0 (Group, 1);
      group->name = g_strdup (group_name);
      group->subs = g_ptr_array_new ();
      g_ptr_array_add (topic->groups, group);
    }
  g_ptr_array_add (group->subs, sub);
  g_ptr_array_add (bus->subs, sub);
  /* Attached under the lock so no publish can see the subscription before its source exists. */
  g_source_attach (sub->wake, ctx);
  g_mutex_unlock (&bus->lock);
  return sub;
}

/* Detaches sub from its topic and group; its queued records go to the group's remaining
 * subscribers (as Kafka reassigns a leaving consumer's partitions). Called with the lock held. */
static void
sub_detach_locked (ImpBusLocal *bus, ImpBusSubscription *sub)
{
  Topic *topic = topic_lookup_locked (bus, sub->topic, FALSE);
  ImpBusRecord *rec;

  sub->active = FALSE;
  g_ptr_array_remove_fast (bus->subs, sub);
  if (topic == NULL)
    return;
  for (guint i = 0; i < topic->groups->len; i++)
    {
      Group *group = g_ptr_array_index (topic->groups, i);

      if (!g_ptr_array_remove (group->subs, sub))
        continue;
      while ((rec = g_queue_pop_head (&sub->queue)) != NULL)
        {
          if (group->subs->len == 0)
            {
              imp_bus_record_free (rec);
              continue;
            }
          sub_enqueue_locked (g_ptr_array_index (group->subs,
                                                 g_str_hash (rec->key != NULL ? rec->key : "")
                                                 % group->subs->len),
                              rec);
        }
      if (group->subs->len == 0)
        g_ptr_array_remove_index (topic->groups, i);
      break;
    }
  if (topic->groups->len == 0)
    g_hash_table_remove (bus->topics, sub->topic);
}

static void
local_unsubscribe (ImpBus *base, ImpBusSubscription *sub)
{
  ImpBusLocal *bus = (ImpBusLocal *) base;

  g_mutex_lock (&bus->lock);
  if (!sub->active)
    {
      g_mutex_unlock (&bus->lock);
      return;
    }
  sub_detach_locked (bus, sub);
  g_mutex_unlock (&bus->lock);

  g_source_destroy (sub->wake);
  if (sub->destroy != NULL)
    sub->destroy (sub->user_data);
  sub_unref (sub);
}

static void
local_free (ImpBus *base)
{
  ImpBusLocal *bus = (ImpBusLocal *) base;

  /* Subscribers should have left; whoever did not is dropped here. */
  while (bus->subs->len > 0)
    local_unsubscribe (base, g_ptr_array_index (bus->subs, bus->subs->len - 1));
  if (bus->dropped > 0)
    g_debug ("bus: %" G_GUINT64_FORMAT " records had no subscriber", bus->dropped);
  g_hash_table_unref (bus->topics);
  g_ptr_array_unref (bus->subs);
  g_mutex_clear (&bus->lock);
  g_free (bus);
}

static const ImpBusVTable local_vtable = {
  .name = "local",
  .free = local_free,
  .publish = local_publish,
  .subscribe = local_subscribe,
  .unsubscribe = local_unsubscribe,
};

ImpBus *
imp_bus_local_new (void)
{
  ImpBusLocal *bus = g_new0 (ImpBusLocal, 1);

  bus->parent.vt = &local_vtable;
  g_mutex_init (&bus->lock);
  bus->topics = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) topic_free);
  bus->subs = g_ptr_array_new ();
  return &bus->parent;
}

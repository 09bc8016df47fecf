/* imp-cache-redis.c: the Redis cache of the distributed deployment, callers' side.
 *
 * Every interface call turns into an ImpRedisOp queued for the cache's own thread
 * (imp-cache-redis-thread.c), which owns the one hiredis async context. Writes return at once;
 * reads wait for their reply until IMP_REDIS_READ_TIMEOUT_MS and otherwise answer "unknown"
 * (no gateways; token state -1). Redis is never the source of truth: see docs/cache.md. */
#include "cache/redis/imp-cache-redis-private.h"
#include "imp-error.h"
#include "imp-time.h"

#include <string.h>

#define UNKNOWN_LOG_EVERY_US (10 * G_USEC_PER_SEC)

static const ImpCacheVTable redis_vtable;

/* ---- waiters and ops ---- */

static ImpRedisWaiter *
waiter_new (void)
{
  ImpRedisWaiter *waiter = g_new0 (ImpRedisWaiter, 1);

  g_atomic_ref_count_init (&waiter->ref);
  g_mutex_init (&waiter->lock);
  g_cond_init (&waiter->cond);
  waiter->last_seen_ms = -1;
  waiter->revoked = -1;
  return waiter;
}

ImpRedisWaiter *
imp_redis_waiter_ref (ImpRedisWaiter *waiter)
{
  g_atomic_ref_count_inc (&waiter->ref);
  return waiter;
}

void
imp_redis_waiter_unref (ImpRedisWaiter *waiter)
{
  if (waiter == NULL || !g_atomic_ref_count_dec (&waiter->ref))
    return;
  g_strfreev (waiter->gateways);
  g_clear_pointer (&waiter->infos, g_ptr_array_unref);
  g_mutex_clear (&waiter->lock);
  g_cond_clear (&waiter->cond);
  g_free (waiter);
}

void
imp_redis_waiter_complete (ImpRedisWaiter *waiter, gboolean ok)
{
  g_mutex_lock (&waiter->lock);
  waiter->ok = ok;
  waiter->done = TRUE;
  g_cond_signal (&waiter->cond);
  g_mutex_unlock (&waiter->lock);
}

typedef enum { WAIT_TIMED_OUT, WAIT_OK, WAIT_FAILED } WaitResult;

static WaitResult
waiter_wait (ImpRedisWaiter *waiter, gint64 deadline_us)
{
  WaitResult result;

  g_mutex_lock (&waiter->lock);
  while (!waiter->done)
    if (!g_cond_wait_until (&waiter->cond, &waiter->lock, deadline_us))
      break;
  result = !waiter->done ? WAIT_TIMED_OUT : waiter->ok ? WAIT_OK : WAIT_FAILED;
  g_mutex_unlock (&waiter->lock);
  return result;
}

void
imp_redis_op_free (ImpRedisOp *op)
{
  if (op == NULL)
    return;
  g_free (op->key);
  g_free (op->key2);
  g_free (op->field);
  imp_redis_waiter_unref (op->waiter);
  g_free (op);
}

static ImpRedisOp *
op_new (ImpRedisOpKind kind)
{
  ImpRedisOp *op = g_new0 (ImpRedisOp, 1);

  op->kind = kind;
  return op;
}

/* ---- counters ---- */

void
imp_redis_count_unknown (ImpCacheRedis *self, gboolean timed_out)
{
  gint64 now = g_get_monotonic_time ();
  guint64 count = 0;

  g_mutex_lock (&self->state_lock);
  self->stats.reads_unknown++;
  if (timed_out)
    self->stats.reads_timed_out++;
  if (self->unknown_logged_us == 0 || now - self->unknown_logged_us >= UNKNOWN_LOG_EVERY_US)
    {
      self->unknown_logged_us = now;
      count = self->stats.reads_unknown;
    }
  g_mutex_unlock (&self->state_lock);
  if (count > 0)
    g_message ("redis cache: %" G_GUINT64_FORMAT " reads answered 'unknown' so far "
               "(pushes go to every live gateway, clients pull; token checks go to the store)", count);
}

void
imp_redis_op_fail (ImpCacheRedis *self, ImpRedisOp *op)
{
  switch (op->kind)
    {
    case IMP_REDIS_OP_PRESENCE_ADD:
    case IMP_REDIS_OP_PRESENCE_REMOVE:
    case IMP_REDIS_OP_TOKEN_REVOKE:
    case IMP_REDIS_OP_GATEWAY_ANNOUNCE:
      g_mutex_lock (&self->state_lock);
      self->stats.writes_dropped++;
      g_mutex_unlock (&self->state_lock);
      break;
    case IMP_REDIS_OP_SCAN:
    case IMP_REDIS_OP_TOKEN_CHECK:
    case IMP_REDIS_OP_GATEWAYS:
      /* Counted by the caller, who knows whether it still waits. */
      imp_redis_waiter_complete (op->waiter, FALSE);
      break;
    case IMP_REDIS_OP_PING:
    case IMP_REDIS_OP_AUTH:
    case IMP_REDIS_OP_STOP:
      break;
    }
  imp_redis_op_free (op);
}

void
imp_redis_set_connected (ImpCacheRedis *self, gboolean connected)
{
  g_mutex_lock (&self->state_lock);
  if (connected && !self->stats.connected)
    {
      self->stats.connects++;
      /* A reconnect: Redis may have come back empty (restarted, failed over). */
      if (self->stats.connects > 1)
        g_atomic_int_inc (&self->generation);
    }
  self->stats.connected = connected;
  g_atomic_int_set (&self->up, connected);
  g_cond_broadcast (&self->state_cond);
  g_mutex_unlock (&self->state_lock);
}

/* ---- posting ---- */

/* Queues op for the thread; FALSE (op untouched) when the queue is full. */
static gboolean
post (ImpCacheRedis *self, ImpRedisOp *op, gboolean force)
{
  gboolean wake;

  g_mutex_lock (&self->queue_lock);
  if (!force && self->queue.length >= IMP_REDIS_MAX_QUEUED)
    {
      g_mutex_unlock (&self->queue_lock);
      return FALSE;
    }
  g_queue_push_tail (&self->queue, op);
  /* The thread empties the whole queue per wake-up, so only the first op needs to wake it. */
  wake = self->queue.length == 1;
  g_mutex_unlock (&self->queue_lock);
  if (wake)
    g_source_set_ready_time (self->wake, 0);
  return TRUE;
}

static void
post_write (ImpCacheRedis *self, ImpRedisOp *op)
{
  if (!post (self, op, FALSE))
    imp_redis_op_fail (self, op);
}

/* Runs a read op; returns its waiter with an answer, or NULL for "unknown" (counted). */
static ImpRedisWaiter *
run_read (ImpCacheRedis *self, ImpRedisOp *op)
{
  ImpRedisWaiter *waiter;
  gint64 deadline = g_get_monotonic_time ()
                    + (gint64) g_atomic_int_get (&self->read_timeout_ms) * 1000;
  WaitResult result;

  /* Known to be down: answer at once rather than make every caller wait out the deadline. */
  if (!g_atomic_int_get (&self->up))
    {
      imp_redis_op_free (op);
      imp_redis_count_unknown (self, FALSE);
      return NULL;
    }
  waiter = waiter_new ();
  op->waiter = imp_redis_waiter_ref (waiter);
  if (!post (self, op, FALSE))
    {
      imp_redis_op_free (op);
      imp_redis_waiter_unref (waiter);
      imp_redis_count_unknown (self, FALSE);
      return NULL;
    }
  result = waiter_wait (waiter, deadline);
  if (result != WAIT_OK)
    {
      /* On a time-out the thread still holds its ref and drops the late answer. */
      imp_redis_count_unknown (self, result == WAIT_TIMED_OUT);
      imp_redis_waiter_unref (waiter);
      return NULL;
    }
  return waiter;
}

/* ---- keys ---- */

static gboolean
id_ok (const char *id)
{
  return id != NULL && id[0] != '\0' && strnlen (id, IMP_REDIS_MAX_ID_LEN + 1) <= IMP_REDIS_MAX_ID_LEN;
}

static char *
presence_key (ImpCacheRedis *self, gint64 user_id)
{
  return g_strdup_printf ("%spresence:%" G_GINT64_FORMAT, self->prefix, user_id);
}

static char *
last_seen_key (ImpCacheRedis *self, gint64 user_id)
{
  return g_strdup_printf ("%slastseen:%" G_GINT64_FORMAT, self->prefix, user_id);
}

/* "<gateway>|<instance nonce>|<conn id>": the nonce makes a field unique to this process, so a
 * remove can only ever delete the entry this process added for that connection. */
static char *
presence_field (ImpCacheRedis *self, const char *gateway_id, guint64 conn_id)
{
  return g_strdup_printf ("%s|%s|%" G_GUINT64_FORMAT, gateway_id, self->nonce, conn_id);
}

static ImpRedisOp *
presence_op (ImpCacheRedis *self, ImpRedisOpKind kind, gint64 user_id, const char *gateway_id,
             guint64 conn_id)
{
  ImpRedisOp *op = op_new (kind);

  op->key = presence_key (self, user_id);
  op->key2 = last_seen_key (self, user_id);
  op->field = presence_field (self, gateway_id, conn_id);
  return op;
}

/* ---- the interface ---- */

static void
redis_presence_add (ImpCache *base, gint64 user_id, const char *gateway_id, guint64 conn_id,
                    gint64 ttl_ms)
{
  ImpCacheRedis *self = (ImpCacheRedis *) base;
  ImpRedisOp *op;

  if (!id_ok (gateway_id))
    {
      g_debug ("redis cache: presence add with a bad gateway id ignored");
      return;
    }
  op = presence_op (self, IMP_REDIS_OP_PRESENCE_ADD, user_id, gateway_id, conn_id);
  /* At most a year: keeps the Lua arithmetic exact. */
  op->num = CLAMP (ttl_ms, 0, G_GINT64_CONSTANT (365) * 24 * 3600 * 1000);
  post_write (self, op);
}

static void
redis_presence_remove (ImpCache *base, gint64 user_id, const char *gateway_id, guint64 conn_id)
{
  ImpCacheRedis *self = (ImpCacheRedis *) base;

  if (!id_ok (gateway_id))
    return;
  post_write (self, presence_op (self, IMP_REDIS_OP_PRESENCE_REMOVE, user_id, gateway_id, conn_id));
}

static ImpRedisWaiter *
scan (ImpCacheRedis *self, gint64 user_id)
{
  ImpRedisOp *op = op_new (IMP_REDIS_OP_SCAN);

  op->key = presence_key (self, user_id);
  op->key2 = last_seen_key (self, user_id);
  return run_read (self, op);
}

/* Unknown is NULL: imp_cache_presence_lookup () callers (the message worker) then push to every
 * live gateway; imp_cache_presence_gateways () reads it as "no gateway". */
static GStrv
redis_presence_gateways (ImpCache *base, gint64 user_id)
{
  ImpRedisWaiter *waiter = scan ((ImpCacheRedis *) base, user_id);
  GStrv gateways;

  if (waiter == NULL)
    return NULL;
  gateways = g_steal_pointer (&waiter->gateways);
  imp_redis_waiter_unref (waiter);
  return gateways != NULL ? gateways : g_new0 (char *, 1);
}

/* Online: Redis' now. Offline: the latest moment a connection was known alive. */
static gboolean
redis_presence_last_seen (ImpCache *base, gint64 user_id, gint64 *out_ms)
{
  ImpRedisWaiter *waiter = scan ((ImpCacheRedis *) base, user_id);
  gboolean found;
  gint64 when;

  if (waiter == NULL)
    return FALSE;
  if (waiter->gateways != NULL && waiter->gateways[0] != NULL)
    when = waiter->now_ms;
  else
    when = MIN (waiter->last_seen_ms, waiter->now_ms);
  found = when >= 0;
  imp_redis_waiter_unref (waiter);
  if (found && out_ms != NULL)
    *out_ms = when;
  return found;
}

static void
redis_token_revoke (ImpCache *base, const char *token_id, gint64 expires_s)
{
  ImpCacheRedis *self = (ImpCacheRedis *) base;
  ImpRedisOp *op;

  /* Past its token's expiry a revocation is pointless (and SET EXAT would refuse it). */
  if (!id_ok (token_id) || expires_s <= imp_now_s ())
    return;
  op = op_new (IMP_REDIS_OP_TOKEN_REVOKE);
  op->key = g_strdup_printf ("%srevoked:%s", self->prefix, token_id);
  op->num = expires_s;
  post_write (self, op);
}

static int
redis_token_is_revoked (ImpCache *base, const char *token_id)
{
  ImpCacheRedis *self = (ImpCacheRedis *) base;
  ImpRedisWaiter *waiter;
  ImpRedisOp *op;
  int revoked;

  if (!id_ok (token_id))
    return 0;
  op = op_new (IMP_REDIS_OP_TOKEN_CHECK);
  op->key = g_strdup_printf ("%srevoked:%s", self->prefix, token_id);
  waiter = run_read (self, op);
  if (waiter == NULL)
    return -1;
  revoked = waiter->revoked;
  imp_redis_waiter_unref (waiter);
  return revoked;
}

static char *
gateways_key (ImpCacheRedis *self)
{
  return g_strdup_printf ("%sgateways", self->prefix);
}

/* Field = gateway id; value "<expiry ms>\n<connections>\n<tcp>\n<ws>" (imp_cache_gateway_announce
 * has refused newlines in the parts). */
static void
redis_gateway_announce (ImpCache *base, const char *gateway_id, const char *tcp_address,
                        const char *ws_url, guint n_connections, gint64 ttl_ms)
{
  ImpCacheRedis *self = (ImpCacheRedis *) base;
  ImpRedisOp *op = op_new (IMP_REDIS_OP_GATEWAY_ANNOUNCE);

  op->key = gateways_key (self);
  op->field = g_strdup (gateway_id);
  op->key2 = g_strdup_printf ("%u\n%s\n%s", n_connections, tcp_address, ws_url);
  op->num = CLAMP (ttl_ms, 0, G_GINT64_CONSTANT (24) * 3600 * 1000);
  post_write (self, op);
}

static GPtrArray *
redis_gateways_live (ImpCache *base)
{
  ImpCacheRedis *self = (ImpCacheRedis *) base;
  ImpRedisOp *op = op_new (IMP_REDIS_OP_GATEWAYS);
  ImpRedisWaiter *waiter;
  GPtrArray *list;

  op->key = gateways_key (self);
  waiter = run_read (self, op);
  if (waiter == NULL || waiter->infos == NULL)
    {
      imp_redis_waiter_unref (waiter);
      return g_ptr_array_new_with_free_func ((GDestroyNotify) imp_gateway_info_free);
    }
  list = g_steal_pointer (&waiter->infos);
  imp_redis_waiter_unref (waiter);
  return list;
}

static guint
redis_generation (ImpCache *base)
{
  return (guint) g_atomic_int_get (&((ImpCacheRedis *) base)->generation);
}

static void
redis_free (ImpCache *base)
{
  ImpCacheRedis *self = (ImpCacheRedis *) base;
  ImpRedisOp *op;

  /* The thread flushes what is queued before STOP (a graceful disconnect), then quits. */
  post (self, op_new (IMP_REDIS_OP_STOP), TRUE);
  g_thread_join (self->thread);
  while ((op = g_queue_pop_head (&self->queue)) != NULL)
    imp_redis_op_fail (self, op);

  g_source_destroy (self->wake);
  g_source_unref (self->wake);
  g_main_loop_unref (self->loop);
  g_main_context_unref (self->context);
  g_mutex_clear (&self->queue_lock);
  g_mutex_clear (&self->state_lock);
  g_cond_clear (&self->state_cond);
  g_free (self->host);
  g_free (self->prefix);
  if (self->password != NULL)
    explicit_bzero (self->password, strlen (self->password));
  g_free (self->password);
  g_free (self);
}

static const ImpCacheVTable redis_vtable = {
  .name = "redis",
  .free = redis_free,
  .presence_add = redis_presence_add,
  .presence_remove = redis_presence_remove,
  .presence_gateways = redis_presence_gateways,
  .presence_last_seen = redis_presence_last_seen,
  .token_revoke = redis_token_revoke,
  .token_is_revoked = redis_token_is_revoked,
  .gateway_announce = redis_gateway_announce,
  .gateways_live = redis_gateways_live,
  .generation = redis_generation,
};

/* ---- construction ---- */

static gboolean
wake_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  g_source_set_ready_time (source, -1);
  return callback (user_data);
}

static GSourceFuncs wake_funcs = {
  .dispatch = wake_dispatch,
};

static gboolean
prefix_ok (const char *prefix)
{
  if (strlen (prefix) > IMP_REDIS_MAX_ID_LEN)
    return FALSE;
  for (const char *p = prefix; *p != '\0'; p++)
    if (!g_ascii_isgraph (*p))
      return FALSE;
  return TRUE;
}

ImpCache *
imp_cache_redis_new (const char *host, guint port, const char *key_prefix, GError **error)
{
  return imp_cache_redis_new_full (host, port, key_prefix, NULL, error);
}

ImpCache *
imp_cache_redis_new_full (const char *host, guint port, const char *key_prefix,
                          const char *password, GError **error)
{
  ImpCacheRedis *self;

  if (key_prefix == NULL)
    key_prefix = "implus:";
  if (host == NULL || host[0] == '\0' || strlen (host) > 255 || port == 0 || port > 65535)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "redis cache: host must be a name or address and port in 1..65535");
      return NULL;
    }
  if (!prefix_ok (key_prefix))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "redis cache: the key prefix must be printable ASCII without spaces, "
                   "at most %d bytes", IMP_REDIS_MAX_ID_LEN);
      return NULL;
    }

  self = g_new0 (ImpCacheRedis, 1);
  self->parent.vt = &redis_vtable;
  self->host = g_strdup (host);
  self->port = port;
  self->prefix = g_strdup (key_prefix);
  if (password != NULL && password[0] != '\0')
    self->password = g_strdup (password);
  self->read_timeout_ms = IMP_REDIS_READ_TIMEOUT_MS;
  g_snprintf (self->nonce, sizeof self->nonce, "%08x%08x", g_random_int (), g_random_int ());
  g_mutex_init (&self->queue_lock);
  g_queue_init (&self->queue);
  g_mutex_init (&self->state_lock);
  g_cond_init (&self->state_cond);
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->wake = g_source_new (&wake_funcs, sizeof (GSource));
  g_source_set_callback (self->wake, imp_redis_thread_drain, self, NULL);
  g_source_set_name (self->wake, "imp-cache-redis wake");
  g_source_attach (self->wake, self->context);
  /* Connecting happens on the thread; an unreachable Redis is retried there, never fatal. */
  self->thread = g_thread_new ("imp-cache-redis", imp_redis_thread_main, self);
  return &self->parent;
}

/* ---- extras ---- */

static ImpCacheRedis *
as_redis (ImpCache *cache)
{
  if (cache == NULL || cache->vt != &redis_vtable)
    return NULL;
  return (ImpCacheRedis *) cache;
}

gboolean
imp_cache_redis_get_stats (ImpCache *cache, ImpCacheRedisStats *out)
{
  ImpCacheRedis *self = as_redis (cache);

  if (self == NULL)
    return FALSE;
  g_mutex_lock (&self->state_lock);
  *out = self->stats;
  g_mutex_unlock (&self->state_lock);
  return TRUE;
}

void
imp_cache_redis_set_read_timeout (ImpCache *cache, guint timeout_ms)
{
  ImpCacheRedis *self = as_redis (cache);

  g_return_if_fail (self != NULL);
  g_atomic_int_set (&self->read_timeout_ms, CLAMP (timeout_ms, 1, 60000));
}

gboolean
imp_cache_redis_wait_connected (ImpCache *cache, gboolean connected, gint64 timeout_ms)
{
  ImpCacheRedis *self = as_redis (cache);
  gint64 deadline = g_get_monotonic_time () + timeout_ms * 1000;
  gboolean reached;

  g_return_val_if_fail (self != NULL, FALSE);
  g_mutex_lock (&self->state_lock);
  while (self->stats.connected != !!connected)
    if (!g_cond_wait_until (&self->state_cond, &self->state_lock, deadline))
      break;
  reached = self->stats.connected == !!connected;
  g_mutex_unlock (&self->state_lock);
  return reached;
}

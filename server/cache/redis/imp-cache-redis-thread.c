/* imp-cache-redis-thread.c: the Redis cache's own thread. It owns the one hiredis async
 * context, attached to its GMainContext through hiredis' GLib adapter, turns queued ops into
 * commands (pipelined on the one connection, so one process's writes are applied in order and a
 * read sees the writes queued before it), and reconnects with backoff when Redis goes away.
 *
 * Presence scripts run in Redis (EVAL) so that read-modify-write steps are atomic and every
 * expiry is measured on Redis' clock, the one clock all gateways share. */
#include "cache/redis/imp-cache-redis-private.h"

#include <hiredis/adapters/glib.h>
#include <string.h>

/* KEYS: presence hash, last-seen string. ARGV: field, ttl ms, last-seen ttl ms.
 * Sets the field's expiry, keeps the hash alive as long as its longest entry, and records the
 * latest known-alive moment as last seen. A ttl of 0 removes the entry. */
static const char ADD_SCRIPT[] =
  "local t = redis.call('TIME')\n"
  "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
  "local ttl = tonumber(ARGV[2])\n"
  "if ttl > 0 then\n"
  "  redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now + ttl))\n"
  "  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end\n"
  "elseif redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then\n"
  "  return 0\n"
  "end\n"
  "local seen = now\n"
  "for _, v in ipairs(redis.call('HVALS', KEYS[1])) do\n"
  "  local e = tonumber(v)\n"
  "  if e and e > seen then seen = e end\n"
  "end\n"
  "redis.call('SET', KEYS[2], string.format('%.0f', seen), 'PX', ARGV[3])\n"
  "return 1\n";

/* KEYS: presence hash, last-seen string. ARGV: field, last-seen ttl ms.
 * Compare-and-delete: only this exact field goes (the field names the process and the
 * connection). Last seen = the removed entry's end, or a longer-lived remaining entry's. */
static const char REMOVE_SCRIPT[] =
  "local exp = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '')\n"
  "if not exp then return 0 end\n"
  "redis.call('HDEL', KEYS[1], ARGV[1])\n"
  "local t = redis.call('TIME')\n"
  "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
  "local seen = math.min(now, exp)\n"
  "for _, v in ipairs(redis.call('HVALS', KEYS[1])) do\n"
  "  local e = tonumber(v)\n"
  "  if e and e > seen then seen = e end\n"
  "end\n"
  "redis.call('SET', KEYS[2], string.format('%.0f', seen), 'PX', ARGV[2])\n"
  "return 1\n";

/* KEYS: presence hash, last-seen string. Returns {now ms, last seen ms or -1, gateway...}:
 * the distinct gateways of live entries; expired entries are deleted on the way. */
static const char SCAN_SCRIPT[] =
  "local t = redis.call('TIME')\n"
  "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
  "local all = redis.call('HGETALL', KEYS[1])\n"
  "local out = {now, -1}\n"
  "local seen = {}\n"
  "local dead = {}\n"
  "for i = 1, #all, 2 do\n"
  "  local e = tonumber(all[i + 1]) or 0\n"
  "  if e > now then\n"
  "    local gw = string.match(all[i], '^(.+)|[^|]*|[^|]*$')\n"
  "    if gw and not seen[gw] then seen[gw] = true; out[#out + 1] = gw end\n"
  "  else\n"
  "    dead[#dead + 1] = all[i]\n"
  "  end\n"
  "end\n"
  "for i = 1, #dead, 256 do\n"
  "  redis.call('HDEL', KEYS[1], unpack(dead, i, math.min(i + 255, #dead)))\n"
  "end\n"
  "local ls = tonumber(redis.call('GET', KEYS[2]) or '')\n"
  "if ls then out[2] = ls end\n"
  "return out\n";

/* KEYS: the registry hash. ARGV: gateway id, ttl ms, "<connections>\n<tcp>\n<ws>".
 * The value starts with the expiry on Redis' clock; ttl 0 withdraws the gateway. Returns 2 when
 * the entry was missing (a first announce, or Redis lost it: the cache's generation moves). */
static const char ANNOUNCE_SCRIPT[] =
  "local t = redis.call('TIME')\n"
  "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
  "local ttl = tonumber(ARGV[2])\n"
  "if ttl <= 0 then return redis.call('HDEL', KEYS[1], ARGV[1]) end\n"
  "local added = redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now + ttl) .. '\\n' .. ARGV[3])\n"
  "if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end\n"
  "if added == 1 then return 2 end\n"
  "return 1\n";

/* KEYS: the registry hash. Returns {id, value, id, value, ...} of the live gateways and deletes
 * the lapsed ones (atomically: never one an announcement just refreshed). */
static const char GATEWAYS_SCRIPT[] =
  "local t = redis.call('TIME')\n"
  "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
  "local all = redis.call('HGETALL', KEYS[1])\n"
  "local out = {}\n"
  "local dead = {}\n"
  "for i = 1, #all, 2 do\n"
  "  local e = tonumber(string.match(all[i + 1], '^(%d+)')) or 0\n"
  "  if e > now then out[#out + 1] = all[i]; out[#out + 1] = all[i + 1]\n"
  "  else dead[#dead + 1] = all[i] end\n"
  "end\n"
  "for i = 1, #dead, 256 do\n"
  "  redis.call('HDEL', KEYS[1], unpack(dead, i, math.min(i + 255, #dead)))\n"
  "end\n"
  "return out\n";

static void start_connect (ImpCacheRedis *self);
static void on_ready (ImpCacheRedis *self);
static void on_auth_failed (ImpCacheRedis *self, const redisReply *reply);

static void
clear_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static GSource *
add_timer (ImpCacheRedis *self, guint ms, GSourceFunc func)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, func, self, NULL);
  g_source_attach (source, self->context);
  return source;
}

/* ---- replies ---- */

static gboolean
reply_integer (const redisReply *reply, gint64 *out)
{
  if (reply->type != REDIS_REPLY_INTEGER)
    return FALSE;
  *out = reply->integer;
  return TRUE;
}

static gboolean
parse_scan (const redisReply *reply, ImpRedisWaiter *waiter)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
      || reply->elements > 2 + IMP_REDIS_MAX_GATEWAYS
      || !reply_integer (reply->element[0], &waiter->now_ms)
      || !reply_integer (reply->element[1], &waiter->last_seen_ms))
    return FALSE;
  for (size_t i = 2; i < reply->elements; i++)
    {
      const redisReply *gw = reply->element[i];

      if (gw->type != REDIS_REPLY_STRING || gw->len == 0 || gw->len > IMP_REDIS_MAX_ID_LEN
          || memchr (gw->str, '\0', gw->len) != NULL)
        return FALSE;
      g_strv_builder_add (builder, gw->str);
    }
  waiter->gateways = g_strv_builder_end (builder);
  return TRUE;
}

static gboolean
parse_gateways (const redisReply *reply, ImpRedisWaiter *waiter)
{
  g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_gateway_info_free);

  if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0
      || reply->elements > 2 * IMP_REDIS_MAX_GATEWAYS)
    return FALSE;
  for (size_t i = 0; i < reply->elements; i += 2)
    {
      const redisReply *id = reply->element[i];
      const redisReply *value = reply->element[i + 1];
      g_auto(GStrv) parts = NULL;
      ImpGatewayInfo *info;
      gint64 expires;
      guint64 n;

      if (id->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING
          || id->len == 0 || id->len > IMP_REDIS_MAX_ID_LEN || value->len > 4 * IMP_REDIS_MAX_ID_LEN
          || memchr (id->str, '\0', id->len) != NULL || memchr (value->str, '\0', value->len) != NULL)
        return FALSE;
      parts = g_strsplit (value->str, "\n", 4);
      if (g_strv_length (parts) != 4
          || !g_ascii_string_to_signed (parts[0], 10, 0, G_MAXINT64, &expires, NULL)
          || !g_ascii_string_to_unsigned (parts[1], 10, 0, G_MAXUINT, &n, NULL))
        return FALSE;
      info = g_new0 (ImpGatewayInfo, 1);
      info->gateway_id = g_strdup (id->str);
      info->expires_ms = expires;
      info->n_connections = (guint) n;
      info->tcp_address = g_strdup (parts[2]);
      info->ws_url = g_strdup (parts[3]);
      g_ptr_array_add (list, info);
    }
  waiter->infos = g_steal_pointer (&list);
  return TRUE;
}

static gboolean
complete_op (ImpCacheRedis *self, ImpRedisOp *op, const redisReply *reply)
{
  gint64 n;

  switch (op->kind)
    {
    case IMP_REDIS_OP_SCAN:
      if (!parse_scan (reply, op->waiter))
        return FALSE;
      imp_redis_waiter_complete (op->waiter, TRUE);
      return TRUE;
    case IMP_REDIS_OP_GATEWAYS:
      if (!parse_gateways (reply, op->waiter))
        return FALSE;
      imp_redis_waiter_complete (op->waiter, TRUE);
      return TRUE;
    case IMP_REDIS_OP_TOKEN_CHECK:
      if (!reply_integer (reply, &n))
        return FALSE;
      op->waiter->revoked = n > 0;
      imp_redis_waiter_complete (op->waiter, TRUE);
      return TRUE;
    case IMP_REDIS_OP_GATEWAY_ANNOUNCE:
      if (reply_integer (reply, &n) && n == 2)
        g_atomic_int_inc (&self->generation);
      return TRUE;
    case IMP_REDIS_OP_PING:
      if (reply->type != REDIS_REPLY_STATUS)
        return FALSE;
      on_ready (self);
      return TRUE;
    default:
      return TRUE;
    }
}

static void
on_reply (redisAsyncContext *ac, void *r, void *privdata)
{
  ImpCacheRedis *self = ac->data;
  ImpRedisOp *op = privdata;
  redisReply *reply = r;

  if (self->inflight > 0)
    self->inflight--;
  self->last_progress_us = g_get_monotonic_time ();
  /* NULL: the connection went away (or is being freed) before the reply. */
  if (reply == NULL)
    {
      imp_redis_op_fail (self, op);
      return;
    }
  if (op->kind == IMP_REDIS_OP_AUTH)
    {
      /* Anything but +OK: this connection goes, before a command of ours could run on it. */
      if (reply->type != REDIS_REPLY_STATUS)
        on_auth_failed (self, reply);
      imp_redis_op_free (op);
      return;
    }
  if (reply->type == REDIS_REPLY_ERROR || !complete_op (self, op, reply))
    {
      g_mutex_lock (&self->state_lock);
      self->stats.error_replies++;
      g_mutex_unlock (&self->state_lock);
      /* Error texts name a command or script line, never our keys' values. */
      g_message ("redis cache: unexpected reply (op %d): %.*s", op->kind,
                 reply->type == REDIS_REPLY_ERROR ? (int) MIN (reply->len, 200) : 0,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "");
      if (op->waiter != NULL)
        imp_redis_waiter_complete (op->waiter, FALSE);
    }
  imp_redis_op_free (op);
}

/* ---- commands ---- */

static gboolean
issue (ImpCacheRedis *self, ImpRedisOp *op)
{
  const char *argv[8];
  size_t lens[8];
  char num[32], ttl[32];
  int argc = 0;

#define ARG(s) (argv[argc] = (s), lens[argc] = strlen (argv[argc]), argc++)
  g_snprintf (num, sizeof num, "%" G_GINT64_FORMAT, op->num);
  g_snprintf (ttl, sizeof ttl, "%" G_GINT64_FORMAT, IMP_REDIS_LAST_SEEN_TTL_MS);
  switch (op->kind)
    {
    case IMP_REDIS_OP_PING:
      ARG ("PING");
      break;
    case IMP_REDIS_OP_AUTH:
      ARG ("AUTH"), ARG (self->password);
      break;
    case IMP_REDIS_OP_PRESENCE_ADD:
      ARG ("EVAL"), ARG (ADD_SCRIPT), ARG ("2"), ARG (op->key), ARG (op->key2);
      ARG (op->field), ARG (num), ARG (ttl);
      break;
    case IMP_REDIS_OP_PRESENCE_REMOVE:
      ARG ("EVAL"), ARG (REMOVE_SCRIPT), ARG ("2"), ARG (op->key), ARG (op->key2);
      ARG (op->field), ARG (ttl);
      break;
    case IMP_REDIS_OP_SCAN:
      ARG ("EVAL"), ARG (SCAN_SCRIPT), ARG ("2"), ARG (op->key), ARG (op->key2);
      break;
    case IMP_REDIS_OP_TOKEN_REVOKE:
      ARG ("SET"), ARG (op->key), ARG ("1"), ARG ("EXAT"), ARG (num);
      break;
    case IMP_REDIS_OP_TOKEN_CHECK:
      ARG ("EXISTS"), ARG (op->key);
      break;
    case IMP_REDIS_OP_GATEWAY_ANNOUNCE:
      ARG ("EVAL"), ARG (ANNOUNCE_SCRIPT), ARG ("1"), ARG (op->key), ARG (op->field);
      ARG (num), ARG (op->key2);
      break;
    case IMP_REDIS_OP_GATEWAYS:
      ARG ("EVAL"), ARG (GATEWAYS_SCRIPT), ARG ("1"), ARG (op->key);
      break;
    case IMP_REDIS_OP_STOP:
      g_assert_not_reached ();
    }
#undef ARG
  if (redisAsyncCommandArgv (self->ac, on_reply, op, argc, argv, lens) != REDIS_OK)
    return FALSE;
  if (self->inflight++ == 0)
    self->last_progress_us = g_get_monotonic_time ();
  return TRUE;
}

/* Sends a command that carries nothing of an op (PING, AUTH); FALSE when hiredis refused it. */
static gboolean
issue_kind (ImpCacheRedis *self, ImpRedisOpKind kind)
{
  ImpRedisOp *op = g_new0 (ImpRedisOp, 1);

  op->kind = kind;
  if (issue (self, op))
    return TRUE;
  imp_redis_op_free (op);
  return FALSE;
}

/* ---- connection ---- */

static gboolean
on_reconnect_timer (gpointer data)
{
  ImpCacheRedis *self = data;

  g_clear_pointer (&self->reconnect_timer, g_source_unref);
  start_connect (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (ImpCacheRedis *self)
{
  guint delay = IMP_REDIS_BACKOFF_MAX_MS;

  if (self->stopping || self->reconnect_timer != NULL)
    return;
  if (self->backoff_step < 8)
    delay = MIN (IMP_REDIS_BACKOFF_MIN_MS << self->backoff_step, IMP_REDIS_BACKOFF_MAX_MS);
  self->backoff_step++;
  /* Jitter, so the gateways of a cluster do not all reconnect in the same millisecond. */
  delay += g_random_int_range (0, delay / 4 + 1);
  self->reconnect_timer = add_timer (self, delay, on_reconnect_timer);
}

static void
note_outage (ImpCacheRedis *self, const char *why)
{
  if (self->outage_logged)
    {
      g_debug ("redis cache: %s:%u still unreachable: %s", self->host, self->port, why);
      return;
    }
  self->outage_logged = TRUE;
  g_message ("redis cache: %s:%u unreachable (%s); retrying with backoff, "
             "writes are dropped meanwhile", self->host, self->port, why);
}

/* AUTH refused (WRONGPASS, NOAUTH, ERR): an outage like any other, retried with backoff. Redis'
 * error text never contains the password, and the AUTH command itself is never logged. */
static void
on_auth_failed (ImpCacheRedis *self, const redisReply *reply)
{
  const char *text = "unexpected reply";
  int len = (int) strlen (text);

  if (reply->type == REDIS_REPLY_ERROR)
    {
      text = reply->str;
      len = (int) MIN (reply->len, 200);
    }
  g_mutex_lock (&self->state_lock);
  self->stats.error_replies++;
  g_mutex_unlock (&self->state_lock);
  if (self->auth_failure_logged)
    g_debug ("redis cache: authentication to %s:%u failed again: %.*s", self->host, self->port,
             len, text);
  else
    g_message ("redis cache: authentication to %s:%u failed: %.*s", self->host, self->port,
               len, text);
  self->auth_failure_logged = TRUE;
  /* The close that follows is this outage: no second "unreachable" line for it. */
  self->outage_logged = TRUE;
  /* Called from a reply callback: hiredis frees after it returns, failing the commands queued
   * behind AUTH, and on_ev_cleanup schedules the retry. */
  redisAsyncFree (self->ac);
}

/* Every end of a context goes through here (hiredis' event-library cleanup hook, called from
 * __redisAsyncFree after the pending callbacks got their NULL replies). */
static void
on_ev_cleanup (void *privdata)
{
  RedisSource *source = privdata;
  redisAsyncContext *ac = source->ac;   /* still valid: hiredis frees it after this hook */
  ImpCacheRedis *self = ac->data;

  redis_source_cleanup (privdata);
  /* The adapter's dispatch handles write before read: a context freed while writing must not
   * be read from afterwards. */
  source->poll_fd.revents = 0;
  clear_source (&self->ac_source);
  clear_source (&self->connect_timer);
  clear_source (&self->stall_timer);
  self->ac = NULL;
  self->inflight = 0;
  imp_redis_set_connected (self, FALSE);
  if (self->stopping)
    {
      g_main_loop_quit (self->loop);
      return;
    }
  note_outage (self, ac->c.err != 0 ? ac->c.errstr : "connection closed");
  schedule_reconnect (self);
}

static gboolean
on_stall_timer (gpointer data)
{
  ImpCacheRedis *self = data;

  if (self->ac == NULL || self->inflight == 0
      || g_get_monotonic_time () - self->last_progress_us < IMP_REDIS_STALL_MS * 1000)
    return G_SOURCE_CONTINUE;
  g_message ("redis cache: no reply for %d ms with %u commands out; reconnecting",
             IMP_REDIS_STALL_MS, self->inflight);
  redisAsyncFree (self->ac);  /* runs on_ev_cleanup, which destroys this timer */
  return G_SOURCE_REMOVE;
}

static gboolean
on_connect_timer (gpointer data)
{
  ImpCacheRedis *self = data;

  g_clear_pointer (&self->connect_timer, g_source_unref);
  if (self->ac != NULL)
    redisAsyncFree (self->ac);
  return G_SOURCE_REMOVE;
}

/* The first PING answered: Redis is up and serving (a stopped server may still complete the
 * TCP handshake, so the connect callback alone proves little). */
static void
on_ready (ImpCacheRedis *self)
{
  guint64 dropped;

  clear_source (&self->connect_timer);
  self->backoff_step = 0;
  self->stall_timer = add_timer (self, 1000, on_stall_timer);
  imp_redis_set_connected (self, TRUE);
  g_mutex_lock (&self->state_lock);
  dropped = self->stats.writes_dropped - self->dropped_at_outage;
  self->dropped_at_outage = self->stats.writes_dropped;
  g_mutex_unlock (&self->state_lock);
  if (self->outage_logged)
    g_message ("redis cache: reconnected to %s:%u; %" G_GUINT64_FORMAT " writes dropped during "
               "the outage (presence heals with the next heartbeats)", self->host, self->port, dropped);
  else
    g_message ("redis cache: connected to %s:%u", self->host, self->port);
  self->outage_logged = FALSE;
  self->auth_failure_logged = FALSE;
}

static void
start_connect (ImpCacheRedis *self)
{
  redisAsyncContext *ac;
  GSource *source;

  if (self->stopping || self->ac != NULL)
    return;
  /* Name resolution blocks, but only this thread. */
  ac = redisAsyncConnect (self->host, (int) self->port);
  if (ac == NULL || ac->c.err != 0)
    {
      note_outage (self, ac != NULL ? ac->c.errstr : "out of memory");
      if (ac != NULL)
        redisAsyncFree (ac);
      schedule_reconnect (self);
      return;
    }
  ac->data = self;
  source = redis_source_new (ac);
  ac->ev.cleanup = on_ev_cleanup;
  g_source_set_name (source, "imp-cache-redis connection");
  g_source_attach (source, self->context);
  self->ac = ac;
  self->ac_source = source;
  self->connect_timer = add_timer (self, IMP_REDIS_CONNECT_TIMEOUT_MS, on_connect_timer);
  /* AUTH first: hiredis sends in order and Redis refuses everything after a failed AUTH, so
   * nothing of ours runs unauthenticated. Up once PING is answered (on_ready); the connect
   * timer covers connect, AUTH and PING. */
  if ((self->password != NULL && !issue_kind (self, IMP_REDIS_OP_AUTH))
      || !issue_kind (self, IMP_REDIS_OP_PING))
    redisAsyncFree (ac);
}

/* ---- the thread ---- */

static gboolean
on_stop_timer (gpointer data)
{
  ImpCacheRedis *self = data;

  g_clear_pointer (&self->stop_timer, g_source_unref);
  if (self->ac != NULL)
    redisAsyncFree (self->ac);
  else
    g_main_loop_quit (self->loop);
  return G_SOURCE_REMOVE;
}

static void
begin_stop (ImpCacheRedis *self)
{
  self->stopping = TRUE;
  clear_source (&self->reconnect_timer);
  if (self->ac == NULL)
    {
      g_main_loop_quit (self->loop);
      return;
    }
  /* Graceful when connected: the writes already sent get their replies, then it closes. */
  self->stop_timer = add_timer (self, IMP_REDIS_CONNECT_TIMEOUT_MS, on_stop_timer);
  if (g_atomic_int_get (&self->up))
    redisAsyncDisconnect (self->ac);
  else
    redisAsyncFree (self->ac);
}

static void
run_op (ImpCacheRedis *self, ImpRedisOp *op)
{
  if (op->kind == IMP_REDIS_OP_STOP)
    {
      imp_redis_op_free (op);
      if (!self->stopping)
        begin_stop (self);
      return;
    }
  /* While connecting, hiredis buffers commands until the connection is up. */
  if (self->ac == NULL || self->stopping || self->inflight >= IMP_REDIS_MAX_INFLIGHT
      || !issue (self, op))
    imp_redis_op_fail (self, op);
}

gboolean
imp_redis_thread_drain (gpointer data)
{
  ImpCacheRedis *self = data;
  GQueue batch;
  ImpRedisOp *op;

  g_mutex_lock (&self->queue_lock);
  batch = self->queue;
  g_queue_init (&self->queue);
  g_mutex_unlock (&self->queue_lock);
  while ((op = g_queue_pop_head (&batch)) != NULL)
    run_op (self, op);
  return G_SOURCE_CONTINUE;
}

gpointer
imp_redis_thread_main (gpointer data)
{
  ImpCacheRedis *self = data;

  g_main_context_push_thread_default (self->context);
  start_connect (self);
  g_main_loop_run (self->loop);
  clear_source (&self->reconnect_timer);
  clear_source (&self->connect_timer);
  clear_source (&self->stall_timer);
  clear_source (&self->stop_timer);
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

/* imp-cache-memory.c: the in-memory cache of the embedded deployment. One mutex guards three
 * tables: presence (user -> live connections), last seen (user -> unix ms) and token revocations
 * (token id -> expiry). Expired entries are dropped when their user is touched and by a full
 * sweep every SWEEP_EVERY writes, so a table never keeps growing with dead entries.
 *
 * Presence expiry uses the monotonic clock (a wall-clock jump must not drop everyone);
 * last_seen is wall-clock time since clients show it. */
#include "cache/imp-cache.h"
#include "imp-time.h"

#define SWEEP_EVERY 4096

typedef struct {
  char   *gateway_id;
  guint64 conn_id;
  gint64  expires_mono_us;
} PresenceEntry;

typedef struct {
  ImpCache    parent;
  GMutex      lock;
  GHashTable *presence;   /* gint64 * -> GPtrArray of PresenceEntry */
  GHashTable *last_seen;  /* gint64 * -> gint64 * (unix ms) */
  GHashTable *revoked;    /* char * token id -> gint64 * (unix s) */
  GHashTable *gateways;   /* char * gateway id -> ImpGatewayInfo (expires_ms: unix ms) */
  guint       writes;
  gint64      skew_us;    /* added to both clocks (imp_cache_memory_advance, tests) */
} ImpCacheMemory;

static void
presence_entry_free (PresenceEntry *entry)
{
  g_free (entry->gateway_id);
  g_free (entry);
}

static gint64 *
int64_dup (gint64 v)
{
  return g_memdup2 (&v, sizeof v);
}

/* The clocks, under the lock: monotonic for expiry, wall for what clients are shown. */
static gint64
mono_us (ImpCacheMemory *self)
{
  return g_get_monotonic_time () + self->skew_us;
}

static gint64
now_ms (ImpCacheMemory *self)
{
  return imp_now_ms () + self->skew_us / 1000;
}

static gint64
now_s (ImpCacheMemory *self)
{
  return imp_now_s () + self->skew_us / G_USEC_PER_SEC;
}

static void
set_last_seen_locked (ImpCacheMemory *self, gint64 user_id, gint64 when_ms)
{
  g_hash_table_replace (self->last_seen, int64_dup (user_id), int64_dup (when_ms));
}

/* Drops expired entries of one user; removes the user when none is left. Returns the list or NULL. */
static GPtrArray *
presence_prune_locked (ImpCacheMemory *self, gint64 user_id, gint64 now_mono)
{
  GPtrArray *list = g_hash_table_lookup (self->presence, &user_id);
  gint64 last_expiry = 0;

  if (list == NULL)
    return NULL;
  for (guint i = list->len; i > 0; i--)
    {
      PresenceEntry *entry = g_ptr_array_index (list, i - 1);

      if (entry->expires_mono_us > now_mono)
        continue;
      last_expiry = MAX (last_expiry, entry->expires_mono_us);
      g_ptr_array_remove_index_fast (list, i - 1);
    }
  if (list->len > 0)
    return list;
  /* Gone by expiry: it was last seen when its last entry expired. */
  if (last_expiry > 0)
    set_last_seen_locked (self, user_id, now_ms (self) - (now_mono - last_expiry) / 1000);
  g_hash_table_remove (self->presence, &user_id);
  return NULL;
}

static void
sweep_locked (ImpCacheMemory *self)
{
  gint64 now_mono = mono_us (self);
  gint64 now_wall_s = now_s (self);
  g_autoptr(GArray) users = g_array_new (FALSE, FALSE, sizeof (gint64));
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->presence);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_array_append_val (users, *(gint64 *) key);
  for (guint i = 0; i < users->len; i++)
    presence_prune_locked (self, g_array_index (users, gint64, i), now_mono);

  g_hash_table_iter_init (&iter, self->revoked);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (*(gint64 *) value <= now_wall_s)
      g_hash_table_iter_remove (&iter);
}

static void
count_write_locked (ImpCacheMemory *self)
{
  if (++self->writes % SWEEP_EVERY == 0)
    sweep_locked (self);
}

static void
memory_presence_add (ImpCache *base, gint64 user_id, const char *gateway_id, guint64 conn_id,
                     gint64 ttl_ms)
{
  ImpCacheMemory *self = (ImpCacheMemory *) base;
  GPtrArray *list;
  PresenceEntry *entry = NULL;
  gint64 now_mono;

  g_mutex_lock (&self->lock);
  now_mono = mono_us (self);
  list = presence_prune_locked (self, user_id, now_mono);
  if (list == NULL)
    {
      list = g_ptr_array_new_with_free_func ((GDestroyNotify) presence_entry_free);
      g_hash_table_insert (self->presence, int64_dup (user_id), list);
    }
  for (guint i = 0; i < list->len && entry == NULL; i++)
    {
      PresenceEntry *e = g_ptr_array_index (list, i);

      if (e->conn_id == conn_id && g_str_equal (e->gateway_id, gateway_id))
        entry = e;
    }
  if (entry == NULL)
    {
      entry = g_new0 (PresenceEntry, 1);
      entry->gateway_id = g_strdup (gateway_id);
      entry->conn_id = conn_id;
      g_ptr_array_add (list, entry);
    }
  /* A refresh (heartbeat) only moves the expiry. */
  entry->expires_mono_us = now_mono + CLAMP (ttl_ms, 0, G_MAXINT32 * G_GINT64_CONSTANT (1000)) * 1000;
  if (ttl_ms <= 0)
    presence_prune_locked (self, user_id, now_mono);
  count_write_locked (self);
  g_mutex_unlock (&self->lock);
}

static void
memory_presence_remove (ImpCache *base, gint64 user_id, const char *gateway_id, guint64 conn_id)
{
  ImpCacheMemory *self = (ImpCacheMemory *) base;
  GPtrArray *list;

  g_mutex_lock (&self->lock);
  list = presence_prune_locked (self, user_id, mono_us (self));
  for (guint i = 0; list != NULL && i < list->len; i++)
    {
      PresenceEntry *e = g_ptr_array_index (list, i);

      if (e->conn_id != conn_id || !g_str_equal (e->gateway_id, gateway_id))
        continue;
      g_ptr_array_remove_index_fast (list, i);
      set_last_seen_locked (self, user_id, now_ms (self));
      if (list->len == 0)
        g_hash_table_remove (self->presence, &user_id);
      break;
    }
  count_write_locked (self);
  g_mutex_unlock (&self->lock);
}

static GStrv
memory_presence_gateways (ImpCache *base, gint64 user_id)
{
  ImpCacheMemory *self = (ImpCacheMemory *) base;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *list;

  g_mutex_lock (&self->lock);
  list = presence_prune_locked (self, user_id, mono_us (self));
  for (guint i = 0; list != NULL && i < list->len; i++)
    {
      PresenceEntry *e = g_ptr_array_index (list, i);

      if (g_hash_table_add (seen, e->gateway_id))
        g_strv_builder_add (builder, e->gateway_id);
    }
  g_mutex_unlock (&self->lock);
  return g_strv_builder_end (builder);
}

/* Online now: now. Otherwise when the last connection went away (removed or expired). */
static gboolean
memory_presence_last_seen (ImpCache *base, gint64 user_id, gint64 *out_ms)
{
  ImpCacheMemory *self = (ImpCacheMemory *) base;
  gboolean found = TRUE;
  gint64 when = 0;

  g_mutex_lock (&self->lock);
  if (presence_prune_locked (self, user_id, mono_us (self)) != NULL)
    when = now_ms (self);
  else
    {
      gint64 *stored = g_hash_table_lookup (self->last_seen, &user_id);

      found = stored != NULL;
      if (found)
        when = *stored;
    }
  g_mutex_unlock (&self->lock);
  if (found && out_ms != NULL)
    *out_ms = when;
  return found;
}

static void
memory_token_revoke (ImpCache *base, const char *token_id, gint64 expires_s)
{
  ImpCacheMemory *self = (ImpCacheMemory *) base;

  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->revoked, g_strdup (token_id), int64_dup (expires_s));
  count_write_locked (self);
  g_mutex_unlock (&self->lock);
}

/* An expired revocation reads as "not revoked": the token itself has expired by then. */
static int
memory_token_is_revoked (ImpCache *base, const char *token_id)
{
  ImpCacheMemory *self = (ImpCacheMemory *) base;
  gint64 *expires;
  int revoked;

  g_mutex_lock (&self->lock);
  expires = g_hash_table_lookup (self->revoked, token_id);
  revoked = expires != NULL && *expires > now_s (self);
  g_mutex_unlock (&self->lock);
  return revoked;
}

static void
memory_gateway_announce (ImpCache *base, const char *gateway_id, const char *tcp_address,
                         const char *ws_url, guint n_connections, gint64 ttl_ms)
{
  ImpCacheMemory *self = (ImpCacheMemory *) base;
  ImpGatewayInfo *info;

  g_mutex_lock (&self->lock);
  if (ttl_ms <= 0)
    g_hash_table_remove (self->gateways, gateway_id);
  else
    {
      info = g_new0 (ImpGatewayInfo, 1);
      info->gateway_id = g_strdup (gateway_id);
      info->tcp_address = g_strdup (tcp_address);
      info->ws_url = g_strdup (ws_url);
      info->n_connections = n_connections;
      info->expires_ms = now_ms (self) + ttl_ms;
      g_hash_table_replace (self->gateways, info->gateway_id, info);
    }
  g_mutex_unlock (&self->lock);
}

static GPtrArray *
memory_gateways_live (ImpCache *base)
{
  ImpCacheMemory *self = (ImpCacheMemory *) base;
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_gateway_info_free);
  GHashTableIter iter;
  ImpGatewayInfo *info;
  gint64 now;

  g_mutex_lock (&self->lock);
  now = now_ms (self);
  g_hash_table_iter_init (&iter, self->gateways);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &info))
    {
      ImpGatewayInfo *copy;

      /* A gateway that stopped announcing (crashed) lapses: few entries, pruned on read. */
      if (info->expires_ms <= now)
        {
          g_hash_table_iter_remove (&iter);
          continue;
        }
      copy = g_new0 (ImpGatewayInfo, 1);
      copy->gateway_id = g_strdup (info->gateway_id);
      copy->tcp_address = g_strdup (info->tcp_address);
      copy->ws_url = g_strdup (info->ws_url);
      copy->n_connections = info->n_connections;
      copy->expires_ms = info->expires_ms;
      g_ptr_array_add (list, copy);
    }
  g_mutex_unlock (&self->lock);
  return list;
}

static void
memory_free (ImpCache *base)
{
  ImpCacheMemory *self = (ImpCacheMemory *) base;

  g_hash_table_unref (self->gateways);
  g_hash_table_unref (self->presence);
  g_hash_table_unref (self->last_seen);
  g_hash_table_unref (self->revoked);
  g_mutex_clear (&self->lock);
  g_free (self);
}

static const ImpCacheVTable memory_vtable = {
  .name = "memory",
  .free = memory_free,
  .presence_add = memory_presence_add,
  .presence_remove = memory_presence_remove,
  .presence_gateways = memory_presence_gateways,
  .presence_last_seen = memory_presence_last_seen,
  .token_revoke = memory_token_revoke,
  .token_is_revoked = memory_token_is_revoked,
  .gateway_announce = memory_gateway_announce,
  .gateways_live = memory_gateways_live,
};

ImpCache *
imp_cache_memory_new (void)
{
  ImpCacheMemory *self = g_new0 (ImpCacheMemory, 1);

  self->parent.vt = &memory_vtable;
  g_mutex_init (&self->lock);
  self->presence = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                          (GDestroyNotify) g_ptr_array_unref);
  self->last_seen = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  self->revoked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->gateways = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify) imp_gateway_info_free);
  return &self->parent;
}

void
imp_cache_memory_advance (ImpCache *cache, gint64 ms)
{
  ImpCacheMemory *self = (ImpCacheMemory *) cache;

  g_return_if_fail (cache != NULL && ms >= 0);
  g_mutex_lock (&self->lock);
  self->skew_us += ms * 1000;
  g_mutex_unlock (&self->lock);
}

/* imp-cache.h: the cache interface (DESIGN §5): presence/routing, token revocation copies.
 * Memory (cache/memory/) and Redis (cache/redis/, distributed issue). Never the source of truth:
 * presence heals from heartbeats, revocations are also in the store.
 *
 * Calls are thread-safe. Writes may complete asynchronously; reads block (they are made from
 * worker threads, or are memory-fast in the embedded cache). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _ImpCache ImpCache;

/* One live gateway of the registry (docs/cache.md "Gateway registry"). */
typedef struct {
  char  *gateway_id;
  char  *tcp_address;    /* "host:port" clients dial */
  char  *ws_url;         /* "ws://host:port/path" */
  guint  n_connections;
  gint64 expires_ms;     /* unix ms (the cache's clock) when the entry lapses without a refresh */
} ImpGatewayInfo;

void imp_gateway_info_free (ImpGatewayInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpGatewayInfo, imp_gateway_info_free)

typedef struct {
  const char *name;
  void      (*free) (ImpCache *self);
  void      (*presence_add) (ImpCache *self, gint64 user_id, const char *gateway_id, guint64 conn_id,
                             gint64 ttl_ms);
  void      (*presence_remove) (ImpCache *self, gint64 user_id, const char *gateway_id, guint64 conn_id);
  GStrv     (*presence_gateways) (ImpCache *self, gint64 user_id);
  gboolean  (*presence_last_seen) (ImpCache *self, gint64 user_id, gint64 *out_ms);
  void      (*token_revoke) (ImpCache *self, const char *token_id, gint64 expires_s);
  int       (*token_is_revoked) (ImpCache *self, const char *token_id); /* 1, 0, -1 = unknown */
  void      (*gateway_announce) (ImpCache *self, const char *gateway_id, const char *tcp_address,
                                 const char *ws_url, guint n_connections, gint64 ttl_ms);
  GPtrArray *(*gateways_live) (ImpCache *self);
  /* Optional (NULL: always 0). */
  guint     (*generation) (ImpCache *self);
} ImpCacheVTable;

struct _ImpCache {
  const ImpCacheVTable *vt;
};

ImpCache *imp_cache_memory_new (void);
/* Tests: moves the memory cache's clocks forward by ms, so TTLs lapse without waiting. Only for
 * a cache from imp_cache_memory_new (). */
void      imp_cache_memory_advance (ImpCache *cache, gint64 ms);
#ifdef IMPLUS_HAVE_REDIS
/* Redis (hiredis) backend: keys start with key_prefix (NULL: "implus:"). Fails only for bad
 * arguments; an unreachable Redis is retried in the background (docs/cache.md). */
ImpCache *imp_cache_redis_new (const char *host, guint port, const char *key_prefix,
                               GError **error);
#endif

void      imp_cache_free (ImpCache *self);
/* Registers (or refreshes, from heartbeats) one connection of user_id on gateway_id. */
void      imp_cache_presence_add (ImpCache *self, gint64 user_id, const char *gateway_id,
                                  guint64 conn_id, gint64 ttl_ms);
/* Compare-and-delete: removes exactly that (gateway, conn) entry, never a newer connection's. */
void      imp_cache_presence_remove (ImpCache *self, gint64 user_id, const char *gateway_id,
                                     guint64 conn_id);
/* Gateways where user_id has at least one live connection; NULL-terminated, never NULL. */
GStrv     imp_cache_presence_gateways (ImpCache *self, gint64 user_id);
/* The same, but NULL when the cache cannot answer (Redis unreachable): the caller then does not
 * know where the user is, which is not the same as "offline" (the vtable's presence_gateways may
 * return NULL for that; imp_cache_presence_gateways turns it into an empty list). */
GStrv     imp_cache_presence_lookup (ImpCache *self, gint64 user_id);
/* Changes whenever the cache may have lost what was written to it (Redis reconnected after an
 * outage, or came back without this process' registry entry): writers of soft state (gateways:
 * presence of their connections) write it again when they see a new value. Memory: always 0. */
guint     imp_cache_generation (ImpCache *self);
gboolean  imp_cache_presence_last_seen (ImpCache *self, gint64 user_id, gint64 *out_ms);
void      imp_cache_token_revoke (ImpCache *self, const char *token_id, gint64 expires_s);
/* 1 revoked, 0 known not revoked... or simply not in the cache: callers that need certainty
 * after a cache loss also ask the store (ImpAuth does). -1: the cache is unreachable. */
int       imp_cache_token_is_revoked (ImpCache *self, const char *token_id);

/* Gateway registry: every gateway announces itself at start and every few seconds (ttl about
 * three announce periods); ttl_ms 0 withdraws it (clean shutdown). Ids and addresses are at most
 * 256 bytes of printable text (longer ones are ignored). */
void       imp_cache_gateway_announce (ImpCache *self, const char *gateway_id,
                                       const char *tcp_address, const char *ws_url,
                                       guint n_connections, gint64 ttl_ms);
/* The gateways whose announcement has not lapsed (ImpGatewayInfo), by gateway id; never NULL.
 * Empty when the cache cannot answer (Redis down): callers skip pushes, clients pull. */
GPtrArray *imp_cache_gateways_live (ImpCache *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpCache, imp_cache_free)

G_END_DECLS

/* imp-cache-redis.h: extras of the Redis cache that are not part of the ImpCache interface:
 * construction with a password, counters (for metrics and tests) and a wait for the connection
 * state (for tests).
 * imp_cache_redis_new () itself is declared in cache/imp-cache.h. */
#pragma once

#include "cache/imp-cache.h"

G_BEGIN_DECLS

typedef struct {
  gboolean connected;
  guint64  connects;        /* successful connections, the first one included */
  guint64  writes_dropped;  /* presence/revocation writes lost (outage, full queue) */
  guint64  reads_unknown;   /* reads answered "unknown" (disconnected, timed out, error) */
  guint64  reads_timed_out; /* ... of which ran into the read deadline */
  guint64  error_replies;   /* error replies from Redis */
} ImpCacheRedisStats;

/* imp_cache_redis_new () with a password: every connection sends AUTH first and counts as up
 * only once Redis accepted it. password NULL or "": no AUTH. The cache keeps its own copy. */
ImpCache *imp_cache_redis_new_full (const char *host, guint port, const char *key_prefix,
                                    const char *password, GError **error);

/* FALSE if cache is not a Redis cache. */
gboolean imp_cache_redis_get_stats (ImpCache *cache, ImpCacheRedisStats *out);
/* How long blocking reads wait for Redis before answering "unknown" (default
 * IMP_REDIS_READ_TIMEOUT_MS = 200; clamped to 1..60000). Any thread, any time. */
void     imp_cache_redis_set_read_timeout (ImpCache *cache, guint timeout_ms);
/* Waits until the connection is (or is not) up; FALSE when timeout_ms passed first. */
gboolean imp_cache_redis_wait_connected (ImpCache *cache, gboolean connected, gint64 timeout_ms);

G_END_DECLS

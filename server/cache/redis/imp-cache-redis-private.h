/* imp-cache-redis-private.h: shared between the callers' side (imp-cache-redis.c) and the
 * connection thread (imp-cache-redis-thread.c).
 *
 * Callers never touch hiredis: they queue an ImpRedisOp and, for reads, wait on its
 * ImpRedisWaiter with a deadline. Everything that touches the hiredis context runs on the
 * cache's own thread and GMainContext. */
#pragma once

#include "cache/redis/imp-cache-redis.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

G_BEGIN_DECLS

#define IMP_REDIS_READ_TIMEOUT_MS    200
#define IMP_REDIS_CONNECT_TIMEOUT_MS 1000
#define IMP_REDIS_STALL_MS           3000   /* no reply for this long with commands out: reconnect */
#define IMP_REDIS_BACKOFF_MIN_MS     50
#define IMP_REDIS_BACKOFF_MAX_MS     2000
#define IMP_REDIS_MAX_QUEUED         65536  /* ops waiting for the thread */
#define IMP_REDIS_MAX_INFLIGHT       65536  /* commands sent without a reply yet */
#define IMP_REDIS_MAX_ID_LEN         256    /* gateway ids, token ids, key prefix */
#define IMP_REDIS_MAX_GATEWAYS       1024   /* sanity bound on a reply */
#define IMP_REDIS_LAST_SEEN_TTL_MS   G_GINT64_CONSTANT (30 * 24 * 3600 * 1000)

typedef enum {
  IMP_REDIS_OP_PING,
  IMP_REDIS_OP_PRESENCE_ADD,
  IMP_REDIS_OP_PRESENCE_REMOVE,
  IMP_REDIS_OP_TOKEN_REVOKE,
  IMP_REDIS_OP_SCAN,          /* read: gateways + last seen of one user */
  IMP_REDIS_OP_TOKEN_CHECK,   /* read */
  IMP_REDIS_OP_GATEWAY_ANNOUNCE,
  IMP_REDIS_OP_GATEWAYS,      /* read: the live gateway registry */
  IMP_REDIS_OP_STOP,
  IMP_REDIS_OP_AUTH,          /* first on every connection when there is a password */
} ImpRedisOpKind;

/* One blocking read's rendezvous; shared by the caller and the thread, hence refcounted. */
typedef struct {
  gatomicrefcount ref;
  GMutex          lock;
  GCond           cond;
  gboolean        done;
  gboolean        ok;           /* FALSE: unknown */
  /* Results */
  GStrv           gateways;
  gint64          now_ms;
  gint64          last_seen_ms; /* -1: none stored */
  int             revoked;
  GPtrArray      *infos;        /* ImpGatewayInfo (IMP_REDIS_OP_GATEWAYS) */
} ImpRedisWaiter;

typedef struct _ImpCacheRedis ImpCacheRedis;

typedef struct {
  ImpRedisOpKind  kind;
  char           *key;
  char           *key2;
  char           *field;
  gint64          num;
  ImpRedisWaiter *waiter;       /* reads only; owned ref */
} ImpRedisOp;

struct _ImpCacheRedis {
  ImpCache      parent;

  /* Owned, immutable after new () */
  char         *host;
  guint         port;
  char         *prefix;
  char         *password;       /* NULL: no AUTH; zeroed when freed */
  char          nonce[17];      /* this instance's presence entries; see docs/cache.md */
  GThread      *thread;
  GMainContext *context;
  GMainLoop    *loop;
  GSource      *wake;           /* ready when ops are queued */
  gint          read_timeout_ms; /* atomic */

  /* Queue of ops for the thread, under queue_lock */
  GMutex        queue_lock;
  GQueue        queue;

  /* Connection state and counters, under state_lock; `up` mirrors connected for a lock-free
   * fast path of reads */
  GMutex        state_lock;
  GCond         state_cond;
  ImpCacheRedisStats stats;
  gint64        unknown_logged_us;
  gint          up;
  gint          generation;      /* atomic: imp_cache_generation () */

  /* Thread only */
  redisAsyncContext *ac;
  GSource      *ac_source;
  GSource      *reconnect_timer;
  GSource      *connect_timer;
  GSource      *stall_timer;
  GSource      *stop_timer;
  guint         backoff_step;
  guint         inflight;
  gint64        last_progress_us;
  guint64       dropped_at_outage; /* writes_dropped when last up */
  gboolean      outage_logged;
  gboolean      auth_failure_logged; /* once per outage, like outage_logged */
  gboolean      stopping;
};

ImpRedisWaiter *imp_redis_waiter_ref (ImpRedisWaiter *waiter);
void            imp_redis_waiter_unref (ImpRedisWaiter *waiter);
/* Thread side: hands the result over (or "unknown" when ok is FALSE) and wakes the caller. */
void            imp_redis_waiter_complete (ImpRedisWaiter *waiter, gboolean ok);

void            imp_redis_op_free (ImpRedisOp *op);
/* Counts a write as dropped, or answers a read "unknown". Frees op. */
void            imp_redis_op_fail (ImpCacheRedis *self, ImpRedisOp *op);

void            imp_redis_count_unknown (ImpCacheRedis *self, gboolean timed_out);
void            imp_redis_set_connected (ImpCacheRedis *self, gboolean connected);

/* The thread: runs self->loop on self->context until an IMP_REDIS_OP_STOP is processed. */
gpointer        imp_redis_thread_main (gpointer data);
/* Wake source dispatch: runs every queued op. */
gboolean        imp_redis_thread_drain (gpointer data);

G_END_DECLS

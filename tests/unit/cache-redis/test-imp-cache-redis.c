/* test-imp-cache-redis.c: the Redis cache against a real redis-server, started here on a free
 * loopback port with a throwaway directory (or IMPLUS_TEST_REDIS=host:port). Covers the same
 * contract as the memory cache (compare-and-delete, expiry, distinct gateways, last seen,
 * revocations, threads) plus what only a remote cache has: two processes, FLUSHALL and healing,
 * Redis killed and restarted, AUTH with a right and a wrong password. */
#include "cache/redis/imp-cache-redis.h"
#include "imp-error.h"
#include "imp-time.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define DEADLINE_US   (10 * G_USEC_PER_SEC)
#define CONNECT_MS    10000
/* Reads must answer within their 200 ms deadline; the margin absorbs slow sanitizer builds. */
#define UNKNOWN_MAX_US (1500 * 1000)

typedef struct {
  char  *host;
  guint  port;
  GPid   pid;      /* 0: external or not running */
  char  *dir;
  char  *password; /* NULL: no requirepass */
} RedisServer;

static RedisServer shared;   /* the server most tests use */
static char *redis_server_path;
static guint prefix_counter;

/* ---- the server ---- */

static guint
free_port (void)
{
  g_autoptr(GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                          G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_nonnull (sock);
  g_assert_true (g_socket_bind (sock, addr, TRUE, NULL));
  bound = g_socket_get_local_address (sock, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static redisContext *
sync_connect (const RedisServer *srv)
{
  struct timeval tv = { 0, 200 * 1000 };
  redisContext *c = redisConnectWithTimeout (srv->host, (int) srv->port, tv);

  if (c != NULL && c->err)
    g_clear_pointer (&c, redisFree);
  if (c != NULL && srv->password != NULL)
    {
      redisReply *reply = redisCommand (c, "AUTH %s", srv->password);
      gboolean ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;

      g_clear_pointer (&reply, freeReplyObject);
      if (!ok)
        g_clear_pointer (&c, redisFree);
    }
  return c;
}

/* One command on a fresh synchronous connection; the reply or NULL. */
static redisReply *
sync_command (const RedisServer *srv, const char *fmt, ...)
{
  redisContext *c = sync_connect (srv);
  redisReply *reply = NULL;
  va_list ap;

  if (c == NULL)
    return NULL;
  va_start (ap, fmt);
  reply = redisvCommand (c, fmt, ap);
  va_end (ap);
  redisFree (c);
  return reply;
}

static gboolean
server_answers (const RedisServer *srv)
{
  redisReply *reply = sync_command (srv, "PING");
  gboolean ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;

  if (reply != NULL)
    freeReplyObject (reply);
  return ok;
}

static void
child_setup (gpointer data)
{
  /* Dies with the test, even when an assertion aborts it. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
server_spawn (RedisServer *srv)
{
  g_autofree char *port = g_strdup_printf ("%u", srv->port);
  const char *argv[] = {
    redis_server_path, "--port", port, "--bind", "127.0.0.1", "--save", "",
    "--appendonly", "no", "--dir", srv->dir, "--daemonize", "no",
    srv->password != NULL ? "--requirepass" : NULL, srv->password, NULL,
  };
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + DEADLINE_US;

  g_assert_true (g_spawn_async (NULL, (char **) argv, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                                child_setup, NULL, &srv->pid, &error));
  g_assert_no_error (error);
  /* Ready in a few ms: probe until it answers, with a deadline. */
  while (!server_answers (srv) && g_get_monotonic_time () < deadline)
    g_usleep (5000);
  g_assert_true (server_answers (srv));
}

static void
server_kill (RedisServer *srv, int sig)
{
  if (srv->pid == 0)
    return;
  kill (srv->pid, sig);
  waitpid (srv->pid, NULL, 0);
  g_spawn_close_pid (srv->pid);
  srv->pid = 0;
}

static void
server_start (RedisServer *srv)
{
  g_autoptr(GError) error = NULL;

  srv->host = g_strdup ("127.0.0.1");
  srv->port = free_port ();
  srv->dir = g_dir_make_tmp ("implus-redis-XXXXXX", &error);
  g_assert_no_error (error);
  server_spawn (srv);
}

static void
server_cleanup (RedisServer *srv)
{
  server_kill (srv, SIGTERM);
  if (srv->dir != NULL)
    {
      g_autoptr(GFile) dir = g_file_new_for_path (srv->dir);
      g_autoptr(GFileEnumerator) files = g_file_enumerate_children (dir, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                                                    G_FILE_QUERY_INFO_NONE, NULL, NULL);
      GFile *child;

      while (files != NULL && g_file_enumerator_iterate (files, NULL, &child, NULL, NULL) && child != NULL)
        g_file_delete (child, NULL, NULL);
      g_rmdir (srv->dir);
    }
  g_clear_pointer (&srv->dir, g_free);
  g_clear_pointer (&srv->host, g_free);
  g_clear_pointer (&srv->password, g_free);
}

/* ---- helpers ---- */

static char *
new_prefix (void)
{
  return g_strdup_printf ("implustest:%d:%u:", (int) getpid (), ++prefix_counter);
}

static ImpCache *
connect_cache (const RedisServer *srv, const char *prefix)
{
  g_autoptr(GError) error = NULL;
  ImpCache *cache = imp_cache_redis_new_full (srv->host, srv->port, prefix, srv->password, &error);

  g_assert_no_error (error);
  g_assert_nonnull (cache);
  g_assert_true (imp_cache_redis_wait_connected (cache, TRUE, CONNECT_MS));
  /* These tests check answers, not the deadline: do not fail on a loaded machine. The
   * outage and hung tests set the real deadline back where they measure it. */
  imp_cache_redis_set_read_timeout (cache, 5000);
  return cache;
}

static guint
n_gateways (ImpCache *cache, gint64 user)
{
  g_auto(GStrv) gws = imp_cache_presence_gateways (cache, user);

  g_assert_nonnull (gws);
  return g_strv_length (gws);
}

static gboolean
is_offline (ImpCache *cache, gint64 user)
{
  return n_gateways (cache, user) == 0;
}

static ImpCacheRedisStats
stats_of (ImpCache *cache)
{
  ImpCacheRedisStats stats;

  g_assert_true (imp_cache_redis_get_stats (cache, &stats));
  return stats;
}

/* ---- tests ---- */

static void
test_bad_args (void)
{
  g_autoptr(GError) error = NULL;
  ImpCache *cache;

  cache = imp_cache_redis_new (NULL, 6379, NULL, &error);
  g_assert_null (cache);
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  g_assert_null (imp_cache_redis_new ("127.0.0.1", 0, NULL, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  g_assert_null (imp_cache_redis_new ("127.0.0.1", 70000, NULL, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  g_clear_error (&error);
  g_assert_null (imp_cache_redis_new ("127.0.0.1", 6379, "has space:", &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST);
  /* Not a Redis cache: no stats. */
  {
    g_autoptr(ImpCache) memory = imp_cache_memory_new ();
    ImpCacheRedisStats stats;
    g_assert_false (imp_cache_redis_get_stats (memory, &stats));
  }
}

/* Nothing listens: new () still succeeds, reads answer "unknown" at once, free is prompt. */
static void
test_unreachable (void)
{
  g_autoptr(ImpCache) cache = imp_cache_redis_new ("127.0.0.1", free_port (), NULL, NULL);
  gint64 start;
  gint64 seen;

  g_assert_nonnull (cache);
  g_assert_false (imp_cache_redis_wait_connected (cache, TRUE, 100));
  start = g_get_monotonic_time ();
  imp_cache_presence_add (cache, 1, "gw1", 1, 60000);
  g_assert_true (is_offline (cache, 1));
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "tok"), ==, -1);
  g_assert_false (imp_cache_presence_last_seen (cache, 1, &seen));
  g_assert_cmpint (g_get_monotonic_time () - start, <, UNKNOWN_MAX_US);
  g_assert_cmpuint (stats_of (cache).reads_unknown, >=, 3);
  g_assert_cmpuint (stats_of (cache).connects, ==, 0);
}

static void
test_compare_and_delete (void)
{
  g_autofree char *prefix = new_prefix ();
  g_autoptr(ImpCache) cache = connect_cache (&shared, prefix);
  g_auto(GStrv) gws = NULL;
  gint64 seen = 0;

  /* Old connection 1 on gw1; the user reconnects as connection 2 on gw1. */
  imp_cache_presence_add (cache, 7, "gw1", 1, 60000);
  imp_cache_presence_add (cache, 7, "gw1", 2, 60000);
  /* The old connection's late cleanup must not remove the new one. */
  imp_cache_presence_remove (cache, 7, "gw1", 1);
  gws = imp_cache_presence_gateways (cache, 7);
  g_assert_cmpuint (g_strv_length (gws), ==, 1);
  g_assert_cmpstr (gws[0], ==, "gw1");
  g_clear_pointer (&gws, g_strfreev);

  /* Same conn id on another gateway is another entry. */
  imp_cache_presence_remove (cache, 7, "gw2", 2);
  g_assert_cmpuint (n_gateways (cache, 7), ==, 1);
  g_assert_true (imp_cache_presence_last_seen (cache, 7, &seen));
  g_assert_cmpint (ABS (seen - imp_now_ms ()), <, 5000);

  imp_cache_presence_remove (cache, 7, "gw1", 2);
  g_assert_true (is_offline (cache, 7));
  g_assert_true (imp_cache_presence_last_seen (cache, 7, &seen));
  g_assert_cmpint (ABS (seen - imp_now_ms ()), <, 5000);
  g_assert_false (imp_cache_presence_last_seen (cache, 8, &seen));
  g_assert_cmpuint (stats_of (cache).reads_unknown, ==, 0);
  g_assert_cmpuint (stats_of (cache).error_replies, ==, 0);
}

/* Two gateway processes (two cache instances) with the same gateway id and connection id:
 * one's remove never deletes the other's entry. The key layout is the documented one. */
static void
test_two_processes (void)
{
  g_autofree char *prefix = new_prefix ();
  g_autoptr(ImpCache) a = connect_cache (&shared, prefix);
  g_autoptr(ImpCache) b = connect_cache (&shared, prefix);
  g_autofree char *key = g_strdup_printf ("%spresence:%d", prefix, 21);
  redisReply *reply;

  imp_cache_presence_add (b, 21, "gw1", 5, 60000);
  g_assert_cmpuint (n_gateways (b, 21), ==, 1);   /* b's write is applied */
  imp_cache_presence_remove (a, 21, "gw1", 5);
  g_assert_cmpuint (n_gateways (a, 21), ==, 1);
  imp_cache_presence_add (a, 21, "gw2", 5, 60000);

  g_assert_cmpuint (n_gateways (a, 21), ==, 2);
  reply = sync_command (&shared, "HLEN %s", key);
  g_assert_nonnull (reply);
  g_assert_cmpint (reply->integer, ==, 2);
  freeReplyObject (reply);
  reply = sync_command (&shared, "PTTL %s", key);
  g_assert_nonnull (reply);
  g_assert_cmpint (reply->integer, >, 50000);
  g_assert_cmpint (reply->integer, <=, 60000);
  freeReplyObject (reply);

  /* Each instance's reads are ordered after its own writes only. */
  imp_cache_presence_remove (b, 21, "gw1", 5);
  g_assert_cmpuint (n_gateways (b, 21), ==, 1);
  imp_cache_presence_remove (a, 21, "gw2", 5);
  g_assert_true (is_offline (a, 21));
  g_assert_true (is_offline (b, 21));
}

static void
test_gateways_distinct (void)
{
  g_autofree char *prefix = new_prefix ();
  g_autoptr(ImpCache) cache = connect_cache (&shared, prefix);
  g_auto(GStrv) gws = NULL;

  imp_cache_presence_add (cache, 3, "gw1", 10, 60000);
  imp_cache_presence_add (cache, 3, "gw1", 11, 60000);
  imp_cache_presence_add (cache, 3, "gw2", 10, 60000);
  imp_cache_presence_add (cache, 3, "gw2", 12, 60000);
  imp_cache_presence_add (cache, 3, "gw1", 10, 60000);   /* a refresh adds nothing */
  imp_cache_presence_add (cache, 4, "gw|3", 1, 60000);   /* a '|' in a gateway id survives */
  gws = imp_cache_presence_gateways (cache, 3);
  g_assert_cmpuint (g_strv_length (gws), ==, 2);
  g_assert_true (g_strv_contains ((const char *const *) gws, "gw1"));
  g_assert_true (g_strv_contains ((const char *const *) gws, "gw2"));
  g_clear_pointer (&gws, g_strfreev);
  gws = imp_cache_presence_gateways (cache, 4);
  g_assert_cmpuint (g_strv_length (gws), ==, 1);
  g_assert_cmpstr (gws[0], ==, "gw|3");
  g_clear_pointer (&gws, g_strfreev);

  imp_cache_presence_remove (cache, 3, "gw1", 10);
  g_assert_cmpuint (n_gateways (cache, 3), ==, 2);
  imp_cache_presence_remove (cache, 3, "gw1", 11);
  gws = imp_cache_presence_gateways (cache, 3);
  g_assert_cmpuint (g_strv_length (gws), ==, 1);
  g_assert_cmpstr (gws[0], ==, "gw2");
}

static void
wait_offline (ImpCache *cache, gint64 user)
{
  gint64 deadline = g_get_monotonic_time () + DEADLINE_US;

  while (!is_offline (cache, user) && g_get_monotonic_time () < deadline)
    g_usleep (2000);
  g_assert_true (is_offline (cache, user));
}

static void
test_expiry (void)
{
  g_autofree char *prefix = new_prefix ();
  g_autoptr(ImpCache) cache = connect_cache (&shared, prefix);
  g_autofree char *key = g_strdup_printf ("%spresence:%d", prefix, 5);
  gint64 start = g_get_monotonic_time ();
  redisReply *reply;
  gint64 seen = 0;

  imp_cache_presence_add (cache, 5, "gw1", 1, 60);      /* expires soon */
  imp_cache_presence_add (cache, 6, "gw1", 2, 600000);  /* stays */
  g_assert_false (is_offline (cache, 5));
  wait_offline (cache, 5);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 50 * 1000);
  g_assert_false (is_offline (cache, 6));
  /* Expiry counts as going away: last seen is kept. */
  g_assert_true (imp_cache_presence_last_seen (cache, 5, &seen));
  g_assert_cmpint (ABS (seen - imp_now_ms ()), <, 5000);

  /* A refresh moves the expiry forward: once a sentinel added with the old ttl has lapsed,
   * the refreshed entry is still there. */
  imp_cache_presence_add (cache, 5, "gw1", 1, 60);
  imp_cache_presence_add (cache, 10, "gw1", 1, 60);
  imp_cache_presence_add (cache, 5, "gw1", 1, 600000);
  wait_offline (cache, 10);
  g_assert_false (is_offline (cache, 5));
  /* A ttl of 0 is expired at once. */
  imp_cache_presence_add (cache, 9, "gw1", 1, 0);
  g_assert_true (is_offline (cache, 9));

  /* Redis' own key expiry: the whole hash goes once its longest entry has lapsed. */
  imp_cache_presence_remove (cache, 5, "gw1", 1);
  imp_cache_presence_add (cache, 5, "gw1", 2, 40);
  wait_offline (cache, 5);
  {
    gint64 deadline = g_get_monotonic_time () + DEADLINE_US;
    gboolean gone = FALSE;

    while (!gone && g_get_monotonic_time () < deadline)
      {
        reply = sync_command (&shared, "EXISTS %s", key);
        g_assert_nonnull (reply);
        gone = reply->integer == 0;
        freeReplyObject (reply);
        if (!gone)
          g_usleep (2000);
      }
    g_assert_true (gone);
  }
}

static void
test_tokens (void)
{
  g_autofree char *prefix = new_prefix ();
  g_autoptr(ImpCache) cache = connect_cache (&shared, prefix);
  g_autofree char *key = g_strdup_printf ("%srevoked:aa", prefix);
  redisReply *reply;

  g_assert_cmpint (imp_cache_token_is_revoked (cache, "aa"), ==, 0);
  imp_cache_token_revoke (cache, "aa", imp_now_s () + 3600);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "aa"), ==, 1);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "bb"), ==, 0);
  /* A revocation past its token's expiry is forgotten (the token is dead anyway). */
  imp_cache_token_revoke (cache, "cc", imp_now_s () - 1);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "cc"), ==, 0);
  /* The key lives as long as the token. */
  reply = sync_command (&shared, "TTL %s", key);
  g_assert_nonnull (reply);
  g_assert_cmpint (reply->integer, >, 3500);
  g_assert_cmpint (reply->integer, <=, 3601);
  freeReplyObject (reply);
}

typedef struct {
  ImpCache *cache;
  int       thread;
} Hammer;

static gpointer
hammer (gpointer data)
{
  Hammer *h = data;
  char gw[8], token[16];

  g_snprintf (gw, sizeof gw, "gw%d", h->thread);
  g_snprintf (token, sizeof token, "tok%d", h->thread);
  for (guint i = 0; i < 300; i++)
    {
      g_auto(GStrv) gws = NULL;

      imp_cache_presence_add (h->cache, i % 20, gw, i, 60000);
      gws = imp_cache_presence_gateways (h->cache, i % 20);
      g_assert_true (g_strv_contains ((const char *const *) gws, gw));
      imp_cache_presence_remove (h->cache, i % 20, gw, i);
      g_assert_cmpint (imp_cache_token_is_revoked (h->cache, token), ==, i > 0);
      if (i == 0)
        imp_cache_token_revoke (h->cache, token, imp_now_s () + 600);
    }
  return NULL;
}

static void
test_threads (void)
{
  g_autofree char *prefix = new_prefix ();
  g_autoptr(ImpCache) cache = connect_cache (&shared, prefix);
  Hammer h[4];
  GThread *threads[4];

  for (int i = 0; i < 4; i++)
    {
      h[i] = (Hammer) { cache, i };
      threads[i] = g_thread_new ("hammer", hammer, &h[i]);
    }
  for (int i = 0; i < 4; i++)
    g_thread_join (threads[i]);
  for (int u = 0; u < 20; u++)
    g_assert_true (is_offline (cache, u));
  g_assert_cmpuint (stats_of (cache).reads_unknown, ==, 0);
  g_assert_cmpuint (stats_of (cache).writes_dropped, ==, 0);
}

/* Redis is not the source of truth: after FLUSHALL the user looks offline (pushes are skipped,
 * the client's pull covers them) until the next heartbeat re-adds the entry. */
static void
test_flush_heals (void)
{
  g_autofree char *prefix = new_prefix ();
  g_autoptr(ImpCache) cache = connect_cache (&shared, prefix);
  redisReply *reply;

  imp_cache_presence_add (cache, 30, "gw1", 1, 60000);
  imp_cache_token_revoke (cache, "t30", imp_now_s () + 600);
  g_assert_cmpuint (n_gateways (cache, 30), ==, 1);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "t30"), ==, 1);

  /* An external Redis (IMPLUS_TEST_REDIS) may hold other data: lose only ours there. */
  if (shared.pid != 0)
    reply = sync_command (&shared, "FLUSHALL");
  else
    reply = sync_command (&shared, "DEL %spresence:30 %slastseen:30 %srevoked:t30",
                          prefix, prefix, prefix);
  g_assert_nonnull (reply);
  g_assert_cmpint (reply->type, !=, REDIS_REPLY_ERROR);
  freeReplyObject (reply);

  g_assert_true (is_offline (cache, 30));
  /* A lost revocation reads 0, and ImpAuth then asks the store. */
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "t30"), ==, 0);
  /* The heartbeat: the same add as before. */
  imp_cache_presence_add (cache, 30, "gw1", 1, 60000);
  g_assert_cmpuint (n_gateways (cache, 30), ==, 1);
  imp_cache_presence_remove (cache, 30, "gw1", 1);
  g_assert_true (is_offline (cache, 30));
}

static void
wait_dropped (ImpCache *cache, guint64 at_least)
{
  gint64 deadline = g_get_monotonic_time () + DEADLINE_US;

  while (stats_of (cache).writes_dropped < at_least && g_get_monotonic_time () < deadline)
    g_usleep (2000);
  g_assert_cmpuint (stats_of (cache).writes_dropped, >=, at_least);
}

typedef struct {
  ImpCache *cache;
  gint      stop;
  gint      calls;
  gint64    max_us;
} Reader;

static gpointer
reader_main (gpointer data)
{
  Reader *r = data;

  while (!g_atomic_int_get (&r->stop))
    {
      gint64 t0 = g_get_monotonic_time ();
      g_auto(GStrv) gws = imp_cache_presence_gateways (r->cache, 40);

      imp_cache_token_is_revoked (r->cache, "t40");
      r->max_us = MAX (r->max_us, g_get_monotonic_time () - t0);
      g_atomic_int_inc (&r->calls);
    }
  return NULL;
}

static void
wait_calls (Reader *r, int at_least)
{
  gint64 deadline = g_get_monotonic_time () + DEADLINE_US;

  while (g_atomic_int_get (&r->calls) < at_least && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_cmpint (g_atomic_int_get (&r->calls), >=, at_least);
}

/* Redis killed and restarted under a live cache. */
static void
test_outage (void)
{
  RedisServer own = { 0 };
  g_autofree char *prefix = new_prefix ();
  g_autoptr(ImpCache) cache = NULL;
  gint64 start, seen;

  if (redis_server_path == NULL)
    {
      g_test_skip ("redis-server is not installed: cannot kill and restart Redis");
      return;
    }
  server_start (&own);
  cache = connect_cache (&own, prefix);
  imp_cache_presence_add (cache, 40, "gw1", 1, 60000);
  g_assert_cmpuint (n_gateways (cache, 40), ==, 1);

  server_kill (&own, SIGKILL);
  g_assert_true (imp_cache_redis_wait_connected (cache, FALSE, CONNECT_MS));

  /* Calls during the outage: writes return at once and are dropped (counted), reads give the
   * unknown answers well within their deadline. */
  start = g_get_monotonic_time ();
  for (int i = 0; i < 10; i++)
    {
      imp_cache_presence_add (cache, 40, "gw1", 1, 60000);
      imp_cache_token_revoke (cache, "t40", imp_now_s () + 600);
      g_assert_true (is_offline (cache, 40));
      g_assert_cmpint (imp_cache_token_is_revoked (cache, "t40"), ==, -1);
      g_assert_false (imp_cache_presence_last_seen (cache, 40, &seen));
    }
  g_assert_cmpint (g_get_monotonic_time () - start, <, UNKNOWN_MAX_US);
  wait_dropped (cache, 20);
  g_assert_cmpuint (stats_of (cache).reads_unknown, >=, 30);

  /* Back on the same port, empty: the cache reconnects by itself and the next heartbeat heals. */
  server_spawn (&own);
  g_assert_true (imp_cache_redis_wait_connected (cache, TRUE, CONNECT_MS));
  g_assert_cmpuint (stats_of (cache).connects, >=, 2);
  g_assert_true (is_offline (cache, 40));
  imp_cache_presence_add (cache, 40, "gw1", 1, 60000);
  g_assert_cmpuint (n_gateways (cache, 40), ==, 1);
  imp_cache_token_revoke (cache, "t40", imp_now_s () + 600);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "t40"), ==, 1);

  /* Killed again with reads in flight from another thread: nothing hangs or crashes, and
   * every read still answers within its deadline. */
  {
    Reader reader = { cache, 0, 0, 0 };

    imp_cache_redis_set_read_timeout (cache, 200);
    GThread *thread = g_thread_new ("reader", reader_main, &reader);

    wait_calls (&reader, 20);
    server_kill (&own, SIGKILL);
    g_assert_true (imp_cache_redis_wait_connected (cache, FALSE, CONNECT_MS));
    wait_calls (&reader, g_atomic_int_get (&reader.calls) + 20);
    g_atomic_int_set (&reader.stop, 1);
    g_thread_join (thread);
    g_assert_cmpint (reader.max_us, <, UNKNOWN_MAX_US);
  }
  /* Freed while it is reconnecting: prompt. */
  start = g_get_monotonic_time ();
  g_clear_pointer (&cache, imp_cache_free);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
  server_cleanup (&own);
}

/* Redis stopped (SIGSTOP: the socket stays open, nothing answers): reads run into their
 * deadline, the stall check drops the connection, and after SIGCONT all works again. */
static void
test_hung (void)
{
  RedisServer own = { 0 };
  g_autofree char *prefix = new_prefix ();
  g_autoptr(ImpCache) cache = NULL;
  gint64 start, elapsed;

  if (redis_server_path == NULL)
    {
      g_test_skip ("redis-server is not installed: cannot stop Redis");
      return;
    }
  server_start (&own);
  cache = connect_cache (&own, prefix);
  imp_cache_presence_add (cache, 50, "gw1", 1, 60000);
  g_assert_cmpuint (n_gateways (cache, 50), ==, 1);

  imp_cache_redis_set_read_timeout (cache, 200);
  kill (own.pid, SIGSTOP);
  start = g_get_monotonic_time ();
  imp_cache_presence_add (cache, 50, "gw1", 1, 60000);   /* returns at once */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 100 * 1000);
  start = g_get_monotonic_time ();
  g_assert_true (is_offline (cache, 50));
  elapsed = g_get_monotonic_time () - start;
  g_assert_cmpint (elapsed, >=, 150 * 1000);
  g_assert_cmpint (elapsed, <, UNKNOWN_MAX_US);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "t50"), ==, -1);
  g_assert_cmpuint (stats_of (cache).reads_timed_out, >=, 2);
  /* No reply for IMP_REDIS_STALL_MS: the connection is dropped; reads then answer at once. */
  g_assert_true (imp_cache_redis_wait_connected (cache, FALSE, CONNECT_MS));
  g_assert_cmpuint (stats_of (cache).writes_dropped, >=, 1);   /* the add sent into the void */
  start = g_get_monotonic_time ();
  g_assert_true (is_offline (cache, 50));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 100 * 1000);

  kill (own.pid, SIGCONT);
  g_assert_true (imp_cache_redis_wait_connected (cache, TRUE, CONNECT_MS));
  imp_cache_presence_add (cache, 50, "gw1", 1, 60000);
  g_assert_cmpuint (n_gateways (cache, 50), ==, 1);
  g_clear_pointer (&cache, imp_cache_free);
  server_cleanup (&own);
}

static guint
n_live (ImpCache *cache, const char *gateway_id)
{
  g_autoptr(GPtrArray) live = imp_cache_gateways_live (cache);
  guint n = 0;

  for (guint i = 0; i < live->len; i++)
    n += g_str_equal (((ImpGatewayInfo *) g_ptr_array_index (live, i))->gateway_id, gateway_id);
  return n;
}

/* The gateway registry: announce, refresh, list (sorted, with the addresses), lapse, withdraw. */
static void
test_gateway_registry (void)
{
  g_autofree char *prefix = new_prefix ();
  g_autoptr(ImpCache) cache = connect_cache (&shared, prefix);
  g_autofree char *key = g_strdup_printf ("%sgateways", prefix);
  redisReply *reply;
  g_autoptr(GPtrArray) live = NULL;
  ImpGatewayInfo *info;
  gint64 deadline;

  live = imp_cache_gateways_live (cache);
  g_assert_cmpuint (live->len, ==, 0);
  g_clear_pointer (&live, g_ptr_array_unref);

  imp_cache_gateway_announce (cache, "gw-b", "127.0.0.1:8900", "ws://127.0.0.1:8902/websocket",
                              7, 600000);
  imp_cache_gateway_announce (cache, "gw-a", "127.0.0.2:8900", "ws://127.0.0.2:8902/websocket",
                              1, 600000);
  imp_cache_gateway_announce (cache, "gw-a", "127.0.0.2:8900", "ws://127.0.0.2:8902/websocket",
                              3, 600000);   /* a refresh replaces the entry */
  imp_cache_gateway_announce (cache, "gw-short", "h:1", "ws://h:2/", 0, 40);
  /* Bad text is ignored, never stored. */
  imp_cache_gateway_announce (cache, "gw\nbad", "h:1", "ws://h:2/", 0, 600000);
  imp_cache_gateway_announce (cache, "", "h:1", "ws://h:2/", 0, 600000);

  live = imp_cache_gateways_live (cache);
  g_assert_cmpuint (live->len, >=, 2);
  info = g_ptr_array_index (live, 0);
  g_assert_cmpstr (info->gateway_id, ==, "gw-a");
  g_assert_cmpstr (info->tcp_address, ==, "127.0.0.2:8900");
  g_assert_cmpstr (info->ws_url, ==, "ws://127.0.0.2:8902/websocket");
  g_assert_cmpuint (info->n_connections, ==, 3);
  g_assert_cmpint (info->expires_ms, >, imp_now_ms () + 500000);
  info = g_ptr_array_index (live, 1);
  g_assert_cmpstr (info->gateway_id, ==, "gw-b");
  g_assert_cmpuint (info->n_connections, ==, 7);
  g_assert_cmpuint (n_live (cache, "gw\nbad") + n_live (cache, ""), ==, 0);

  /* An entry that is not refreshed lapses by itself (a crashed gateway). */
  deadline = g_get_monotonic_time () + DEADLINE_US;
  while (n_live (cache, "gw-short") > 0 && g_get_monotonic_time () < deadline)
    g_usleep (2000);
  g_assert_cmpuint (n_live (cache, "gw-short"), ==, 0);
  g_assert_cmpuint (n_live (cache, "gw-a"), ==, 1);

  /* ttl 0 withdraws at once (a clean shutdown). */
  imp_cache_gateway_announce (cache, "gw-b", "127.0.0.1:8900", "", 0, 0);
  g_assert_cmpuint (n_live (cache, "gw-b"), ==, 0);
  g_assert_cmpuint (n_live (cache, "gw-a"), ==, 1);

  /* One hash for the registry, kept alive by the announcements (PEXPIRE). */
  reply = sync_command (&shared, "PTTL %s", key);
  g_assert_nonnull (reply);
  g_assert_cmpint (reply->integer, >, 0);
  freeReplyObject (reply);
}

/* ---- AUTH ---- */

/* Every log line of the process while a test runs, to check what was (and was not) logged. */
typedef struct {
  GMutex     lock;
  GPtrArray *lines;
  GLogFunc   old_handler;
} LogCapture;

static LogCapture capture;

static void
capture_handler (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  g_mutex_lock (&capture.lock);
  g_ptr_array_add (capture.lines, g_strdup (message));
  g_mutex_unlock (&capture.lock);
  /* Still shown (and still fatal when it is a warning). */
  capture.old_handler (domain, level, message, NULL);
}

static void
capture_start (void)
{
  capture.lines = g_ptr_array_new_with_free_func (g_free);
  capture.old_handler = g_log_set_default_handler (capture_handler, NULL);
}

/* Only once nothing can log any more (the caches are freed). */
static void
capture_stop (void)
{
  g_log_set_default_handler (capture.old_handler, NULL);
  g_clear_pointer (&capture.lines, g_ptr_array_unref);
}

static gboolean
captured (const char *pattern)
{
  gboolean found = FALSE;

  g_mutex_lock (&capture.lock);
  for (guint i = 0; i < capture.lines->len && !found; i++)
    found = g_pattern_match_simple (pattern, g_ptr_array_index (capture.lines, i));
  g_mutex_unlock (&capture.lock);
  return found;
}

static void
assert_not_logged (const char *secret)
{
  g_mutex_lock (&capture.lock);
  for (guint i = 0; i < capture.lines->len; i++)
    if (strstr (g_ptr_array_index (capture.lines, i), secret) != NULL)
      g_error ("a password was logged: %s", (char *) g_ptr_array_index (capture.lines, i));
  g_mutex_unlock (&capture.lock);
}

static gboolean
start_auth_server (RedisServer *srv)
{
  if (redis_server_path == NULL)
    {
      g_test_skip ("redis-server is not installed: cannot start one with --requirepass");
      return FALSE;
    }
  srv->password = g_strdup_printf ("implus-right-%08x%08x", g_random_int (), g_random_int ());
  server_start (srv);
  return TRUE;
}

static gboolean
key_exists (const RedisServer *srv, const char *key)
{
  redisReply *reply = sync_command (srv, "EXISTS %s", key);
  gboolean exists;

  g_assert_nonnull (reply);
  g_assert_cmpint (reply->type, ==, REDIS_REPLY_INTEGER);
  exists = reply->integer > 0;
  freeReplyObject (reply);
  return exists;
}

/* The right password: AUTH on the first connection and again after Redis restarted. */
static void
test_auth_ok (void)
{
  RedisServer own = { 0 };
  g_autofree char *prefix = new_prefix ();
  g_autofree char *key = g_strdup_printf ("%spresence:%d", prefix, 60);
  ImpCache *cache;
  redisContext *anonymous;
  redisReply *reply;

  if (!start_auth_server (&own))
    return;
  /* The server really requires it. */
  anonymous = redisConnect (own.host, (int) own.port);
  g_assert_true (anonymous != NULL && anonymous->err == 0);
  reply = redisCommand (anonymous, "PING");
  g_assert_nonnull (reply);
  g_assert_cmpint (reply->type, ==, REDIS_REPLY_ERROR);
  freeReplyObject (reply);
  redisFree (anonymous);

  capture_start ();
  cache = connect_cache (&own, prefix);
  imp_cache_presence_add (cache, 60, "gw1", 1, 60000);
  g_assert_cmpuint (n_gateways (cache, 60), ==, 1);
  g_assert_true (key_exists (&own, key));

  server_kill (&own, SIGKILL);
  g_assert_true (imp_cache_redis_wait_connected (cache, FALSE, CONNECT_MS));
  server_spawn (&own);
  g_assert_true (imp_cache_redis_wait_connected (cache, TRUE, CONNECT_MS));
  imp_cache_presence_add (cache, 60, "gw1", 1, 60000);
  g_assert_cmpuint (n_gateways (cache, 60), ==, 1);
  g_assert_cmpuint (stats_of (cache).connects, ==, 2);
  g_assert_cmpuint (stats_of (cache).error_replies, ==, 0);
  imp_cache_free (cache);

  assert_not_logged (own.password);
  capture_stop ();
  server_cleanup (&own);
}

/* A wrong password: never up, retried with backoff, one clear log line, no password logged, and
 * nothing written. */
static void
test_auth_wrong (void)
{
  RedisServer own = { 0 };
  g_autofree char *prefix = new_prefix ();
  g_autofree char *key = g_strdup_printf ("%spresence:%d", prefix, 61);
  g_autofree char *wrong = g_strdup_printf ("implus-wrong-%08x%08x", g_random_int (), g_random_int ());
  g_autofree char *expected = NULL;
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + DEADLINE_US;
  ImpCache *cache;

  if (!start_auth_server (&own))
    return;
  expected = g_strdup_printf ("redis cache: authentication to %s:%u failed: ?*", own.host, own.port);
  capture_start ();
  cache = imp_cache_redis_new_full (own.host, own.port, prefix, wrong, &error);
  g_assert_no_error (error);
  g_assert_nonnull (cache);

  /* Refused at least twice: the retry follows the reconnect backoff. */
  while (stats_of (cache).error_replies < 2 && g_get_monotonic_time () < deadline)
    {
      imp_cache_presence_add (cache, 61, "gw1", 1, 60000);
      g_usleep (2000);
    }
  g_assert_cmpuint (stats_of (cache).error_replies, >=, 2);
  g_assert_true (captured (expected));
  g_assert_false (stats_of (cache).connected);
  g_assert_cmpuint (stats_of (cache).connects, ==, 0);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "t61"), ==, -1);
  imp_cache_free (cache);

  /* Writes made while it kept trying never ran. */
  g_assert_false (key_exists (&own, key));
  assert_not_logged (wrong);
  assert_not_logged (own.password);
  capture_stop ();
  server_cleanup (&own);
}

static void
skip_no_server (void)
{
  g_test_skip ("redis-server is not installed and IMPLUS_TEST_REDIS is not set");
}

/* Tests that need a server are skipped, with the reason, when there is none. */
static void
add_server_test (const char *path, GTestFunc func)
{
  g_test_add_func (path, shared.host != NULL ? func : skip_no_server);
}

/* An external Redis keeps running: remove this run's keys from it. */
static void
cleanup_shared (void)
{
  if (shared.host != NULL && shared.pid == 0)
    {
      g_autofree char *pattern = g_strdup_printf ("implustest:%d:*", (int) getpid ());
      redisContext *c = sync_connect (&shared);
      char cursor[32] = "0";

      do
        {
          redisReply *reply = c != NULL ? redisCommand (c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern) : NULL;

          if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
            {
              g_clear_pointer (&reply, freeReplyObject);
              break;
            }
          g_strlcpy (cursor, reply->element[0]->str, sizeof cursor);
          for (size_t i = 0; i < reply->element[1]->elements; i++)
            freeReplyObject (redisCommand (c, "DEL %s", reply->element[1]->element[i]->str));
          freeReplyObject (reply);
        }
      while (strcmp (cursor, "0") != 0);
      g_clear_pointer (&c, redisFree);
    }
  server_cleanup (&shared);
}

int
main (int argc, char **argv)
{
  const char *external = g_getenv ("IMPLUS_TEST_REDIS");
  int ret;

  g_test_init (&argc, &argv, NULL);
  redis_server_path = g_find_program_in_path ("redis-server");
  g_test_add_func ("/cache-redis/bad-args", test_bad_args);
  g_test_add_func ("/cache-redis/unreachable", test_unreachable);
  if (external != NULL && external[0] != '\0')
    {
      g_auto(GStrv) parts = g_strsplit (external, ":", 2);

      shared.host = g_strdup (parts[0]);
      shared.port = parts[1] != NULL ? (guint) g_ascii_strtoull (parts[1], NULL, 10) : 6379;
    }
  else if (redis_server_path != NULL)
    server_start (&shared);
  add_server_test ("/cache-redis/compare-and-delete", test_compare_and_delete);
  add_server_test ("/cache-redis/two-processes", test_two_processes);
  add_server_test ("/cache-redis/gateways-distinct", test_gateways_distinct);
  add_server_test ("/cache-redis/expiry", test_expiry);
  add_server_test ("/cache-redis/tokens", test_tokens);
  add_server_test ("/cache-redis/threads", test_threads);
  add_server_test ("/cache-redis/flush-heals", test_flush_heals);
  add_server_test ("/cache-redis/outage", test_outage);
  add_server_test ("/cache-redis/hung", test_hung);
  add_server_test ("/cache-redis/gateway-registry", test_gateway_registry);
  g_test_add_func ("/cache-redis/auth-ok", test_auth_ok);
  g_test_add_func ("/cache-redis/auth-wrong", test_auth_wrong);
  ret = g_test_run ();
  cleanup_shared ();
  g_free (redis_server_path);
  return ret;
}

/* test-imp-cache-memory.c: presence (compare-and-delete, expiry, distinct gateways, last seen)
 * and token revocations of the in-memory cache. */
#include "cache/imp-cache.h"
#include "imp-time.h"

static guint
strv_len (GStrv v)
{
  return g_strv_length (v);
}

static void
test_compare_and_delete (void)
{
  g_autoptr(ImpCache) cache = imp_cache_memory_new ();
  g_auto(GStrv) gws = NULL;
  gint64 seen = 0;

  /* Old connection 1 on gw1; the user reconnects as connection 2 on gw1. */
  imp_cache_presence_add (cache, 7, "gw1", 1, 60000);
  imp_cache_presence_add (cache, 7, "gw1", 2, 60000);
  /* The old connection's late cleanup must not remove the new one. */
  imp_cache_presence_remove (cache, 7, "gw1", 1);
  gws = imp_cache_presence_gateways (cache, 7);
  g_assert_cmpuint (strv_len (gws), ==, 1);
  g_assert_cmpstr (gws[0], ==, "gw1");
  g_clear_pointer (&gws, g_strfreev);

  /* Removing an entry that is not there (other gateway, same conn id) changes nothing. */
  imp_cache_presence_remove (cache, 7, "gw2", 2);
  gws = imp_cache_presence_gateways (cache, 7);
  g_assert_cmpuint (strv_len (gws), ==, 1);
  g_clear_pointer (&gws, g_strfreev);
  /* Online: last seen is now. */
  g_assert_true (imp_cache_presence_last_seen (cache, 7, &seen));
  g_assert_cmpint (ABS (seen - imp_now_ms ()), <, 5000);

  imp_cache_presence_remove (cache, 7, "gw1", 2);
  gws = imp_cache_presence_gateways (cache, 7);
  g_assert_nonnull (gws);
  g_assert_cmpuint (strv_len (gws), ==, 0);
  /* last seen survives the removal. */
  g_assert_true (imp_cache_presence_last_seen (cache, 7, &seen));
  g_assert_cmpint (ABS (seen - imp_now_ms ()), <, 5000);
  g_assert_false (imp_cache_presence_last_seen (cache, 8, &seen));
}

static void
test_gateways_distinct (void)
{
  g_autoptr(ImpCache) cache = imp_cache_memory_new ();
  g_auto(GStrv) gws = NULL;

  imp_cache_presence_add (cache, 3, "gw1", 10, 60000);
  imp_cache_presence_add (cache, 3, "gw1", 11, 60000);
  imp_cache_presence_add (cache, 3, "gw2", 10, 60000);
  imp_cache_presence_add (cache, 3, "gw2", 12, 60000);
  /* A refresh of an existing entry adds nothing. */
  imp_cache_presence_add (cache, 3, "gw1", 10, 60000);
  imp_cache_presence_add (cache, 4, "gw3", 1, 60000);
  gws = imp_cache_presence_gateways (cache, 3);
  g_assert_cmpuint (strv_len (gws), ==, 2);
  g_assert_true (g_strv_contains ((const char *const *) gws, "gw1"));
  g_assert_true (g_strv_contains ((const char *const *) gws, "gw2"));
  g_clear_pointer (&gws, g_strfreev);

  /* gw1 still has connection 11 after 10 leaves. */
  imp_cache_presence_remove (cache, 3, "gw1", 10);
  gws = imp_cache_presence_gateways (cache, 3);
  g_assert_cmpuint (strv_len (gws), ==, 2);
  g_clear_pointer (&gws, g_strfreev);
  imp_cache_presence_remove (cache, 3, "gw1", 11);
  gws = imp_cache_presence_gateways (cache, 3);
  g_assert_cmpuint (strv_len (gws), ==, 1);
  g_assert_cmpstr (gws[0], ==, "gw2");
}

static gboolean
is_offline (ImpCache *cache, gint64 user)
{
  g_auto(GStrv) gws = imp_cache_presence_gateways (cache, user);
  return gws[0] == NULL;
}

static void
test_expiry (void)
{
  g_autoptr(ImpCache) cache = imp_cache_memory_new ();
  gint64 seen = 0;

  imp_cache_presence_add (cache, 5, "gw1", 1, 30000);   /* expires in 30 s */
  imp_cache_presence_add (cache, 6, "gw1", 2, 600000);  /* stays */
  g_assert_false (is_offline (cache, 5));
  /* The cache's clock moves instead of the test waiting: still online 10 s before the ttl (a
   * margin for the real time the test itself takes), gone at it, without any remove. */
  imp_cache_memory_advance (cache, 20000);
  g_assert_false (is_offline (cache, 5));
  imp_cache_memory_advance (cache, 10000);
  g_assert_true (is_offline (cache, 5));
  g_assert_false (is_offline (cache, 6));
  /* Expiry counts as going away: last seen is kept, the time it lapsed (on the cache's clock,
   * 30 s ahead). */
  g_assert_true (imp_cache_presence_last_seen (cache, 5, &seen));
  g_assert_cmpint (ABS (seen - (imp_now_ms () + 30000)), <, 5000);

  /* A refresh moves the expiry forward: once a sentinel added with the old ttl has lapsed,
   * the refreshed entry is still there. */
  imp_cache_presence_add (cache, 5, "gw1", 1, 30000);
  imp_cache_presence_add (cache, 10, "gw1", 1, 30000);
  imp_cache_presence_add (cache, 5, "gw1", 1, 600000);
  imp_cache_memory_advance (cache, 30000);
  g_assert_true (is_offline (cache, 10));
  g_assert_false (is_offline (cache, 5));
  /* A ttl of 0 is expired at once. */
  imp_cache_presence_add (cache, 9, "gw1", 1, 0);
  g_assert_true (is_offline (cache, 9));
}

static void
test_tokens (void)
{
  g_autoptr(ImpCache) cache = imp_cache_memory_new ();

  g_assert_cmpint (imp_cache_token_is_revoked (cache, "aa"), ==, 0);
  imp_cache_token_revoke (cache, "aa", imp_now_s () + 3600);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "aa"), ==, 1);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "bb"), ==, 0);
  /* A revocation past its token's expiry is forgotten (the token is dead anyway). */
  imp_cache_token_revoke (cache, "cc", imp_now_s () - 1);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "cc"), ==, 0);
  /* And one lapses when its expiry passes. */
  imp_cache_token_revoke (cache, "dd", imp_now_s () + 10);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "dd"), ==, 1);
  imp_cache_memory_advance (cache, 11 * 1000);
  g_assert_cmpint (imp_cache_token_is_revoked (cache, "dd"), ==, 0);
}

typedef struct {
  ImpCache *cache;
  int       thread;
} Hammer;

static gpointer
hammer (gpointer data)
{
  Hammer *h = data;
  char gw[8];

  g_snprintf (gw, sizeof gw, "gw%d", h->thread);
  for (guint i = 0; i < 20000; i++)
    {
      g_auto(GStrv) gws = NULL;

      imp_cache_presence_add (h->cache, i % 50, gw, i, 60000);
      gws = imp_cache_presence_gateways (h->cache, i % 50);
      g_assert_true (g_strv_contains ((const char *const *) gws, gw));
      imp_cache_presence_remove (h->cache, i % 50, gw, i);
    }
  return NULL;
}

static void
test_threads (void)
{
  g_autoptr(ImpCache) cache = imp_cache_memory_new ();
  Hammer h[3];
  GThread *threads[3];

  for (int i = 0; i < 3; i++)
    {
      h[i] = (Hammer) { cache, i };
      threads[i] = g_thread_new ("hammer", hammer, &h[i]);
    }
  for (int i = 0; i < 3; i++)
    g_thread_join (threads[i]);
  for (int u = 0; u < 50; u++)
    g_assert_true (is_offline (cache, u));
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
  g_autoptr(ImpCache) cache = imp_cache_memory_new ();
  g_autoptr(GPtrArray) live = NULL;
  ImpGatewayInfo *info;

  live = imp_cache_gateways_live (cache);
  g_assert_cmpuint (live->len, ==, 0);
  g_clear_pointer (&live, g_ptr_array_unref);

  imp_cache_gateway_announce (cache, "gw-b", "127.0.0.1:8900", "ws://127.0.0.1:8902/websocket",
                              7, 600000);
  imp_cache_gateway_announce (cache, "gw-a", "127.0.0.2:8900", "ws://127.0.0.2:8902/websocket",
                              1, 600000);
  imp_cache_gateway_announce (cache, "gw-a", "127.0.0.2:8900", "ws://127.0.0.2:8902/websocket",
                              3, 600000);   /* a refresh replaces the entry */
  imp_cache_gateway_announce (cache, "gw-short", "h:1", "ws://h:2/", 0, 40000);
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
  imp_cache_memory_advance (cache, 30000);
  g_assert_cmpuint (n_live (cache, "gw-short"), ==, 1);
  imp_cache_memory_advance (cache, 10000);
  g_assert_cmpuint (n_live (cache, "gw-short"), ==, 0);
  g_assert_cmpuint (n_live (cache, "gw-a"), ==, 1);

  /* ttl 0 withdraws at once (a clean shutdown). */
  imp_cache_gateway_announce (cache, "gw-b", "127.0.0.1:8900", "", 0, 0);
  g_assert_cmpuint (n_live (cache, "gw-b"), ==, 0);
  g_assert_cmpuint (n_live (cache, "gw-a"), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cache-memory/compare-and-delete", test_compare_and_delete);
  g_test_add_func ("/cache-memory/gateways-distinct", test_gateways_distinct);
  g_test_add_func ("/cache-memory/expiry", test_expiry);
  g_test_add_func ("/cache-memory/tokens", test_tokens);
  g_test_add_func ("/cache-memory/threads", test_threads);
  g_test_add_func ("/cache-memory/gateway-registry", test_gateway_registry);
  return g_test_run ();
}

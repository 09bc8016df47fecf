/* Tests of the social and group API of the user service (friends, blacklist, admin, groups)
 * against a real SQLite store, the in-process bus and the memory cache: happy paths, bad input,
 * other users' groups, and the records published to gateways (kick, membership, group push). */
#include "user/imp-user-http.h"
#include "core/imp-http.h"
#include "imp-error.h"
#include "implus-bus.pb-c.h"

#include <string.h>
#include "test-http-util.h"

#define ADMIN_TOKEN "admin-secret-token-0123456789"

typedef struct {
  char            *dir;
  ImpServerConfig  config;
  ImpStore        *store;
  ImpCache        *cache;
  ImpBus          *bus;
  ImpAuth         *auth;
  SoupServer      *server;
  ImpUserHttp     *users;
  SoupSession     *session;
  guint            port;
  GPtrArray       *records;  /* Implus__Bus__GatewayRecord seen on push.gw-test */
  ImpBusSubscription *sub;
} Fixture;

static void
free_record (gpointer p)
{
  implus__bus__gateway_record__free_unpacked (p, NULL);
}

static gboolean
on_push (GPtrArray *records, gpointer user_data)
{
  Fixture *f = user_data;

  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (rec->value, &len);
      Implus__Bus__GatewayRecord *gr = implus__bus__gateway_record__unpack (NULL, len, data);

      g_assert_nonnull (gr);
      g_ptr_array_add (f->records, gr);
    }
  return TRUE;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *topic = imp_bus_push_topic ("gw-test");

  f->dir = g_dir_make_tmp ("imp-social-XXXXXX", &error);
  g_assert_no_error (error);
  g_setenv ("IMPLUS_SERVER_DATA_DIR", f->dir, TRUE);
  g_setenv ("IMPLUS_USER_PASSWORD_COST", "min", TRUE);
  g_setenv ("IMPLUS_USER_ADMIN_TOKEN", data != NULL ? (const char *) data : "", TRUE);
  g_assert_true (imp_server_config_load (&f->config, NULL, &error));
  g_assert_no_error (error);
  g_unsetenv ("IMPLUS_SERVER_DATA_DIR");
  g_unsetenv ("IMPLUS_USER_PASSWORD_COST");
  g_unsetenv ("IMPLUS_USER_ADMIN_TOKEN");

  f->store = imp_store_sqlite_open (f->config.store_path, &error);
  g_assert_no_error (error);
  f->cache = imp_cache_memory_new ();
  f->bus = imp_bus_local_new ();
  f->auth = imp_auth_new (f->config.token_secret_file, f->config.token_ttl_s, f->store, f->cache,
                          &error);
  g_assert_no_error (error);
  f->server = soup_server_new (NULL, NULL);
  f->users = imp_user_http_new (f->server, &f->config, f->store, f->auth, f->bus, f->cache);
  g_assert_true (imp_http_listen (f->server, "127.0.0.1", 0, &f->port, &error));
  g_assert_no_error (error);
  f->session = soup_session_new ();
  f->records = g_ptr_array_new_with_free_func (free_record);
  f->sub = imp_bus_subscribe (f->bus, topic, "gw-test", g_main_context_default (), 64, on_push, f,
                              NULL, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  imp_bus_unsubscribe (f->bus, f->sub);
  g_object_unref (f->session);
  soup_server_disconnect (f->server);
  imp_user_http_free (f->users);
  g_object_unref (f->server);
  imp_auth_free (f->auth);
  imp_bus_free (f->bus);
  imp_cache_free (f->cache);
  imp_store_free (f->store);
  g_ptr_array_unref (f->records);
  test_rm_dir (f->dir);
  g_free (f->dir);
  imp_server_config_clear (&f->config);
}

static JsonObject *
call (Fixture *f, const char *method, const char *path, const char *body, const char *token,
      guint expect_status)
{
  guint status = 0;
  JsonNode *node = test_http (f->session, f->port, method, path, body, -1, token, &status);
  JsonObject *o;

  g_assert_cmpuint (status, ==, expect_status);
  g_assert_nonnull (node);
  o = json_object_ref (json_node_get_object (node));
  json_node_unref (node);
  return o;
}

static JsonObject *
post (Fixture *f, const char *path, const char *body, const char *token, guint expect_status)
{
  return call (f, "POST", path, body, token, expect_status);
}

static JsonObject *
get (Fixture *f, const char *path, const char *token, guint expect_status)
{
  return call (f, "GET", path, NULL, token, expect_status);
}

static void
expect_error (JsonObject *o, const char *name)
{
  g_assert_cmpstr (json_object_get_string_member (o, "error"), ==, name);
  json_object_unref (o);
}

static void
expect_ok (JsonObject *o)
{
  g_assert_false (json_object_has_member (o, "error"));
  json_object_unref (o);
}

/* A user made in the store, with a token issued directly (no password hashing). */
static gint64
user (Fixture *f, const char *name, char **out_token)
{
  g_autoptr(GError) error = NULL;
  ImpTokenClaims claims = { 0 };
  gint64 id = 0;

  g_assert_true (imp_store_user_create (f->store, name, NULL, "$argon2id$fake", 1, &id, &error));
  g_assert_no_error (error);
  if (out_token != NULL)
    *out_token = imp_auth_issue (f->auth, id, &claims);
  return id;
}

/* Waits until a record matching body_case (and user_id if > 0) arrived on push.gw-test. */
static Implus__Bus__GatewayRecord *
wait_record (Fixture *f, int body_case, gint64 user_id)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  for (;;)
    {
      for (guint i = 0; i < f->records->len; i++)
        {
          Implus__Bus__GatewayRecord *r = f->records->pdata[i];
          gint64 uid = r->body_case == IMPLUS__BUS__GATEWAY_RECORD__BODY_KICK ? r->kick->user_id
                     : r->body_case == IMPLUS__BUS__GATEWAY_RECORD__BODY_MEMBERSHIP
                       ? r->membership->user_id : 0;
          if ((int) r->body_case == body_case && (user_id <= 0 || uid == user_id))
            return r;
        }
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

static void
test_friends (Fixture *f, gconstpointer data)
{
  g_autofree char *ta = NULL, *tb = NULL, *body = NULL, *back = NULL;
  gint64 a = user (f, "alice", &ta), b = user (f, "bob", &tb);
  g_autoptr(JsonObject) req = NULL;
  g_autoptr(JsonObject) list = NULL;
  JsonObject *one;

  body = g_strdup_printf ("{\"user_id\": %" G_GINT64_FORMAT "}", b);
  back = g_strdup_printf ("{\"user_id\": %" G_GINT64_FORMAT ", \"accept\": true}", a);
  req = post (f, "/friends/request", body, ta, 200);
  g_assert_cmpstr (json_object_get_string_member (req, "state"), ==, "outgoing");
  {
    g_autoptr(JsonObject) inc = get (f, "/friends", tb, 200);
    one = json_array_get_object_element (json_object_get_array_member (inc, "friends"), 0);
    g_assert_cmpstr (json_object_get_string_member (one, "state"), ==, "incoming");
    g_assert_false (json_object_has_member (one, "online"));  /* not a friend yet */
  }
  expect_ok (post (f, "/friends/respond", back, tb, 200));

  /* Presence of friends: online from the cache; last seen once gone. */
  imp_cache_presence_add (f->cache, b, "gw-test", 7, 60000);
  list = get (f, "/friends", ta, 200);
  one = json_array_get_object_element (json_object_get_array_member (list, "friends"), 0);
  g_assert_cmpint (json_object_get_int_member (one, "user_id"), ==, b);
  g_assert_cmpstr (json_object_get_string_member (one, "username"), ==, "bob");
  g_assert_cmpstr (json_object_get_string_member (one, "state"), ==, "friend");
  g_assert_true (json_object_get_boolean_member (one, "online"));
  g_assert_true (json_object_has_member (one, "last_seen_ms"));

  expect_ok (post (f, "/friends/remove", body, ta, 200));
  expect_error (post (f, "/friends/remove", body, ta, 404), "not_found");
  expect_error (post (f, "/friends/respond", back, tb, 404), "not_found");

  /* Bad input. */
  expect_error (post (f, "/friends/request", "{}", ta, 400), "bad_request");
  expect_error (post (f, "/friends/request", "{\"user_id\": \"2\"}", ta, 400), "bad_request");
  expect_error (post (f, "/friends/request", "{\"user_id\": -3}", ta, 400), "bad_request");
  expect_error (post (f, "/friends/request", "not json", ta, 400), "bad_request");
  {
    g_autofree char *self = g_strdup_printf ("{\"user_id\": %" G_GINT64_FORMAT "}", a);
    expect_error (post (f, "/friends/request", self, ta, 400), "bad_request");
  }
  expect_error (post (f, "/friends/request", "{\"user_id\": 999}", ta, 404), "unknown_user");
  expect_error (post (f, "/friends/respond", "{\"user_id\": 2, \"accept\": 1}", tb, 400),
                "bad_request");
  expect_error (post (f, "/friends/request", body, NULL, 401), "not_authenticated");
  expect_error (get (f, "/friends", NULL, 401), "not_authenticated");
}

static void
test_blacklist (Fixture *f, gconstpointer data)
{
  g_autofree char *ta = NULL, *tb = NULL, *body = NULL;
  gint64 a = user (f, "alice", &ta), b = user (f, "bob", &tb);
  g_autoptr(GError) error = NULL;
  gboolean blocked = FALSE;

  body = g_strdup_printf ("{\"user_id\": %" G_GINT64_FORMAT "}", b);
  expect_ok (post (f, "/blacklist/add", body, ta, 200));
  g_assert_true (imp_store_is_blocked (f->store, a, b, &blocked, &error));
  g_assert_true (blocked);
  {
    g_autoptr(JsonObject) list = get (f, "/blacklist", ta, 200);
    JsonArray *arr = json_object_get_array_member (list, "blocked");
    g_assert_cmpuint (json_array_get_length (arr), ==, 1);
    g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (arr, 0),
                                                 "user_id"), ==, b);
  }
  /* Blocked: bob's friend request to alice is refused. */
  {
    g_autofree char *to_a = g_strdup_printf ("{\"user_id\": %" G_GINT64_FORMAT "}", a);
    expect_error (post (f, "/friends/request", to_a, tb, 403), "blocked");
  }
  expect_ok (post (f, "/blacklist/remove", body, ta, 200));
  expect_error (post (f, "/blacklist/remove", body, ta, 404), "not_found");
  expect_error (post (f, "/blacklist/add", "{\"user_id\": 999}", ta, 404), "unknown_user");
  expect_error (post (f, "/blacklist/add", "{\"user\": 2}", ta, 400), "bad_request");
  expect_error (get (f, "/blacklist", "v1.bad", 401), "auth_failed");
}

static void
test_admin (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) reg = post (f, "/users/register",
                                    "{\"username\": \"carol\", \"password\": \"secret-pass\"}",
                                    NULL, 201);
  gint64 id = json_object_get_int_member (reg, "user_id");
  g_autofree char *body = g_strdup_printf ("{\"user_id\": %" G_GINT64_FORMAT ", \"reason\": \"spam\"}",
                                           id);
  g_autofree char *mute = g_strdup_printf ("{\"user_id\": %" G_GINT64_FORMAT
                                           ", \"until_ms\": 4102444800000}", id);
  Implus__Bus__GatewayRecord *kick;

  expect_error (post (f, "/admin/ban", body, NULL, 401), "not_authenticated");
  expect_error (post (f, "/admin/ban", body, "wrong-token", 401), "auth_failed");
  expect_error (post (f, "/admin/ban", body, ADMIN_TOKEN "x", 401), "auth_failed");
  {
    /* A user's token is not an admin token. */
    g_autofree char *tok = NULL;
    user (f, "dave", &tok);
    expect_error (post (f, "/admin/ban", body, tok, 401), "auth_failed");
  }

  /* carol is connected: the ban kicks her connections with the reason. */
  imp_cache_presence_add (f->cache, id, "gw-test", 3, 60000);
  expect_ok (post (f, "/admin/ban", body, ADMIN_TOKEN, 200));
  kick = wait_record (f, IMPLUS__BUS__GATEWAY_RECORD__BODY_KICK, id);
  g_assert_cmpint (kick->kick->reason, ==, IMPLUS__KICK_REASON__KICK_REASON_BANNED);
  g_assert_cmpstr (kick->kick->token_id, ==, "");
  g_assert_cmpstr (kick->kick->message, ==, "spam");
  expect_error (post (f, "/users/login", "{\"username\": \"carol\", \"password\": \"secret-pass\"}",
                      NULL, 403), "banned");

  expect_ok (post (f, "/admin/unban", body, ADMIN_TOKEN, 200));
  expect_ok (post (f, "/users/login", "{\"username\": \"carol\", \"password\": \"secret-pass\"}",
                   NULL, 200));

  expect_ok (post (f, "/admin/mute", mute, ADMIN_TOKEN, 200));
  {
    g_autoptr(ImpUserRecord) rec = imp_store_user_get (f->store, id, &error);
    g_assert_cmpint (rec->muted_until_ms, ==, 4102444800000);
  }
  expect_error (post (f, "/admin/mute", "{\"user_id\": 1, \"until_ms\": -1}", ADMIN_TOKEN, 400),
                "bad_request");
  expect_error (post (f, "/admin/ban", "{\"user_id\": 999}", ADMIN_TOKEN, 404), "unknown_user");
  expect_error (post (f, "/admin/ban", "{\"user_id\": \"x\"}", ADMIN_TOKEN, 400), "bad_request");
}

static void
test_admin_disabled (Fixture *f, gconstpointer data)
{
  /* Disabled: refused whatever the Authorization says. */
  expect_error (post (f, "/admin/ban", "{\"user_id\": 1}", NULL, 403), "forbidden");
  expect_error (post (f, "/admin/ban", "{\"user_id\": 1}", "", 403), "forbidden");
  expect_error (post (f, "/admin/ban", "{\"user_id\": 1}", "anything", 403), "forbidden");
}

static gint64
member_count (Fixture *f, gint64 group, const char *token)
{
  g_autofree char *path = g_strdup_printf ("/groups/info?group_id=%" G_GINT64_FORMAT, group);
  g_autoptr(JsonObject) info = get (f, path, token, 200);

  return json_object_get_int_member (info, "member_count");
}

static void
test_groups (Fixture *f, gconstpointer data)
{
  g_autofree char *to = NULL, *t1 = NULL, *t2 = NULL, *tx = NULL, *body = NULL, *path = NULL;
  gint64 o = user (f, "owner", &to), m1 = user (f, "m1", &t1), m2 = user (f, "m2", &t2);
  gint64 x = user (f, "outsider", &tx);
  g_autoptr(JsonObject) g = NULL;
  gint64 gid;

  imp_cache_presence_add (f->cache, m1, "gw-test", 11, 60000);
  /* Group messages go to every live gateway of the registry (no per-member lookups). */
  imp_cache_gateway_announce (f->cache, "gw-test", "127.0.0.1:1", "ws://127.0.0.1:2/websocket", 1, 60000);
  body = g_strdup_printf ("{\"name\": \"Team \xe5\x9b\xa2\", \"members\": [%" G_GINT64_FORMAT "]}", m1);
  g = post (f, "/groups", body, to, 201);
  gid = json_object_get_int_member (g, "group_id");
  g_assert_cmpint (gid, >, 0);
  g_assert_cmpstr (json_object_get_string_member (g, "name"), ==, "Team \xe5\x9b\xa2");
  g_assert_cmpint (json_object_get_int_member (g, "member_count"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (g, "owner_id"), ==, o);
  /* m1's gateway learns the membership, then gets the system message. */
  {
    Implus__Bus__GatewayRecord *r = wait_record (f, IMPLUS__BUS__GATEWAY_RECORD__BODY_MEMBERSHIP, m1);
    Implus__Bus__GatewayRecord *p = wait_record (f, IMPLUS__BUS__GATEWAY_RECORD__BODY_GROUP_PUSH, 0);
    g_assert_true (r->membership->joined);
    g_assert_cmpint (r->membership->group_id, ==, gid);
    g_assert_cmpint (r->membership->seq, ==, 0);  /* an initial member: sees seq 1 on */
    g_assert_cmpint (p->group_push->group_id, ==, gid);
    g_assert_cmpint (p->group_push->message->seq, ==, 1);
    g_assert_cmpint (p->group_push->message->content_type, ==, 99);
    g_assert_nonnull (strstr (p->group_push->message->content, "group_created"));
  }

  /* Info and members: members only; an outsider gets not_member. */
  path = g_strdup_printf ("/groups/info?group_id=%" G_GINT64_FORMAT, gid);
  {
    g_autoptr(JsonObject) info = get (f, path, t1, 200);
    g_assert_cmpstr (json_object_get_string_member (info, "role"), ==, "member");
    g_assert_cmpstr (json_object_get_string_member (info, "status"), ==, "active");
  }
  expect_error (get (f, path, tx, 403), "not_member");
  expect_error (get (f, "/groups/info?group_id=abc", to, 400), "bad_request");
  expect_error (get (f, "/groups/info", to, 400), "bad_request");
  g_free (path);
  path = g_strdup_printf ("/groups/members?group_id=%" G_GINT64_FORMAT "&limit=1", gid);
  {
    g_autoptr(JsonObject) page = get (f, path, to, 200);
    JsonArray *arr = json_object_get_array_member (page, "members");
    g_assert_cmpuint (json_array_get_length (arr), ==, 1);
    g_assert_true (json_object_get_boolean_member (page, "has_more"));
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (arr, 0), "role"),
                     ==, "owner");
  }
  expect_error (get (f, path, tx, 403), "not_member");

  /* Add: owner or admin only. */
  g_free (body);
  body = g_strdup_printf ("{\"group_id\": %" G_GINT64_FORMAT ", \"user_ids\": [%" G_GINT64_FORMAT
                          "]}", gid, m2);
  expect_error (post (f, "/groups/members/add", body, t1, 403), "forbidden");
  expect_error (post (f, "/groups/members/add", body, tx, 403), "not_member");
  {
    g_autoptr(JsonObject) c = post (f, "/groups/members/add", body, to, 200);
    g_assert_cmpint (json_object_get_int_member (c, "last_seq"), ==, 2);
  }
  g_assert_cmpint (member_count (f, gid, to), ==, 3);
  expect_error (post (f, "/groups/members/add", "{\"group_id\": 1, \"user_ids\": [\"a\"]}", to, 400),
                "bad_request");
  expect_error (post (f, "/groups/members/add", "{\"group_id\": 1, \"user_ids\": []}", to, 400),
                "bad_request");
  expect_error (post (f, "/groups/members/add", "{\"group_id\": 1, \"user_ids\": 5}", to, 400),
                "bad_request");
  expect_error (post (f, "/groups/members/add", "{\"group_id\": 1, \"user_ids\": [999]}", to, 404),
                "unknown_user");
  expect_error (post (f, "/groups/members/add", "{\"group_id\": 999, \"user_ids\": [2]}", to, 404),
                "not_found");

  /* Role, mute, transfer. */
  g_free (body);
  body = g_strdup_printf ("{\"group_id\": %" G_GINT64_FORMAT ", \"user_id\": %" G_GINT64_FORMAT
                          ", \"role\": \"admin\"}", gid, m1);
  expect_error (post (f, "/groups/role", body, t1, 403), "forbidden");
  expect_ok (post (f, "/groups/role", body, to, 200));
  expect_error (post (f, "/groups/role", "{\"group_id\": 1, \"user_id\": 2, \"role\": \"owner\"}",
                      to, 400), "bad_request");
  g_free (body);
  body = g_strdup_printf ("{\"group_id\": %" G_GINT64_FORMAT ", \"user_id\": %" G_GINT64_FORMAT
                          ", \"until_ms\": 4102444800000}", gid, m2);
  expect_ok (post (f, "/groups/mute", body, t1, 200));  /* an admin mutes a member */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(ImpGroupMemberRecord) rec = imp_store_group_member_get (f->store, gid, m2, &error);
    g_assert_cmpint (rec->muted_until_ms, ==, 4102444800000);
  }
  expect_error (post (f, "/groups/mute", "{\"group_id\": 1, \"user_id\": 2}", to, 400),
                "bad_request");

  /* Remove, leave. */
  g_free (body);
  body = g_strdup_printf ("{\"group_id\": %" G_GINT64_FORMAT ", \"user_id\": %" G_GINT64_FORMAT "}",
                          gid, m2);
  expect_error (post (f, "/groups/members/remove", body, t2, 403), "forbidden");
  expect_ok (post (f, "/groups/members/remove", body, t1, 200));
  expect_error (post (f, "/groups/members/remove", body, t1, 403), "not_member");
  g_free (body);
  body = g_strdup_printf ("{\"group_id\": %" G_GINT64_FORMAT "}", gid);
  expect_error (post (f, "/groups/leave", body, to, 403), "forbidden");  /* the owner */
  expect_error (post (f, "/groups/leave", body, t2, 403), "not_member");  /* removed */
  {
    g_autoptr(JsonObject) mine = get (f, "/groups", t2, 200);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (mine, "groups")), ==, 0);
  }

  /* Transfer to m1, the old owner leaves; m1 dissolves. */
  g_free (body);
  body = g_strdup_printf ("{\"group_id\": %" G_GINT64_FORMAT ", \"user_id\": %" G_GINT64_FORMAT "}",
                          gid, m1);
  expect_error (post (f, "/groups/transfer", body, t1, 403), "forbidden");
  expect_ok (post (f, "/groups/transfer", body, to, 200));
  g_free (body);
  body = g_strdup_printf ("{\"group_id\": %" G_GINT64_FORMAT "}", gid);
  expect_ok (post (f, "/groups/leave", body, to, 200));
  {
    g_autoptr(JsonObject) mine = get (f, "/groups", t1, 200);
    JsonArray *arr = json_object_get_array_member (mine, "groups");
    JsonObject *one = json_array_get_object_element (arr, 0);
    g_assert_cmpuint (json_array_get_length (arr), ==, 1);
    g_assert_cmpstr (json_object_get_string_member (one, "role"), ==, "owner");
    g_assert_cmpstr (json_object_get_string_member (one, "name"), ==, "Team \xe5\x9b\xa2");
  }
  expect_error (post (f, "/groups/dissolve", body, tx, 403), "not_member");
  expect_ok (post (f, "/groups/dissolve", body, t1, 200));
  {
    Implus__Bus__GatewayRecord *r = NULL, *dissolved = NULL;
    gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
    /* m1 (present on gw-test) is told they left the group. */
    while (r == NULL)
      {
        for (guint i = 0; i < f->records->len && r == NULL; i++)
          {
            Implus__Bus__GatewayRecord *c = f->records->pdata[i];
            if (c->body_case == IMPLUS__BUS__GATEWAY_RECORD__BODY_MEMBERSHIP
                && c->membership->user_id == m1 && !c->membership->joined)
              r = c;
          }
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        if (r == NULL)
          g_main_context_iteration (NULL, TRUE);
      }
    /* The leave carries the seq of the message ending m1's window: the dissolution notice,
     * published before it on the same key. */
    for (guint i = 0; i < f->records->len && dissolved == NULL; i++)
      {
        Implus__Bus__GatewayRecord *c = f->records->pdata[i];
        if (c->body_case == IMPLUS__BUS__GATEWAY_RECORD__BODY_GROUP_PUSH
            && strstr (c->group_push->message->content, "group_dissolved") != NULL)
          dissolved = c;
      }
    g_assert_nonnull (dissolved);
    g_assert_cmpint (r->membership->seq, ==, dissolved->group_push->message->seq);
  }
  expect_error (post (f, "/groups/dissolve", body, t1, 404), "not_found");

  /* Creation: bad input. */
  expect_error (post (f, "/groups", "{\"members\": []}", to, 400), "bad_request");
  expect_error (post (f, "/groups", "{\"name\": \"\"}", to, 400), "bad_request");
  expect_error (post (f, "/groups", "{\"name\": \"x\", \"members\": [0]}", to, 400), "bad_request");
  expect_error (post (f, "/groups", "{\"name\": \"x\", \"members\": [999]}", to, 404),
                "unknown_user");
  expect_error (post (f, "/groups", "{\"name\": \"x\"}", NULL, 401), "not_authenticated");
  (void) x;
}

static void
test_group_5000 (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) body = g_string_new ("{\"name\": \"Everyone\", \"members\": [");
  g_autofree char *to = NULL, *path = NULL;
  g_autoptr(JsonObject) g = NULL;
  gint64 gid, after = 0, seen = 0;

  user (f, "owner", &to);
  for (int i = 0; i < 4999; i++)
    {
      g_autofree char *name = g_strdup_printf ("u%04d", i);
      g_string_append_printf (body, "%s%" G_GINT64_FORMAT, i ? "," : "", user (f, name, NULL));
    }
  g_string_append (body, "]}");
  g = post (f, "/groups", body->str, to, 201);
  gid = json_object_get_int_member (g, "group_id");
  g_assert_cmpint (json_object_get_int_member (g, "member_count"), ==, 5000);

  /* Paged member list: 500 a page, 5,000 in all. */
  for (;;)
    {
      g_autoptr(JsonObject) page = NULL;
      JsonArray *arr;

      g_free (path);
      path = g_strdup_printf ("/groups/members?group_id=%" G_GINT64_FORMAT "&after=%" G_GINT64_FORMAT
                              "&limit=1000", gid, after);
      page = get (f, path, to, 200);
      arr = json_object_get_array_member (page, "members");
      g_assert_cmpuint (json_array_get_length (arr), <=, 500);
      seen += json_array_get_length (arr);
      if (!json_object_get_boolean_member (page, "has_more"))
        break;
      after = json_object_get_int_member (
        json_array_get_object_element (arr, json_array_get_length (arr) - 1), "user_id");
    }
  g_assert_cmpint (seen, ==, 5000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func, token) \
  g_test_add ("/user-social/" path, Fixture, token, fixture_setup, func, fixture_teardown)
  ADD ("friends", test_friends, NULL);
  ADD ("blacklist", test_blacklist, NULL);
  ADD ("admin", test_admin, ADMIN_TOKEN);
  ADD ("admin-disabled", test_admin_disabled, NULL);
  ADD ("groups", test_groups, NULL);
  ADD ("group-5000", test_group_5000, NULL);
  return g_test_run ();
}

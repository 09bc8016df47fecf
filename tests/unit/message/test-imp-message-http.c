/* test-imp-message-http.c: the pull API over real HTTP (SoupServer on the test's context, a real
 * SQLite store and ImpAuth): sync paging and has_more, history, conversations and read
 * positions, the 403 for another user's stream, limit bounds. */
#include "message/imp-message-http.h"
#include "core/imp-http.h"
#include "imp-convid.h"
#include "imp-id.h"
#include "imp-time.h"
#include "implus-bus.pb-c.h"
#include "../server/test-http-util.h"

typedef struct {
  char            *dir;
  ImpServerConfig  config;
  ImpStore        *store;
  ImpCache        *cache;
  ImpBus          *bus;
  ImpAuth         *auth;
  SoupServer      *server;
  ImpMessageHttp  *http;
  SoupSession     *session;
  guint            port;
  gint64           alice, bob, carol;
  char            *alice_token, *bob_token, *carol_token;
  char            *conv;
  ImpIdGen        *ids;
} Fixture;

static void
send_chat (Fixture *f, gint64 from, gint64 to, const char *content)
{
  g_autofree char *client_msg_id = imp_uuid_new ();
  ImpChatRequest req = { from, to, client_msg_id, content, 1, imp_id_gen_next (f->ids), imp_now_ms () };
  ImpChatResult res = { 0 };
  g_autoptr(GError) error = NULL;

  g_assert_true (imp_store_chat_commit (f->store, &req, 1, &res, &error));
  g_assert_no_error (error);
  g_assert_cmpint (res.error_code, ==, 0);
  imp_chat_result_clear (&res);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *db = NULL;
  g_autofree char *key = NULL;

  f->dir = g_dir_make_tmp ("implus-msghttp-XXXXXX", &error);
  g_assert_no_error (error);
  db = g_build_filename (f->dir, "implus.db", NULL);
  key = g_build_filename (f->dir, "token.key", NULL);
  f->store = imp_store_sqlite_open (db, &error);
  g_assert_no_error (error);
  g_assert_true (imp_store_user_create (f->store, "alice", "Alice", "x", imp_now_ms (), &f->alice, NULL));
  g_assert_true (imp_store_user_create (f->store, "bob", "Bob", "x", imp_now_ms (), &f->bob, NULL));
  g_assert_true (imp_store_user_create (f->store, "carol", "Carol", "x", imp_now_ms (), &f->carol, NULL));
  f->cache = imp_cache_memory_new ();
  f->auth = imp_auth_new (key, 3600, f->store, f->cache, &error);
  g_assert_no_error (error);
  f->alice_token = imp_auth_issue (f->auth, f->alice, NULL);
  f->bob_token = imp_auth_issue (f->auth, f->bob, NULL);
  f->carol_token = imp_auth_issue (f->auth, f->carol, NULL);
  f->conv = imp_convid_private (f->alice, f->bob);
  f->ids = imp_id_gen_new (3);

  f->config.pull_page_max = 4;
  f->config.max_http_body = 65536;
  f->server = soup_server_new (NULL, NULL);
  f->http = imp_message_http_new (f->server, &f->config, f->store, f->auth);
  f->bus = imp_bus_local_new ();
  imp_message_http_set_bus (f->http, f->bus, f->cache);
  g_assert_true (imp_http_listen (f->server, "127.0.0.1", 0, &f->port, &error));
  g_assert_no_error (error);
  f->session = soup_session_new ();

  /* alice → bob ×5, bob → alice ×1: bob's stream 1..6, alice's 1..6. */
  for (int i = 0; i < 5; i++)
    {
      g_autofree char *content = g_strdup_printf ("a%d", i);
      send_chat (f, f->alice, f->bob, content);
    }
  send_chat (f, f->bob, f->alice, "b0");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->session);
  soup_server_disconnect (f->server);
  g_clear_pointer (&f->http, imp_message_http_free);
  g_clear_object (&f->server);
  g_clear_pointer (&f->auth, imp_auth_free);
  g_clear_pointer (&f->bus, imp_bus_free);
  g_clear_pointer (&f->cache, imp_cache_free);
  g_clear_pointer (&f->store, imp_store_free);
  test_rm_dir (f->dir);
  g_free (f->dir);
  g_free (f->alice_token);
  g_free (f->bob_token);
  g_free (f->carol_token);
  g_free (f->conv);
  imp_id_gen_free (f->ids);
}

static JsonObject *
get_ok (Fixture *f, const char *token, const char *path, JsonNode **keep)
{
  guint status = 0;

  *keep = test_http (f->session, f->port, "GET", path, NULL, 0, token, &status);
  g_assert_cmpuint (status, ==, 200);
  return json_node_get_object (*keep);
}

static void
expect_error (Fixture *f, const char *token, const char *method, const char *path,
              const char *body, guint want_status, const char *want_name)
{
  guint status = 0;
  g_autoptr(JsonNode) reply = test_http (f->session, f->port, method, path, body, -1, token, &status);

  g_assert_cmpuint (status, ==, want_status);
  g_assert_cmpstr (test_json_error_name (reply), ==, want_name);
}

static void
test_sync (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) n1 = NULL, n2 = NULL, n3 = NULL;
  g_autofree char *own = g_strdup_printf ("/messages/sync?user_id=%" G_GINT64_FORMAT, f->bob);
  g_autofree char *other = g_strdup_printf ("/messages/sync?user_id=%" G_GINT64_FORMAT, f->alice);
  JsonObject *o;
  JsonArray *msgs;
  JsonObject *m;

  /* Page 1: the page maximum (4), more to come. */
  o = get_ok (f, f->bob_token, own, &n1);
  msgs = json_object_get_array_member (o, "messages");
  g_assert_cmpuint (json_array_get_length (msgs), ==, 4);
  g_assert_true (json_object_get_boolean_member (o, "has_more"));
  g_assert_cmpint (json_object_get_int_member (o, "max_seq"), ==, 6);
  for (guint i = 0; i < 4; i++)
    {
      m = json_array_get_object_element (msgs, i);
      g_assert_cmpint (json_object_get_int_member (m, "seq"), ==, i + 1);
      g_assert_cmpstr (json_object_get_string_member (m, "conversation_id"), ==, f->conv);
      g_assert_cmpint (json_object_get_int_member (m, "sender_id"), ==, f->alice);
      g_assert_cmpint (json_object_get_int_member (m, "to_user_id"), ==, f->bob);
      g_assert_true (json_object_has_member (m, "msg_id"));
      g_assert_true (json_object_has_member (m, "content_type"));
      g_assert_true (json_object_has_member (m, "send_time_ms"));
      /* Not bob's own messages: no client_msg_id. */
      g_assert_false (json_object_has_member (m, "client_msg_id"));
    }
  /* Page 2 from the watermark; a limit above the maximum is cut to it. */
  o = get_ok (f, f->bob_token, "/messages/sync?after=4&limit=1000", &n2);
  msgs = json_object_get_array_member (o, "messages");
  g_assert_cmpuint (json_array_get_length (msgs), ==, 2);
  g_assert_false (json_object_get_boolean_member (o, "has_more"));
  m = json_array_get_object_element (msgs, 1);
  g_assert_cmpint (json_object_get_int_member (m, "seq"), ==, 6);
  g_assert_cmpstr (json_object_get_string_member (m, "content"), ==, "b0");
  /* bob's own message carries its client_msg_id. */
  g_assert_true (json_object_has_member (m, "client_msg_id"));
  /* Exactly a page left: has_more is false. */
  o = get_ok (f, f->bob_token, "/messages/sync?after=2&limit=4", &n3);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "messages")), ==, 4);
  g_assert_false (json_object_get_boolean_member (o, "has_more"));

  expect_error (f, f->bob_token, "GET", other, NULL, 403, "forbidden");
  expect_error (f, f->bob_token, "GET", "/messages/sync?user_id=abc", NULL, 403, "forbidden");
  expect_error (f, f->bob_token, "GET", "/messages/sync?limit=0", NULL, 400, "bad_request");
  expect_error (f, f->bob_token, "GET", "/messages/sync?limit=x", NULL, 400, "bad_request");
  expect_error (f, f->bob_token, "GET", "/messages/sync?after=-1", NULL, 400, "bad_request");
  expect_error (f, NULL, "GET", "/messages/sync", NULL, 401, "not_authenticated");
}

static void
test_history (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) n1 = NULL, n2 = NULL;
  g_autofree char *path = g_strdup_printf ("/messages/history?conversation_id=%s&before=4&limit=2",
                                           f->conv);
  g_autofree char *all = g_strdup_printf ("/messages/history?conversation_id=%s", f->conv);
  g_autofree char *others = imp_convid_private (f->bob, f->carol);
  g_autofree char *forbidden = g_strdup_printf ("/messages/history?conversation_id=%s", others);
  JsonArray *msgs;

  /* Newest first, below before. */
  msgs = json_object_get_array_member (get_ok (f, f->bob_token, path, &n1), "messages");
  g_assert_cmpuint (json_array_get_length (msgs), ==, 2);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (msgs, 0), "seq"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (msgs, 1), "seq"), ==, 2);
  msgs = json_object_get_array_member (get_ok (f, f->bob_token, all, &n2), "messages");
  g_assert_cmpuint (json_array_get_length (msgs), ==, 4);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (msgs, 0), "seq"), ==, 6);

  /* carol is not in alice and bob's conversation; alice is not in bob and carol's. */
  expect_error (f, f->carol_token, "GET", all, NULL, 403, "forbidden");
  expect_error (f, f->alice_token, "GET", forbidden, NULL, 403, "forbidden");
  expect_error (f, f->bob_token, "GET", "/messages/history?conversation_id=private_2_1", NULL, 400,
                "bad_request");
  expect_error (f, f->bob_token, "GET", "/messages/history", NULL, 400, "bad_request");
}

static void
test_conversations_read (Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) n1 = NULL, n2 = NULL, n3 = NULL, n4 = NULL;
  g_autofree char *body = g_strdup_printf ("{\"conversation_id\": \"%s\", \"seq\": 3}", f->conv);
  g_autofree char *back = g_strdup_printf ("{\"conversation_id\": \"%s\", \"seq\": 1}", f->conv);
  g_autofree char *others = imp_convid_private (f->bob, f->carol);
  g_autofree char *forbidden = g_strdup_printf ("{\"conversation_id\": \"%s\", \"seq\": 1}", others);
  JsonArray *convs;
  JsonObject *c, *o;
  guint status = 0;

  convs = json_object_get_array_member (get_ok (f, f->bob_token, "/conversations", &n1),
                                        "conversations");
  g_assert_cmpuint (json_array_get_length (convs), ==, 1);
  c = json_array_get_object_element (convs, 0);
  g_assert_cmpstr (json_object_get_string_member (c, "conversation_id"), ==, f->conv);
  g_assert_cmpstr (json_object_get_string_member (c, "kind"), ==, "private");
  g_assert_cmpint (json_object_get_int_member (c, "peer_id"), ==, f->alice);
  g_assert_cmpstr (json_object_get_string_member (c, "peer_username"), ==, "alice");
  g_assert_cmpint (json_object_get_int_member (c, "last_seq"), ==, 6);
  /* Five from alice; bob's own message does not count. */
  g_assert_cmpint (json_object_get_int_member (c, "unread"), ==, 5);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (c, "last_message"),
                                                  "content"), ==, "b0");

  n2 = test_http (f->session, f->port, "POST", "/conversations/read", body, -1, f->bob_token, &status);
  g_assert_cmpuint (status, ==, 200);
  o = json_node_get_object (n2);
  g_assert_cmpstr (json_object_get_string_member (o, "conversation_id"), ==, f->conv);
  g_assert_cmpint (json_object_get_int_member (o, "read_seq"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (o, "unread"), ==, 2);
  /* Never back. */
  n3 = test_http (f->session, f->port, "POST", "/conversations/read", back, -1, f->bob_token, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (n3), "read_seq"), ==, 3);
  convs = json_object_get_array_member (get_ok (f, f->bob_token, "/conversations", &n4),
                                        "conversations");
  c = json_array_get_object_element (convs, 0);
  g_assert_cmpint (json_object_get_int_member (c, "read_seq"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (c, "unread"), ==, 2);

  expect_error (f, f->alice_token, "POST", "/conversations/read", forbidden, 403, "forbidden");
  expect_error (f, f->bob_token, "POST", "/conversations/read", "{\"seq\": 1}", 400, "bad_request");
  expect_error (f, f->bob_token, "POST", "/conversations/read", "[1]", 400, "bad_request");
}

static gboolean
on_ephemeral (GPtrArray *records, gpointer data)
{
  GPtrArray *into = data;

  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);
      gsize len;
      const guint8 *bytes = g_bytes_get_data (rec->value, &len);
      Implus__Bus__GatewayRecord *gr = implus__bus__gateway_record__unpack (NULL, len, bytes);

      g_assert_nonnull (gr);
      g_assert_cmpint (gr->body_case, ==, IMPLUS__BUS__GATEWAY_RECORD__BODY_EPHEMERAL);
      g_ptr_array_add (into, gr);
    }
  return TRUE;
}

static void
gateway_record_free (gpointer p)
{
  implus__bus__gateway_record__free_unpacked (p, NULL);
}

static gboolean
wait_records (GPtrArray *seen, guint n)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (seen->len < n && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  return seen->len >= n;
}

/* POST /conversations/read announces the move: ReadUpdate to the reader's devices (with unread)
 * and to the peer (in the peer's numbering). */
static void
test_read_announced (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (gateway_record_free);
  g_autofree char *topic = imp_bus_push_topic ("gw1");
  g_autofree char *body = g_strdup_printf ("{\"conversation_id\": \"%s\", \"seq\": 3}", f->conv);
  g_autoptr(JsonNode) reply = NULL;
  g_autoptr(GError) error = NULL;
  ImpBusSubscription *sub;
  gboolean to_bob = FALSE, to_alice = FALSE;
  guint status = 0;

  imp_cache_presence_add (f->cache, f->alice, "gw1", 1, 600000);
  imp_cache_presence_add (f->cache, f->bob, "gw1", 2, 600000);
  sub = imp_bus_subscribe (f->bus, topic, "gw1", NULL, 16, on_ephemeral, seen, NULL, &error);
  g_assert_no_error (error);
  reply = test_http (f->session, f->port, "POST", "/conversations/read", body, -1, f->bob_token,
                     &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_true (wait_records (seen, 2));
  for (guint i = 0; i < seen->len; i++)
    {
      Implus__Bus__GatewayEphemeral *e = ((Implus__Bus__GatewayRecord *) g_ptr_array_index (seen, i))->ephemeral;
      Implus__ReadUpdate *u;

      g_assert_cmpint (e->envelope->body_case, ==, IMPLUS__ENVELOPE__BODY_READ_UPDATE);
      u = e->envelope->read_update;
      g_assert_cmpstr (u->conversation_id, ==, f->conv);
      g_assert_cmpint (u->user_id, ==, f->bob);
      g_assert_cmpint (u->read_seq, ==, 3);
      g_assert_cmpuint (e->exclude_conn_id, ==, 0);
      if (e->user_id == f->bob)
        {
          to_bob = TRUE;
          g_assert_cmpint (u->unread, ==, 2);
        }
      else
        {
          g_assert_cmpint (e->user_id, ==, f->alice);
          to_alice = TRUE;
        }
    }
  g_assert_true (to_bob && to_alice);
  imp_bus_unsubscribe (f->bus, sub);
}

/* GET /groups/sync pages the member's window; /conversations lists the group; read works on it. */
static void
test_groups (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpGroupChange) change = NULL;
  g_autoptr(ImpGroupRecord) group = NULL;
  g_autoptr(JsonNode) n1 = NULL, n2 = NULL, n3 = NULL, n4 = NULL;
  g_autofree char *conv = NULL, *path = NULL, *path2 = NULL, *body = NULL, *bad = NULL;
  JsonObject *o, *c = NULL;
  JsonArray *msgs, *convs;
  gint64 last, after = 0;
  guint status = 0, total = 0;

  change = imp_store_group_create (f->store, f->alice, "team", &f->bob, 1, 100, f->ids,
                                   imp_now_ms (), &error);
  g_assert_no_error (error);
  conv = imp_convid_group (change->group_id);
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *id = imp_uuid_new ();
      ImpChatRequest req = { f->alice, 0, id, "to the team", 1, imp_id_gen_next (f->ids),
                             imp_now_ms (), change->group_id };
      ImpChatResult res = { 0 };

      g_assert_true (imp_store_chat_commit (f->store, &req, 1, &res, &error));
      g_assert_cmpint (res.error_code, ==, 0);
      imp_chat_result_clear (&res);
    }
  group = imp_store_group_get (f->store, change->group_id, &error);
  g_assert_no_error (error);
  last = group->last_seq;

  /* Paged (page max 4), ascending, every row a group message, up to max_seq. */
  do
    {
      g_autoptr(JsonNode) page = NULL;

      g_free (path);
      path = g_strdup_printf ("/groups/sync?conversation_id=%s&after=%" G_GINT64_FORMAT, conv, after);
      o = get_ok (f, f->bob_token, path, &page);
      g_assert_cmpint (json_object_get_int_member (o, "max_seq"), ==, last);
      msgs = json_object_get_array_member (o, "messages");
      for (guint i = 0; i < json_array_get_length (msgs); i++)
        {
          JsonObject *m = json_array_get_object_element (msgs, i);

          g_assert_cmpint (json_object_get_int_member (m, "seq"), >, after);
          after = json_object_get_int_member (m, "seq");
          g_assert_cmpint (json_object_get_int_member (m, "group_id"), ==, change->group_id);
          g_assert_cmpstr (json_object_get_string_member (m, "conversation_id"), ==, conv);
          total++;
        }
      if (!json_object_get_boolean_member (o, "has_more"))
        break;
      g_assert_cmpuint (json_array_get_length (msgs), ==, 4);
    }
  while (total < 1000);
  g_assert_cmpint (after, ==, last);
  g_assert_cmpuint (total, >=, 3);

  /* Never a member: 403 not_member; not a group id: 400. */
  expect_error (f, f->carol_token, "GET", path, NULL, 403, "not_member");
  path2 = g_strdup_printf ("/groups/sync?conversation_id=%s", f->conv);
  expect_error (f, f->bob_token, "GET", path2, NULL, 400, "bad_request");

  convs = json_object_get_array_member (get_ok (f, f->bob_token, "/conversations", &n1),
                                        "conversations");
  for (guint i = 0; i < json_array_get_length (convs); i++)
    if (g_str_equal (json_object_get_string_member (json_array_get_object_element (convs, i),
                                                    "conversation_id"), conv))
      c = json_array_get_object_element (convs, i);
  g_assert_nonnull (c);
  g_assert_cmpstr (json_object_get_string_member (c, "kind"), ==, "group");
  g_assert_cmpint (json_object_get_int_member (c, "group_id"), ==, change->group_id);
  g_assert_cmpstr (json_object_get_string_member (c, "name"), ==, "team");
  g_assert_cmpint (json_object_get_int_member (c, "last_seq"), ==, last);
  g_assert_cmpint (json_object_get_int_member (c, "unread"), >=, 3);

  body = g_strdup_printf ("{\"conversation_id\": \"%s\", \"seq\": %" G_GINT64_FORMAT "}", conv, last);
  n2 = test_http (f->session, f->port, "POST", "/conversations/read", body, -1, f->bob_token, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (n2), "read_seq"), ==, last);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (n2), "unread"), ==, 0);
  bad = g_strdup_printf ("{\"conversation_id\": \"%s\", \"seq\": 1}", conv);
  expect_error (f, f->carol_token, "POST", "/conversations/read", bad, 403, "not_member");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/message-http/sync", Fixture, NULL, fixture_set_up, test_sync, fixture_tear_down);
  g_test_add ("/message-http/history", Fixture, NULL, fixture_set_up, test_history, fixture_tear_down);
  g_test_add ("/message-http/conversations-read", Fixture, NULL, fixture_set_up,
              test_conversations_read, fixture_tear_down);
  g_test_add ("/message-http/read-announced", Fixture, NULL, fixture_set_up, test_read_announced,
              fixture_tear_down);
  g_test_add ("/message-http/groups", Fixture, NULL, fixture_set_up, test_groups,
              fixture_tear_down);
  return g_test_run ();
}

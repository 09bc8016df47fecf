/* test-gateway.c: a real ImpGateway (ports 0) over real loopback sockets, with the local bus,
 * the memory cache and ImpAuth over a temporary SQLite store. Every wait is for a condition
 * with a deadline. */
#include <gio/gio.h>
#include <libsoup/soup.h>
#include <glib/gstdio.h>

#include "gateway/imp-gateway.h"
#include "imp-frame.h"
#include "imp-wire.h"
#include "imp-id.h"
#include "implus-bus.pb-c.h"

#define GW_ID      "gwtest"
#define MAX_FRAME  4096
#define DEADLINE   5000

/* ---- waiting ---- */

static gboolean
on_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the main context until cond holds or timeout_ms pass; evaluates to cond. */
#define WAIT_UNTIL(cond, timeout_ms) ({                                      \
  gboolean _timeout = FALSE;                                                 \
  guint _id = g_timeout_add ((timeout_ms), on_deadline, &_timeout);          \
  while (!(cond) && !_timeout)                                               \
    g_main_context_iteration (NULL, TRUE);                                   \
  if (!_timeout)                                                             \
    g_source_remove (_id);                                                   \
  (cond); })

/* ---- fixture ---- */

typedef struct {
  char            *dir;
  ImpStore        *store;
  ImpCache        *cache;
  ImpBus          *bus;
  ImpAuth         *auth;
  ImpServerConfig  config;
  ImpGateway      *gw;
  /* records seen on the bus */
  GPtrArray       *chats;      /* Implus__Bus__Chat */
  GPtrArray       *acks;       /* Implus__Bus__AckRecord */
  GPtrArray       *chat_keys;  /* char* */
  ImpBusSubscription *chat_sub;
  ImpBusSubscription *ack_sub;
} Fixture;

static void
chat_free (gpointer p)
{
  implus__bus__chat__free_unpacked (p, NULL);
}

static void
ack_free (gpointer p)
{
  implus__bus__ack_record__free_unpacked (p, NULL);
}

static gboolean
on_chats (GPtrArray *records, gpointer data)
{
  Fixture *fx = data;

  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);
      gsize len;
      const guint8 *bytes = g_bytes_get_data (rec->value, &len);
      Implus__Bus__Chat *chat = implus__bus__chat__unpack (NULL, len, bytes);

      g_assert_nonnull (chat);
      g_ptr_array_add (fx->chats, chat);
      g_ptr_array_add (fx->chat_keys, g_strdup (rec->key));
    }
  return TRUE;
}

static gboolean
on_acks (GPtrArray *records, gpointer data)
{
  Fixture *fx = data;

  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);
      gsize len;
      const guint8 *bytes = g_bytes_get_data (rec->value, &len);
      Implus__Bus__AckRecord *ack = implus__bus__ack_record__unpack (NULL, len, bytes);

      g_assert_nonnull (ack);
      g_ptr_array_add (fx->acks, ack);
    }
  return TRUE;
}

static void
fixture_setup_full (Fixture *fx, gint64 idle_timeout_ms, gint64 retransmit_ms)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *db = NULL;
  g_autofree char *secret = NULL;

  fx->dir = g_dir_make_tmp ("imp-gateway-XXXXXX", &error);
  g_assert_no_error (error);
  db = g_build_filename (fx->dir, "implus.db", NULL);
  secret = g_build_filename (fx->dir, "token.key", NULL);

  fx->store = imp_store_sqlite_open (db, &error);
  g_assert_no_error (error);
  fx->cache = imp_cache_memory_new ();
  fx->bus = imp_bus_local_new ();
  fx->auth = imp_auth_new (secret, 3600, fx->store, fx->cache, &error);
  g_assert_no_error (error);

  fx->config.bind = g_strdup ("127.0.0.1");
  fx->config.gateway_id = g_strdup (GW_ID);
  fx->config.tcp_port = 0;
  fx->config.ws_port = 0;
  fx->config.ws_path = g_strdup ("/websocket");
  fx->config.max_frame = MAX_FRAME;
  fx->config.heartbeat_interval_ms = 30000;
  fx->config.idle_timeout_ms = idle_timeout_ms;
  fx->config.retransmit_ms = retransmit_ms;
  fx->config.retransmit_max = 3;
  fx->config.max_unacked = 64;
  fx->config.max_outbuf = 1 << 20;
  fx->config.max_content = 1024;

  fx->chats = g_ptr_array_new_with_free_func (chat_free);
  fx->chat_keys = g_ptr_array_new_with_free_func (g_free);
  fx->acks = g_ptr_array_new_with_free_func (ack_free);
  fx->chat_sub = imp_bus_subscribe (fx->bus, IMP_TOPIC_CONVERSATION_MESSAGES, "test", NULL, 64,
                                    on_chats, fx, NULL, &error);
  g_assert_no_error (error);
  fx->ack_sub = imp_bus_subscribe (fx->bus, IMP_TOPIC_MESSAGE_ACKS, "test", NULL, 64,
                                   on_acks, fx, NULL, &error);
  g_assert_no_error (error);

  fx->gw = imp_gateway_new (&fx->config, fx->auth, fx->bus, fx->cache, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fx->gw);
  g_assert_cmpuint (imp_gateway_get_tcp_port (fx->gw), >, 0);
  g_assert_cmpuint (imp_gateway_get_ws_port (fx->gw), >, 0);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fixture_setup_full (fx, 30000, 2000);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autofree char *db = g_build_filename (fx->dir, "implus.db", NULL);
  g_autofree char *secret = g_build_filename (fx->dir, "token.key", NULL);

  g_clear_pointer (&fx->gw, imp_gateway_free);
  imp_bus_unsubscribe (fx->bus, fx->chat_sub);
  imp_bus_unsubscribe (fx->bus, fx->ack_sub);
  /* Let queued callbacks (auth results, libsoup closes) run against the freed gateway. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_ptr_array_unref (fx->chats);
  g_ptr_array_unref (fx->chat_keys);
  g_ptr_array_unref (fx->acks);
  imp_auth_free (fx->auth);
  imp_bus_free (fx->bus);
  imp_cache_free (fx->cache);
  imp_store_free (fx->store);
  g_free (fx->config.bind);
  g_free (fx->config.gateway_id);
  g_free (fx->config.ws_path);
  g_unlink (db);
  g_autofree char *wal = g_strconcat (db, "-wal", NULL);
  g_autofree char *shm = g_strconcat (db, "-shm", NULL);
  g_unlink (wal);
  g_unlink (shm);
  g_unlink (secret);
  g_rmdir (fx->dir);
  g_free (fx->dir);
}

static char *
issue (Fixture *fx, gint64 user_id, ImpTokenClaims *claims)
{
  return imp_auth_issue (fx->auth, user_id, claims);
}

/* ---- a TCP client that never blocks the main context ---- */

typedef struct {
  GSocket        *sock;
  GSource        *src;
  ImpFrameReader *reader;
  GQueue          frames;   /* ImpEnvelope */
  gboolean        eof;
  gboolean        bad;      /* the server sent bytes that are not frames */
} Client;

static void
client_pump (Client *c)
{
  while (!c->eof)
    {
      gsize len;
      guint8 *space = imp_frame_reader_space (c->reader, &len);
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (c->sock, (char *) space, len, NULL, &error);
      const guint8 *frame;
      gsize frame_len;

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return;
      if (n <= 0)
        {
          c->eof = TRUE;
          return;
        }
      imp_frame_reader_commit (c->reader, n);
      while (imp_frame_reader_next (c->reader, &frame, &frame_len, &error))
        {
          ImpEnvelope *env = imp_wire_decode (frame, frame_len, NULL);

          if (env == NULL)
            c->bad = TRUE;
          else
            g_queue_push_tail (&c->frames, env);
        }
      if (error != NULL)
        c->bad = TRUE;
    }
}

static gboolean
on_client_readable (GSocket *sock, GIOCondition cond, gpointer data)
{
  Client *c = data;

  client_pump (c);
  return c->eof ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static Client *
client_new (Fixture *fx)
{
  Client *c = g_new0 (Client, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, imp_gateway_get_tcp_port (fx->gw));

  c->sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_connect (c->sock, addr, NULL, &error);
  g_assert_no_error (error);
  g_socket_set_blocking (c->sock, FALSE);
  c->reader = imp_frame_reader_new (1 << 20);
  g_queue_init (&c->frames);
  c->src = g_socket_create_source (c->sock, G_IO_IN, NULL);
  g_source_set_callback (c->src, G_SOURCE_FUNC (on_client_readable), c, NULL);
  g_source_attach (c->src, NULL);
  return c;
}

static void
client_free (Client *c)
{
  g_source_destroy (c->src);
  g_source_unref (c->src);
  g_socket_close (c->sock, NULL);
  g_object_unref (c->sock);
  imp_frame_reader_free (c->reader);
  g_queue_clear_full (&c->frames, (GDestroyNotify) imp_wire_envelope_free);
  g_free (c);
}

static void
client_send_raw (Client *c, const void *data, gsize len)
{
  gsize done = 0;

  /* Loopback with small frames: the kernel takes it all; retry only on a full buffer. */
  while (done < len)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send (c->sock, (const char *) data + done, len - done, NULL, &error);

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_main_context_iteration (NULL, FALSE);
          continue;
        }
      g_assert_no_error (error);
      done += n;
    }
}

static void
client_send (Client *c, const ImpEnvelope *env)
{
  g_autoptr(GBytes) bytes = imp_wire_encode (env, TRUE);

  client_send_raw (c, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

/* Next frame, or NULL after EOF or timeout_ms. */
static ImpEnvelope *
client_next (Client *c, guint timeout_ms)
{
  WAIT_UNTIL (c->frames.length > 0 || c->eof, timeout_ms);
  return g_queue_pop_head (&c->frames);
}

static ImpEnvelope *
client_expect (Client *c, Implus__Envelope__BodyCase body)
{
  ImpEnvelope *env = client_next (c, DEADLINE);

  g_assert_nonnull (env);
  g_assert_cmpint (env->body_case, ==, body);
  return env;
}

static void
client_expect_error (Client *c, ImpErrorCode code)
{
  g_autoptr(ImpEnvelope) env = client_expect (c, IMPLUS__ENVELOPE__BODY_ERROR);

  g_assert_cmpint (env->error->code, ==, code);
}

static void
client_expect_eof (Client *c)
{
  g_assert_true (WAIT_UNTIL (c->eof, DEADLINE));
  g_assert_cmpuint (c->frames.length, ==, 0);
}

static void
client_send_auth (Client *c, const char *token, const char *device)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Auth auth = IMPLUS__AUTH__INIT;

  auth.token = (char *) token;
  auth.device_id = (char *) (device != NULL ? device : "");
  env.frame_id = 1;
  env.body_case = IMPLUS__ENVELOPE__BODY_AUTH;
  env.auth = &auth;
  client_send (c, &env);
}

static Client *
client_login (Fixture *fx, gint64 user_id, const char *device)
{
  g_autofree char *token = issue (fx, user_id, NULL);
  Client *c = client_new (fx);
  g_autoptr(ImpEnvelope) ok = NULL;

  client_send_auth (c, token, device);
  ok = client_expect (c, IMPLUS__ENVELOPE__BODY_AUTH_OK);
  g_assert_cmpint (ok->auth_ok->user_id, ==, user_id);
  return c;
}

static void
client_send_heartbeat (Client *c, gint64 client_time)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Heartbeat hb = IMPLUS__HEARTBEAT__INIT;

  hb.client_time_ms = client_time;
  env.body_case = IMPLUS__ENVELOPE__BODY_HEARTBEAT;
  env.heartbeat = &hb;
  client_send (c, &env);
}

static void
client_send_ack (Client *c, gint64 up_to)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Ack ack = IMPLUS__ACK__INIT;

  ack.up_to_seq = up_to;
  env.body_case = IMPLUS__ENVELOPE__BODY_ACK;
  env.ack = &ack;
  client_send (c, &env);
}

static gboolean
presence_has (Fixture *fx, gint64 user_id)
{
  g_auto(GStrv) gws = imp_cache_presence_gateways (fx->cache, user_id);

  return g_strv_contains ((const char * const *) gws, GW_ID);
}

static void
publish_record (Fixture *fx, const Implus__Bus__GatewayRecord *rec)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *topic = imp_bus_push_topic (GW_ID);
  gsize size = implus__bus__gateway_record__get_packed_size (rec);
  guint8 *buf = g_malloc (size + 1);
  g_autoptr(GBytes) value = NULL;

  implus__bus__gateway_record__pack (rec, buf);
  value = g_bytes_new_take (buf, size);
  imp_bus_publish (fx->bus, topic, "k", value, &error);
  g_assert_no_error (error);
}

static void
publish_push (Fixture *fx, gint64 user_id, gint64 seq)
{
  Implus__Bus__GatewayRecord rec = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  Implus__Bus__GatewayPush push = IMPLUS__BUS__GATEWAY_PUSH__INIT;
  Implus__Message msg = IMPLUS__MESSAGE__INIT;

  msg.msg_id = 1000 + seq;
  msg.seq = seq;
  msg.sender_id = 99;
  msg.to_user_id = user_id;
  msg.conversation_id = (char *) "private_7_99";
  msg.content = (char *) "hello";
  msg.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  push.user_id = user_id;
  push.message = &msg;
  rec.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_PUSH;
  rec.push = &push;
  publish_record (fx, &rec);
}

/* ---- tests ---- */

static void
test_auth_ok (Fixture *fx, gconstpointer data)
{
  g_autofree char *token = issue (fx, 7, NULL);
  Client *c = client_new (fx);
  g_autoptr(ImpEnvelope) env = NULL;

  client_send_auth (c, token, "phone");
  env = client_expect (c, IMPLUS__ENVELOPE__BODY_AUTH_OK);
  g_assert_cmpint (env->auth_ok->user_id, ==, 7);
  g_assert_cmpstr (env->auth_ok->device_id, ==, "phone");
  g_assert_cmpint (env->auth_ok->server_time_ms, >, 0);
  g_assert_cmpuint (env->auth_ok->heartbeat_interval_ms, ==, 30000);
  g_assert_cmpuint (env->auth_ok->idle_timeout_ms, ==, 30000);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 1);
  g_assert_true (presence_has (fx, 7));

  /* The peer leaves: the connection and its presence go. */
  client_free (c);
  g_assert_true (WAIT_UNTIL (imp_gateway_get_n_connections (fx->gw) == 0, DEADLINE));
  g_assert_false (presence_has (fx, 7));
}

static void
test_default_device (Fixture *fx, gconstpointer data)
{
  g_autofree char *token = issue (fx, 7, NULL);
  Client *c = client_new (fx);
  g_autoptr(ImpEnvelope) env = NULL;

  client_send_auth (c, token, NULL);
  env = client_expect (c, IMPLUS__ENVELOPE__BODY_AUTH_OK);
  g_assert_cmpstr (env->auth_ok->device_id, ==, "default");
  client_free (c);
}

static void
test_frame_before_auth (Fixture *fx, gconstpointer data)
{
  Client *c = client_new (fx);

  client_send_ack (c, 3);
  client_expect_error (c, IMP_ERROR_NOT_AUTHENTICATED);
  client_expect_eof (c);
  client_free (c);
}

static void
test_bad_token (Fixture *fx, gconstpointer data)
{
  g_autofree char *token = issue (fx, 7, NULL);
  Client *c = client_new (fx);

  /* A tampered signature. */
  token[strlen (token) - 2] = token[strlen (token) - 2] == 'A' ? 'B' : 'A';
  client_send_auth (c, token, "d");
  client_expect_error (c, IMP_ERROR_AUTH_FAILED);
  client_expect_eof (c);
  g_assert_false (presence_has (fx, 7));
  client_free (c);

  c = client_new (fx);
  client_send_auth (c, "", "d");
  client_expect_error (c, IMP_ERROR_AUTH_FAILED);
  client_expect_eof (c);
  client_free (c);
}

static void
test_revoked_token (Fixture *fx, gconstpointer data)
{
  ImpTokenClaims claims;
  g_autofree char *token = issue (fx, 7, &claims);
  Client *c = client_new (fx);

  imp_cache_token_revoke (fx->cache, claims.token_id, claims.expires_at);
  client_send_auth (c, token, "d");
  client_expect_error (c, IMP_ERROR_TOKEN_REVOKED);
  client_expect_eof (c);
  client_free (c);
}

static void
test_frame_too_large (Fixture *fx, gconstpointer data)
{
  Client *c = client_new (fx);
  guint8 header[IMP_FRAME_HEADER_SIZE];
  guint8 some[64] = { 0 };

  imp_frame_write_header (header, MAX_FRAME + 1);
  client_send_raw (c, header, sizeof header);
  client_send_raw (c, some, sizeof some);
  client_expect_error (c, IMP_ERROR_FRAME_TOO_LARGE);
  client_expect_eof (c);
  client_free (c);

  /* Exactly max is a frame (here not an Envelope, so BAD_FRAME, not FRAME_TOO_LARGE). */
  c = client_new (fx);
  {
    g_autofree guint8 *big = g_malloc0 (IMP_FRAME_HEADER_SIZE + MAX_FRAME);

    imp_frame_write_header (big, MAX_FRAME);
    memset (big + IMP_FRAME_HEADER_SIZE, 0xff, MAX_FRAME);
    client_send_raw (c, big, IMP_FRAME_HEADER_SIZE + MAX_FRAME);
  }
  client_expect_error (c, IMP_ERROR_BAD_FRAME);
  client_expect_eof (c);
  client_free (c);
}

static void
test_garbage (Fixture *fx, gconstpointer data)
{
  Client *c = client_new (fx);
  const guint8 garbage[] = { 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff };

  client_send_raw (c, garbage, sizeof garbage);
  client_expect_error (c, IMP_ERROR_BAD_FRAME);
  client_expect_eof (c);
  client_free (c);

  /* A zero length prefix is no frame either. */
  c = client_new (fx);
  client_send_raw (c, garbage, 4 - 1);
  client_send_raw (c, (const guint8 *) "\0", 1);
  client_expect_error (c, IMP_ERROR_BAD_FRAME);
  client_expect_eof (c);
  client_free (c);
}

static void
test_heartbeat (Fixture *fx, gconstpointer data)
{
  Client *c = client_new (fx);
  g_autoptr(ImpEnvelope) a = NULL;
  g_autoptr(ImpEnvelope) b = NULL;

  /* Allowed before Auth. */
  client_send_heartbeat (c, 1234);
  a = client_expect (c, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
  g_assert_cmpint (a->heartbeat->client_time_ms, ==, 1234);
  g_assert_cmpint (a->heartbeat->server_time_ms, >, 0);
  client_free (c);

  c = client_login (fx, 8, "d");
  client_send_heartbeat (c, 5678);
  b = client_expect (c, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
  g_assert_cmpint (b->heartbeat->client_time_ms, ==, 5678);
  g_assert_true (presence_has (fx, 8));
  client_free (c);
}

static void
test_server_only_frame (Fixture *fx, gconstpointer data)
{
  Client *c = client_login (fx, 7, "d");
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Kick kick = IMPLUS__KICK__INIT;
  g_autoptr(ImpEnvelope) hb = NULL;

  env.frame_id = 42;
  env.body_case = IMPLUS__ENVELOPE__BODY_KICK;
  env.kick = &kick;
  client_send (c, &env);
  {
    g_autoptr(ImpEnvelope) err = client_expect (c, IMPLUS__ENVELOPE__BODY_ERROR);

    g_assert_cmpint (err->error->code, ==, IMP_ERROR_BAD_FRAME);
    g_assert_cmpuint (err->error->ref_frame_id, ==, 42);
  }
  /* The connection stays. */
  client_send_heartbeat (c, 1);
  hb = client_expect (c, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
  g_assert_false (c->eof);
  client_free (c);
}

static void
idle_setup (Fixture *fx, gconstpointer data)
{
  fixture_setup_full (fx, 200, 2000);
}

static void
test_idle_timeout (Fixture *fx, gconstpointer data)
{
  gint64 start = g_get_monotonic_time ();
  Client *c = client_login (fx, 7, "d");

  g_assert_true (presence_has (fx, 7));
  client_expect_eof (c);
  /* Silent since its Auth frame, sent after start: closed no earlier than idle_timeout_ms. */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 200 * 1000);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 0);
  g_assert_false (presence_has (fx, 7));
  client_free (c);
}

static void
test_chat_to_bus (Fixture *fx, gconstpointer data)
{
  Client *c = client_login (fx, 7, "laptop");
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__ChatUp chat = IMPLUS__CHAT_UP__INIT;
  g_autofree char *uuid = imp_uuid_new ();
  Implus__Bus__Chat *rec;

  chat.client_msg_id = uuid;
  chat.to_user_id = 10;
  chat.content = (char *) "hi";
  chat.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  env.body_case = IMPLUS__ENVELOPE__BODY_CHAT_UP;
  env.chat_up = &chat;
  client_send (c, &env);

  g_assert_true (WAIT_UNTIL (fx->chats->len == 1, DEADLINE));
  rec = g_ptr_array_index (fx->chats, 0);
  g_assert_cmpstr (g_ptr_array_index (fx->chat_keys, 0), ==, "private_7_10");
  g_assert_cmpint (rec->user_id, ==, 7);
  g_assert_cmpstr (rec->device_id, ==, "laptop");
  g_assert_cmpstr (rec->gateway_id, ==, GW_ID);
  g_assert_cmpuint (rec->conn_id, >, 0);
  g_assert_nonnull (rec->chat);
  g_assert_cmpstr (rec->chat->client_msg_id, ==, uuid);
  g_assert_cmpstr (rec->chat->content, ==, "hi");

  /* Claiming another sender: refused at the gateway, nothing on the bus. */
  chat.sender_id = 8;
  client_send (c, &env);
  {
    g_autoptr(ImpEnvelope) r = client_expect (c, IMPLUS__ENVELOPE__BODY_RECEIPT);

    g_assert_cmpint (r->receipt->error_code, ==, IMP_ERROR_WRONG_SENDER);
    g_assert_cmpstr (r->receipt->client_msg_id, ==, uuid);
  }
  /* Empty content too. */
  chat.sender_id = 7;
  chat.content = (char *) "";
  client_send (c, &env);
  {
    g_autoptr(ImpEnvelope) r = client_expect (c, IMPLUS__ENVELOPE__BODY_RECEIPT);

    g_assert_cmpint (r->receipt->error_code, ==, IMP_ERROR_CONTENT_EMPTY);
  }
  g_assert_cmpuint (fx->chats->len, ==, 1);

  /* A receipt for this connection from the worker reaches it. */
  {
    Implus__Bus__GatewayRecord gr = IMPLUS__BUS__GATEWAY_RECORD__INIT;
    Implus__Bus__GatewayReceipt grr = IMPLUS__BUS__GATEWAY_RECEIPT__INIT;
    Implus__SendReceipt receipt = IMPLUS__SEND_RECEIPT__INIT;
    g_autoptr(ImpEnvelope) r = NULL;

    receipt.client_msg_id = uuid;
    receipt.msg_id = 555;
    receipt.seq = 1;
    grr.conn_id = rec->conn_id;
    grr.receipt = &receipt;
    gr.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_RECEIPT;
    gr.receipt = &grr;
    publish_record (fx, &gr);
    r = client_expect (c, IMPLUS__ENVELOPE__BODY_RECEIPT);
    g_assert_cmpint (r->receipt->msg_id, ==, 555);
    g_assert_cmpint (r->receipt->error_code, ==, 0);
  }
  client_free (c);
}

static void
test_pipelined_after_auth (Fixture *fx, gconstpointer data)
{
  g_autofree char *token = issue (fx, 7, NULL);
  Client *c = client_new (fx);
  g_autoptr(ImpEnvelope) ok = NULL;
  g_autoptr(ImpEnvelope) hb = NULL;

  /* Frames sent right behind Auth wait for its result, in order. */
  client_send_auth (c, token, "d");
  client_send_heartbeat (c, 77);
  ok = client_expect (c, IMPLUS__ENVELOPE__BODY_AUTH_OK);
  hb = client_expect (c, IMPLUS__ENVELOPE__BODY_HEARTBEAT);
  g_assert_cmpint (hb->heartbeat->client_time_ms, ==, 77);
  client_free (c);
}

static void
retransmit_setup (Fixture *fx, gconstpointer data)
{
  fixture_setup_full (fx, 30000, 50);
}

static void
test_push_retransmit_ack (Fixture *fx, gconstpointer data)
{
  Client *c = client_login (fx, 7, "d");
  Client *other = client_login (fx, 7, "tablet");
  guint n_other = 0;

  publish_push (fx, 7, 5);
  for (guint i = 0; i < 2; i++)
    {
      /* The first delivery, then at least one retransmission. */
      g_autoptr(ImpEnvelope) p = client_expect (c, IMPLUS__ENVELOPE__BODY_PUSH);

      g_assert_cmpint (p->push->message->seq, ==, 5);
      g_assert_cmpstr (p->push->message->content, ==, "hello");
    }
  client_send_ack (c, 5);
  g_assert_true (WAIT_UNTIL (fx->acks->len >= 1, DEADLINE));
  {
    Implus__Bus__AckRecord *ack = g_ptr_array_index (fx->acks, 0);

    g_assert_cmpint (ack->user_id, ==, 7);
    g_assert_cmpstr (ack->device_id, ==, "d");
    g_assert_cmpint (ack->up_to_seq, ==, 5);
  }

  /* Acked: nothing more comes (a heartbeat round trip flushes what was in flight). */
  client_send_heartbeat (c, 1);
  while (TRUE)
    {
      g_autoptr(ImpEnvelope) e = client_next (c, DEADLINE);

      g_assert_nonnull (e);
      if (e->body_case == IMPLUS__ENVELOPE__BODY_HEARTBEAT)
        break;
      g_assert_cmpint (e->body_case, ==, IMPLUS__ENVELOPE__BODY_PUSH);
    }
  g_assert_null (client_next (c, 500));

  /* The other device never acks: the first send plus retransmit_max (3) retries, then silence. */
  WAIT_UNTIL ((n_other = other->frames.length) >= 4, DEADLINE);
  g_assert_cmpuint (n_other, ==, 4);
  g_assert_false (WAIT_UNTIL (other->frames.length > 4, 1000));
  client_free (c);
  client_free (other);
}

static void
test_push_unacked_cap (Fixture *fx, gconstpointer data)
{
  Client *c = client_login (fx, 7, "d");

  /* max_unacked = 64: the 65th unacknowledged push marks a slow reader. */
  for (gint64 seq = 1; seq <= 65; seq++)
    publish_push (fx, 7, seq);
  g_assert_true (WAIT_UNTIL (c->eof, DEADLINE));
  g_assert_cmpuint (c->frames.length, ==, 64);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 0);
  client_free (c);
}

static void
test_second_login_kicks (Fixture *fx, gconstpointer data)
{
  Client *a = client_login (fx, 7, "phone");
  Client *b = NULL;
  Client *other = client_login (fx, 7, "laptop");
  g_autoptr(ImpEnvelope) k = NULL;

  b = client_login (fx, 7, "phone");
  k = client_expect (a, IMPLUS__ENVELOPE__BODY_KICK);
  g_assert_cmpint (k->kick->reason, ==, IMPLUS__KICK_REASON__KICK_REASON_REPLACED);
  client_expect_eof (a);
  g_assert_true (presence_has (fx, 7));
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 2);
  g_assert_cmpuint (other->frames.length, ==, 0);
  g_assert_false (other->eof);
  client_free (a);
  client_free (b);
  client_free (other);
}

static void
test_bus_kick_by_token (Fixture *fx, gconstpointer data)
{
  ImpTokenClaims claims;
  g_autofree char *token = issue (fx, 7, &claims);
  Client *a = client_new (fx);
  Client *b = client_login (fx, 7, "other");
  Implus__Bus__GatewayRecord rec = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  Implus__Bus__GatewayKick kick = IMPLUS__BUS__GATEWAY_KICK__INIT;
  g_autoptr(ImpEnvelope) ok = NULL;
  g_autoptr(ImpEnvelope) k = NULL;

  client_send_auth (a, token, "mine");
  ok = client_expect (a, IMPLUS__ENVELOPE__BODY_AUTH_OK);

  kick.user_id = 7;
  kick.token_id = claims.token_id;
  kick.reason = IMPLUS__KICK_REASON__KICK_REASON_TOKEN_REVOKED;
  kick.message = (char *) "logged out";
  rec.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_KICK;
  rec.kick = &kick;
  publish_record (fx, &rec);

  k = client_expect (a, IMPLUS__ENVELOPE__BODY_KICK);
  g_assert_cmpint (k->kick->reason, ==, IMPLUS__KICK_REASON__KICK_REASON_TOKEN_REVOKED);
  g_assert_cmpstr (k->kick->message, ==, "logged out");
  client_expect_eof (a);
  /* b has another token: untouched. */
  g_assert_false (b->eof);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 1);
  client_free (a);
  client_free (b);
}

static void
test_shutdown_kicks (Fixture *fx, gconstpointer data)
{
  Client *c = client_login (fx, 7, "d");
  g_autoptr(ImpEnvelope) k = NULL;

  imp_gateway_shutdown (fx->gw);
  k = client_expect (c, IMPLUS__ENVELOPE__BODY_KICK);
  g_assert_cmpint (k->kick->reason, ==, IMPLUS__KICK_REASON__KICK_REASON_SHUTDOWN);
  client_expect_eof (c);
  client_free (c);
}

static void
per_ip_setup (Fixture *fx, gconstpointer data)
{
  fixture_setup_full (fx, 30000, 2000);
  /* The gateway reads the config it was given at each accept. */
  fx->config.max_connections_per_ip = 2;
}

static void
test_per_ip_limit (Fixture *fx, gconstpointer data)
{
  Client *a = client_login (fx, 7, "a");
  Client *b = client_login (fx, 8, "b");
  Client *c = client_new (fx);

  /* The third from 127.0.0.1 is closed at once, without a word. */
  client_expect_eof (c);
  client_free (c);
  g_assert_cmpuint (imp_gateway_get_n_connections (fx->gw), ==, 2);

  /* A slot frees when one leaves. */
  client_free (a);
  g_assert_true (WAIT_UNTIL (imp_gateway_get_n_connections (fx->gw) == 1, DEADLINE));
  c = client_login (fx, 9, "c");
  client_free (c);
  client_free (b);
}

/* ---- WebSocket ---- */

typedef struct {
  SoupWebsocketConnection *ws;
  GError *error;
  GQueue frames;        /* ImpEnvelope */
  gboolean closed;
} WsClient;

static void
on_ws_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
  WsClient *w = data;
  ImpEnvelope *env;

  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_BINARY);
  env = imp_wire_decode (g_bytes_get_data (message, NULL), g_bytes_get_size (message), NULL);
  g_assert_nonnull (env);
  g_queue_push_tail (&w->frames, env);
}

static void
on_ws_closed (SoupWebsocketConnection *ws, gpointer data)
{
  ((WsClient *) data)->closed = TRUE;
}

static void
on_ws_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  WsClient *w = data;

  w->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &w->error);
  if (w->ws != NULL)
    {
      g_signal_connect (w->ws, "message", G_CALLBACK (on_ws_message), w);
      g_signal_connect (w->ws, "closed", G_CALLBACK (on_ws_closed), w);
    }
}

static WsClient *
ws_connect (Fixture *fx, SoupSession *session)
{
  WsClient *w = g_new0 (WsClient, 1);
  g_autofree char *uri = g_strdup_printf ("ws://127.0.0.1:%u/websocket", imp_gateway_get_ws_port (fx->gw));
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);

  g_queue_init (&w->frames);
  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        on_ws_connected, w);
  g_assert_true (WAIT_UNTIL (w->ws != NULL || w->error != NULL, DEADLINE));
  g_assert_no_error (w->error);
  return w;
}

static void
ws_free (WsClient *w)
{
  if (w->ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (w->ws, w);
      if (soup_websocket_connection_get_state (w->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (w->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      g_object_unref (w->ws);
    }
  g_queue_clear_full (&w->frames, (GDestroyNotify) imp_wire_envelope_free);
  g_free (w);
}

static void
ws_send (WsClient *w, const ImpEnvelope *env)
{
  g_autoptr(GBytes) bytes = imp_wire_encode (env, FALSE);

  soup_websocket_connection_send_binary (w->ws, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

static ImpEnvelope *
ws_expect (WsClient *w, Implus__Envelope__BodyCase body)
{
  ImpEnvelope *env;

  g_assert_true (WAIT_UNTIL (w->frames.length > 0, DEADLINE));
  env = g_queue_pop_head (&w->frames);
  g_assert_cmpint (env->body_case, ==, body);
  return env;
}

static void
test_websocket (Fixture *fx, gconstpointer data)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *token = issue (fx, 7, NULL);
  WsClient *w = ws_connect (fx, session);
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Auth auth = IMPLUS__AUTH__INIT;
  g_autoptr(ImpEnvelope) ok = NULL;
  g_autoptr(ImpEnvelope) push = NULL;
  g_autoptr(ImpEnvelope) err = NULL;

  auth.token = token;
  auth.device_id = (char *) "browser";
  env.body_case = IMPLUS__ENVELOPE__BODY_AUTH;
  env.auth = &auth;
  ws_send (w, &env);
  ok = ws_expect (w, IMPLUS__ENVELOPE__BODY_AUTH_OK);
  g_assert_cmpint (ok->auth_ok->user_id, ==, 7);
  g_assert_cmpstr (ok->auth_ok->device_id, ==, "browser");
  g_assert_true (presence_has (fx, 7));

  /* Pushes reach WebSocket connections too. */
  publish_push (fx, 7, 1);
  push = ws_expect (w, IMPLUS__ENVELOPE__BODY_PUSH);
  g_assert_cmpint (push->push->message->seq, ==, 1);

  /* Text frames are refused and the connection closed. */
  soup_websocket_connection_send_text (w->ws, "{\"hello\": 1}");
  err = ws_expect (w, IMPLUS__ENVELOPE__BODY_ERROR);
  g_assert_cmpint (err->error->code, ==, IMP_ERROR_BAD_FRAME);
  g_assert_true (WAIT_UNTIL (w->closed, DEADLINE));
  g_assert_true (WAIT_UNTIL (imp_gateway_get_n_connections (fx->gw) == 0, DEADLINE));
  g_assert_false (presence_has (fx, 7));
  ws_free (w);
}

static void
test_websocket_before_auth (Fixture *fx, gconstpointer data)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  WsClient *w = ws_connect (fx, session);
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Ack ack = IMPLUS__ACK__INIT;
  g_autoptr(ImpEnvelope) err = NULL;

  env.body_case = IMPLUS__ENVELOPE__BODY_ACK;
  env.ack = &ack;
  ws_send (w, &env);
  err = ws_expect (w, IMPLUS__ENVELOPE__BODY_ERROR);
  g_assert_cmpint (err->error->code, ==, IMP_ERROR_NOT_AUTHENTICATED);
  g_assert_true (WAIT_UNTIL (w->closed, DEADLINE));
  ws_free (w);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, setup, func) \
  g_test_add (path, Fixture, NULL, setup, func, fixture_teardown)
  ADD ("/gateway/auth/ok", fixture_setup, test_auth_ok);
  ADD ("/gateway/auth/default-device", fixture_setup, test_default_device);
  ADD ("/gateway/auth/frame-before-auth", fixture_setup, test_frame_before_auth);
  ADD ("/gateway/auth/bad-token", fixture_setup, test_bad_token);
  ADD ("/gateway/auth/revoked-token", fixture_setup, test_revoked_token);
  ADD ("/gateway/auth/pipelined", fixture_setup, test_pipelined_after_auth);
  ADD ("/gateway/auth/second-login-kicks", fixture_setup, test_second_login_kicks);
  ADD ("/gateway/frame/too-large", fixture_setup, test_frame_too_large);
  ADD ("/gateway/frame/garbage", fixture_setup, test_garbage);
  ADD ("/gateway/frame/server-only", fixture_setup, test_server_only_frame);
  ADD ("/gateway/heartbeat", fixture_setup, test_heartbeat);
  ADD ("/gateway/idle-timeout", idle_setup, test_idle_timeout);
  ADD ("/gateway/chat/to-bus", fixture_setup, test_chat_to_bus);
  ADD ("/gateway/push/retransmit-ack", retransmit_setup, test_push_retransmit_ack);
  ADD ("/gateway/push/unacked-cap", fixture_setup, test_push_unacked_cap);
  ADD ("/gateway/kick/by-token", fixture_setup, test_bus_kick_by_token);
  ADD ("/gateway/shutdown", fixture_setup, test_shutdown_kicks);
  ADD ("/gateway/per-ip-limit", per_ip_setup, test_per_ip_limit);
  ADD ("/gateway/websocket/auth-push-text", fixture_setup, test_websocket);
  ADD ("/gateway/websocket/before-auth", fixture_setup, test_websocket_before_auth);
#undef ADD
  return g_test_run ();
}

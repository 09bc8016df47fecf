/* gateway-fixture.c: see gateway-fixture.h. */
#include <glib/gstdio.h>

#include "gateway-fixture.h"

/* ---- waiting ---- */

gboolean
on_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the main context until cond holds or timeout_ms pass; evaluates to cond. */

/* ---- fixture ---- */

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

void
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

void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fixture_setup_full (fx, 30000, 2000);
}

void
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

char *
issue (Fixture *fx, gint64 user_id, ImpTokenClaims *claims)
{
  return imp_auth_issue (fx->auth, user_id, claims);
}

/* ---- a TCP client that never blocks the main context ---- */

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

Client *
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

void
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

void
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

void
client_send (Client *c, const ImpEnvelope *env)
{
  g_autoptr(GBytes) bytes = imp_wire_encode (env, TRUE);

  client_send_raw (c, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

/* Next frame, or NULL after EOF or timeout_ms. */
ImpEnvelope *
client_next (Client *c, guint timeout_ms)
{
  WAIT_UNTIL (c->frames.length > 0 || c->eof, timeout_ms);
  return g_queue_pop_head (&c->frames);
}

ImpEnvelope *
client_expect (Client *c, Implus__Envelope__BodyCase body)
{
  ImpEnvelope *env = client_next (c, DEADLINE);

  g_assert_nonnull (env);
  g_assert_cmpint (env->body_case, ==, body);
  return env;
}

void
client_expect_error (Client *c, ImpErrorCode code)
{
  g_autoptr(ImpEnvelope) env = client_expect (c, IMPLUS__ENVELOPE__BODY_ERROR);

  g_assert_cmpint (env->error->code, ==, code);
}

void
client_expect_eof (Client *c)
{
  g_assert_true (WAIT_UNTIL (c->eof, DEADLINE));
  g_assert_cmpuint (c->frames.length, ==, 0);
}

void
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

Client *
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

void
client_send_heartbeat (Client *c, gint64 client_time)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Heartbeat hb = IMPLUS__HEARTBEAT__INIT;

  hb.client_time_ms = client_time;
  env.body_case = IMPLUS__ENVELOPE__BODY_HEARTBEAT;
  env.heartbeat = &hb;
  client_send (c, &env);
}

void
client_send_ack (Client *c, gint64 up_to)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Ack ack = IMPLUS__ACK__INIT;

  ack.up_to_seq = up_to;
  env.body_case = IMPLUS__ENVELOPE__BODY_ACK;
  env.ack = &ack;
  client_send (c, &env);
}

gboolean
presence_has (Fixture *fx, gint64 user_id)
{
  g_auto(GStrv) gws = imp_cache_presence_gateways (fx->cache, user_id);

  return g_strv_contains ((const char * const *) gws, GW_ID);
}

void
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

void
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


/* client-fake.c: the fake server of client-fake.h. */
#include "client-fake.h"

static gboolean
wake_cb (gpointer user_data)
{
  *(guint *) user_data = 0;
  return G_SOURCE_REMOVE;
}

gboolean
wait_until (gboolean (*cond) (Fixture *), Fixture *f)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!cond (f))
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      /* Wakes at least every 50 ms so the deadline is checked even with no event. */
      guint id = g_timeout_add (50, wake_cb, &id);
      g_main_context_iteration (NULL, TRUE);
      if (id)
        g_source_remove (id);
    }
  return TRUE;
}

ImpMessage *
stream_add (Fixture *f, gint64 sender, gint64 to, const char *content, const char *cmid)
{
  ImpMessage *m = imp_message_new ();

  m->seq = f->stream->len + 1;
  m->msg_id = 5000 + m->seq;
  m->conversation_id = g_strdup ("private_1_2");
  m->sender_id = sender;
  m->to_user_id = to;
  m->content = g_strdup (content);
  m->send_time_ms = 1700000000000 + m->seq;
  m->client_msg_id = g_strdup (cmid);
  g_ptr_array_add (f->stream, m);
  return m;
}

/* ---- fake gateway ---- */

void
gw_send (Fixture *f, ImpEnvelope *env)
{
  g_autoptr(GBytes) bytes = imp_wire_encode (env, TRUE);
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  g_assert_nonnull (f->conn);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (f->conn)),
                                            data, len, NULL, NULL, NULL));
}

void
gw_push (Fixture *f, gint64 seq)
{
  ImpMessage *m = f->stream->pdata[seq - 1];
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Push push = IMPLUS__PUSH__INIT;
  Implus__Message msg = IMPLUS__MESSAGE__INIT;

  msg.msg_id = m->msg_id;
  msg.conversation_id = m->conversation_id;
  msg.sender_id = m->sender_id;
  msg.to_user_id = m->to_user_id;
  msg.seq = m->seq;
  msg.content = m->content;
  msg.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  msg.send_time_ms = m->send_time_ms;
  msg.client_msg_id = m->client_msg_id ? m->client_msg_id : "";
  push.message = &msg;
  env.body_case = IMPLUS__ENVELOPE__BODY_PUSH;
  env.push = &push;
  gw_send (f, &env);
}

ImpMessage *
gstream_add (Fixture *f, gint64 sender, const char *content, const char *cmid)
{
  ImpMessage *m = imp_message_new ();

  m->seq = f->gstream->len + 1;
  m->msg_id = 9000 + m->seq;
  m->conversation_id = g_strdup (GROUP_CONV);
  m->group_id = GROUP_ID;
  m->sender_id = sender;
  m->content = g_strdup (content);
  m->send_time_ms = 1700000000000 + m->seq;
  m->client_msg_id = g_strdup (cmid);
  g_ptr_array_add (f->gstream, m);
  return m;
}

void
gw_push_group (Fixture *f, gint64 seq)
{
  ImpMessage *m = f->gstream->pdata[seq - 1];
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Push push = IMPLUS__PUSH__INIT;
  Implus__Message msg = IMPLUS__MESSAGE__INIT;

  msg.msg_id = m->msg_id;
  msg.conversation_id = m->conversation_id;
  msg.group_id = m->group_id;
  msg.sender_id = m->sender_id;
  msg.seq = m->seq;
  msg.content = m->content;
  msg.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  msg.send_time_ms = m->send_time_ms;
  msg.client_msg_id = m->client_msg_id ? m->client_msg_id : "";
  push.message = &msg;
  env.body_case = IMPLUS__ENVELOPE__BODY_PUSH;
  env.push = &push;
  gw_send (f, &env);
}

void
gw_close (Fixture *f)
{
  if (f->conn)
    {
      g_io_stream_close (G_IO_STREAM (f->conn), NULL, NULL);
      g_clear_object (&f->conn);
    }
}

static void
gw_handle (Fixture *f, const ImpEnvelope *env)
{
  Implus__Envelope out = IMPLUS__ENVELOPE__INIT;

  switch (env->body_case)
    {
    case IMPLUS__ENVELOPE__BODY_AUTH:
      {
        Implus__AuthOk ok = IMPLUS__AUTH_OK__INIT;

        g_assert_cmpstr (env->auth->token, ==, "tok-1");
        g_assert_cmpstr (env->auth->device_id, !=, "");
        f->n_auths++;
        ok.user_id = 1;
        ok.device_id = env->auth->device_id;
        ok.heartbeat_interval_ms = 30000;
        ok.idle_timeout_ms = 90000;
        out.body_case = IMPLUS__ENVELOPE__BODY_AUTH_OK;
        out.auth_ok = &ok;
        gw_send (f, &out);
        break;
      }
    case IMPLUS__ENVELOPE__BODY_ACK:
      g_assert_cmpint (env->ack->up_to_seq, >=, f->last_ack); /* cumulative, never backwards */
      f->last_ack = env->ack->up_to_seq;
      f->n_acks++;
      break;
    case IMPLUS__ENVELOPE__BODY_GROUP_ACK:
      g_assert_cmpstr (env->group_ack->conversation_id, ==, GROUP_CONV);
      g_assert_cmpint (env->group_ack->up_to_seq, >=, f->last_group_ack);
      f->last_group_ack = env->group_ack->up_to_seq;
      f->n_group_acks++;
      break;
    case IMPLUS__ENVELOPE__BODY_READ_MARK:
      g_ptr_array_add (f->read_marks, g_strdup_printf ("%s:%" G_GINT64_FORMAT,
                                                       env->read_mark->conversation_id, env->read_mark->seq));
      break;
    case IMPLUS__ENVELOPE__BODY_TYPING:
      g_ptr_array_add (f->typing_to, g_strdup_printf ("%" G_GINT64_FORMAT, env->typing->to_user_id));
      break;
    case IMPLUS__ENVELOPE__BODY_CHAT_UP:
      g_ptr_array_add (f->chat_ups, g_strdup (env->chat_up->client_msg_id));
      if (f->answer_chat && env->chat_up->group_id != 0)
        {
          Implus__SendReceipt r = IMPLUS__SEND_RECEIPT__INIT;
          ImpMessage *own = NULL;

          g_assert_cmpint (env->chat_up->group_id, ==, GROUP_ID);
          g_assert_cmpint (env->chat_up->to_user_id, ==, 0);
          for (guint i = 0; i < f->gstream->len; i++)
            if (g_strcmp0 (((ImpMessage *) f->gstream->pdata[i])->client_msg_id, env->chat_up->client_msg_id) == 0)
              own = f->gstream->pdata[i];
          if (own == NULL)
            own = gstream_add (f, 1, env->chat_up->content, env->chat_up->client_msg_id);
          r.client_msg_id = own->client_msg_id;
          r.msg_id = own->msg_id;
          r.seq = own->seq;
          r.server_time_ms = own->send_time_ms;
          r.conversation_id = own->conversation_id;
          out.body_case = IMPLUS__ENVELOPE__BODY_RECEIPT;
          out.receipt = &r;
          gw_send (f, &out);
        }
      else if (f->answer_chat)
        {
          Implus__SendReceipt r = IMPLUS__SEND_RECEIPT__INIT;
          ImpMessage *own = NULL;

          /* Dedup like the server: a repeat gets the original receipt. */
          for (guint i = 0; i < f->stream->len; i++)
            if (g_strcmp0 (((ImpMessage *) f->stream->pdata[i])->client_msg_id, env->chat_up->client_msg_id) == 0)
              own = f->stream->pdata[i];
          if (own == NULL)
            own = stream_add (f, 1, env->chat_up->to_user_id, env->chat_up->content, env->chat_up->client_msg_id);
          r.client_msg_id = own->client_msg_id;
          r.msg_id = own->msg_id;
          r.seq = own->seq;
          r.server_time_ms = own->send_time_ms;
          r.conversation_id = own->conversation_id;
          out.body_case = IMPLUS__ENVELOPE__BODY_RECEIPT;
          out.receipt = &r;
          gw_send (f, &out);
        }
      break;
    default:
      break;
    }
}

static void gw_read (Fixture *f);

static void
gw_read_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Fixture *f = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, NULL);
  const guint8 *data;
  gsize len;
  g_autoptr(GError) error = NULL;

  if (n <= 0 || f->conn == NULL || g_io_stream_get_input_stream (G_IO_STREAM (f->conn)) != G_INPUT_STREAM (source))
    return;
  imp_frame_reader_feed (f->reader, f->buf, n);
  while (imp_frame_reader_next (f->reader, &data, &len, &error))
    {
      g_autoptr(ImpEnvelope) env = imp_wire_decode (data, len, &error);
      g_assert_no_error (error);
      gw_handle (f, env);
      if (f->conn == NULL)
        return;
    }
  g_assert_no_error (error);
  gw_read (f);
}

static void
gw_read (Fixture *f)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (f->conn)), f->buf, sizeof f->buf,
                             G_PRIORITY_DEFAULT, NULL, gw_read_cb, f);
}

static gboolean
gw_incoming_cb (GSocketService *service, GSocketConnection *conn, GObject *src, gpointer user_data)
{
  Fixture *f = user_data;

  gw_close (f);
  f->conn = g_object_ref (conn);
  g_clear_pointer (&f->reader, imp_frame_reader_free);
  f->reader = imp_frame_reader_new (64 * 1024);
  gw_read (f);
  return TRUE;
}

/* ---- fake HTTP ---- */

static void
http_json (SoupServerMessage *msg, guint status, JsonBuilder *b)
{
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, FALSE);

  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, text, strlen (text));
}

static void
add_messages (JsonBuilder *b, GPtrArray *stream, gint64 after, gint64 floor, gboolean *has_more)
{
  guint n = 0;
  gint64 seq;

  json_builder_set_member_name (b, "messages");
  json_builder_begin_array (b);
  for (seq = MAX (after, floor) + 1; seq <= (gint64) stream->len && n < PAGE_MAX; seq++, n++)
    {
      ImpMessage *m = stream->pdata[seq - 1];

      json_builder_begin_object (b);
#define INT(k, v) json_builder_set_member_name (b, k); json_builder_add_int_value (b, v)
      INT ("seq", m->seq); INT ("msg_id", m->msg_id); INT ("sender_id", m->sender_id);
      INT ("to_user_id", m->to_user_id); INT ("content_type", 1); INT ("send_time_ms", m->send_time_ms);
      if (m->group_id)
        {
          INT ("group_id", m->group_id);
        }
#undef INT
      json_builder_set_member_name (b, "conversation_id");
      json_builder_add_string_value (b, m->conversation_id);
      json_builder_set_member_name (b, "content");
      json_builder_add_string_value (b, m->content);
      if (m->client_msg_id)
        {
          json_builder_set_member_name (b, "client_msg_id");
          json_builder_add_string_value (b, m->client_msg_id);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  *has_more = seq <= (gint64) stream->len;
  json_builder_set_member_name (b, "has_more");
  json_builder_add_boolean_value (b, *has_more);
  json_builder_set_member_name (b, "max_seq");
  json_builder_add_int_value (b, stream->len);
}

static void
http_cb (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  Fixture *f = user_data;
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  if (g_str_equal (path, "/users/login"))
    {
      g_autofree char *tcp = g_strdup_printf ("127.0.0.1:%u", f->tcp_port);

      json_builder_set_member_name (b, "user_id");
      json_builder_add_int_value (b, 1);
      json_builder_set_member_name (b, "token");
      json_builder_add_string_value (b, "tok-1");
      json_builder_set_member_name (b, "gateway");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "tcp");
      json_builder_add_string_value (b, tcp);
      json_builder_end_object (b);
    }
  else if (g_str_equal (path, "/users/gateway"))
    {
      g_autofree char *tcp = g_strdup_printf ("127.0.0.1:%u", f->tcp_port);
      const char *auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Authorization");

      g_assert_cmpstr (auth, ==, "Bearer tok-1");
      f->n_gateway_calls++;
      g_free (f->gateway_exclude);
      f->gateway_exclude = g_strdup (query ? g_hash_table_lookup (query, "exclude") : NULL);
      json_builder_set_member_name (b, "gateway");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "tcp");
      json_builder_add_string_value (b, tcp);
      json_builder_end_object (b);
    }
  else if (g_str_equal (path, "/messages/sync"))
    {
      const char *after_s = query ? g_hash_table_lookup (query, "after") : NULL;
      const char *auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Authorization");
      gboolean more;

      g_assert_cmpstr (auth, ==, "Bearer tok-1");
      f->n_sync_calls++;
      add_messages (b, f->stream, after_s ? g_ascii_strtoll (after_s, NULL, 10) : 0, 0, &more);
    }
  else if (g_str_equal (path, "/messages/history"))
    {
      /* One conversation of user 1's stream, newest first, seq < before (0: from the end). */
      const char *conv = query ? g_hash_table_lookup (query, "conversation_id") : NULL;
      const char *before_s = query ? g_hash_table_lookup (query, "before") : NULL;
      gint64 before = before_s ? g_ascii_strtoll (before_s, NULL, 10) : 0;

      f->n_history_calls++;
      json_builder_set_member_name (b, "messages");
      json_builder_begin_array (b);
      for (gint64 seq = before > 0 ? MIN (before - 1, (gint64) f->stream->len) : (gint64) f->stream->len;
           seq >= 1; seq--)
        {
          ImpMessage *m = f->stream->pdata[seq - 1];

          if (g_strcmp0 (m->conversation_id, conv) != 0)
            continue;
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "seq"); json_builder_add_int_value (b, m->seq);
          json_builder_set_member_name (b, "msg_id"); json_builder_add_int_value (b, m->msg_id);
          json_builder_set_member_name (b, "sender_id"); json_builder_add_int_value (b, m->sender_id);
          json_builder_set_member_name (b, "to_user_id"); json_builder_add_int_value (b, m->to_user_id);
          json_builder_set_member_name (b, "content_type"); json_builder_add_int_value (b, 1);
          json_builder_set_member_name (b, "send_time_ms"); json_builder_add_int_value (b, m->send_time_ms);
          json_builder_set_member_name (b, "conversation_id"); json_builder_add_string_value (b, m->conversation_id);
          json_builder_set_member_name (b, "content"); json_builder_add_string_value (b, m->content);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
    }
  else if (g_str_equal (path, "/groups/sync"))
    {
      const char *after_s = query ? g_hash_table_lookup (query, "after") : NULL;
      gboolean more;

      g_assert_cmpstr (query ? g_hash_table_lookup (query, "conversation_id") : NULL, ==, GROUP_CONV);
      f->n_group_sync_calls++;
      add_messages (b, f->gstream, after_s ? g_ascii_strtoll (after_s, NULL, 10) : 0, f->join_seq, &more);
    }
  else if (g_str_equal (path, "/conversations"))
    {
      json_builder_set_member_name (b, "conversations");
      json_builder_begin_array (b);
      if (f->group_listed)
        {
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "conversation_id");
          json_builder_add_string_value (b, GROUP_CONV);
          json_builder_set_member_name (b, "kind");
          json_builder_add_string_value (b, "group");
          json_builder_set_member_name (b, "group_id");
          json_builder_add_int_value (b, GROUP_ID);
          json_builder_set_member_name (b, "name");
          json_builder_add_string_value (b, "crew");
          json_builder_set_member_name (b, "last_seq");
          json_builder_add_int_value (b, f->gstream->len);
          json_builder_set_member_name (b, "read_seq");
          json_builder_add_int_value (b, 0);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
    }
  else
    {
      json_builder_set_member_name (b, "code");
      json_builder_add_int_value (b, IMP_ERROR_NOT_FOUND);
      json_builder_end_object (b);
      http_json (msg, 404, b);
      return;
    }
  json_builder_end_object (b);
  http_json (msg, 200, b);
}

/* ---- client side ---- */

static void
received_cb (ImpClient *client, ImpMessage *m, gpointer user_data)
{
  Fixture *f = user_data;

  if (m->group_id)
    {
      g_assert_cmpstr (m->conversation_id, ==, GROUP_CONV);
      g_array_append_val (f->group_received, m->seq);
    }
  else
    g_array_append_val (f->received, m->seq);
}

static void
state_changed_cb (ImpClient *c, const char *conv, gint64 seq, guint state, gpointer user_data)
{
  Fixture *f = user_data;

  g_free (f->state_conv);
  f->state_conv = g_strdup (conv);
  f->state_seq = seq;
  f->state = state;
}

static void conv_updated_cb (ImpClient *c, const char *conv, gpointer user_data) { ((Fixture *) user_data)->n_conv_updated++; }

static void
typing_cb (ImpClient *c, gint64 from, gpointer user_data)
{
  Fixture *f = user_data;

  f->n_typing++;
  f->typing_from = from;
}

static void
sent_cb (ImpClient *client, const char *cmid, gint64 msg_id, gint64 seq, gpointer user_data)
{
  Fixture *f = user_data;
  g_ptr_array_add (f->sent, g_strdup (cmid));
}

static void kicked_cb (ImpClient *c, int reason, const char *m, gpointer user_data) { ((Fixture *) user_data)->n_kicked++; }
static void reconnecting_cb (ImpClient *c, guint ms, gpointer user_data) { ((Fixture *) user_data)->n_reconnecting++; }

void
new_client (Fixture *f)
{
  ImpClientOptions o = { 0 };
  g_autoptr(GError) error = NULL;

  o.host = "127.0.0.1";
  o.user_port = o.message_port = f->http_port;
  o.transport = IMP_TRANSPORT_TCP;
  o.data_dir = f->dir;
  f->client = imp_client_new (&o, &error);
  g_assert_no_error (error);
  g_signal_connect (f->client, "message-received", G_CALLBACK (received_cb), f);
  g_signal_connect (f->client, "message-sent", G_CALLBACK (sent_cb), f);
  g_signal_connect (f->client, "kicked", G_CALLBACK (kicked_cb), f);
  g_signal_connect (f->client, "reconnecting", G_CALLBACK (reconnecting_cb), f);
  g_signal_connect (f->client, "message-state-changed", G_CALLBACK (state_changed_cb), f);
  g_signal_connect (f->client, "conversation-updated", G_CALLBACK (conv_updated_cb), f);
  g_signal_connect (f->client, "typing", G_CALLBACK (typing_cb), f);
}

static void
gw_listen (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  f->service = g_socket_service_new ();
  g_assert_true (g_socket_listener_add_address (G_SOCKET_LISTENER (f->service), addr, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error));
  g_assert_no_error (error);
  f->tcp_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_signal_connect (f->service, "incoming", G_CALLBACK (gw_incoming_cb), f);
  g_socket_service_start (f->service);
}

static void
gw_stop (Fixture *f)
{
  g_socket_service_stop (f->service);
  g_socket_listener_close (G_SOCKET_LISTENER (f->service));
  g_clear_object (&f->service);
}

void
gw_move (Fixture *f)
{
  gw_stop (f);
  gw_close (f);
  gw_listen (f);
}

void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  GSList *uris;

  f->stream = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_free);
  f->chat_ups = g_ptr_array_new_with_free_func (g_free);
  f->received = g_array_new (FALSE, FALSE, sizeof (gint64));
  f->sent = g_ptr_array_new_with_free_func (g_free);
  f->answer_chat = TRUE;
  f->gstream = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_free);
  f->read_marks = g_ptr_array_new_with_free_func (g_free);
  f->typing_to = g_ptr_array_new_with_free_func (g_free);
  f->group_received = g_array_new (FALSE, FALSE, sizeof (gint64));

  gw_listen (f);

  f->http = soup_server_new (NULL, NULL);
  soup_server_add_handler (f->http, NULL, http_cb, f, NULL);
  g_assert_true (soup_server_listen_local (f->http, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (f->http);
  f->http_port = g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  f->dir = g_dir_make_tmp ("imp-client-sync-XXXXXX", &error);
  g_assert_no_error (error);
  new_client (f);
}

static void
rm_rf (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GDir) d = g_dir_open (path, 0, NULL);
      const char *name;

      while (d && (name = g_dir_read_name (d)))
        {
          g_autofree char *p = g_build_filename (path, name, NULL);
          rm_rf (p);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

void
fixture_teardown (Fixture *f, gconstpointer data)
{
  if (f->client)
    imp_client_shutdown (f->client);
  g_clear_object (&f->client);
  gw_close (f);
  gw_stop (f);
  g_clear_object (&f->http);
  g_clear_pointer (&f->reader, imp_frame_reader_free);
  /* Let cancelled callbacks run before the fixture goes away. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  rm_rf (f->dir);
  g_free (f->dir);
  g_ptr_array_unref (f->stream);
  g_ptr_array_unref (f->chat_ups);
  g_array_unref (f->received);
  g_ptr_array_unref (f->sent);
  g_ptr_array_unref (f->gstream);
  g_ptr_array_unref (f->read_marks);
  g_ptr_array_unref (f->typing_to);
  g_array_unref (f->group_received);
  g_free (f->state_conv);
  g_free (f->gateway_exclude);
}

static void
login_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  gint64 id = imp_client_login_finish (IMP_CLIENT (source), res, &error);

  g_assert_no_error (error);
  g_assert_cmpint (id, ==, 1);
}
gboolean is_online (Fixture *f) { return imp_client_get_state (f->client) == IMP_CLIENT_ONLINE; }

void
login_and_connect (Fixture *f)
{
  imp_client_login_async (f->client, "alice", "secret-pass", NULL, login_cb, NULL);
  g_assert_true (wait_until (is_online, f));
}

void
assert_received_in_order (Fixture *f, gint64 first, gint64 last)
{
  g_assert_cmpuint (f->received->len, ==, last - first + 1);
  for (guint i = 0; i < f->received->len; i++)
    g_assert_cmpint (g_array_index (f->received, gint64, i), ==, first + i);
}

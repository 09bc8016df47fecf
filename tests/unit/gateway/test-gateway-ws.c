/* test-gateway-ws.c: the gateway over WebSocket (libsoup client): AuthOk, pushes, text frames
 * refused, frames before Auth. Fixture: gateway-fixture.h. */
#include <libsoup/soup.h>

#include "gateway-fixture.h"


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
  g_test_add ("/gateway/websocket/auth-push-text", Fixture, NULL, fixture_setup, test_websocket,
              fixture_teardown);
  g_test_add ("/gateway/websocket/before-auth", Fixture, NULL, fixture_setup,
              test_websocket_before_auth, fixture_teardown);
  return g_test_run ();
}

/* imp-client-sync.c: the sync engine (watermark, gap pulls, cumulative acks) and the outbox.
 *
 * Every message, from a push, a pull page or a send receipt, goes through store_message(): an
 * upsert keyed by seq in the mirror, which moves the watermark only over contiguous seqs. A seq
 * above the watermark leaves a hole: the message stays buffered in the mirror and the gap is
 * pulled over HTTP from the watermark, in pages, until the hole is gone.
 */
#define G_LOG_DOMAIN "implus-client"

#include "imp-client-private.h"
#include "imp-error.h"
#include "imp-id.h"
#include "imp-time.h"

#define PULL_RETRY_MS 1000
#define RESEND_TICK_MS 1000
/* While online the engine also pulls now and then: a push the server could not route (its
 * presence cache lost, say) and a retransmission given up are then fetched anyway (DESIGN 3.10:
 * "after the last retry the client's pull still guarantees delivery"). One GET per stream that
 * answers empty when nothing is new. */
#define PERIODIC_PULL_MS 30000
/* Failed connection attempts in a row before the engine asks for another gateway. */
#define FAILOVER_AFTER 3

typedef struct {
  gint64  sent_us;
  guint64 frame_id;
} InFlight;

/* ---- acks ---- */

static gboolean
ack_cb (gpointer user_data)
{
  ImpClient *self = user_data;
  gint64 wm = imp_client_get_watermark (self);

  self->ack_idle = 0;
  if (self->conn && self->state == IMP_CLIENT_ONLINE && wm > 0 && (wm > self->last_acked || self->ack_force))
    {
      Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
      Implus__Ack ack = IMPLUS__ACK__INIT;

      ack.up_to_seq = wm;
      env.body_case = IMPLUS__ENVELOPE__BODY_ACK;
      env.ack = &ack;
      if (imp_client_connection_send (self->conn, &env))
        self->last_acked = wm;
    }
  self->ack_force = FALSE;
  return G_SOURCE_REMOVE;
}

/* Acks are cumulative: one per main-loop turn covers everything applied in it. */
static void
schedule_ack (ImpClient *self, gboolean force)
{
  self->ack_force |= force;
  if (self->ack_idle == 0)
    self->ack_idle = g_idle_add (ack_cb, self);
}

/* ---- applying messages ---- */

static void
complete_outbox (ImpClient *self, const char *client_msg_id, gint64 msg_id, gint64 seq)
{
  if (imp_mirror_outbox_mark_sent (self->mirror, client_msg_id, msg_id, seq))
    {
      g_hash_table_remove (self->in_flight, client_msg_id);
      g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_MESSAGE_SENT], 0,
                     client_msg_id, msg_id, seq);
    }
}

void
imp_client_sync_process_applied (ImpClient *self, ImpMessage *m)
{
  gboolean ours = FALSE;

  if (m->client_msg_id && m->sender_id == self->user_id)
    {
      g_autoptr(ImpOutboxItem) item = imp_mirror_outbox_get (self->mirror, m->client_msg_id);

      if (item != NULL)
        {
          /* The stream brought our own copy: that completes the send even without a receipt. */
          ours = TRUE;
          complete_outbox (self, m->client_msg_id, m->msg_id, m->seq);
        }
    }
  if (!ours)
    g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_MESSAGE_RECEIVED], 0, m);
}

/* Returns FALSE on a mirror error (reported on "error"). */
static gboolean
store_message (ImpClient *self, const ImpMessage *msg)
{
  g_autoptr(GPtrArray) applied = NULL;
  g_autoptr(GError) error = NULL;
  gboolean duplicate = FALSE;

  if (!imp_mirror_store (self->mirror, msg, &duplicate, &applied, &error))
    {
      g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_ERROR], 0, error);
      return FALSE;
    }
  if (duplicate)
    schedule_ack (self, TRUE);
  for (guint i = 0; i < applied->len; i++)
    imp_client_sync_process_applied (self, applied->pdata[i]);
  if (applied->len)
    schedule_ack (self, FALSE);
  return TRUE;
}

/* ---- pulling ---- */

static void pull_page (ImpClient *self);

void
imp_client_sync_fail_waiters (ImpClient *self, const GError *error)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->sync_waiters);

  self->sync_waiters = g_ptr_array_new ();
  for (guint i = 0; i < waiters->len; i++)
    {
      GTask *task = waiters->pdata[i];
      g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }
}

static void
finish_waiters (ImpClient *self)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->sync_waiters);

  self->sync_waiters = g_ptr_array_new ();
  for (guint i = 0; i < waiters->len; i++)
    {
      GTask *task = waiters->pdata[i];
      g_task_return_int (task, imp_client_get_watermark (self));
      g_object_unref (task);
    }
}

static gboolean
pull_retry_cb (gpointer user_data)
{
  ImpClient *self = user_data;

  self->pull_retry_timer = 0;
  imp_client_sync_request_pull (self);
  return G_SOURCE_REMOVE;
}

/* One pull loop has ended (caught up, or failed). */
static void
pull_done (ImpClient *self, const GError *error)
{
  gboolean hole;

  self->pulling = FALSE;
  if (error != NULL)
    {
      g_debug ("pull failed: %s", error->message);
      imp_client_sync_fail_waiters (self, error);
      if (self->state == IMP_CLIENT_ONLINE && !self->pull_retry_timer)
        self->pull_retry_timer = g_timeout_add (PULL_RETRY_MS, pull_retry_cb, self);
      return;
    }
  hole = self->mirror && imp_mirror_count_buffered (self->mirror) > 0;
  if ((self->pull_again || hole) && self->pull_progress)
    {
      /* Pushes arrived while we pulled: pull once more from the new watermark. */
      self->pull_again = FALSE;
      imp_client_sync_request_pull (self);
      return;
    }
  self->pull_again = FALSE;
  if (hole && !self->pull_retry_timer)
    self->pull_retry_timer = g_timeout_add (PULL_RETRY_MS, pull_retry_cb, self);
  finish_waiters (self);
}

static void
pull_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ImpClient) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);
  JsonArray *messages;
  gboolean has_more;
  guint n;

  if (self->mirror == NULL)
    {
      self->pulling = FALSE;
      return; /* logged out meanwhile */
    }
  if (obj == NULL)
    {
      pull_done (self, error);
      return;
    }
  messages = imp_json_array_member (obj, "messages");
  has_more = json_object_get_boolean_member_with_default (obj, "has_more", FALSE);
  if (messages == NULL)
    {
      g_set_error (&error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "sync answer without messages");
      pull_done (self, error);
      return;
    }
  n = json_array_get_length (messages);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (messages, i);
      g_autoptr(ImpMessage) m = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node)
          || (m = imp_message_new_from_json (json_node_get_object (node), &error)) == NULL)
        {
          if (error == NULL)
            g_set_error (&error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "malformed message in sync answer");
          pull_done (self, error);
          return;
        }
      if (m->seq > self->pull_after)
        {
          self->pull_after = m->seq;
          self->pull_progress = TRUE;
        }
      if (!store_message (self, m))
        {
          g_set_error (&error, IMP_ERROR, IMP_ERROR_INTERNAL, "mirror write failed");
          pull_done (self, error);
          return;
        }
    }
  if (has_more && n > 0)
    pull_page (self);
  else
    pull_done (self, NULL);
}

static void
pull_page (ImpClient *self)
{
  g_autofree char *path = g_strdup_printf ("/messages/sync?after=%" G_GINT64_FORMAT "&limit=%u",
                                           self->pull_after, IMP_CLIENT_PULL_PAGE);

  imp_client_api_call_async (self->api, IMP_API_MESSAGE, "GET", path, NULL, NULL, pull_cb,
                             g_object_ref (self));
}

void
imp_client_sync_request_pull (ImpClient *self)
{
  if (self->mirror == NULL)
    return;
  if (self->pulling)
    {
      self->pull_again = TRUE;
      return;
    }
  g_clear_handle_id (&self->pull_retry_timer, g_source_remove);
  self->pulling = TRUE;
  self->pull_progress = FALSE;
  self->pull_after = imp_mirror_get_watermark (self->mirror);
  pull_page (self);
}

void
imp_client_sync_async (ImpClient *self, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  if (self->mirror == NULL || imp_client_api_get_token (IMP_CLIENT (self)->api) == NULL)
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_NOT_AUTHENTICATED, "not logged in");
      g_object_unref (task);
      return;
    }
  g_ptr_array_add (self->sync_waiters, task);
  /* A pull in progress may have read the server before this call: always pull once more. */
  if (self->pulling)
    self->pull_again = TRUE;
  else
    imp_client_sync_request_pull (self);
}

gint64
imp_client_sync_finish (ImpClient *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_int (G_TASK (result), error);
}

/* ---- outbox ---- */

static gboolean resend_tick (gpointer user_data);

static void
send_item (ImpClient *self, const ImpOutboxItem *item)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__ChatUp chat = IMPLUS__CHAT_UP__INIT;
  InFlight *f;

  chat.client_msg_id = item->client_msg_id;
  chat.to_user_id = item->group_id > 0 ? 0 : item->to_user_id;
  chat.group_id = item->group_id;
  chat.content = item->content;
  chat.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  env.body_case = IMPLUS__ENVELOPE__BODY_CHAT_UP;
  env.chat_up = &chat;
  if (!imp_client_connection_send (self->conn, &env))
    return;
  f = g_hash_table_lookup (self->in_flight, item->client_msg_id);
  if (f == NULL)
    {
      f = g_new0 (InFlight, 1);
      g_hash_table_insert (self->in_flight, g_strdup (item->client_msg_id), f);
    }
  f->sent_us = imp_mono_us ();
  f->frame_id = env.frame_id;
  imp_mirror_outbox_bump_attempts (self->mirror, item->client_msg_id);
  if (self->resend_timer == 0)
    self->resend_timer = g_timeout_add (RESEND_TICK_MS, resend_tick, self);
}

void
imp_client_sync_pump_outbox (ImpClient *self)
{
  if (self->state != IMP_CLIENT_ONLINE || self->conn == NULL || self->mirror == NULL)
    return;
  while (g_hash_table_size (self->in_flight) < IMP_CLIENT_MAX_IN_FLIGHT)
    {
      guint room = IMP_CLIENT_MAX_IN_FLIGHT - g_hash_table_size (self->in_flight);
      g_autoptr(GPtrArray) items = imp_mirror_outbox_pending (self->mirror, self->send_cursor, MIN (room, 64));

      if (items->len == 0)
        break;
      for (guint i = 0; i < items->len; i++)
        {
          ImpOutboxItem *item = items->pdata[i];

          self->send_cursor = item->id;
          if (!g_hash_table_contains (self->in_flight, item->client_msg_id))
            send_item (self, item);
        }
    }
}

/* Rows with no receipt after IMP_CLIENT_RESEND_MS are sent again, same client_msg_id. */
static gboolean
resend_tick (gpointer user_data)
{
  ImpClient *self = user_data;
  g_autoptr(GPtrArray) late = g_ptr_array_new_with_free_func (g_free);
  gint64 now = imp_mono_us ();
  GHashTableIter iter;
  gpointer key, value;

  if (g_hash_table_size (self->in_flight) == 0 || self->state != IMP_CLIENT_ONLINE)
    {
      self->resend_timer = 0;
      return G_SOURCE_REMOVE;
    }
  g_hash_table_iter_init (&iter, self->in_flight);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (now - ((InFlight *) value)->sent_us >= IMP_CLIENT_RESEND_MS * 1000)
      g_ptr_array_add (late, g_strdup (key));
  for (guint i = 0; i < late->len; i++)
    {
      g_autoptr(ImpOutboxItem) item = imp_mirror_outbox_get (self->mirror, late->pdata[i]);

      if (item && item->state == IMP_MESSAGE_SENDING)
        send_item (self, item);
      else
        g_hash_table_remove (self->in_flight, late->pdata[i]);
    }
  return G_SOURCE_CONTINUE;
}

void
imp_client_sync_fail_outbox (ImpClient *self, const char *client_msg_id, int code, const char *reason)
{
  if (imp_mirror_outbox_mark_failed (self->mirror, client_msg_id, code))
    g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_MESSAGE_FAILED], 0,
                   client_msg_id, code, reason ? reason : "");
  g_hash_table_remove (self->in_flight, client_msg_id);
}

static char *
queue_message (ImpClient *self, gint64 to_user_id, gint64 group_id, const char *content, GError **error)
{
  g_autofree char *client_msg_id = NULL;
  gsize len;

  g_return_val_if_fail (IMP_IS_CLIENT (self), NULL);
  if (self->mirror == NULL || self->user_id == 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_AUTHENTICATED, "not logged in");
      return NULL;
    }
  len = content ? strlen (content) : 0;
  if (len == 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_CONTENT_EMPTY, "empty message");
      return NULL;
    }
  if (len > IMP_CLIENT_MAX_CONTENT)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_CONTENT_TOO_LARGE, "message too large");
      return NULL;
    }
  if (!g_utf8_validate (content, len, NULL))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INVALID_UTF8, "message is not UTF-8");
      return NULL;
    }
  if (to_user_id <= 0 && group_id <= 0)
    {
      g_set_error (error, IMP_ERROR, group_id < 0 ? IMP_ERROR_NOT_FOUND : IMP_ERROR_UNKNOWN_USER,
                   group_id < 0 ? "no such group" : "no such user");
      return NULL;
    }
  client_msg_id = imp_uuid_new ();
  if (!imp_mirror_outbox_add_full (self->mirror, client_msg_id, to_user_id, group_id, content,
                                   imp_now_ms (), error))
    return NULL;
  imp_client_sync_pump_outbox (self);
  return g_steal_pointer (&client_msg_id);
}

char *
imp_client_send (ImpClient *self, gint64 to_user_id, const char *content, GError **error)
{
  return queue_message (self, to_user_id, 0, content, error);
}

char *
imp_client_send_group (ImpClient *self, gint64 group_id, const char *content, GError **error)
{
  return queue_message (self, 0, group_id > 0 ? group_id : -1, content, error);
}

/* ---- frames ---- */

static void
handle_receipt (ImpClient *self, const Implus__SendReceipt *r)
{
  g_autoptr(ImpOutboxItem) item = NULL;
  g_autoptr(ImpMessage) own = NULL;

  if (r->client_msg_id == NULL || (item = imp_mirror_outbox_get (self->mirror, r->client_msg_id)) == NULL)
    return; /* not ours (another device's send) or already forgotten */
  if (r->error_code != IMPLUS__ERROR_CODE__ERROR_CODE_NONE)
    {
      imp_client_sync_fail_outbox (self, r->client_msg_id, r->error_code, r->error_reason);
      imp_client_sync_pump_outbox (self);
      return;
    }
  /* Store our own copy first, so a UI reacting to "message-sent" finds it in the mirror. */
  if (r->seq > 0 && r->conversation_id && r->conversation_id[0])
    {
      /* Our own copy sits in our stream at that seq. */
      own = imp_message_new ();
      own->seq = r->seq;
      own->msg_id = r->msg_id;
      own->conversation_id = g_strdup (r->conversation_id);
      own->sender_id = self->user_id;
      own->to_user_id = item->to_user_id;
      own->content = g_strdup (item->content);
      own->send_time_ms = r->server_time_ms;
      own->state = IMP_MESSAGE_SENT;
      own->client_msg_id = g_strdup (r->client_msg_id);
      own->group_id = item->group_id;
      if (item->group_id > 0)
        {
          /* A group receipt's seq is the conversation seq: our copy goes into that stream. */
          own->to_user_id = 0;
          imp_client_group_store (self, own);
        }
      else
        {
          store_message (self, own);
          if (imp_mirror_count_buffered (self->mirror) > 0)
            imp_client_sync_request_pull (self);
        }
    }
  complete_outbox (self, r->client_msg_id, r->msg_id, r->seq);
  g_hash_table_remove (self->in_flight, r->client_msg_id);
  imp_client_sync_pump_outbox (self);
}

static void
handle_error_frame (ImpClient *self, const Implus__Error *e)
{
  g_autoptr(GError) error = g_error_new (IMP_ERROR, e->code ? (int) e->code : IMP_ERROR_INTERNAL, "%s",
                                         e->reason && e->reason[0] ? e->reason : imp_error_code_name ((ImpErrorCode) e->code));
  GHashTableIter iter;
  gpointer key, value;

  /* A send refused at the protocol level (not by a receipt) must not be resent forever. */
  if (e->ref_frame_id != 0)
    {
      g_hash_table_iter_init (&iter, self->in_flight);
      while (g_hash_table_iter_next (&iter, &key, &value))
        if (((InFlight *) value)->frame_id == e->ref_frame_id)
          {
            g_autofree char *cmid = g_strdup (key);
            imp_client_sync_fail_outbox (self, cmid, error->code, error->message);
            imp_client_sync_pump_outbox (self);
            break;
          }
    }
  g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_ERROR], 0, error);
}

void
imp_client_sync_handle_frame (ImpClient *self, const ImpEnvelope *env)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpMessage) m = NULL;

  if (self->mirror == NULL)
    return;
  switch (env->body_case)
    {
    case IMPLUS__ENVELOPE__BODY_PUSH:
      if ((m = imp_message_new_from_wire (env->push->message, &error)) == NULL)
        {
          g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_ERROR], 0, error);
          return;
        }
      if (m->sender_id == self->user_id)
        m->state = IMP_MESSAGE_SENT;
      if (m->group_id > 0 || g_str_has_prefix (m->conversation_id, "group_"))
        {
          imp_client_group_store (self, m);
          break;
        }
      store_message (self, m);
      if (imp_mirror_count_buffered (self->mirror) > 0)
        imp_client_sync_request_pull (self);
      break;
    case IMPLUS__ENVELOPE__BODY_RECEIPT:
      handle_receipt (self, env->receipt);
      break;
    case IMPLUS__ENVELOPE__BODY_ERROR:
      handle_error_frame (self, env->error);
      break;
    case IMPLUS__ENVELOPE__BODY_KICK:
      imp_client_handle_kick (self, env->kick->reason, env->kick->message);
      break;
    default:
      if (imp_client_group_handle_frame (self, env))
        break;
      g_debug ("ignoring frame of kind %d", env->body_case);
      break;
    }
}

/* ---- periodic pull ---- */

void
imp_client_sync_pull_all (ImpClient *self)
{
  g_autoptr(GPtrArray) known = NULL;

  if (self->mirror == NULL || self->state != IMP_CLIENT_ONLINE)
    return;
  imp_client_sync_request_pull (self);
  known = imp_mirror_group_list (self->mirror);
  for (guint i = 0; i < known->len; i++)
    imp_client_group_request_pull (self, known->pdata[i]);
}

static gboolean periodic_pull_cb (gpointer user_data);

static void
periodic_pull_arm (ImpClient *self)
{
  guint base = self->periodic_pull_ms > 0 ? self->periodic_pull_ms : PERIODIC_PULL_MS;
  /* ±25 % jitter: clients that came online together do not pull together forever. */
  guint delay = base - base / 4 + (guint) g_random_int_range (0, (gint32) (base / 2) + 1);

  g_clear_handle_id (&self->periodic_pull_timer, g_source_remove);
  self->periodic_pull_timer = g_timeout_add (MAX (delay, 1), periodic_pull_cb, self);
}

static gboolean
periodic_pull_cb (gpointer user_data)
{
  ImpClient *self = user_data;

  self->periodic_pull_timer = 0;
  if (self->state != IMP_CLIENT_ONLINE)
    return G_SOURCE_REMOVE;
  imp_client_sync_pull_all (self);
  /* Outbox rows still without a receipt are covered by the resend tick; make sure it runs. */
  imp_client_sync_pump_outbox (self);
  periodic_pull_arm (self);
  return G_SOURCE_REMOVE;
}

/* ---- gateway failover ---- */

/* The address the engine dials now: as gateway_address () in imp-client.c. */
static char *
current_gateway (ImpClient *self)
{
  if (self->transport == IMP_TRANSPORT_WS)
    return self->ws_port ? g_strdup_printf ("ws://%s:%u/websocket", self->host, self->ws_port)
                         : g_strdup (self->gateway_ws);
  return self->tcp_port ? g_strdup_printf ("%s:%u", self->host, self->tcp_port)
                        : g_strdup (self->gateway_tcp);
}

static void
failover_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ImpClient) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  JsonObject *gw;
  const char *tcp, *ws;

  self->failover_asking = FALSE;
  if (obj == NULL)
    {
      /* The user service is away too: the next failures ask again. */
      g_debug ("asking for another gateway failed: %s", error->message);
      return;
    }
  gw = imp_json_object_member (obj, "gateway");
  tcp = gw != NULL ? json_object_get_string_member_with_default (gw, "tcp", NULL) : NULL;
  ws = gw != NULL ? json_object_get_string_member_with_default (gw, "ws", NULL) : NULL;
  if (self->state == IMP_CLIENT_ONLINE || tcp == NULL || tcp[0] == '\0' || strlen (tcp) > 512 ||
      (ws != NULL && strlen (ws) > 512))
    return;
  before = current_gateway (self);
  /* The addresses from the service replace the configured ports from now on. */
  g_free (self->gateway_tcp);
  self->gateway_tcp = g_strdup (tcp);
  if (ws != NULL && ws[0] != '\0')
    {
      g_free (self->gateway_ws);
      self->gateway_ws = g_strdup (ws);
    }
  self->tcp_port = 0;
  if (self->gateway_ws != NULL)
    self->ws_port = 0;
  after = current_gateway (self);
  if (g_strcmp0 (before, after) != 0)
    {
      g_message ("gateway %s unreachable; switching to %s", before ? before : "(none)", after);
      self->connect_failures = 0;
      imp_client_reconnect_now (self);
    }
}

void
imp_client_sync_connect_failed (ImpClient *self)
{
  g_autofree char *exclude = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;

  if (++self->connect_failures < FAILOVER_AFTER || self->failover_asking ||
      imp_client_api_get_token (self->api) == NULL)
    return;
  exclude = current_gateway (self);
  escaped = g_uri_escape_string (exclude != NULL ? exclude : "", NULL, FALSE);
  path = g_strdup_printf ("/users/gateway?exclude=%s", escaped);
  self->failover_asking = TRUE;
  imp_client_api_call_async (self->api, IMP_API_USER, "GET", path, NULL, NULL, failover_cb,
                             g_object_ref (self));
}

/* ---- connection state ---- */

void
imp_client_sync_online (ImpClient *self)
{
  self->connect_failures = 0;
  /* Resend every unsent row from the start, same client_msg_ids; the server dedups. */
  g_hash_table_remove_all (self->in_flight);
  self->send_cursor = 0;
  self->last_acked = 0;
  imp_client_sync_request_pull (self);
  imp_client_group_online (self);
  imp_client_sync_pump_outbox (self);
  periodic_pull_arm (self);
}

void
imp_client_sync_offline (ImpClient *self)
{
  g_hash_table_remove_all (self->in_flight);
  self->send_cursor = 0;
  g_clear_handle_id (&self->resend_timer, g_source_remove);
  g_clear_handle_id (&self->ack_idle, g_source_remove);
  g_clear_handle_id (&self->pull_retry_timer, g_source_remove);
  g_clear_handle_id (&self->periodic_pull_timer, g_source_remove);
  self->ack_force = FALSE;
  imp_client_group_offline (self);
}

/* imp-gateway.c: the gateway's core: connection tables, auth, frame dispatch, idle sweep.
 * Transports (imp-gateway-tcp.c, imp-gateway-ws.c) feed it whole frames; push delivery,
 * retransmission and ACKs are in imp-gateway-push.c. Everything runs on the context that
 * called imp_gateway_new(), except imp_auth_check() (blocking) on a GTask thread. */
#include "imp-gateway-private.h"
#include "imp-convid.h"
#include "imp-time.h"
#include "message/imp-chat-check.h"
#include "message/imp-message-notify.h"

#include <string.h>

#define MAX_HELD_FRAMES   64   /* frames pipelined behind Auth while the token is checked */
#define MAX_DEVICE_ID_LEN 128

static void sweep_arm (ImpGateway *self);

/* ---- sending ---- */

gboolean
imp_gateway_send_bytes (ImpConnection *conn, GBytes *payload)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (payload, &len);

  if (conn->state >= IMP_CONN_CLOSING)
    return FALSE;
  if (!conn->vt->send (conn, data, len))
    {
      g_message ("gateway: closing slow or broken connection %s (conn %" G_GUINT64_FORMAT ")",
                 conn->peer, conn->id);
      imp_gateway_close (conn, FALSE);
      return FALSE;
    }
  return TRUE;
}

gboolean
imp_gateway_send (ImpConnection *conn, const ImpEnvelope *env)
{
  g_autoptr(GBytes) payload = NULL;

  if (conn->state >= IMP_CONN_CLOSING)
    return FALSE;
  payload = imp_wire_encode (env, FALSE);
  return imp_gateway_send_bytes (conn, payload);
}

void
imp_gateway_reject (ImpConnection *conn, ImpErrorCode code, const char *reason,
                    guint64 ref_frame_id, gboolean close)
{
  g_autoptr(GBytes) frame = NULL;

  if (conn->state >= IMP_CONN_CLOSING)
    return;
  if (!conn->logged_bad)
    {
      /* Once per connection, and never the content. */
      conn->logged_bad = TRUE;
      g_message ("gateway: bad input from %s (conn %" G_GUINT64_FORMAT "): %s%s",
                 conn->peer, conn->id, imp_error_code_name (code), close ? ", closing" : "");
    }
  frame = imp_wire_error_frame (code, reason, ref_frame_id, FALSE);
  if (imp_gateway_send_bytes (conn, frame) && close)
    imp_gateway_close (conn, TRUE);
}

/* ---- tables ---- */

GQueue *
imp_gateway_user_conns (ImpGateway *self, gint64 user_id)
{
  return g_hash_table_lookup (self->users, &user_id);
}

static void
touch (ImpGateway *self, ImpConnection *conn)
{
  conn->last_activity_us = imp_mono_us ();
  if (self->idle.tail != &conn->idle_link)
    {
      g_queue_unlink (&self->idle, &conn->idle_link);
      g_queue_push_tail_link (&self->idle, &conn->idle_link);
    }
}

gboolean
imp_gateway_attach (ImpGateway *self, ImpConnection *conn)
{
  gint64 limit = self->config->max_connections_per_ip;

  if (self->shut_down)
    return FALSE;
  if (limit > 0)
    {
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_ip, conn->ip));

      if (n >= (guint64) limit)
        {
          g_message ("gateway: refusing %s: %u connections from that address", conn->peer, n);
          return FALSE;
        }
      g_hash_table_insert (self->per_ip, g_strdup (conn->ip), GUINT_TO_POINTER (n + 1));
    }
  conn->gw = self;
  conn->id = ++self->next_conn_id;
  conn->last_activity_us = imp_mono_us ();
  g_hash_table_insert (self->conns, &conn->id, imp_connection_ref (conn));
  g_queue_push_tail_link (&self->idle, &conn->idle_link);
  sweep_arm (self);
  return TRUE;
}

static void
detach (ImpConnection *conn)
{
  ImpGateway *self = conn->gw;
  gint64 limit;

  if (self == NULL)
    return;

  imp_gateway_push_detach (self, conn);
  if (conn->state == IMP_CONN_AUTHED)
    {
      GQueue *q = imp_gateway_user_conns (self, conn->user_id);

      if (q != NULL)
        {
          g_queue_unlink (q, &conn->user_link);
          if (q->length == 0)
            {
              g_hash_table_remove (self->users, &conn->user_id);
              imp_gateway_group_forget_user (self, conn->user_id);
            }
        }
      imp_cache_presence_remove (self->cache, conn->user_id, self->config->gateway_id, conn->id);
    }
  g_queue_unlink (&self->idle, &conn->idle_link);

  limit = self->config->max_connections_per_ip;
  if (limit > 0)
    {
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_ip, conn->ip));

      if (n <= 1)
        g_hash_table_remove (self->per_ip, conn->ip);
      else
        g_hash_table_insert (self->per_ip, g_strdup (conn->ip), GUINT_TO_POINTER (n - 1));
    }

  conn->gw = NULL;
  g_hash_table_steal (self->conns, &conn->id);
  imp_connection_unref (conn);  /* the table's ref; the caller's transport still holds one */
}

void
imp_gateway_close (ImpConnection *conn, gboolean flush)
{
  if (conn->state >= IMP_CONN_CLOSING)
    return;
  imp_connection_ref (conn);
  detach (conn);
  conn->state = IMP_CONN_CLOSING;
  conn->vt->close (conn, flush);
  imp_connection_unref (conn);
}

void
imp_gateway_lost (ImpConnection *conn)
{
  if (conn->state >= IMP_CONN_CLOSED)
    return;
  imp_connection_ref (conn);
  detach (conn);
  conn->state = IMP_CONN_CLOSED;
  imp_connection_unref (conn);
}

/* ---- idle sweep: one timer per gateway over the activity-ordered list ---- */

static guint
sweep_interval_ms (ImpGateway *self)
{
  return (guint) CLAMP (self->config->idle_timeout_ms / 10, 10, 1000);
}

static gboolean
on_sweep (gpointer data)
{
  ImpGateway *self = data;
  gint64 idle_us = self->config->idle_timeout_ms * 1000;
  gint64 now = imp_mono_us ();

  while (self->idle.head != NULL)
    {
      ImpConnection *conn = self->idle.head->data;

      if (now - conn->last_activity_us < idle_us)
        break;
      g_debug ("gateway: idle timeout for %s (conn %" G_GUINT64_FORMAT ")", conn->peer, conn->id);
      imp_gateway_close (conn, FALSE);
    }
  if (self->idle.length == 0)
    {
      g_clear_pointer (&self->sweep, g_source_unref);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
sweep_arm (ImpGateway *self)
{
  if (self->sweep != NULL || self->config->idle_timeout_ms <= 0)
    return;
  self->sweep = g_timeout_source_new (sweep_interval_ms (self));
  g_source_set_callback (self->sweep, on_sweep, self, NULL);
  g_source_set_static_name (self->sweep, "imp-gateway-idle");
  g_source_attach (self->sweep, self->context);
}

/* ---- auth ---- */

typedef struct {
  ImpGateway     *gw;      /* only its auth, lock and counter are used on the thread */
  char           *token;
  guint64         frame_id;
  ImpTokenClaims  claims;
  GArray         *groups;  /* the user's current groups (with a store) */
} AuthJob;

static void
auth_job_free (gpointer data)
{
  AuthJob *job = data;

  if (job->token != NULL)
    memset (job->token, 0, strlen (job->token));
  g_free (job->token);
  g_clear_pointer (&job->groups, g_array_unref);
  g_free (job);
}

static void
auth_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  AuthJob *job = task_data;
  ImpGateway *gw = job->gw;
  GError *error = NULL;
  gboolean ok = imp_auth_check (gw->auth, job->token, &job->claims, &error);

  /* The group index needs the user's groups; without them group pushes would silently miss
   * this connection, so a store outage fails the auth (UNAVAILABLE: the client retries). */
  if (ok && gw->store != NULL)
    {
      job->groups = imp_gateway_group_load (gw->store, job->claims.user_id, &error);
      ok = job->groups != NULL;
    }

  /* Past this point the gateway may be freed: do not touch it again. */
  g_mutex_lock (&gw->auth_lock);
  gw->auth_in_flight--;
  g_cond_broadcast (&gw->auth_cond);
  g_mutex_unlock (&gw->auth_lock);

  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
send_auth_ok (ImpGateway *self, ImpConnection *conn)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__AuthOk ok = IMPLUS__AUTH_OK__INIT;

  ok.user_id = conn->user_id;
  ok.device_id = conn->device_id;
  ok.server_time_ms = imp_now_ms ();
  ok.heartbeat_interval_ms = (guint32) self->config->heartbeat_interval_ms;
  ok.idle_timeout_ms = (guint32) self->config->idle_timeout_ms;
  env.body_case = IMPLUS__ENVELOPE__BODY_AUTH_OK;
  env.auth_ok = &ok;
  imp_gateway_send (conn, &env);
}

static void
kick (ImpConnection *conn, Implus__KickReason reason, const char *message)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Kick k = IMPLUS__KICK__INIT;

  k.reason = reason;
  k.message = (char *) (message != NULL ? message : "");
  env.body_case = IMPLUS__ENVELOPE__BODY_KICK;
  env.kick = &k;
  imp_gateway_send (conn, &env);
  imp_gateway_close (conn, TRUE);
}

/* The same device may be connected through another gateway: its other gateways (presence) kick
 * it there. Read on a worker thread: the presence read may block on the cache. */
typedef struct {
  ImpGateway *gw;       /* only its auth lock and counter are used on the thread */
  ImpCache *cache;
  ImpBus   *bus;
  char     *gateway_id;
  gint64    user_id;
  char     *device_id;
  guint64   conn_id;
} ReplaceJob;

static void
replace_job_free (gpointer data)
{
  ReplaceJob *job = data;

  g_free (job->gateway_id);
  g_free (job->device_id);
  g_free (job);
}

static void
replace_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ReplaceJob *job = task_data;
  Implus__Bus__GatewayKick kick = IMPLUS__BUS__GATEWAY_KICK__INIT;
  Implus__Bus__GatewayRecord record = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  g_auto(GStrv) gws = imp_cache_presence_lookup (job->cache, job->user_id);
  g_autoptr(GPtrArray) live = NULL;
  char key[32];

  kick.user_id = job->user_id;
  kick.device_id = job->device_id;
  kick.reason = IMPLUS__KICK_REASON__KICK_REASON_REPLACED;
  kick.message = (char *) "logged in again from the same device";
  kick.exclude_gateway_id = job->gateway_id;
  kick.exclude_conn_id = job->conn_id;
  record.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_KICK;
  record.kick = &kick;
  g_snprintf (key, sizeof key, "%" G_GINT64_FORMAT, job->user_id);
  if (gws == NULL)
    {
      /* Presence unknown (cache unreachable): every live gateway checks its own connections. */
      live = imp_cache_gateways_live (job->cache);
      for (guint i = 0; i < live->len; i++)
        {
          const char *gw = ((ImpGatewayInfo *) g_ptr_array_index (live, i))->gateway_id;

          if (g_strcmp0 (gw, job->gateway_id) != 0)
            imp_message_publish_gateway (job->bus, gw, key, &record);
        }
    }
  else
    for (guint i = 0; gws[i] != NULL; i++)
      if (g_strcmp0 (gws[i], job->gateway_id) != 0)
        imp_message_publish_gateway (job->bus, gws[i], key, &record);

  /* Past this point the gateway may be freed. */
  g_mutex_lock (&job->gw->auth_lock);
  job->gw->auth_in_flight--;
  g_cond_broadcast (&job->gw->auth_cond);
  g_mutex_unlock (&job->gw->auth_lock);
  g_task_return_boolean (task, TRUE);
}

static void
replace_elsewhere (ImpGateway *self, ImpConnection *conn)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, NULL, NULL);
  ReplaceJob *job = g_new0 (ReplaceJob, 1);

  job->gw = self;
  job->cache = self->cache;
  job->bus = self->bus;
  job->gateway_id = g_strdup (self->config->gateway_id);
  job->user_id = conn->user_id;
  job->device_id = g_strdup (conn->device_id);
  job->conn_id = conn->id;
  g_task_set_task_data (task, job, replace_job_free);
  /* imp_gateway_free () waits for it like for an auth: it uses the cache and the bus. */
  g_mutex_lock (&self->auth_lock);
  self->auth_in_flight++;
  g_mutex_unlock (&self->auth_lock);
  g_task_run_in_thread (task, replace_thread);
}

static void
bind_connection (ImpGateway *self, ImpConnection *conn, const ImpTokenClaims *claims,
                 const GArray *groups)
{
  GQueue *q = imp_gateway_user_conns (self, claims->user_id);

  /* A second login of the same device replaces the first. */
  if (q != NULL)
    {
      GList *l = q->head;

      while (l != NULL)
        {
          ImpConnection *other = l->data;

          l = l->next;
          if (g_strcmp0 (other->device_id, conn->device_id) == 0)
            kick (other, IMPLUS__KICK_REASON__KICK_REASON_REPLACED,
                  "logged in again from the same device");
        }
      q = imp_gateway_user_conns (self, claims->user_id);
    }
  if (q == NULL)
    {
      q = g_queue_new ();
      /* The key lives in the queue's first connection... which may leave first: own it. */
      g_hash_table_insert (self->users, g_memdup2 (&claims->user_id, sizeof (gint64)), q);
    }

  conn->user_id = claims->user_id;
  conn->token_id = g_strdup (claims->token_id);
  conn->state = IMP_CONN_AUTHED;
  g_queue_push_tail_link (q, &conn->user_link);
  if (self->store != NULL)
    imp_gateway_group_set_user (self, conn->user_id, groups);
  /* Here the same device was kicked above; on the user's other gateways it is kicked by a
   * GatewayKick (device id, this connection excluded). */
  replace_elsewhere (self, conn);
  imp_cache_presence_add (self->cache, conn->user_id, self->config->gateway_id, conn->id,
                          2 * self->config->idle_timeout_ms);
}

static void
auth_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpConnection) conn = user_data;
  ImpGateway *self = conn->gw;
  AuthJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      ImpErrorCode code = imp_error_wire_code (error);

      if (code != IMP_ERROR_TOKEN_EXPIRED && code != IMP_ERROR_TOKEN_REVOKED &&
          code != IMP_ERROR_UNAVAILABLE)
        code = IMP_ERROR_AUTH_FAILED;
      if (self != NULL && conn->state == IMP_CONN_AUTHING)
        imp_gateway_reject (conn, code, code == IMP_ERROR_UNAVAILABLE ?
                            "authentication unavailable, retry later" : "authentication failed",
                            job->frame_id, TRUE);
      return;
    }
  if (self == NULL || conn->state != IMP_CONN_AUTHING)
    return;

  bind_connection (self, conn, &job->claims, job->groups);
  send_auth_ok (self, conn);

  /* Frames the client pipelined behind its Auth, in order. */
  while (conn->held != NULL && conn->held->length > 0 && conn->state == IMP_CONN_AUTHED)
    {
      g_autoptr(GBytes) frame = g_queue_pop_head (conn->held);
      gsize len;
      const guint8 *data = g_bytes_get_data (frame, &len);

      imp_gateway_handle_frame (self, conn, data, len);
    }
  if (conn->held != NULL)
    g_queue_free_full (g_steal_pointer (&conn->held), (GDestroyNotify) g_bytes_unref);
}

static void
start_auth (ImpGateway *self, ImpConnection *conn, const Implus__Envelope *env)
{
  const Implus__Auth *auth = env->auth;
  const char *device = auth->device_id;
  g_autoptr(GTask) task = NULL;
  AuthJob *job;

  if (auth->token == NULL || auth->token[0] == '\0' || strlen (auth->token) > IMP_TOKEN_MAX_LEN)
    {
      imp_gateway_reject (conn, IMP_ERROR_AUTH_FAILED, "authentication failed", env->frame_id, TRUE);
      return;
    }
  if (device == NULL || device[0] == '\0')
    device = "default";
  if (strlen (device) > MAX_DEVICE_ID_LEN || !g_utf8_validate (device, -1, NULL))
    {
      imp_gateway_reject (conn, IMP_ERROR_BAD_REQUEST, "bad device_id", env->frame_id, TRUE);
      return;
    }

  conn->state = IMP_CONN_AUTHING;
  conn->device_id = g_strdup (device);

  job = g_new0 (AuthJob, 1);
  job->gw = self;
  job->token = g_strdup (auth->token);
  job->frame_id = env->frame_id;

  g_mutex_lock (&self->auth_lock);
  self->auth_in_flight++;
  g_mutex_unlock (&self->auth_lock);

  task = g_task_new (NULL, NULL, auth_done, imp_connection_ref (conn));
  g_task_set_source_tag (task, start_auth);
  g_task_set_task_data (task, job, auth_job_free);
  g_task_run_in_thread (task, auth_thread);
}

/* ---- frames ---- */

static void
handle_heartbeat (ImpGateway *self, ImpConnection *conn, const Implus__Envelope *in)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Heartbeat hb = IMPLUS__HEARTBEAT__INIT;

  hb.client_time_ms = in->heartbeat->client_time_ms;
  hb.server_time_ms = imp_now_ms ();
  env.frame_id = in->frame_id;
  env.body_case = IMPLUS__ENVELOPE__BODY_HEARTBEAT;
  env.heartbeat = &hb;
  if (imp_gateway_send (conn, &env) && conn->state == IMP_CONN_AUTHED)
    imp_cache_presence_add (self->cache, conn->user_id, self->config->gateway_id, conn->id,
                            2 * self->config->idle_timeout_ms);
}

static void
send_refusal (ImpConnection *conn, const Implus__ChatUp *chat, ImpErrorCode code,
              const char *reason)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__SendReceipt receipt = IMPLUS__SEND_RECEIPT__INIT;
  const char *id = chat->client_msg_id;

  /* Echo the client's id only if it is text; the content is never echoed. */
  receipt.client_msg_id = (char *) (id != NULL && g_utf8_validate (id, -1, NULL) && strlen (id) <= 64 ? id : "");
  receipt.server_time_ms = imp_now_ms ();
  receipt.error_code = (Implus__ErrorCode) code;
  receipt.error_reason = (char *) reason;
  env.body_case = IMPLUS__ENVELOPE__BODY_RECEIPT;
  env.receipt = &receipt;
  imp_gateway_send (conn, &env);
}

static void
handle_chat (ImpGateway *self, ImpConnection *conn, const Implus__Envelope *env)
{
  Implus__ChatUp *chat = env->chat_up;
  Implus__Bus__Chat rec = IMPLUS__BUS__CHAT__INIT;
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL;
  g_autoptr(GBytes) value = NULL;
  gsize size;
  guint8 *buf;

  if (!imp_chat_check (chat, conn->user_id, (gsize) self->config->max_content, &error))
    {
      send_refusal (conn, chat, imp_error_wire_code (error), error->message);
      return;
    }

  rec.gateway_id = self->config->gateway_id;
  rec.conn_id = conn->id;
  rec.user_id = conn->user_id;  /* from the token, never from the frame */
  rec.device_id = conn->device_id;
  rec.chat = chat;
  rec.received_us = imp_mono_us ();
  size = implus__bus__chat__get_packed_size (&rec);
  buf = g_malloc (size > 0 ? size : 1);
  implus__bus__chat__pack (&rec, buf);
  value = g_bytes_new_take (buf, size);

  /* Keyed by conversation: one conversation's sends are committed in order. */
  key = chat->group_id != 0 ? imp_convid_group (chat->group_id)
                            : imp_convid_private (conn->user_id, chat->to_user_id);
  if (!imp_bus_publish (self->bus, IMP_TOPIC_CONVERSATION_MESSAGES, key, value, &error))
    {
      g_warning ("gateway: bus publish failed: %s", error->message);
      send_refusal (conn, chat, IMP_ERROR_UNAVAILABLE, "service unavailable, retry later");
    }
}

void
imp_gateway_handle_frame (ImpGateway *self, ImpConnection *conn, const guint8 *data, gsize len)
{
  g_autoptr(ImpEnvelope) env = NULL;
  g_autoptr(GError) error = NULL;

  if (conn->state >= IMP_CONN_CLOSING)
    return;
  touch (self, conn);

  if (conn->state == IMP_CONN_AUTHING)
    {
      if (conn->held == NULL)
        conn->held = g_queue_new ();
      if (conn->held->length >= MAX_HELD_FRAMES)
        {
          imp_gateway_reject (conn, IMP_ERROR_RATE_LIMITED, "too many frames before AuthOk", 0, TRUE);
          return;
        }
      g_queue_push_tail (conn->held, g_bytes_new (data, len));
      return;
    }

  env = imp_wire_decode (data, len, &error);
  if (env == NULL)
    {
      imp_gateway_reject (conn, IMP_ERROR_BAD_FRAME, "undecodable frame", 0, TRUE);
      return;
    }

  switch (env->body_case)
    {
    case IMPLUS__ENVELOPE__BODY_HEARTBEAT:
      handle_heartbeat (self, conn, env);
      return;
    case IMPLUS__ENVELOPE__BODY_AUTH:
      if (conn->state == IMP_CONN_NEW)
        start_auth (self, conn, env);
      else
        imp_gateway_reject (conn, IMP_ERROR_BAD_FRAME, "already authenticated", env->frame_id, FALSE);
      return;
    default:
      break;
    }

  if (conn->state != IMP_CONN_AUTHED)
    {
      /* A client that talks before authenticating is broken or hostile: no second chance. */
      imp_gateway_reject (conn, IMP_ERROR_NOT_AUTHENTICATED, "send Auth first", env->frame_id, TRUE);
      return;
    }

  switch (env->body_case)
    {
    case IMPLUS__ENVELOPE__BODY_CHAT_UP:
      handle_chat (self, conn, env);
      break;
    case IMPLUS__ENVELOPE__BODY_ACK:
      imp_gateway_handle_ack (self, conn, env->ack->up_to_seq);
      break;
    case IMPLUS__ENVELOPE__BODY_GROUP_ACK:
      imp_gateway_handle_group_ack (self, conn, env);
      break;
    case IMPLUS__ENVELOPE__BODY_READ_MARK:
      imp_gateway_handle_read_mark (self, conn, env);
      break;
    case IMPLUS__ENVELOPE__BODY_TYPING:
      imp_gateway_handle_typing (self, conn, env);
      break;
    default:
      /* AuthOk, Receipt, Push, Error, Kick: server-to-client only. */
      imp_gateway_reject (conn, IMP_ERROR_BAD_FRAME, "frame type not accepted from clients",
                          env->frame_id, FALSE);
      break;
    }
}

/* ---- lifetime ---- */

ImpGateway *
imp_gateway_new (const ImpServerConfig *config, ImpAuth *auth, ImpBus *bus, ImpCache *cache,
                 GError **error)
{
  g_autoptr(ImpGateway) self = NULL;

  g_return_val_if_fail (config != NULL && auth != NULL && bus != NULL && cache != NULL, NULL);

  if (config->max_frame <= 0 || config->max_frame > G_MAXINT32 || config->max_outbuf <= 0 ||
      config->gateway_id == NULL || config->gateway_id[0] == '\0')
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "gateway: max_frame, max_outbuf and gateway_id must be set");
      return NULL;
    }

  self = g_new0 (ImpGateway, 1);
  self->config = config;
  self->auth = auth;
  self->bus = bus;
  self->cache = cache;
  self->context = g_main_context_ref_thread_default ();
  self->conns = g_hash_table_new (g_int64_hash, g_int64_equal);
  self->users = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                       (GDestroyNotify) g_queue_free);
  self->per_ip = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_mutex_init (&self->auth_lock);
  g_cond_init (&self->auth_cond);
  imp_gateway_group_init (self);

  if (!imp_gateway_push_start (self, error))
    return NULL;
  self->tcp = imp_gateway_tcp_new (self, error);
  if (self->tcp == NULL)
    return NULL;
  self->ws = imp_gateway_ws_new (self, error);
  if (self->ws == NULL)
    return NULL;

  imp_gateway_announce_start (self);
  g_message ("gateway %s: TCP on %s:%u, WebSocket on ws://%s:%u%s", config->gateway_id,
             config->bind, imp_gateway_tcp_get_port (self->tcp), config->bind,
             imp_gateway_ws_get_port (self->ws), config->ws_path);
  return g_steal_pointer (&self);
}

void
imp_gateway_set_store (ImpGateway *self, ImpStore *store)
{
  self->store = store;
}

guint
imp_gateway_get_tcp_port (ImpGateway *self)
{
  return self->tcp != NULL ? imp_gateway_tcp_get_port (self->tcp) : 0;
}

guint
imp_gateway_get_ws_port (ImpGateway *self)
{
  return self->ws != NULL ? imp_gateway_ws_get_port (self->ws) : 0;
}

guint
imp_gateway_get_n_connections (ImpGateway *self)
{
  return g_hash_table_size (self->conns);
}

void
imp_gateway_shutdown (ImpGateway *self)
{
  GList *all;

  if (self->shut_down)
    return;
  self->shut_down = TRUE;

  /* Stop taking work first, then say goodbye. */
  imp_gateway_announce_stop (self);
  imp_gateway_push_stop (self);
  all = g_hash_table_get_values (self->conns);
  for (GList *l = all; l != NULL; l = l->next)
    imp_connection_ref (l->data);
  for (GList *l = all; l != NULL; l = l->next)
    {
      ImpConnection *conn = l->data;

      if (conn->state == IMP_CONN_AUTHED)
        kick (conn, IMPLUS__KICK_REASON__KICK_REASON_SHUTDOWN, "server shutting down");
      else
        imp_gateway_close (conn, TRUE);
    }
  g_list_free_full (all, (GDestroyNotify) imp_connection_unref);
  g_clear_pointer (&self->tcp, imp_gateway_tcp_free);
  g_clear_pointer (&self->ws, imp_gateway_ws_free);
}

void
imp_gateway_free (ImpGateway *self)
{
  if (self == NULL)
    return;

  imp_gateway_shutdown (self);

  /* Auth threads use self->auth: wait until none runs. Their callbacks, still queued on the
   * main context, only see detached connections. */
  g_mutex_lock (&self->auth_lock);
  while (self->auth_in_flight > 0)
    g_cond_wait (&self->auth_cond, &self->auth_lock);
  g_mutex_unlock (&self->auth_lock);

  g_assert (g_hash_table_size (self->conns) == 0);
  imp_gateway_push_free (self);
  if (self->sweep != NULL)
    {
      g_source_destroy (self->sweep);
      g_clear_pointer (&self->sweep, g_source_unref);
    }
  g_hash_table_unref (self->conns);
  g_hash_table_unref (self->users);
  g_hash_table_unref (self->per_ip);
  imp_gateway_group_free (self);
  g_free (self->push_topic);
  g_mutex_clear (&self->auth_lock);
  g_cond_clear (&self->auth_cond);
  g_main_context_unref (self->context);
  g_free (self);
}

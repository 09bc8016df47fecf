/* imp-client-group.c: group conversation streams (read diffusion), read marks, delivery and read
 * states of own messages, typing.
 *
 * Each group conversation is its own stream with its own contiguous watermark in the mirror; the
 * rules are the user stream's: apply seq == watermark + 1, store a higher seq and pull the gap
 * (GET /groups/sync), re-ACK a lower one (GroupAck, cumulative per conversation). A member sees
 * the stream only from the seq at which they joined: what a pull skips over before its first
 * message is not a hole but outside the membership window, so the watermark moves over it.
 */
#define G_LOG_DOMAIN "implus-client"

#include "imp-client-private.h"
#include "imp-error.h"
#include "imp-time.h"

#define PULL_RETRY_MS    1000
#define TYPING_MIN_US    (3 * G_USEC_PER_SEC)

struct _ImpGroupStream
{
  ImpClient *client;          /* Borrowed */
  char      *conversation_id;
  gboolean   pulling;
  gboolean   pull_again;
  gboolean   pull_progress;
  gboolean   gone;            /* the server says we are not a member: stop pulling */
  gint64     pull_after;
  gint64     last_acked;
  gboolean   ack_due;
  gboolean   ack_force;
  guint      retry_timer;
};

static void
group_stream_free (ImpGroupStream *gs)
{
  g_clear_handle_id (&gs->retry_timer, g_source_remove);
  g_free (gs->conversation_id);
  g_free (gs);
}

void
imp_client_group_init (ImpClient *self)
{
  self->groups = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) group_stream_free);
  self->typing_sent = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  self->read_pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

void
imp_client_group_clear (ImpClient *self)
{
  g_clear_handle_id (&self->group_ack_idle, g_source_remove);
  g_clear_pointer (&self->groups, g_hash_table_unref);
  g_clear_pointer (&self->typing_sent, g_hash_table_unref);
  g_clear_pointer (&self->read_pending, g_hash_table_unref);
}

static ImpGroupStream *
stream_get (ImpClient *self, const char *conversation_id)
{
  ImpGroupStream *gs = g_hash_table_lookup (self->groups, conversation_id);

  if (gs == NULL)
    {
      gs = g_new0 (ImpGroupStream, 1);
      gs->client = self;
      gs->conversation_id = g_strdup (conversation_id);
      g_hash_table_insert (self->groups, gs->conversation_id, gs);
    }
  return gs;
}

static gboolean
send_frame (ImpClient *self, Implus__Envelope *env)
{
  return self->conn && self->state == IMP_CLIENT_ONLINE && imp_client_connection_send (self->conn, env);
}

/* ---- acks ---- */

static gboolean
group_ack_cb (gpointer user_data)
{
  ImpClient *self = user_data;
  GHashTableIter iter;
  gpointer value;

  self->group_ack_idle = 0;
  g_hash_table_iter_init (&iter, self->groups);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      ImpGroupStream *gs = value;
      gint64 wm;

      if (!gs->ack_due)
        continue;
      gs->ack_due = FALSE;
      wm = self->mirror ? imp_mirror_group_watermark (self->mirror, gs->conversation_id) : 0;
      if (wm > 0 && (wm > gs->last_acked || gs->ack_force))
        {
          Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
          Implus__GroupAck ack = IMPLUS__GROUP_ACK__INIT;

          ack.conversation_id = gs->conversation_id;
          ack.up_to_seq = wm;
          env.body_case = IMPLUS__ENVELOPE__BODY_GROUP_ACK;
          env.group_ack = &ack;
          if (send_frame (self, &env))
            gs->last_acked = wm;
        }
      gs->ack_force = FALSE;
    }
  return G_SOURCE_REMOVE;
}

/* Cumulative per conversation, coalesced to one GroupAck per main-loop turn. */
static void
schedule_group_ack (ImpClient *self, ImpGroupStream *gs, gboolean force)
{
  gs->ack_due = TRUE;
  gs->ack_force |= force;
  if (self->group_ack_idle == 0)
    self->group_ack_idle = g_idle_add (group_ack_cb, self);
}

/* ---- applying ---- */

static void
apply_all (ImpClient *self, ImpGroupStream *gs, GPtrArray *applied)
{
  for (guint i = 0; applied && i < applied->len; i++)
    imp_client_sync_process_applied (self, applied->pdata[i]);
  if (applied && applied->len)
    schedule_group_ack (self, gs, FALSE);
}

gboolean
imp_client_group_store (ImpClient *self, const ImpMessage *m)
{
  g_autoptr(GPtrArray) applied = NULL;
  g_autoptr(GError) error = NULL;
  ImpGroupStream *gs;
  gboolean duplicate = FALSE;

  if (self->mirror == NULL)
    return FALSE;
  if (!imp_mirror_group_store (self->mirror, m, &duplicate, &applied, &error))
    {
      g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_ERROR], 0, error);
      return FALSE;
    }
  gs = stream_get (self, m->conversation_id);
  if (duplicate)
    schedule_group_ack (self, gs, TRUE);
  apply_all (self, gs, applied);
  if (imp_mirror_group_count_buffered (self->mirror, m->conversation_id) > 0)
    imp_client_group_request_pull (self, m->conversation_id);
  return TRUE;
}

/* ---- pulling ---- */

static void pull_page (ImpGroupStream *gs);

static gboolean
retry_cb (gpointer user_data)
{
  ImpGroupStream *gs = user_data;

  gs->retry_timer = 0;
  imp_client_group_request_pull (gs->client, gs->conversation_id);
  return G_SOURCE_REMOVE;
}

static void
pull_done (ImpGroupStream *gs, const GError *error)
{
  ImpClient *self = gs->client;
  gboolean hole;

  gs->pulling = FALSE;
  if (error != NULL)
    {
      if (g_error_matches (error, IMP_ERROR, IMP_ERROR_NOT_MEMBER)
          || g_error_matches (error, IMP_ERROR, IMP_ERROR_FORBIDDEN))
        {
          g_debug ("group pull %s refused: %s", gs->conversation_id, error->message);
          gs->gone = TRUE;
          return;
        }
      g_debug ("group pull %s failed: %s", gs->conversation_id, error->message);
      if (self->state == IMP_CLIENT_ONLINE && !gs->retry_timer)
        gs->retry_timer = g_timeout_add (PULL_RETRY_MS, retry_cb, gs);
      return;
    }
  hole = imp_mirror_group_count_buffered (self->mirror, gs->conversation_id) > 0;
  if ((gs->pull_again || hole) && gs->pull_progress)
    {
      gs->pull_again = FALSE;
      imp_client_group_request_pull (self, gs->conversation_id);
      return;
    }
  gs->pull_again = FALSE;
  if (hole && !gs->retry_timer && self->state == IMP_CLIENT_ONLINE)
    gs->retry_timer = g_timeout_add (PULL_RETRY_MS, retry_cb, gs);
}

typedef struct {
  ImpClient *client;   /* Owned ref */
  char      *conversation_id;
} PullCall;

static void
pull_call_free (PullCall *call)
{
  g_object_unref (call->client);
  g_free (call->conversation_id);
  g_free (call);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PullCall, pull_call_free)

/* The server answered everything visible after `after`: seqs it skipped before `first` are
 * outside our membership window, not a hole. */
static gboolean
skip_invisible (ImpGroupStream *gs, gint64 to_seq)
{
  ImpClient *self = gs->client;
  g_autoptr(GPtrArray) applied = NULL;
  g_autoptr(GError) error = NULL;

  if (to_seq <= imp_mirror_group_watermark (self->mirror, gs->conversation_id))
    return TRUE;
  if (!imp_mirror_group_skip_to (self->mirror, gs->conversation_id, to_seq, &applied, &error))
    {
      g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_ERROR], 0, error);
      return FALSE;
    }
  gs->pull_progress = TRUE;
  apply_all (self, gs, applied);
  return TRUE;
}

static void
pull_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(PullCall) call = user_data;
  ImpClient *self = call->client;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);
  ImpGroupStream *gs;
  JsonArray *messages;
  gboolean has_more;
  gint64 after, max_seq;
  guint n;

  if (self->mirror == NULL || self->groups == NULL
      || (gs = g_hash_table_lookup (self->groups, call->conversation_id)) == NULL)
    return; /* logged out meanwhile */
  if (obj == NULL)
    {
      pull_done (gs, error);
      return;
    }
  messages = imp_json_array_member (obj, "messages");
  has_more = json_object_get_boolean_member_with_default (obj, "has_more", FALSE);
  max_seq = json_object_get_int_member_with_default (obj, "max_seq", 0);
  if (messages == NULL)
    {
      g_set_error (&error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "group sync answer without messages");
      pull_done (gs, error);
      return;
    }
  after = gs->pull_after;
  n = json_array_get_length (messages);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (messages, i);
      g_autoptr(ImpMessage) m = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node)
          || (m = imp_message_new_from_json (json_node_get_object (node), &error)) == NULL
          || g_strcmp0 (m->conversation_id, gs->conversation_id) != 0)
        {
          g_clear_error (&error);
          g_set_error (&error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "malformed message in group sync answer");
          pull_done (gs, error);
          return;
        }
      if (m->sender_id == self->user_id && m->state < IMP_MESSAGE_SENT)
        m->state = IMP_MESSAGE_SENT;
      if (i == 0 && m->seq > after + 1 && after == imp_mirror_group_watermark (self->mirror, gs->conversation_id)
          && !skip_invisible (gs, m->seq - 1))
        goto mirror_failed;
      if (m->seq > gs->pull_after)
        {
          gs->pull_after = m->seq;
          gs->pull_progress = TRUE;
        }
      if (!imp_client_group_store (self, m))
        goto mirror_failed;
    }
  /* Caught up, and the rest up to max_seq is outside our window (we left, or nothing to see). */
  if (!has_more && max_seq > gs->pull_after
      && gs->pull_after == imp_mirror_group_watermark (self->mirror, gs->conversation_id)
      && !skip_invisible (gs, max_seq))
    goto mirror_failed;
  if (has_more && n > 0)
    pull_page (gs);
  else
    pull_done (gs, NULL);
  return;

mirror_failed:
  g_set_error (&error, IMP_ERROR, IMP_ERROR_INTERNAL, "mirror write failed");
  pull_done (gs, error);
}

static void
pull_page (ImpGroupStream *gs)
{
  ImpClient *self = gs->client;
  g_autofree char *escaped = g_uri_escape_string (gs->conversation_id, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/groups/sync?conversation_id=%s&after=%" G_GINT64_FORMAT "&limit=%u",
                                           escaped, gs->pull_after, IMP_CLIENT_PULL_PAGE);
  PullCall *call = g_new0 (PullCall, 1);

  call->client = g_object_ref (self);
  call->conversation_id = g_strdup (gs->conversation_id);
  imp_client_api_call_async (self->api, IMP_API_MESSAGE, "GET", path, NULL, NULL, pull_cb, call);
}

void
imp_client_group_request_pull (ImpClient *self, const char *conversation_id)
{
  ImpGroupStream *gs;

  if (self->mirror == NULL || conversation_id == NULL || !g_str_has_prefix (conversation_id, "group_"))
    return;
  gs = stream_get (self, conversation_id);
  if (gs->pulling)
    {
      gs->pull_again = TRUE;
      return;
    }
  g_clear_handle_id (&gs->retry_timer, g_source_remove);
  gs->gone = FALSE;
  gs->pulling = TRUE;
  gs->pull_progress = FALSE;
  gs->pull_after = imp_mirror_group_watermark (self->mirror, conversation_id);
  pull_page (gs);
}

/* ---- (re)connect ---- */

static void
conversations_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ImpClient) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);
  JsonArray *convs;

  if (obj == NULL || self->mirror == NULL || (convs = imp_json_array_member (obj, "conversations")) == NULL)
    {
      if (error)
        g_debug ("conversation list failed: %s", error->message);
      return;
    }
  for (guint i = 0; i < json_array_get_length (convs); i++)
    {
      JsonObject *c = json_array_get_object_element (convs, i);
      const char *id, *kind;
      gint64 last_seq, read_seq;

      if (c == NULL)
        continue;
      id = json_object_get_string_member_with_default (c, "conversation_id", NULL);
      kind = json_object_get_string_member_with_default (c, "kind", "private");
      read_seq = json_object_get_int_member_with_default (c, "read_seq", 0);
      if (id == NULL)
        continue;
      /* The server's read position is the truth for every device. */
      if (read_seq > 0 && imp_mirror_set_read (self->mirror, id, read_seq))
        g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_CONVERSATION_UPDATED], 0, id);
      if (g_strcmp0 (kind, "group") != 0 || !g_str_has_prefix (id, "group_"))
        continue;
      imp_mirror_group_ensure (self->mirror, id, json_object_get_int_member_with_default (c, "group_id", 0),
                               json_object_get_string_member_with_default (c, "name", NULL));
      last_seq = json_object_get_int_member_with_default (c, "last_seq", 0);
      if (last_seq > imp_mirror_group_watermark (self->mirror, id) || last_seq == 0)
        imp_client_group_request_pull (self, id);
    }
}

static void
flush_read_pending (ImpClient *self)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->read_pending);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
      Implus__ReadMark mark = IMPLUS__READ_MARK__INIT;

      mark.conversation_id = key;
      mark.seq = *(gint64 *) value;
      env.body_case = IMPLUS__ENVELOPE__BODY_READ_MARK;
      env.read_mark = &mark;
      if (send_frame (self, &env))
        g_hash_table_iter_remove (&iter);
    }
}

void
imp_client_group_online (ImpClient *self)
{
  g_autoptr(GPtrArray) known = NULL;
  GHashTableIter iter;
  gpointer value;

  if (self->mirror == NULL)
    return;
  g_hash_table_iter_init (&iter, self->groups);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    ((ImpGroupStream *) value)->last_acked = 0;
  /* Every group we know of pulls from its watermark; the list brings groups joined meanwhile. */
  known = imp_mirror_group_list (self->mirror);
  for (guint i = 0; i < known->len; i++)
    imp_client_group_request_pull (self, known->pdata[i]);
  imp_client_api_call_async (self->api, IMP_API_MESSAGE, "GET", "/conversations", NULL, NULL,
                             conversations_cb, g_object_ref (self));
  flush_read_pending (self);
}

void
imp_client_group_offline (ImpClient *self)
{
  GHashTableIter iter;
  gpointer value;

  g_clear_handle_id (&self->group_ack_idle, g_source_remove);
  if (self->groups == NULL)
    return;
  g_hash_table_iter_init (&iter, self->groups);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      ImpGroupStream *gs = value;

      g_clear_handle_id (&gs->retry_timer, g_source_remove);
      gs->ack_due = gs->ack_force = FALSE;
    }
}

/* ---- read marks, delivery, typing ---- */

static void
read_post_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);

  if (obj == NULL)
    g_debug ("read mark not stored: %s", error->message);
}

gboolean
imp_client_mark_read (ImpClient *self, const char *conversation_id, gint64 seq)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__ReadMark mark = IMPLUS__READ_MARK__INIT;
  g_autoptr(JsonObject) body = NULL;

  g_return_val_if_fail (IMP_IS_CLIENT (self), FALSE);
  if (self->mirror == NULL || conversation_id == NULL || seq <= 0)
    return FALSE;
  if (!imp_mirror_set_read (self->mirror, conversation_id, seq))
    return FALSE;
  g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_CONVERSATION_UPDATED], 0, conversation_id);
  mark.conversation_id = (char *) conversation_id;
  mark.seq = seq;
  env.body_case = IMPLUS__ENVELOPE__BODY_READ_MARK;
  env.read_mark = &mark;
  if (send_frame (self, &env))
    return TRUE;
  /* Offline: the HTTP API stores it now; should that fail too, the frame goes at the next connect. */
  g_hash_table_insert (self->read_pending, g_strdup (conversation_id), g_memdup2 (&seq, sizeof seq));
  if (imp_client_api_get_token (self->api) != NULL)
    {
      body = json_object_new ();
      json_object_set_string_member (body, "conversation_id", conversation_id);
      json_object_set_int_member (body, "seq", seq);
      imp_client_api_call_async (self->api, IMP_API_MESSAGE, "POST", "/conversations/read", body,
                                 NULL, read_post_cb, NULL);
    }
  return TRUE;
}

gboolean
imp_client_send_typing (ImpClient *self, gint64 to_user_id)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Typing typing = IMPLUS__TYPING__INIT;
  gint64 now = imp_mono_us ();
  gint64 *last;

  g_return_val_if_fail (IMP_IS_CLIENT (self), FALSE);
  if (to_user_id <= 0 || to_user_id == self->user_id)
    return FALSE;
  last = g_hash_table_lookup (self->typing_sent, &to_user_id);
  if (last && now - *last < TYPING_MIN_US)
    return FALSE; /* the server rate-limits too; do not waste the frames */
  typing.to_user_id = to_user_id;
  env.body_case = IMPLUS__ENVELOPE__BODY_TYPING;
  env.typing = &typing;
  if (!send_frame (self, &env))
    return FALSE;
  g_hash_table_insert (self->typing_sent, g_memdup2 (&to_user_id, sizeof to_user_id), g_memdup2 (&now, sizeof now));
  return TRUE;
}

static void
mark_own (ImpClient *self, const char *conversation_id, gint64 up_to_seq, ImpMessageState state)
{
  if (conversation_id == NULL || up_to_seq <= 0)
    return;
  if (imp_mirror_mark_own (self->mirror, conversation_id, self->user_id, up_to_seq, state) > 0)
    g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_MESSAGE_STATE_CHANGED], 0,
                   conversation_id, up_to_seq, (guint) state);
}

gboolean
imp_client_group_handle_frame (ImpClient *self, const ImpEnvelope *env)
{
  switch (env->body_case)
    {
    case IMPLUS__ENVELOPE__BODY_GROUP_NOTICE:
      {
        const char *conv = env->group_notice->conversation_id;

        if (conv && g_str_has_prefix (conv, "group_")
            && env->group_notice->seq > imp_mirror_group_watermark (self->mirror, conv))
          {
            imp_mirror_group_ensure (self->mirror, conv, 0, NULL);
            imp_client_group_request_pull (self, conv);
          }
        return TRUE;
      }
    case IMPLUS__ENVELOPE__BODY_READ_UPDATE:
      {
        const Implus__ReadUpdate *u = env->read_update;

        if (u->conversation_id == NULL || u->conversation_id[0] == '\0')
          return TRUE;
        if (u->user_id == 0 || u->user_id == self->user_id)
          {
            /* Read on another of our devices. */
            if (imp_mirror_set_read (self->mirror, u->conversation_id, u->read_seq))
              g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_CONVERSATION_UPDATED], 0,
                             u->conversation_id);
          }
        else if (!g_str_has_prefix (u->conversation_id, "group_"))
          mark_own (self, u->conversation_id, u->read_seq, IMP_MESSAGE_READ);  /* the peer read ours */
        return TRUE;
      }
    case IMPLUS__ENVELOPE__BODY_DELIVERED:
      mark_own (self, env->delivered->conversation_id, env->delivered->up_to_seq, IMP_MESSAGE_DELIVERED);
      return TRUE;
    case IMPLUS__ENVELOPE__BODY_TYPING:
      if (env->typing->from_user_id > 0)
        g_signal_emit (self, imp_client_signals[IMP_CLIENT_SIGNAL_TYPING], 0, env->typing->from_user_id);
      return TRUE;
    default:
      return FALSE;
    }
}

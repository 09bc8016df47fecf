/* imp-gateway-group.c: the gateway's side of groups and ephemeral frames.
 *
 * - An index group -> local users with their join_seq (and user -> groups), only for users with
 *   a connection here: loaded from the store at auth (on the auth thread), kept current by
 *   GatewayMembership. A push reaches a member only if its seq is inside their window.
 *   The message worker sends ONE GatewayGroupPush per gateway; fan-out to members happens here.
 * - GroupAck: cumulative per connection per group conversation, stops retransmission.
 * - GatewayEphemeral (ReadUpdate, Delivered, Typing) to a user's connections, never retransmitted.
 * - Typing from clients: rate-limited, then sent to the peer's gateways (presence) from a worker
 *   thread (the cache read may block); never stored.
 * - ReadMark from clients: forwarded on "read-marks" to the message role.
 * - The gateway registry announcement (imp_cache_gateway_announce), and the presence of every
 *   connection written again when the cache may have lost it (imp_cache_generation).
 * See docs/message-flow.md. */
#include "imp-gateway-private.h"
#include "imp-convid.h"
#include "imp-time.h"
#include "message/imp-message-notify.h"

#include <string.h>

#define TYPING_PER_PEER_US   G_USEC_PER_SEC  /* one Typing per peer per second per connection */
#define TYPING_PER_SECOND    5               /* and at most this many per connection per second */
#define TYPING_MAX_IN_FLIGHT 256             /* typing tasks queued for worker threads */
#define ANNOUNCE_MS          5000
#define ANNOUNCE_TTL_MS      (3 * ANNOUNCE_MS)
#define PRESENCE_CHECK_MS    1000
#define PRESENCE_TICK_MS     10
#define PRESENCE_SLICE       500   /* presence writes per tick: at most 50,000/s */

/* ---- the index ---- */

static gint64 *
int64_dup (gint64 v)
{
  return g_memdup2 (&v, sizeof v);
}

void
imp_gateway_group_init (ImpGateway *self)
{
  self->group_users = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                             (GDestroyNotify) g_hash_table_unref);
  self->user_groups = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                             (GDestroyNotify) g_array_unref);
}

void
imp_gateway_group_free (ImpGateway *self)
{
  g_clear_pointer (&self->group_users, g_hash_table_unref);
  g_clear_pointer (&self->user_groups, g_hash_table_unref);
  g_free (self->tcp_address);
  g_free (self->ws_url);
}

/* The member's join_seq in the index, or NULL if user_id is not indexed in group_id. */
static gint64 *
index_join_seq (ImpGateway *self, gint64 user_id, gint64 group_id)
{
  GHashTable *users = g_hash_table_lookup (self->group_users, &group_id);

  return users != NULL ? g_hash_table_lookup (users, &user_id) : NULL;
}

/* Indexes user_id in group_id with join_seq, or moves an indexed member's join_seq forward. */
static void
index_add (ImpGateway *self, gint64 user_id, gint64 group_id, gint64 join_seq)
{
  GArray *groups = g_hash_table_lookup (self->user_groups, &user_id);
  gint64 *known = index_join_seq (self, user_id, group_id);
  GHashTable *users;

  if (known != NULL)
    {
      *known = MAX (*known, join_seq);
      return;
    }
  if (groups == NULL)
    {
      groups = g_array_new (FALSE, FALSE, sizeof (gint64));
      g_hash_table_insert (self->user_groups, int64_dup (user_id), groups);
    }
  g_array_append_val (groups, group_id);

  users = g_hash_table_lookup (self->group_users, &group_id);
  if (users == NULL)
    {
      users = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
      g_hash_table_insert (self->group_users, int64_dup (group_id), users);
    }
  g_hash_table_insert (users, int64_dup (user_id), int64_dup (join_seq));
}

static void
index_remove_from_group (ImpGateway *self, gint64 user_id, gint64 group_id)
{
  GHashTable *users = g_hash_table_lookup (self->group_users, &group_id);

  if (users == NULL)
    return;
  g_hash_table_remove (users, &user_id);
  if (g_hash_table_size (users) == 0)
    g_hash_table_remove (self->group_users, &group_id);
}

static void
index_remove (ImpGateway *self, gint64 user_id, gint64 group_id)
{
  GArray *groups = g_hash_table_lookup (self->user_groups, &user_id);

  if (groups == NULL)
    return;
  for (guint i = 0; i < groups->len; i++)
    if (g_array_index (groups, gint64, i) == group_id)
      {
        g_array_remove_index_fast (groups, i);
        index_remove_from_group (self, user_id, group_id);
        break;
      }
}

void
imp_gateway_group_forget_user (ImpGateway *self, gint64 user_id)
{
  GArray *groups = g_hash_table_lookup (self->user_groups, &user_id);

  if (groups == NULL)
    return;
  for (guint i = 0; i < groups->len; i++)
    index_remove_from_group (self, user_id, g_array_index (groups, gint64, i));
  g_hash_table_remove (self->user_groups, &user_id);
}

void
imp_gateway_group_set_user (ImpGateway *self, gint64 user_id, const GArray *groups)
{
  /* The list just read from the store is the freshest truth: replace, do not merge. */
  imp_gateway_group_forget_user (self, user_id);
  if (groups == NULL)
    return;
  for (guint i = 0; i < groups->len; i++)
    {
      const ImpGatewayGroupEntry *e = &g_array_index (groups, ImpGatewayGroupEntry, i);

      index_add (self, user_id, e->group_id, e->join_seq);
    }
}

GArray *
imp_gateway_group_load (ImpStore *store, gint64 user_id, GError **error)
{
  g_autoptr(GPtrArray) list = imp_store_user_groups (store, user_id, FALSE, error);
  GArray *groups;

  if (list == NULL)
    return NULL;
  groups = g_array_sized_new (FALSE, FALSE, sizeof (ImpGatewayGroupEntry), list->len);
  for (guint i = 0; i < list->len; i++)
    {
      const ImpGroupMemberRecord *m = g_ptr_array_index (list, i);
      ImpGatewayGroupEntry e = { m->group_id, m->join_seq };

      if (m->left_seq == 0 && m->group_status != IMP_GROUP_DISSOLVED)
        g_array_append_val (groups, e);
    }
  return groups;
}

/* ---- records from the push topic ---- */

/* The connections of the local members whose window holds seq, with refs: sending may close any
 * of them. The window's start matters on a bus that delivers late: a push committed before a
 * member joined can arrive after their connection loaded the membership from the store. */
static GPtrArray *
member_conns (ImpGateway *self, gint64 group_id, gint64 seq)
{
  GHashTable *users = g_hash_table_lookup (self->group_users, &group_id);
  GPtrArray *arr = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_connection_unref);
  GHashTableIter iter;
  gint64 *user_id, *join_seq;

  if (users == NULL)
    return arr;
  g_hash_table_iter_init (&iter, users);
  while (g_hash_table_iter_next (&iter, (gpointer *) &user_id, (gpointer *) &join_seq))
    {
      GQueue *q;

      if (seq <= *join_seq)
        continue;
      q = imp_gateway_user_conns (self, *user_id);

      if (q != NULL)
        for (GList *l = q->head; l != NULL; l = l->next)
          g_ptr_array_add (arr, imp_connection_ref (l->data));
    }
  return arr;
}

void
imp_gateway_deliver_group_push (ImpGateway *self, const Implus__Bus__GatewayGroupPush *gp)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Push push = IMPLUS__PUSH__INIT;
  g_autoptr(GPtrArray) conns = NULL;
  g_autoptr(GBytes) payload = NULL;
  guint64 exclude = 0;
  gint64 seq;

  if (gp->group_id <= 0 || (gp->message == NULL && gp->notice == NULL))
    return;
  if (gp->message != NULL)
    {
      push.message = gp->message;
      env.body_case = IMPLUS__ENVELOPE__BODY_PUSH;
      env.push = &push;
      seq = gp->message->seq;
    }
  else
    {
      env.body_case = IMPLUS__ENVELOPE__BODY_GROUP_NOTICE;
      env.group_notice = gp->notice;
      seq = gp->notice->seq;
    }
  conns = member_conns (self, gp->group_id, seq);
  if (conns->len == 0)
    return;
  /* The sender's own connection has its receipt; its id means something here only. */
  if (g_strcmp0 (gp->origin_gateway_id, self->config->gateway_id) == 0)
    exclude = gp->exclude_conn_id;
  /* Encoded once for every member connection and every retransmission. */
  payload = imp_wire_encode (&env, FALSE);
  for (guint i = 0; i < conns->len; i++)
    {
      ImpConnection *conn = g_ptr_array_index (conns, i);

      if (conn->id == exclude || conn->state != IMP_CONN_AUTHED)
        continue;
      imp_gateway_push_send (self, conn, payload, gp->group_id, seq);
    }
}

void
imp_gateway_deliver_membership (ImpGateway *self, const Implus__Bus__GatewayMembership *m)
{
  gint64 *join_seq;

  /* Only users present here are indexed; the others load their groups at their next auth. */
  if (m->user_id <= 0 || m->group_id <= 0 || m->seq < 0 ||
      imp_gateway_user_conns (self, m->user_id) == NULL)
    return;
  if (m->joined)
    {
      index_add (self, m->user_id, m->group_id, m->seq);
      return;
    }
  /* A leave older than the membership the index holds (loaded at auth after a re-join) is
   * stale: the member is in the group again. */
  join_seq = index_join_seq (self, m->user_id, m->group_id);
  if (join_seq != NULL && m->seq > 0 && m->seq <= *join_seq)
    return;
  index_remove (self, m->user_id, m->group_id);
}

void
imp_gateway_deliver_ephemeral (ImpGateway *self, const Implus__Bus__GatewayEphemeral *e)
{
  GQueue *q = imp_gateway_user_conns (self, e->user_id);
  g_autoptr(GPtrArray) conns = NULL;
  g_autoptr(GBytes) payload = NULL;

  if (q == NULL || e->envelope == NULL)
    return;
  switch (e->envelope->body_case)
    {
    case IMPLUS__ENVELOPE__BODY_READ_UPDATE:
    case IMPLUS__ENVELOPE__BODY_DELIVERED:
    case IMPLUS__ENVELOPE__BODY_TYPING:
      break;
    default:
      return;  /* only the ephemeral kinds: nothing else bypasses retransmission */
    }
  conns = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_connection_unref);
  for (GList *l = q->head; l != NULL; l = l->next)
    g_ptr_array_add (conns, imp_connection_ref (l->data));
  payload = imp_wire_encode (e->envelope, FALSE);
  for (guint i = 0; i < conns->len; i++)
    {
      ImpConnection *conn = g_ptr_array_index (conns, i);

      if (conn->id != e->exclude_conn_id && conn->state == IMP_CONN_AUTHED)
        imp_gateway_send_bytes (conn, payload);
    }
}

/* ---- frames from clients ---- */

void
imp_gateway_handle_group_ack (ImpGateway *self, ImpConnection *conn, const Implus__Envelope *env)
{
  const Implus__GroupAck *ack = env->group_ack;
  ImpConvKind kind;
  gint64 group_id, b;

  if (ack->conversation_id == NULL || strlen (ack->conversation_id) > 64 ||
      !imp_convid_parse (ack->conversation_id, &kind, &group_id, &b, NULL) ||
      kind != IMP_CONV_GROUP || ack->up_to_seq < 0)
    {
      imp_gateway_reject (conn, IMP_ERROR_BAD_REQUEST, "GroupAck needs a group conversation id",
                          env->frame_id, FALSE);
      return;
    }
  imp_gateway_handle_group_ack_seq (self, conn, group_id, ack->conversation_id, ack->up_to_seq);
}

static void
publish (ImpGateway *self, const char *topic, gint64 key_user, GBytes *value)
{
  g_autoptr(GError) error = NULL;
  char key[24];

  g_snprintf (key, sizeof key, "%" G_GINT64_FORMAT, key_user);
  if (!imp_bus_publish (self->bus, topic, key, value, &error))
    g_warning ("gateway: publish on %s failed: %s", topic, error->message);
}

void
imp_gateway_handle_read_mark (ImpGateway *self, ImpConnection *conn, const Implus__Envelope *env)
{
  const Implus__ReadMark *mark = env->read_mark;
  Implus__Bus__ReadMarkRecord rec = IMPLUS__BUS__READ_MARK_RECORD__INIT;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) value = NULL;
  gsize size;
  guint8 *buf;

  /* Checked here too, so a bad frame gets its answer at once instead of vanishing. */
  if (!imp_message_check_conversation (mark->conversation_id, conn->user_id, &error) ||
      mark->seq < 0)
    {
      imp_gateway_reject (conn, error != NULL ? imp_error_wire_code (error) : IMP_ERROR_BAD_REQUEST,
                          error != NULL ? error->message : "seq must not be negative",
                          env->frame_id, FALSE);
      return;
    }
  rec.user_id = conn->user_id;  /* from the token, never from the frame */
  rec.device_id = conn->device_id;
  rec.conversation_id = mark->conversation_id;
  rec.seq = mark->seq;
  rec.gateway_id = self->config->gateway_id;
  rec.conn_id = conn->id;
  size = implus__bus__read_mark_record__get_packed_size (&rec);
  buf = g_malloc (MAX (size, 1));
  implus__bus__read_mark_record__pack (&rec, buf);
  value = g_bytes_new_take (buf, size);
  publish (self, IMP_TOPIC_READ_MARKS, conn->user_id, value);
}

typedef struct {
  ImpGateway *gw;       /* only bus, cache, store and the in-flight counter on the thread */
  gint64      from_user;
  gint64      to_user;
} TypingJob;

static void
typing_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  TypingJob *job = task_data;
  ImpGateway *gw = job->gw;
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Typing typing = IMPLUS__TYPING__INIT;
  gboolean blocked = FALSE;

  /* Someone who blocked the typist is not told (the store answers quickly; errors: tell). */
  if (gw->store != NULL)
    imp_store_is_blocked (gw->store, job->to_user, job->from_user, &blocked, NULL);
  if (!blocked)
    {
      typing.from_user_id = job->from_user;
      env.body_case = IMPLUS__ENVELOPE__BODY_TYPING;
      env.typing = &typing;
      imp_message_publish_ephemeral (gw->bus, gw->cache, job->to_user, NULL, 0, &env);
    }

  /* Past this point the gateway may be freed. */
  g_mutex_lock (&gw->auth_lock);
  gw->typing_in_flight--;
  gw->auth_in_flight--;
  g_cond_broadcast (&gw->auth_cond);
  g_mutex_unlock (&gw->auth_lock);
  g_task_return_boolean (task, TRUE);
}

/* One per peer per second, and TYPING_PER_SECOND in all, per connection. */
static gboolean
typing_allowed (ImpConnection *conn, gint64 to_user, gint64 now)
{
  if (now - conn->typing_window_us >= G_USEC_PER_SEC)
    {
      conn->typing_window_us = now;
      conn->typing_count = 0;
    }
  if (conn->typing_count >= TYPING_PER_SECOND)
    return FALSE;
  if (conn->typing_peer == to_user && now - conn->typing_us < TYPING_PER_PEER_US)
    return FALSE;
  conn->typing_peer = to_user;
  conn->typing_us = now;
  conn->typing_count++;
  return TRUE;
}

void
imp_gateway_handle_typing (ImpGateway *self, ImpConnection *conn, const Implus__Envelope *env)
{
  gint64 to_user = env->typing->to_user_id;
  g_autoptr(GTask) task = NULL;
  TypingJob *job;
  gboolean full;

  if (to_user <= 0 || to_user == conn->user_id)
    {
      imp_gateway_reject (conn, IMP_ERROR_BAD_REQUEST, "Typing needs another user's id",
                          env->frame_id, FALSE);
      return;
    }
  /* Excess typing is dropped silently: it is a hint, and the sender need not know. */
  if (!typing_allowed (conn, to_user, imp_mono_us ()))
    {
      self->typing_dropped++;
      return;
    }
  g_mutex_lock (&self->auth_lock);
  full = self->typing_in_flight >= TYPING_MAX_IN_FLIGHT;
  if (!full)
    {
      self->typing_in_flight++;
      self->auth_in_flight++;
    }
  g_mutex_unlock (&self->auth_lock);
  if (full)
    {
      self->typing_dropped++;
      return;
    }
  job = g_new0 (TypingJob, 1);
  job->gw = self;
  job->from_user = conn->user_id;
  job->to_user = to_user;
  task = g_task_new (NULL, NULL, NULL, NULL);
  g_task_set_source_tag (task, imp_gateway_handle_typing);
  g_task_set_task_data (task, job, g_free);
  g_task_run_in_thread (task, typing_thread);
}

guint64
imp_gateway_get_typing_dropped (ImpGateway *self)
{
  return self->typing_dropped;
}

/* ---- the gateway registry ---- */

/* The host clients should dial: a wildcard bind is reachable on loopback at least. */
static char *
dial_host (const char *bind)
{
  if (bind == NULL || g_strcmp0 (bind, "0.0.0.0") == 0 || g_strcmp0 (bind, "*") == 0)
    return g_strdup ("127.0.0.1");
  if (g_strcmp0 (bind, "::") == 0)
    return g_strdup ("[::1]");
  if (strchr (bind, ':') != NULL)
    return g_strdup_printf ("[%s]", bind);
  return g_strdup (bind);
}

/* ---- presence refresh after a cache loss ---- */

/* Writes the presence of up to PRESENCE_SLICE connections; the rest on the next tick. */
static gboolean
on_presence_refresh (gpointer data)
{
  ImpGateway *self = data;
  guint n = MIN (self->presence_todo->len, PRESENCE_SLICE);

  for (guint i = 0; i < n; i++)
    {
      guint64 id = g_array_index (self->presence_todo, guint64, self->presence_todo->len - 1 - i);
      ImpConnection *conn = g_hash_table_lookup (self->conns, &id);

      /* Closed meanwhile: nothing to write (a write now would outlive the connection). */
      if (conn != NULL && conn->state == IMP_CONN_AUTHED)
        imp_cache_presence_add (self->cache, conn->user_id, self->config->gateway_id, conn->id,
                                2 * self->config->idle_timeout_ms);
    }
  g_array_set_size (self->presence_todo, self->presence_todo->len - n);
  if (self->presence_todo->len > 0)
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&self->presence_refresh, g_source_unref);
  return G_SOURCE_REMOVE;
}

/* The cache may have lost every presence entry (Redis restarted empty): write them all again now
 * rather than wait for each client's next heartbeat (30 s), at a bounded rate. */
static void
presence_refresh_start (ImpGateway *self)
{
  GHashTableIter iter;
  gpointer value;

  g_array_set_size (self->presence_todo, 0);
  g_hash_table_iter_init (&iter, self->conns);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((ImpConnection *) value)->state == IMP_CONN_AUTHED)
      g_array_append_val (self->presence_todo, ((ImpConnection *) value)->id);
  if (self->presence_todo->len == 0 || self->presence_refresh != NULL)
    return;
  g_message ("gateway %s: the cache may have lost presence; writing it again for %u connections",
             self->config->gateway_id, self->presence_todo->len);
  self->presence_refresh = g_timeout_source_new (PRESENCE_TICK_MS);
  g_source_set_callback (self->presence_refresh, on_presence_refresh, self, NULL);
  g_source_set_static_name (self->presence_refresh, "imp-gateway-presence-refresh");
  g_source_attach (self->presence_refresh, self->context);
}

static void
presence_refresh_stop (ImpGateway *self)
{
  if (self->presence_refresh != NULL)
    {
      g_source_destroy (self->presence_refresh);
      g_clear_pointer (&self->presence_refresh, g_source_unref);
    }
  g_clear_pointer (&self->presence_todo, g_array_unref);
}

static gboolean
on_presence_check (gpointer data)
{
  ImpGateway *self = data;
  guint generation = imp_cache_generation (self->cache);

  if (generation != self->cache_generation)
    {
      self->cache_generation = generation;
      /* The registry entry may be gone too: announce at once. */
      imp_cache_gateway_announce (self->cache, self->config->gateway_id, self->tcp_address,
                                  self->ws_url, g_hash_table_size (self->conns), ANNOUNCE_TTL_MS);
      presence_refresh_start (self);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_announce (gpointer data)
{
  ImpGateway *self = data;

  imp_cache_gateway_announce (self->cache, self->config->gateway_id, self->tcp_address,
                              self->ws_url, g_hash_table_size (self->conns), ANNOUNCE_TTL_MS);
  return G_SOURCE_CONTINUE;
}

void
imp_gateway_announce_start (ImpGateway *self)
{
  g_autofree char *host = dial_host (self->config->bind);

  self->tcp_address = g_strdup_printf ("%s:%u", host, imp_gateway_get_tcp_port (self));
  self->ws_url = g_strdup_printf ("ws://%s:%u%s", host, imp_gateway_get_ws_port (self),
                                  self->config->ws_path != NULL ? self->config->ws_path : "");
  /* Now, so the message role pushes group messages here from the first one on. */
  on_announce (self);
  self->announce = g_timeout_source_new (ANNOUNCE_MS);
  g_source_set_callback (self->announce, on_announce, self, NULL);
  g_source_set_static_name (self->announce, "imp-gateway-announce");
  g_source_attach (self->announce, self->context);
  /* Cheap (an atomic read): a lost cache is noticed within a second. */
  self->cache_generation = imp_cache_generation (self->cache);
  self->presence_todo = g_array_new (FALSE, FALSE, sizeof (guint64));
  self->presence_check = g_timeout_source_new (PRESENCE_CHECK_MS);
  g_source_set_callback (self->presence_check, on_presence_check, self, NULL);
  g_source_set_static_name (self->presence_check, "imp-gateway-presence-check");
  g_source_attach (self->presence_check, self->context);
}

void
imp_gateway_announce_stop (ImpGateway *self)
{
  if (self->presence_check != NULL)
    {
      g_source_destroy (self->presence_check);
      g_clear_pointer (&self->presence_check, g_source_unref);
    }
  presence_refresh_stop (self);
  if (self->announce == NULL)
    return;
  g_source_destroy (self->announce);
  g_clear_pointer (&self->announce, g_source_unref);
  /* A clean stop leaves the registry at once rather than after the ttl. */
  imp_cache_gateway_announce (self->cache, self->config->gateway_id, self->tcp_address,
                              self->ws_url, 0, 0);
}

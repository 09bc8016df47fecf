/* imp-user-social-http.c: friends, blacklist and the admin API (ban, unban, mute) of the user
 * service (docs/http-api.md), and the helpers that publish to gateways. */
#include "user/imp-user-private.h"
#include "imp-error.h"
#include "imp-time.h"

#include <sodium.h>
#include <string.h>

#define REASON_MAX 256

gboolean
imp_user_body_id (ImpHttpJob *job, const char *member, gint64 *out, GError **error)
{
  if (!imp_http_body_int (job, member, out, error))
    return FALSE;
  if (*out <= 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "\"%s\" must be a positive id", member);
      return FALSE;
    }
  return TRUE;
}

static GBytes *
pack_record (const Implus__Bus__GatewayRecord *record)
{
  gsize len = implus__bus__gateway_record__get_packed_size (record);
  guint8 *buf = g_malloc (len > 0 ? len : 1);

  implus__bus__gateway_record__pack (record, buf);
  return g_bytes_new_take (buf, len);
}

void
imp_user_publish_to_gateways (ImpUserHttp *self, GHashTable *gateways, const char *key,
                              const Implus__Bus__GatewayRecord *record)
{
  g_autoptr(GBytes) value = NULL;
  GHashTableIter iter;
  gpointer gw;

  if (g_hash_table_size (gateways) == 0)
    return;
  value = pack_record (record);
  g_hash_table_iter_init (&iter, gateways);
  while (g_hash_table_iter_next (&iter, &gw, NULL))
    {
      g_autofree char *topic = imp_bus_push_topic (gw);
      g_autoptr(GError) error = NULL;

      /* The change is committed; a lost record only delays what the client's pull finds. */
      if (!imp_bus_publish (self->bus, topic, key, value, &error))
        g_warning ("record for %s not published to %s: %s", key, topic, error->message);
    }
}

void
imp_user_publish_to_user (ImpUserHttp *self, gint64 user_id,
                          const Implus__Bus__GatewayRecord *record)
{
  g_autoptr(GHashTable) set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto(GStrv) gateways = imp_cache_presence_gateways (self->cache, user_id);
  g_autofree char *key = g_strdup_printf ("%" G_GINT64_FORMAT, user_id);

  for (guint i = 0; gateways != NULL && gateways[i] != NULL; i++)
    g_hash_table_add (set, g_strdup (gateways[i]));
  imp_user_publish_to_gateways (self, set, key, record);
}

static JsonNode *
object_reply (JsonBuilder *b)
{
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* Friends */

static const char *
friend_state_name (int state)
{
  switch (state)
    {
    case IMP_FRIEND_ACCEPTED: return "friend";
    case IMP_FRIEND_OUTGOING: return "outgoing";
    case IMP_FRIEND_INCOMING: return "incoming";
    default: return "none";
    }
}

static JsonNode *
state_reply (gint64 user_id, int state)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "user_id");
  json_builder_add_int_value (b, user_id);
  json_builder_set_member_name (b, "state");
  json_builder_add_string_value (b, friend_state_name (state));
  return object_reply (b);
}

static gboolean
handle_friend_request (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 other;
  int state = 0;

  if (!imp_user_body_id (job, "user_id", &other, error)
      || !imp_store_friend_request (self->store, job->claims.user_id, other, imp_now_ms (), &state,
                                    error))
    return FALSE;
  job->reply = state_reply (other, state);
  return TRUE;
}

static gboolean
handle_friend_respond (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  JsonNode *node = json_object_get_member (job->body, "accept");
  gint64 other;
  gboolean accept;

  if (!imp_user_body_id (job, "user_id", &other, error))
    return FALSE;
  if (node == NULL || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "\"accept\" must be true or false");
      return FALSE;
    }
  accept = json_node_get_boolean (node);
  if (!imp_store_friend_respond (self->store, job->claims.user_id, other, accept, imp_now_ms (),
                                 error))
    return FALSE;
  job->reply = state_reply (other, accept ? IMP_FRIEND_ACCEPTED : IMP_FRIEND_NONE);
  return TRUE;
}

static gboolean
handle_friend_remove (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 other;

  return imp_user_body_id (job, "user_id", &other, error)
         && imp_store_friend_remove (self->store, job->claims.user_id, other, error);
}

static gboolean
handle_friends (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  g_autoptr(GPtrArray) list = imp_store_friend_list (self->store, job->claims.user_id, error);
  g_autoptr(JsonBuilder) b = json_builder_new ();

  if (list == NULL)
    return FALSE;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "friends");
  json_builder_begin_array (b);
  for (guint i = 0; i < list->len; i++)
    {
      ImpFriendRecord *f = list->pdata[i];

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "user_id");
      json_builder_add_int_value (b, f->user_id);
      json_builder_set_member_name (b, "username");
      json_builder_add_string_value (b, f->username);
      json_builder_set_member_name (b, "nickname");
      json_builder_add_string_value (b, f->nickname);
      json_builder_set_member_name (b, "state");
      json_builder_add_string_value (b, friend_state_name (f->state));
      json_builder_set_member_name (b, "since_ms");
      json_builder_add_int_value (b, f->created_ms);
      /* Presence is shown to friends only. */
      if (f->state == IMP_FRIEND_ACCEPTED)
        {
          g_auto(GStrv) gateways = imp_cache_presence_gateways (self->cache, f->user_id);
          gint64 seen = 0;

          json_builder_set_member_name (b, "online");
          json_builder_add_boolean_value (b, gateways != NULL && gateways[0] != NULL);
          json_builder_set_member_name (b, "last_seen_ms");
          if (imp_cache_presence_last_seen (self->cache, f->user_id, &seen) && seen > 0)
            json_builder_add_int_value (b, seen);
          else
            json_builder_add_null_value (b);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  job->reply = object_reply (b);
  return TRUE;
}

/* Blacklist */

static gboolean
handle_block (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 other;

  return imp_user_body_id (job, "user_id", &other, error)
         && imp_store_block (self->store, job->claims.user_id, other, imp_now_ms (), error);
}

static gboolean
handle_unblock (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 other;

  return imp_user_body_id (job, "user_id", &other, error)
         && imp_store_unblock (self->store, job->claims.user_id, other, error);
}

static gboolean
handle_blacklist (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  g_autoptr(GPtrArray) list = imp_store_block_list (self->store, job->claims.user_id, error);
  g_autoptr(JsonBuilder) b = json_builder_new ();

  if (list == NULL)
    return FALSE;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "blocked");
  json_builder_begin_array (b);
  for (guint i = 0; i < list->len; i++)
    {
      ImpUserRecord *u = list->pdata[i];

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "user_id");
      json_builder_add_int_value (b, u->id);
      json_builder_set_member_name (b, "username");
      json_builder_add_string_value (b, u->username);
      json_builder_set_member_name (b, "nickname");
      json_builder_add_string_value (b, u->nickname);
      json_builder_set_member_name (b, "since_ms");
      json_builder_add_int_value (b, u->created_ms);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  job->reply = object_reply (b);
  return TRUE;
}

/* Admin: authorised by the configured admin token, not by a user's token. */

static gboolean
admin_check (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  const char *want = self->config->admin_token;
  const char *value = soup_message_headers_get_one (
    soup_server_message_get_request_headers (job->msg), "Authorization");
  gsize len;

  if (want == NULL || want[0] == '\0')
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN,
                   "the admin API is disabled ([user] admin_token is empty)");
      return FALSE;
    }
  if (value == NULL || g_ascii_strncasecmp (value, "Bearer ", 7) != 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_AUTHENTICATED,
                   "Authorization: Bearer <admin token> required");
      return FALSE;
    }
  value += 7;
  len = strlen (value);
  /* Constant time over the configured token's length: no timing hint of a prefix match. */
  if (len != strlen (want) || sodium_memcmp (value, want, len) != 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_AUTH_FAILED, "wrong admin token");
      return FALSE;
    }
  return TRUE;
}

static gboolean
handle_admin_ban (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  const char *reason = "banned by an administrator";
  JsonNode *node = json_object_get_member (job->body, "reason");
  gint64 user_id;

  if (!admin_check (job, error) || !imp_user_body_id (job, "user_id", &user_id, error))
    return FALSE;
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node)
      && (reason = imp_http_body_string (job, "reason", REASON_MAX, error)) == NULL)
    return FALSE;
  /* The ban is the status: login refuses it, sends are refused; tokens stay as they are. */
  if (!imp_store_user_set_status (self->store, user_id, IMP_USER_STATUS_BANNED, error))
    return FALSE;

  Implus__Bus__GatewayKick kick = IMPLUS__BUS__GATEWAY_KICK__INIT;
  kick.user_id = user_id;
  kick.token_id = (char *) "";  /* every connection of the user */
  kick.reason = IMPLUS__KICK_REASON__KICK_REASON_BANNED;
  kick.message = (char *) reason;
  Implus__Bus__GatewayRecord record = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  record.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_KICK;
  record.kick = &kick;
  imp_user_publish_to_user (self, user_id, &record);
  g_message ("admin: user %" G_GINT64_FORMAT " banned", user_id);
  return TRUE;
}

static gboolean
handle_admin_unban (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 user_id;

  if (!admin_check (job, error) || !imp_user_body_id (job, "user_id", &user_id, error)
      || !imp_store_user_set_status (self->store, user_id, IMP_USER_STATUS_NORMAL, error))
    return FALSE;
  g_message ("admin: user %" G_GINT64_FORMAT " unbanned", user_id);
  return TRUE;
}

static gboolean
handle_admin_mute (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 user_id, until;

  if (!admin_check (job, error) || !imp_user_body_id (job, "user_id", &user_id, error)
      || !imp_http_body_int (job, "until_ms", &until, error))
    return FALSE;
  if (until < 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "\"until_ms\" must be >= 0 (0 unmutes)");
      return FALSE;
    }
  if (!imp_store_user_set_muted (self->store, user_id, until, error))
    return FALSE;
  g_message ("admin: user %" G_GINT64_FORMAT " muted until %" G_GINT64_FORMAT, user_id, until);
  return TRUE;
}

const ImpHttpRoute imp_user_social_routes[] = {
  { "POST", "/friends/request", TRUE, TRUE, handle_friend_request },
  { "POST", "/friends/respond", TRUE, TRUE, handle_friend_respond },
  { "POST", "/friends/remove", TRUE, TRUE, handle_friend_remove },
  { "GET", "/friends", TRUE, FALSE, handle_friends },
  { "POST", "/blacklist/add", TRUE, TRUE, handle_block },
  { "POST", "/blacklist/remove", TRUE, TRUE, handle_unblock },
  { "GET", "/blacklist", TRUE, FALSE, handle_blacklist },
  { "POST", "/admin/ban", FALSE, TRUE, handle_admin_ban },
  { "POST", "/admin/unban", FALSE, TRUE, handle_admin_unban },
  { "POST", "/admin/mute", FALSE, TRUE, handle_admin_mute },
};
const guint imp_user_social_n_routes = G_N_ELEMENTS (imp_user_social_routes);

/* imp-user-group-http.c: groups over the user service (docs/http-api.md "Groups"): create, info,
 * members, add, remove, leave, role, transfer, mute, dissolve, my groups. After each change
 * commits, the gateways learn it: GatewayMembership to the gateways of each user who joined or
 * left, then each system message as a GatewayGroupPush to the gateways of the group's members. */
#include "user/imp-user-private.h"
#include "imp-error.h"
#include "imp-time.h"

#include <string.h>

#define GROUP_NAME_MAX 64
#define MEMBERS_PAGE 500
/* Members are read in pages of this size to find the gateways of a group. */

static const char *
role_name (int role)
{
  switch (role)
    {
    case IMP_GROUP_ROLE_OWNER: return "owner";
    case IMP_GROUP_ROLE_ADMIN: return "admin";
    default: return "member";
    }
}

static gboolean
body_group (ImpHttpJob *job, gint64 *out, GError **error)
{
  return imp_user_body_id (job, "group_id", out, error);
}

/* A JSON array of positive ids, at most max of them. */
static GArray *
body_ids (ImpHttpJob *job, const char *member, guint max, GError **error)
{
  JsonNode *node = json_object_get_member (job->body, member);
  g_autoptr(GArray) out = NULL;
  JsonArray *arr;
  guint n;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_array_new (FALSE, FALSE, sizeof (gint64));
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "\"%s\" must be an array of user ids",
                   member);
      return NULL;
    }
  arr = json_node_get_array (node);
  n = json_array_get_length (arr);
  if (n > max)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_PAYLOAD_TOO_LARGE,
                   "\"%s\": at most %u user ids", member, max);
      return NULL;
    }
  out = g_array_sized_new (FALSE, FALSE, sizeof (gint64), n);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (arr, i);
      gint64 id;

      if (JSON_NODE_TYPE (e) != JSON_NODE_VALUE || json_node_get_value_type (e) != G_TYPE_INT64
          || (id = json_node_get_int (e)) <= 0)
        {
          g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                       "\"%s\" must be an array of positive user ids", member);
          return NULL;
        }
      g_array_append_val (out, id);
    }
  return g_steal_pointer (&out);
}

/* Publishing */

static void
add_gateways (ImpUserHttp *self, GHashTable *set, gint64 user_id)
{
  g_auto(GStrv) gateways = imp_cache_presence_gateways (self->cache, user_id);

  for (guint i = 0; gateways != NULL && gateways[i] != NULL; i++)
    if (!g_hash_table_contains (set, gateways[i]))
      g_hash_table_add (set, g_strdup (gateways[i]));
}

/* Keyed like the group's pushes (the message workers key them by conversation id): the push
 * topics have several partitions and only records of one key keep their order, so a join keyed
 * by the user could be handled after the group's next pushes, which the gateway then does not
 * give to the joiner's connections (nor anything that would reveal the gap to the client). */
static void
publish_membership (ImpUserHttp *self, gint64 group_id, const char *key, GArray *users,
                    GArray *seqs, gboolean joined)
{
  for (guint i = 0; users != NULL && i < users->len; i++)
    {
      Implus__Bus__GatewayMembership m = IMPLUS__BUS__GATEWAY_MEMBERSHIP__INIT;
      Implus__Bus__GatewayRecord record = IMPLUS__BUS__GATEWAY_RECORD__INIT;
      g_autoptr(GHashTable) gateways = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                              NULL);

      m.user_id = g_array_index (users, gint64, i);
      m.group_id = group_id;
      m.joined = joined;
      m.seq = g_array_index (seqs, gint64, i);
      record.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_MEMBERSHIP;
      record.membership = &m;
      add_gateways (self, gateways, m.user_id);
      imp_user_publish_to_gateways (self, gateways, key, &record);
    }
}

/* After the commit, in the order a gateway needs them: who joined (so the joiners' connections
 * get the messages), the system messages to every live gateway (the gateway registry: no
 * per-member lookups) and to the gateways of those who left (they see their own removal), then
 * who left. */
static void
publish_change (ImpUserHttp *self, const ImpGroupChange *change)
{
  g_autoptr(GHashTable) gateways = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *key = g_strdup_printf ("group_%" G_GINT64_FORMAT, change->group_id);

  publish_membership (self, change->group_id, key, change->joined, change->join_seqs, TRUE);
  if (change->messages->len > 0)
    {
      g_autoptr(GPtrArray) live = imp_cache_gateways_live (self->cache);

      for (guint i = 0; i < live->len; i++)
        {
          const ImpGatewayInfo *gw = live->pdata[i];

          if (!g_hash_table_contains (gateways, gw->gateway_id))
            g_hash_table_add (gateways, g_strdup (gw->gateway_id));
        }
      for (guint i = 0; change->left != NULL && i < change->left->len; i++)
        add_gateways (self, gateways, g_array_index (change->left, gint64, i));
    }

  for (guint i = 0; i < change->messages->len; i++)
    {
      ImpMessageRecord *m = change->messages->pdata[i];
      Implus__Message msg = IMPLUS__MESSAGE__INIT;
      Implus__Bus__GatewayGroupPush push = IMPLUS__BUS__GATEWAY_GROUP_PUSH__INIT;
      Implus__Bus__GatewayRecord record = IMPLUS__BUS__GATEWAY_RECORD__INIT;

      msg.msg_id = m->msg_id;
      msg.conversation_id = m->conversation_id;
      msg.sender_id = m->sender_id;
      msg.seq = m->seq;
      msg.content = m->content;
      msg.content_type = m->content_type;
      msg.send_time_ms = m->send_time_ms;
      msg.group_id = m->group_id;
      push.group_id = change->group_id;
      push.message = &msg;
      record.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_GROUP_PUSH;
      record.group_push = &push;
      imp_user_publish_to_gateways (self, gateways, key, &record);
    }
  publish_membership (self, change->group_id, key, change->left, change->left_seqs, FALSE);
}

static JsonNode *
change_reply (const ImpGroupChange *change)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  gint64 last = 0;

  if (change->messages->len > 0)
    last = ((ImpMessageRecord *) change->messages->pdata[change->messages->len - 1])->seq;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "group_id");
  json_builder_add_int_value (b, change->group_id);
  json_builder_set_member_name (b, "last_seq");
  json_builder_add_int_value (b, last);
  json_builder_set_member_name (b, "joined");
  json_builder_begin_array (b);
  for (guint i = 0; i < change->joined->len; i++)
    json_builder_add_int_value (b, g_array_index (change->joined, gint64, i));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "left");
  json_builder_begin_array (b);
  for (guint i = 0; i < change->left->len; i++)
    json_builder_add_int_value (b, g_array_index (change->left, gint64, i));
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* Answers and publishes a change (takes it); FALSE if the store refused it. */
static gboolean
finish (ImpHttpJob *job, ImpGroupChange *change)
{
  ImpUserHttp *self = job->route_data;

  if (change == NULL)
    return FALSE;
  publish_change (self, change);
  job->reply = change_reply (change);
  imp_group_change_free (change);
  return TRUE;
}

/* Handlers */

static void
group_object (JsonBuilder *b, const ImpGroupRecord *g)
{
  json_builder_set_member_name (b, "group_id");
  json_builder_add_int_value (b, g->id);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, g->name);
  json_builder_set_member_name (b, "owner_id");
  json_builder_add_int_value (b, g->owner_id);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, g->status == IMP_GROUP_ACTIVE ? "active" : "dissolved");
  json_builder_set_member_name (b, "member_count");
  json_builder_add_int_value (b, g->member_count);
  json_builder_set_member_name (b, "last_seq");
  json_builder_add_int_value (b, g->last_seq);
  json_builder_set_member_name (b, "created_ms");
  json_builder_add_int_value (b, g->created_ms);
}

static void
membership_object (JsonBuilder *b, const ImpGroupMemberRecord *m)
{
  json_builder_set_member_name (b, "role");
  json_builder_add_string_value (b, role_name (m->role));
  json_builder_set_member_name (b, "muted_until_ms");
  json_builder_add_int_value (b, m->muted_until_ms);
  json_builder_set_member_name (b, "join_seq");
  json_builder_add_int_value (b, m->join_seq);
  json_builder_set_member_name (b, "left_seq");
  if (m->left_seq > 0)
    json_builder_add_int_value (b, m->left_seq);
  else
    json_builder_add_null_value (b);
}

static gboolean
handle_create (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  guint max = (guint) self->config->max_group_size;
  g_autoptr(GArray) members = NULL;
  g_autoptr(ImpGroupRecord) g = NULL;
  ImpGroupChange *change;
  const char *name = imp_http_body_string (job, "name", GROUP_NAME_MAX, error);

  if (name == NULL)
    return FALSE;
  if (name[0] == '\0')
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "\"name\" must not be empty");
      return FALSE;
    }
  if ((members = body_ids (job, "members", max, error)) == NULL)
    return FALSE;
  change = imp_store_group_create (self->store, job->claims.user_id, name,
                                   (const gint64 *) members->data, members->len, max, self->ids,
                                   imp_now_ms (), error);
  if (change == NULL)
    return FALSE;
  g = imp_store_group_get (self->store, change->group_id, error);
  publish_change (self, change);
  imp_group_change_free (change);
  if (g == NULL)
    return FALSE;

  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  group_object (b, g);
  json_builder_end_object (b);
  job->reply = json_builder_get_root (b);
  job->status = SOUP_STATUS_CREATED;
  g_message ("user %" G_GINT64_FORMAT " created group %" G_GINT64_FORMAT " with %" G_GINT64_FORMAT
             " members", job->claims.user_id, g->id, g->member_count);
  return TRUE;
}

/* The caller's membership (current or former) of the group in the query: NOT_MEMBER else. */
static ImpGroupMemberRecord *
query_membership (ImpHttpJob *job, gint64 *out_group, GError **error)
{
  ImpUserHttp *self = job->route_data;

  if (!imp_http_query_int (job, "group_id", 0, 0, G_MAXINT64, out_group, error))
    return NULL;
  if (*out_group <= 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "query parameter \"group_id\" required");
      return NULL;
    }
  return imp_store_group_member_get (self->store, *out_group, job->claims.user_id, error);
}

static gboolean
handle_info (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  g_autoptr(ImpGroupMemberRecord) me = NULL;
  g_autoptr(ImpGroupRecord) g = NULL;
  gint64 group_id;

  if ((me = query_membership (job, &group_id, error)) == NULL
      || (g = imp_store_group_get (self->store, group_id, error)) == NULL)
    return FALSE;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  group_object (b, g);
  membership_object (b, me);
  json_builder_end_object (b);
  job->reply = json_builder_get_root (b);
  return TRUE;
}

static gboolean
handle_members (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  g_autoptr(ImpGroupMemberRecord) me = NULL;
  g_autoptr(GPtrArray) page = NULL;
  gint64 group_id, after, limit;

  if ((me = query_membership (job, &group_id, error)) == NULL
      || !imp_http_query_int (job, "after", 0, 0, G_MAXINT64, &after, error)
      || !imp_http_query_int (job, "limit", MEMBERS_PAGE, 1, G_MAXINT64, &limit, error))
    return FALSE;
  limit = MIN (limit, MEMBERS_PAGE);
  if ((page = imp_store_group_members (self->store, group_id, after, (guint) limit + 1, error))
      == NULL)
    return FALSE;

  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "members");
  json_builder_begin_array (b);
  for (guint i = 0; i < page->len && i < (guint) limit; i++)
    {
      ImpGroupMemberRecord *m = page->pdata[i];

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "user_id");
      json_builder_add_int_value (b, m->user_id);
      json_builder_set_member_name (b, "username");
      json_builder_add_string_value (b, m->username);
      membership_object (b, m);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "has_more");
  json_builder_add_boolean_value (b, page->len > (guint) limit);
  json_builder_end_object (b);
  job->reply = json_builder_get_root (b);
  return TRUE;
}

static gboolean
handle_add (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  guint max = (guint) self->config->max_group_size;
  g_autoptr(GArray) users = NULL;
  gint64 group_id;

  if (!body_group (job, &group_id, error)
      || (users = body_ids (job, "user_ids", max, error)) == NULL)
    return FALSE;
  if (users->len == 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "\"user_ids\" must not be empty");
      return FALSE;
    }
  return finish (job, imp_store_group_add_members (self->store, job->claims.user_id, group_id,
                                                   (const gint64 *) users->data, users->len, max,
                                                   self->ids, imp_now_ms (), error));
}

static gboolean
handle_remove (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 group_id, user_id;

  return body_group (job, &group_id, error) && imp_user_body_id (job, "user_id", &user_id, error)
         && finish (job, imp_store_group_remove_member (self->store, job->claims.user_id, group_id,
                                                        user_id, self->ids, imp_now_ms (), error));
}

static gboolean
handle_leave (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 group_id;

  return body_group (job, &group_id, error)
         && finish (job, imp_store_group_leave (self->store, job->claims.user_id, group_id,
                                                self->ids, imp_now_ms (), error));
}

static gboolean
handle_role (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 group_id, user_id;
  const char *role;
  int r;

  if (!body_group (job, &group_id, error) || !imp_user_body_id (job, "user_id", &user_id, error)
      || (role = imp_http_body_string (job, "role", 16, error)) == NULL)
    return FALSE;
  if (strcmp (role, "admin") == 0)
    r = IMP_GROUP_ROLE_ADMIN;
  else if (strcmp (role, "member") == 0)
    r = IMP_GROUP_ROLE_MEMBER;
  else
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "\"role\" must be \"admin\" or \"member\" (ownership moves by /groups/transfer)");
      return FALSE;
    }
  return finish (job, imp_store_group_set_role (self->store, job->claims.user_id, group_id,
                                                user_id, r, self->ids, imp_now_ms (), error));
}

static gboolean
handle_transfer (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 group_id, user_id;

  return body_group (job, &group_id, error) && imp_user_body_id (job, "user_id", &user_id, error)
         && finish (job, imp_store_group_transfer (self->store, job->claims.user_id, group_id,
                                                   user_id, self->ids, imp_now_ms (), error));
}

static gboolean
handle_mute (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 group_id, user_id, until;

  if (!body_group (job, &group_id, error) || !imp_user_body_id (job, "user_id", &user_id, error)
      || !imp_http_body_int (job, "until_ms", &until, error))
    return FALSE;
  if (until < 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "\"until_ms\" must be >= 0 (0 unmutes)");
      return FALSE;
    }
  return finish (job, imp_store_group_mute (self->store, job->claims.user_id, group_id, user_id,
                                            until, self->ids, imp_now_ms (), error));
}

static gboolean
handle_dissolve (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  gint64 group_id;

  return body_group (job, &group_id, error)
         && finish (job, imp_store_group_dissolve (self->store, job->claims.user_id, group_id,
                                                   self->ids, imp_now_ms (), error));
}

static gboolean
handle_mine (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  g_autoptr(GPtrArray) list = imp_store_user_groups (self->store, job->claims.user_id, FALSE, error);

  if (list == NULL)
    return FALSE;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "groups");
  json_builder_begin_array (b);
  for (guint i = 0; i < list->len; i++)
    {
      ImpGroupMemberRecord *m = list->pdata[i];

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "group_id");
      json_builder_add_int_value (b, m->group_id);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, m->group_name);
      json_builder_set_member_name (b, "conversation_id");
      {
        g_autofree char *conv = g_strdup_printf ("group_%" G_GINT64_FORMAT, m->group_id);
        json_builder_add_string_value (b, conv);
      }
      membership_object (b, m);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  job->reply = json_builder_get_root (b);
  return TRUE;
}

const ImpHttpRoute imp_user_group_routes[] = {
  { "POST", "/groups", TRUE, TRUE, handle_create },
  { "GET", "/groups", TRUE, FALSE, handle_mine },
  { "GET", "/groups/info", TRUE, FALSE, handle_info },
  { "GET", "/groups/members", TRUE, FALSE, handle_members },
  { "POST", "/groups/members/add", TRUE, TRUE, handle_add },
  { "POST", "/groups/members/remove", TRUE, TRUE, handle_remove },
  { "POST", "/groups/leave", TRUE, TRUE, handle_leave },
  { "POST", "/groups/role", TRUE, TRUE, handle_role },
  { "POST", "/groups/transfer", TRUE, TRUE, handle_transfer },
  { "POST", "/groups/mute", TRUE, TRUE, handle_mute },
  { "POST", "/groups/dissolve", TRUE, TRUE, handle_dissolve },
};
const guint imp_user_group_n_routes = G_N_ELEMENTS (imp_user_group_routes);

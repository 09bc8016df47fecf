/* imp-client-social.c: the user service's social calls (friends, blacklist, groups) as one
 * table: call -> method and path. GET calls turn their args into the query string. */
#define G_LOG_DOMAIN "implus-client"

#include "imp-client-private.h"
#include "imp-error.h"

static const struct {
  const char *method;
  const char *path;
} calls[] = {
  [IMP_SOCIAL_FRIEND_REQUEST] = { "POST", "/friends/request" },
  [IMP_SOCIAL_FRIEND_RESPOND] = { "POST", "/friends/respond" },
  [IMP_SOCIAL_FRIEND_REMOVE]  = { "POST", "/friends/remove" },
  [IMP_SOCIAL_FRIENDS]        = { "GET",  "/friends" },
  [IMP_SOCIAL_BLOCK]          = { "POST", "/blacklist/add" },
  [IMP_SOCIAL_UNBLOCK]        = { "POST", "/blacklist/remove" },
  [IMP_SOCIAL_BLACKLIST]      = { "GET",  "/blacklist" },
  [IMP_SOCIAL_GROUP_CREATE]   = { "POST", "/groups" },
  [IMP_SOCIAL_GROUP_INFO]     = { "GET",  "/groups/info" },
  [IMP_SOCIAL_GROUP_MEMBERS]  = { "GET",  "/groups/members" },
  [IMP_SOCIAL_GROUP_ADD]      = { "POST", "/groups/members/add" },
  [IMP_SOCIAL_GROUP_REMOVE]   = { "POST", "/groups/members/remove" },
  [IMP_SOCIAL_GROUP_LEAVE]    = { "POST", "/groups/leave" },
  [IMP_SOCIAL_GROUP_ROLE]     = { "POST", "/groups/role" },
  [IMP_SOCIAL_GROUP_TRANSFER] = { "POST", "/groups/transfer" },
  [IMP_SOCIAL_GROUP_MUTE]     = { "POST", "/groups/mute" },
  [IMP_SOCIAL_GROUP_DISSOLVE] = { "POST", "/groups/dissolve" },
  [IMP_SOCIAL_GROUPS]         = { "GET",  "/groups" },
};

const char *
imp_social_call_path (ImpSocialCall call)
{
  return (guint) call < G_N_ELEMENTS (calls) ? calls[call].path : NULL;
}

/* {"group_id": 3, "after": 0} -> "?group_id=3&after=0" (ints and strings; others skipped). */
static char *
query_string (JsonObject *args)
{
  g_autoptr(GString) q = g_string_new (NULL);
  g_autoptr(GList) names = args ? json_object_get_members (args) : NULL;

  for (GList *l = names; l; l = l->next)
    {
      JsonNode *node = json_object_get_member (args, l->data);
      g_autofree char *value = NULL;

      if (!JSON_NODE_HOLDS_VALUE (node))
        continue;
      if (json_node_get_value_type (node) == G_TYPE_INT64)
        value = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
      else if (json_node_get_value_type (node) == G_TYPE_STRING)
        value = g_uri_escape_string (json_node_get_string (node), NULL, FALSE);
      else
        continue;
      g_string_append_c (q, q->len ? '&' : '?');
      g_string_append_uri_escaped (q, l->data, NULL, FALSE);
      g_string_append_printf (q, "=%s", value);
    }
  return g_string_free (g_steal_pointer (&q), FALSE);
}

static void
social_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ImpClient *self = g_task_get_source_object (task);
  ImpSocialCall call = GPOINTER_TO_INT (g_task_get_task_data (task));
  GError *error = NULL;
  JsonObject *obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);

  if (obj == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  /* A new group is a conversation of ours from now on: know it before its first message. */
  if (call == IMP_SOCIAL_GROUP_CREATE && self->mirror)
    {
      gint64 group_id = json_object_get_int_member_with_default (obj, "group_id", 0);

      if (group_id > 0)
        {
          g_autofree char *conv = g_strdup_printf ("group_%" G_GINT64_FORMAT, group_id);
          imp_mirror_group_ensure (self->mirror, conv, group_id,
                                   json_object_get_string_member_with_default (obj, "name", NULL));
        }
    }
  g_task_return_pointer (task, obj, (GDestroyNotify) json_object_unref);
}

void
imp_client_social_async (ImpClient *self, ImpSocialCall call, JsonObject *args,
                         GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *path = NULL;
  gboolean get;

  g_task_set_task_data (task, GINT_TO_POINTER (call), NULL);
  if ((guint) call >= G_N_ELEMENTS (calls))
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "unknown call");
      g_object_unref (task);
      return;
    }
  if (self->mirror == NULL || imp_client_api_get_token (self->api) == NULL)
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_NOT_AUTHENTICATED, "not logged in");
      g_object_unref (task);
      return;
    }
  get = g_str_equal (calls[call].method, "GET");
  if (get)
    {
      g_autofree char *q = query_string (args);
      path = g_strconcat (calls[call].path, q, NULL);
    }
  else
    path = g_strdup (calls[call].path);
  imp_client_api_call_async (self->api, IMP_API_USER, calls[call].method, path, get ? NULL : args,
                             cancellable, social_cb, task);
}

JsonObject *
imp_client_social_finish (ImpClient *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

gint64
imp_client_get_group_watermark (ImpClient *self, const char *conversation_id)
{
  return self->mirror ? imp_mirror_group_watermark (self->mirror, conversation_id) : 0;
}

void
imp_client_pull_group (ImpClient *self, const char *conversation_id)
{
  if (self->mirror == NULL || conversation_id == NULL)
    return;
  imp_mirror_group_ensure (self->mirror, conversation_id, 0, NULL);
  imp_client_group_request_pull (self, conversation_id);
}

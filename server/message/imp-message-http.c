/* imp-message-http.c: the pull API of the message service (docs/http-api.md, "Message service").
 * Handlers run on ImpHttpApi's worker threads, so the blocking store calls are fine here. The
 * caller is always the token's user: a user_id parameter can only repeat it (else 403). */
#include "message/imp-message-http.h"
#include "message/imp-message-notify.h"
#include "core/imp-http.h"
#include "imp-convid.h"
#include "imp-error.h"

#include <string.h>

#define MAX_CONVERSATION_ID 64

struct _ImpMessageHttp {
  /* Borrowed */
  const ImpServerConfig *config;
  ImpStore              *store;
  ImpBus                *bus;     /* NULL: read marks are stored but not announced */
  ImpCache              *cache;
  /* Owned */
  ImpHttpApi            *api;
};

static JsonNode *
message_to_json (const ImpMessageRecord *msg)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "msg_id");
  json_builder_add_int_value (b, msg->msg_id);
  json_builder_set_member_name (b, "conversation_id");
  json_builder_add_string_value (b, msg->conversation_id);
  json_builder_set_member_name (b, "sender_id");
  json_builder_add_int_value (b, msg->sender_id);
  json_builder_set_member_name (b, "to_user_id");
  json_builder_add_int_value (b, msg->to_user_id);
  json_builder_set_member_name (b, "seq");
  json_builder_add_int_value (b, msg->seq);
  json_builder_set_member_name (b, "content");
  json_builder_add_string_value (b, msg->content);
  json_builder_set_member_name (b, "content_type");
  json_builder_add_int_value (b, msg->content_type);
  json_builder_set_member_name (b, "send_time_ms");
  json_builder_add_int_value (b, msg->send_time_ms);
  if (msg->group_id != 0)
    {
      json_builder_set_member_name (b, "group_id");
      json_builder_add_int_value (b, msg->group_id);
    }
  /* Only the sender's own copies carry it (the store leaves it NULL elsewhere). */
  if (msg->client_msg_id != NULL && msg->client_msg_id[0] != '\0')
    {
      json_builder_set_member_name (b, "client_msg_id");
      json_builder_add_string_value (b, msg->client_msg_id);
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static JsonArray *
messages_to_json (GPtrArray *msgs, guint n)
{
  JsonArray *array = json_array_sized_new (n);

  for (guint i = 0; i < n; i++)
    json_array_add_element (array, message_to_json (g_ptr_array_index (msgs, i)));
  return array;
}

static JsonNode *
object_node (JsonObject *obj)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, obj);
  return node;
}

/* A user_id parameter may only name the caller: anything else is someone else's stream. */
static gboolean
check_own_user (ImpHttpJob *job, GError **error)
{
  const char *param = job->query != NULL ? g_hash_table_lookup (job->query, "user_id") : NULL;
  gint64 user_id = 0;

  if (param == NULL)
    return TRUE;
  if (!g_ascii_string_to_signed (param, 10, 1, G_MAXINT64, &user_id, NULL) ||
      user_id != job->claims.user_id)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN, "another user's stream");
      return FALSE;
    }
  return TRUE;
}

/* limit: 1.. by default the page maximum; a larger one is cut to the maximum (a page, not an error). */
static gboolean
query_limit (ImpHttpJob *job, ImpMessageHttp *self, guint *out, GError **error)
{
  gint64 page_max = CLAMP (self->config->pull_page_max, 1, 100000);
  gint64 limit;

  if (!imp_http_query_int (job, "limit", page_max, 1, G_MAXINT64, &limit, error))
    return FALSE;
  *out = (guint) MIN (limit, page_max);
  return TRUE;
}

/* The conversation id of a request, canonical and with the caller in it. */
static gboolean
check_conversation (const char *conv_id, gint64 user_id, GError **error)
{
  return imp_message_check_conversation (conv_id, user_id, error);
}

static gboolean
handle_sync (ImpHttpJob *job, GError **error)
{
  ImpMessageHttp *self = job->route_data;
  gint64 user_id = job->claims.user_id;
  g_autoptr(GPtrArray) msgs = NULL;
  gint64 after, max_seq = 0;
  gboolean has_more;
  guint limit;
  JsonObject *reply;

  if (!check_own_user (job, error) ||
      !imp_http_query_int (job, "after", 0, 0, G_MAXINT64, &after, error) ||
      !query_limit (job, self, &limit, error))
    return FALSE;
  /* One row more than asked tells whether there is more without a count query. */
  msgs = imp_store_stream_pull (self->store, user_id, after, limit + 1, error);
  if (msgs == NULL)
    return FALSE;
  if (!imp_store_stream_max_seq (self->store, user_id, &max_seq, error))
    return FALSE;
  has_more = msgs->len > limit;

  reply = json_object_new ();
  json_object_set_array_member (reply, "messages", messages_to_json (msgs, MIN (msgs->len, limit)));
  json_object_set_boolean_member (reply, "has_more", has_more);
  json_object_set_int_member (reply, "max_seq", max_seq);
  job->reply = object_node (reply);
  return TRUE;
}

static gboolean
handle_history (ImpHttpJob *job, GError **error)
{
  ImpMessageHttp *self = job->route_data;
  const char *conv_id = job->query != NULL ? g_hash_table_lookup (job->query, "conversation_id") : NULL;
  g_autoptr(GPtrArray) msgs = NULL;
  gint64 before;
  guint limit;
  JsonObject *reply;

  if (!check_own_user (job, error) ||
      !check_conversation (conv_id, job->claims.user_id, error) ||
      !imp_http_query_int (job, "before", 0, 0, G_MAXINT64, &before, error) ||
      !query_limit (job, self, &limit, error))
    return FALSE;
  msgs = imp_store_conversation_history (self->store, job->claims.user_id, conv_id, before, limit,
                                         error);
  if (msgs == NULL)
    return FALSE;

  reply = json_object_new ();
  json_object_set_array_member (reply, "messages", messages_to_json (msgs, msgs->len));
  job->reply = object_node (reply);
  return TRUE;
}

static const char *
kind_name (int kind)
{
  return kind == IMP_CONV_GROUP ? "group" : "private";
}

static JsonNode *
conversation_to_json (const ImpConversationRecord *conv)
{
  JsonObject *obj = json_object_new ();

  json_object_set_string_member (obj, "conversation_id", conv->conversation_id);
  json_object_set_string_member (obj, "kind", kind_name (conv->kind));
  json_object_set_int_member (obj, "peer_id", conv->peer_id);
  if (conv->kind == IMP_CONV_GROUP)
    {
      json_object_set_int_member (obj, "group_id", conv->group_id);
      json_object_set_string_member (obj, "name", conv->name != NULL ? conv->name : "");
    }
  if (conv->peer_username != NULL)
    json_object_set_string_member (obj, "peer_username", conv->peer_username);
  else
    json_object_set_null_member (obj, "peer_username");
  json_object_set_int_member (obj, "read_seq", conv->read_seq);
  json_object_set_int_member (obj, "last_seq", conv->last_seq);
  json_object_set_int_member (obj, "unread", conv->unread);
  json_object_set_int_member (obj, "updated_ms", conv->updated_ms);
  if (conv->last_message != NULL)
    json_object_set_member (obj, "last_message", message_to_json (conv->last_message));
  else
    json_object_set_null_member (obj, "last_message");
  return object_node (obj);
}

static gboolean
handle_conversations (ImpHttpJob *job, GError **error)
{
  ImpMessageHttp *self = job->route_data;
  g_autoptr(GPtrArray) convs = NULL;
  JsonArray *array;
  JsonObject *reply;

  if (!check_own_user (job, error))
    return FALSE;
  convs = imp_store_conversations_list (self->store, job->claims.user_id, error);
  if (convs == NULL)
    return FALSE;
  array = json_array_sized_new (convs->len);
  for (guint i = 0; i < convs->len; i++)
    json_array_add_element (array, conversation_to_json (g_ptr_array_index (convs, i)));
  reply = json_object_new ();
  json_object_set_array_member (reply, "conversations", array);
  job->reply = object_node (reply);
  return TRUE;
}

static gboolean
handle_read (ImpHttpJob *job, GError **error)
{
  ImpMessageHttp *self = job->route_data;
  const char *conv_id;
  gint64 seq, read_seq = 0, unread = 0;
  JsonObject *reply;

  conv_id = imp_http_body_string (job, "conversation_id", MAX_CONVERSATION_ID, error);
  if (conv_id == NULL || !check_conversation (conv_id, job->claims.user_id, error) ||
      !imp_http_body_int (job, "seq", &seq, error))
    return FALSE;
  /* The same path as a ReadMark frame: stored, then ReadUpdate to every device of the caller
   * (none is "this connection" here) and, one-to-one, to the peer. */
  if (!imp_message_mark_read (self->store, self->bus, self->cache, job->claims.user_id, conv_id,
                              seq, NULL, 0, &read_seq, &unread, error))
    return FALSE;
  reply = json_object_new ();
  json_object_set_string_member (reply, "conversation_id", conv_id);
  json_object_set_int_member (reply, "read_seq", read_seq);
  json_object_set_int_member (reply, "unread", unread);
  job->reply = object_node (reply);
  return TRUE;
}

/* GET /groups/sync: the caller's window of a group's stream (docs/http-api.md "Group streams"). */
static gboolean
handle_group_sync (ImpHttpJob *job, GError **error)
{
  ImpMessageHttp *self = job->route_data;
  const char *conv_id = job->query != NULL ? g_hash_table_lookup (job->query, "conversation_id") : NULL;
  g_autoptr(GPtrArray) msgs = NULL;
  g_autoptr(ImpGroupMemberRecord) member = NULL;
  gint64 after, group_id = 0, b, max_seq = 0;
  ImpConvKind kind;
  gboolean has_more;
  guint limit;
  JsonObject *reply;

  if (!check_own_user (job, error) || !check_conversation (conv_id, job->claims.user_id, error))
    return FALSE;
  if (!imp_convid_parse (conv_id, &kind, &group_id, &b, NULL) || kind != IMP_CONV_GROUP)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "conversation_id must be group_<id>");
      return FALSE;
    }
  if (!imp_http_query_int (job, "after", 0, 0, G_MAXINT64, &after, error) ||
      !query_limit (job, self, &limit, error))
    return FALSE;
  /* NOT_MEMBER for someone who never was one (403). */
  member = imp_store_group_member_get (self->store, group_id, job->claims.user_id, error);
  if (member == NULL)
    return FALSE;
  /* One row more than asked tells whether there is more without a count query. */
  msgs = imp_store_group_pull (self->store, job->claims.user_id, group_id, after, limit + 1, error);
  if (msgs == NULL)
    return FALSE;
  has_more = msgs->len > limit;
  /* The highest seq the caller may see now: where they left, or the group's last. */
  if (member->left_seq > 0)
    max_seq = member->left_seq;
  else
    {
      g_autoptr(ImpGroupRecord) group = imp_store_group_get (self->store, group_id, NULL);

      max_seq = group != NULL ? group->last_seq : 0;
    }
  if (msgs->len > 0)
    max_seq = MAX (max_seq, ((ImpMessageRecord *) g_ptr_array_index (msgs, msgs->len - 1))->seq);

  reply = json_object_new ();
  json_object_set_array_member (reply, "messages", messages_to_json (msgs, MIN (msgs->len, limit)));
  json_object_set_boolean_member (reply, "has_more", has_more);
  json_object_set_int_member (reply, "max_seq", max_seq);
  job->reply = object_node (reply);
  return TRUE;
}

static const ImpHttpRoute routes[] = {
  { "GET",  "/messages/sync",     TRUE, FALSE, handle_sync },
  { "GET",  "/messages/history",  TRUE, FALSE, handle_history },
  { "GET",  "/conversations",     TRUE, FALSE, handle_conversations },
  { "POST", "/conversations/read", TRUE, TRUE, handle_read },
  { "GET",  "/groups/sync",       TRUE, FALSE, handle_group_sync },
};

ImpMessageHttp *
imp_message_http_new (SoupServer *server, const ImpServerConfig *config, ImpStore *store,
                      ImpAuth *auth)
{
  ImpMessageHttp *self = g_new0 (ImpMessageHttp, 1);

  self->config = config;
  self->store = store;
  self->api = imp_http_api_new (server, routes, G_N_ELEMENTS (routes), auth,
                                (gsize) MAX (config->max_http_body, 1), self);
  return self;
}

void
imp_message_http_set_bus (ImpMessageHttp *self, ImpBus *bus, ImpCache *cache)
{
  self->bus = bus;
  self->cache = cache;
}

void
imp_message_http_free (ImpMessageHttp *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->api, imp_http_api_free);
  g_free (self);
}

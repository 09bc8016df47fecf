/* imp-message.c: the engine's message record. */
#include "imp-message.h"
#include "imp-error.h"

G_DEFINE_BOXED_TYPE (ImpMessage, imp_message, imp_message_copy, imp_message_free)

ImpMessage *
imp_message_new (void)
{
  ImpMessage *self = g_new0 (ImpMessage, 1);

  self->content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  self->state = IMP_MESSAGE_SENT;
  return self;
}

ImpMessage *
imp_message_copy (const ImpMessage *self)
{
  ImpMessage *copy;

  g_return_val_if_fail (self != NULL, NULL);
  copy = g_memdup2 (self, sizeof *self);
  copy->conversation_id = g_strdup (self->conversation_id);
  copy->content = g_strdup (self->content);
  copy->client_msg_id = g_strdup (self->client_msg_id);
  return copy;
}

void
imp_message_free (ImpMessage *self)
{
  if (self == NULL)
    return;
  g_free (self->conversation_id);
  g_free (self->content);
  g_free (self->client_msg_id);
  g_free (self);
}

const char *
imp_message_state_name (ImpMessageState state)
{
  switch (state)
    {
    case IMP_MESSAGE_SENDING: return "sending";
    case IMP_MESSAGE_SENT: return "sent";
    case IMP_MESSAGE_DELIVERED: return "delivered";
    case IMP_MESSAGE_FAILED: return "failed";
    case IMP_MESSAGE_READ: return "read";
    default: return "unknown";
    }
}

ImpMessage *
imp_message_new_from_wire (const Implus__Message *m, GError **error)
{
  g_autoptr(ImpMessage) self = NULL;

  if (m == NULL || m->seq <= 0 || m->conversation_id == NULL || m->conversation_id[0] == '\0')
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_FRAME, "message without seq or conversation");
      return NULL;
    }
  self = imp_message_new ();
  self->seq = m->seq;
  self->msg_id = m->msg_id;
  self->conversation_id = g_strdup (m->conversation_id);
  self->sender_id = m->sender_id;
  self->to_user_id = m->to_user_id;
  self->content = g_strdup (m->content ? m->content : "");
  self->content_type = m->content_type;
  self->send_time_ms = m->send_time_ms;
  self->group_id = m->group_id;
  if (m->client_msg_id != NULL && m->client_msg_id[0] != '\0')
    self->client_msg_id = g_strdup (m->client_msg_id);
  return g_steal_pointer (&self);
}

static gboolean
json_int (JsonObject *obj, const char *name, gboolean required, gint64 *out)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      *out = 0;
      return !required;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
json_str (JsonObject *obj, const char *name, gboolean required, const char **out)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      *out = NULL;
      return !required;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return FALSE;
  *out = json_node_get_string (node);
  return TRUE;
}

ImpMessage *
imp_message_new_from_json (JsonObject *obj, GError **error)
{
  g_autoptr(ImpMessage) self = imp_message_new ();
  const char *conv = NULL, *content = NULL, *cmid = NULL;
  gint64 ctype = 0;

  if (obj == NULL
      || !json_int (obj, "seq", TRUE, &self->seq) || self->seq <= 0
      || !json_int (obj, "msg_id", TRUE, &self->msg_id)
      || !json_str (obj, "conversation_id", TRUE, &conv)
      || !json_int (obj, "sender_id", TRUE, &self->sender_id)
      || !json_int (obj, "to_user_id", FALSE, &self->to_user_id)
      || !json_str (obj, "content", TRUE, &content)
      || !json_int (obj, "content_type", FALSE, &ctype)
      || !json_int (obj, "send_time_ms", FALSE, &self->send_time_ms)
      || !json_str (obj, "client_msg_id", FALSE, &cmid)
      || !json_int (obj, "group_id", FALSE, &self->group_id))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "malformed message object");
      return NULL;
    }
  self->conversation_id = g_strdup (conv);
  self->content = g_strdup (content);
  self->content_type = ctype ? (int) ctype : IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  if (cmid != NULL && cmid[0] != '\0')
    self->client_msg_id = g_strdup (cmid);
  return g_steal_pointer (&self);
}

/* imp-message.h: one message of the user's stream, or of a group conversation's stream, as the
 * client engine sees it. */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>
#include "implus.pb-c.h"

G_BEGIN_DECLS

/* Stored as integers in the mirror: keep the values stable. */
typedef enum {
  IMP_MESSAGE_SENDING = 0,
  IMP_MESSAGE_SENT = 1,
  IMP_MESSAGE_DELIVERED = 2, /* a recipient device stored it (Delivered frame) */
  IMP_MESSAGE_FAILED = 3,    /* outbox rows only: stored messages never fail */
  IMP_MESSAGE_READ = 4,      /* the peer read it (ReadUpdate from the peer) */
} ImpMessageState;

typedef struct {
  gint64           seq;            /* seq in the local user's stream */
  gint64           msg_id;
  char            *conversation_id;
  gint64           sender_id;
  gint64           to_user_id;
  char            *content;
  int              content_type;
  gint64           send_time_ms;
  ImpMessageState  state;
  char            *client_msg_id;  /* only in the user's own copies, else NULL */
  gint64           group_id;       /* group messages: seq is the conversation seq, else 0 */
} ImpMessage;

#define IMP_TYPE_MESSAGE (imp_message_get_type ())
GType        imp_message_get_type (void);
ImpMessage  *imp_message_new (void);
ImpMessage  *imp_message_copy (const ImpMessage *self);
void         imp_message_free (ImpMessage *self);
const char  *imp_message_state_name (ImpMessageState state);

/* From a Push's Message; IMP_ERROR_BAD_FRAME if seq or the conversation id is missing. */
ImpMessage  *imp_message_new_from_wire (const Implus__Message *m, GError **error);
/* From a message object of the HTTP API (docs/http-api.md); IMP_ERROR_BAD_REQUEST if malformed. */
ImpMessage  *imp_message_new_from_json (JsonObject *obj, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpMessage, imp_message_free)

G_END_DECLS

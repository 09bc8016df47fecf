/* imp-ui-message-row.h: one message bubble: body, time, state of own messages, retry when failed.
 *
 * Signal "retry" (): the user asked to send a failed message again.
 */
#pragma once

#include <gtk/gtk.h>
#include "imp-message.h"
#include "imp-mirror.h"

G_BEGIN_DECLS

#define IMP_TYPE_UI_MESSAGE_ROW (imp_ui_message_row_get_type ())
G_DECLARE_FINAL_TYPE (ImpUiMessageRow, imp_ui_message_row, IMP, UI_MESSAGE_ROW, GtkListBoxRow)

/* sender_name: shown above others' messages in groups, else NULL. */
GtkWidget  *imp_ui_message_row_new (const ImpMessage *msg, gboolean own, const char *sender_name);
/* An own message still in the outbox (sending or failed). */
GtkWidget  *imp_ui_message_row_new_unsent (const ImpOutboxItem *item);
const char *imp_ui_message_row_get_client_msg_id (ImpUiMessageRow *self);
const char *imp_ui_message_row_get_content (ImpUiMessageRow *self);
gint64      imp_ui_message_row_get_seq (ImpUiMessageRow *self);

G_END_DECLS

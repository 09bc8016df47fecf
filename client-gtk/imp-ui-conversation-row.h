/* imp-ui-conversation-row.h: one conversation in the sidebar: name, preview, time, unread badge. */
#pragma once

#include <gtk/gtk.h>
#include "imp-mirror-index.h"

G_BEGIN_DECLS

#define IMP_TYPE_UI_CONVERSATION_ROW (imp_ui_conversation_row_get_type ())
G_DECLARE_FINAL_TYPE (ImpUiConversationRow, imp_ui_conversation_row, IMP, UI_CONVERSATION_ROW, GtkListBoxRow)

/* title: the display name; self_id: the local user (own previews get a "You:" prefix). */
GtkWidget  *imp_ui_conversation_row_new (const ImpConversationInfo *info, const char *title, gint64 self_id);
const char *imp_ui_conversation_row_get_conversation_id (ImpUiConversationRow *self);
gint64      imp_ui_conversation_row_get_peer_id (ImpUiConversationRow *self);
const char *imp_ui_conversation_row_get_title (ImpUiConversationRow *self);

/* "14:05" today, "Yesterday", a weekday within a week, else the date. */
char       *imp_ui_format_time (gint64 time_ms);

G_END_DECLS

/* imp-ui-chat-view.h: the messages of one conversation and the composer. */
#pragma once

#include <adwaita.h>
#include "imp-ui-application.h"

G_BEGIN_DECLS

#define IMP_TYPE_UI_CHAT_VIEW (imp_ui_chat_view_get_type ())
G_DECLARE_FINAL_TYPE (ImpUiChatView, imp_ui_chat_view, IMP, UI_CHAT_VIEW, AdwBin)

void        imp_ui_chat_view_set_application (ImpUiChatView *self, ImpUiApplication *app);
/* Shows a conversation (NULL: none); keeps the draft of the previous one. */
void        imp_ui_chat_view_set_conversation (ImpUiChatView *self, const char *conversation_id, gint64 peer_id);
const char *imp_ui_chat_view_get_conversation (ImpUiChatView *self);
/* Re-reads the mirror (new, sent or failed messages). */
void        imp_ui_chat_view_reload (ImpUiChatView *self);
/* Saves the composer's text as the conversation's draft. */
void        imp_ui_chat_view_save_draft (ImpUiChatView *self);

G_END_DECLS

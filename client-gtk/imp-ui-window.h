/* imp-ui-window.h: the main window: sign-in page, or conversations beside the chat view. */
#pragma once

#include <adwaita.h>
#include "imp-ui-application.h"

G_BEGIN_DECLS

#define IMP_TYPE_UI_WINDOW (imp_ui_window_get_type ())
G_DECLARE_FINAL_TYPE (ImpUiWindow, imp_ui_window, IMP, UI_WINDOW, AdwApplicationWindow)

ImpUiWindow *imp_ui_window_new (ImpUiApplication *app);
void         imp_ui_window_open_conversation (ImpUiWindow *self, const char *conversation_id);
void         imp_ui_window_close_popovers (ImpUiWindow *self);

G_END_DECLS

/* imp-ui-preferences-window.h: server address, notifications, style (GSettings). */
#pragma once

#include <adwaita.h>
#include "imp-ui-application.h"

G_BEGIN_DECLS

#define IMP_TYPE_UI_PREFERENCES_WINDOW (imp_ui_preferences_window_get_type ())
G_DECLARE_FINAL_TYPE (ImpUiPreferencesWindow, imp_ui_preferences_window, IMP, UI_PREFERENCES_WINDOW, AdwPreferencesWindow)

ImpUiPreferencesWindow *imp_ui_preferences_window_new (ImpUiApplication *app);

G_END_DECLS

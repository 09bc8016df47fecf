/* imp-ui-people-window.h: friends (online / last seen, requests incoming and outgoing, accept,
 * decline, remove, start a chat) and the blacklist (block, unblock), over the engine's social
 * calls. Two pages of an AdwPreferencesWindow.
 */
#pragma once

#include <adwaita.h>
#include "imp-ui-application.h"

G_BEGIN_DECLS

#define IMP_TYPE_UI_PEOPLE_WINDOW (imp_ui_people_window_get_type ())
G_DECLARE_FINAL_TYPE (ImpUiPeopleWindow, imp_ui_people_window, IMP, UI_PEOPLE_WINDOW, AdwPreferencesWindow)

ImpUiPeopleWindow *imp_ui_people_window_new (ImpUiApplication *app, GtkWindow *parent);

G_END_DECLS

/* imp-ui-group-window.h: create a group (name + members), or a group's info: members with their
 * roles, add and remove members (owner/admin), leave. Every change goes through the engine's
 * social calls (imp_client_social_async); the group's messages come from its stream as usual.
 */
#pragma once

#include <adwaita.h>
#include "imp-ui-application.h"

G_BEGIN_DECLS

#define IMP_TYPE_UI_GROUP_WINDOW (imp_ui_group_window_get_type ())
G_DECLARE_FINAL_TYPE (ImpUiGroupWindow, imp_ui_group_window, IMP, UI_GROUP_WINDOW, AdwPreferencesWindow)

/* group_id 0: the "New Group" form; else the info of that group. */
ImpUiGroupWindow *imp_ui_group_window_new (ImpUiApplication *app, GtkWindow *parent, gint64 group_id);

/* Splits "bob, carol dave" into usernames (commas and white space). */
GStrv             imp_ui_split_usernames (const char *text);

G_END_DECLS

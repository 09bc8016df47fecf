/* imp-ui-application.h: the desktop client's application object.
 *
 * Owns the settings, the client engine (ImpClient, recreated when the server address changes)
 * and the mirror index of the signed-in user. Widgets read from these and listen to:
 *   "session-changed"       () signed in or out
 *   "conversations-changed" () a message arrived, was sent or failed, or a read position moved
 *   "connection-changed"    () the engine's state changed
 */
#pragma once

#include <adwaita.h>
#include "imp-client.h"
#include "imp-mirror-index.h"

G_BEGIN_DECLS

#define IMP_UI_APP_ID "io.github.implus.ImPlus"

#define IMP_TYPE_UI_APPLICATION (imp_ui_application_get_type ())
G_DECLARE_FINAL_TYPE (ImpUiApplication, imp_ui_application, IMP, UI_APPLICATION, AdwApplication)

ImpUiApplication *imp_ui_application_new (void);

GSettings      *imp_ui_application_get_settings (ImpUiApplication *self);
/* The engine for the configured server address (created on first use). */
ImpClient      *imp_ui_application_get_client (ImpUiApplication *self);
/* NULL while signed out. */
ImpMirrorIndex *imp_ui_application_get_index (ImpUiApplication *self);
gboolean        imp_ui_application_is_signed_in (ImpUiApplication *self);
/* Sets the server address (host[:user_port[:message_port]]) and recreates the engine when it
 * changed; FALSE with an IMP_ERROR_BAD_REQUEST error if it does not parse. */
gboolean        imp_ui_application_set_server (ImpUiApplication *self, const char *address, GError **error);

/* Sign in; register first when `register` is set. */
void            imp_ui_application_sign_in_async (ImpUiApplication *self, const char *username,
                                                  const char *password, gboolean register_first,
                                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean        imp_ui_application_sign_in_finish (ImpUiApplication *self, GAsyncResult *result,
                                                   GError **error);

/* Marks a conversation read up to seq locally and on the server. */
void            imp_ui_application_mark_read (ImpUiApplication *self, const char *conversation_id, gint64 seq);
/* A display name for a user id (cached username or "#id"). */
char           *imp_ui_application_user_name (ImpUiApplication *self, gint64 user_id);
/* Fetches a group's members (GET /groups/members) into the user cache, once per group unless
 * force; "conversations-changed" follows so sender names are redrawn. */
void            imp_ui_application_load_members (ImpUiApplication *self, gint64 group_id, gboolean force);
/* A group system message (content_type 99, JSON) as a sentence. */
char           *imp_ui_application_describe_event (ImpUiApplication *self, const char *content);

G_END_DECLS

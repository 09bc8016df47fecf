/* imp-ui-secret.h: the session token in the desktop keyring (libsecret), as the engine's
 * ImpTokenStore. Without libsecret at build time, or without a session bus / Secret Service at
 * run time, saving fails and the engine keeps the token in its 0600 session file. */
#pragma once

#include "imp-client.h"

G_BEGIN_DECLS

/* Keys the token by server address and username. */
void imp_ui_secret_attach (ImpClient *client, const char *server);

G_END_DECLS

/* imp-ui-secret.c: the engine's token store backed by the Secret Service (GNOME Keyring, KWallet).
 * Calls are synchronous: the engine asks at login, restore and logout only, and a missing service
 * answers at once. No session bus at all (tests, CI, a bare X session) is checked first so that
 * GLib does not try to autolaunch one. */
#define G_LOG_DOMAIN "implus"

#include "config.h"
#include "imp-ui-secret.h"
#include "imp-error.h"

#ifdef HAVE_LIBSECRET
#include <libsecret/secret.h>

static const SecretSchema *
token_schema (void)
{
  static const SecretSchema schema = {
    "io.github.implus.ImPlus.Token", SECRET_SCHEMA_NONE,
    {
      { "server", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "username", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    },
  };
  return &schema;
}

static gboolean
have_session_bus (GError **error)
{
  g_autofree char *socket = NULL;

  if (g_getenv ("IMPLUS_NO_KEYRING") != NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "IMPLUS_NO_KEYRING is set");
      return FALSE;
    }
  if (g_getenv ("DBUS_SESSION_BUS_ADDRESS") != NULL)
    return TRUE;
  socket = g_build_filename (g_get_user_runtime_dir (), "bus", NULL);
  if (g_file_test (socket, G_FILE_TEST_EXISTS))
    return TRUE;
  g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "no session bus");
  return FALSE;
}

static gboolean
secret_save (const char *username, const char *token, gpointer data, GError **error)
{
  const char *server = data;
  g_autofree char *label = NULL;

  if (!have_session_bus (error))
    return FALSE;
  label = g_strdup_printf ("IM Plus session of %s on %s", username, server);
  return secret_password_store_sync (token_schema (), SECRET_COLLECTION_DEFAULT, label, token,
                                     NULL, error, "server", server, "username", username, NULL);
}

static char *
secret_load (const char *username, gpointer data, GError **error)
{
  const char *server = data;
  char *secret;
  char *copy;

  if (!have_session_bus (error))
    return NULL;
  secret = secret_password_lookup_sync (token_schema (), NULL, error,
                                        "server", server, "username", username, NULL);
  if (secret == NULL)
    return NULL;
  copy = g_strdup (secret);
  secret_password_free (secret);   /* wipes it */
  return copy;
}

static void
secret_forget (const char *username, gpointer data)
{
  const char *server = data;
  g_autoptr(GError) error = NULL;

  if (!have_session_bus (NULL))
    return;
  if (!secret_password_clear_sync (token_schema (), NULL, &error,
                                   "server", server, "username", username, NULL))
    g_debug ("cannot remove the token from the keyring: %s", error->message);
}

static const ImpTokenStore secret_store = { secret_save, secret_load, secret_forget };

void
imp_ui_secret_attach (ImpClient *client, const char *server)
{
  imp_client_set_token_store (client, &secret_store, g_strdup (server ? server : ""), g_free);
}

#else  /* !HAVE_LIBSECRET */

void
imp_ui_secret_attach (ImpClient *client, const char *server)
{
  g_debug ("built without libsecret: the session token stays in the session file");
}

#endif

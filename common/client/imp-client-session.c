/* imp-client-session.c: where the session token is kept. The session key file
 * (<data>/<user>/session, 0600) always holds the user, the gateways and either the token itself
 * or `token_in_store=true` when a token store (the GTK app's keyring) took it. A store that fails
 * at save time falls back to the file, so a machine without a Secret Service still stays signed
 * in; the log says which one was used. */
#define G_LOG_DOMAIN "implus-client"

#include <string.h>
#include "imp-client-private.h"
#include "imp-error.h"

void
imp_client_set_token_store (ImpClient *self, const ImpTokenStore *store, gpointer user_data,
                            GDestroyNotify destroy)
{
  g_return_if_fail (IMP_IS_CLIENT (self));
  g_return_if_fail (store == NULL || (store->save && store->load && store->forget));

  imp_client_session_clear (self);
  if (store == NULL)
    return;
  self->token_store = *store;
  self->has_token_store = TRUE;
  self->token_store_data = user_data;
  self->token_store_destroy = destroy;
}

const char *
imp_client_get_token_location (ImpClient *self)
{
  g_return_val_if_fail (IMP_IS_CLIENT (self), NULL);
  return self->user_id != 0 ? self->token_location : NULL;
}

void
imp_client_session_clear (ImpClient *self)
{
  if (self->has_token_store && self->token_store_destroy)
    self->token_store_destroy (self->token_store_data);
  memset (&self->token_store, 0, sizeof self->token_store);
  self->has_token_store = FALSE;
  self->token_store_data = NULL;
  self->token_store_destroy = NULL;
}

/* Puts the token into kf, or into the store with only a marker in kf. */
void
imp_client_session_put_token (ImpClient *self, GKeyFile *kf, const char *token)
{
  g_autoptr(GError) error = NULL;

  if (self->has_token_store
      && self->token_store.save (self->username, token, self->token_store_data, &error))
    {
      g_key_file_set_boolean (kf, "session", "token_in_store", TRUE);
      if (self->token_location == NULL || g_strcmp0 (self->token_location, "store") != 0)
        g_message ("session token of %s kept in the keyring", self->username);
      self->token_location = "store";
      return;
    }
  if (self->has_token_store)
    g_message ("keyring unavailable (%s): session token of %s kept in the session file (0600)",
               error ? error->message : "unknown error", self->username);
  g_key_file_set_string (kf, "session", "token", token);
  self->token_location = "file";
}

/* The token of a saved session: from the file, else from the store; NULL if neither has it. */
char *
imp_client_session_get_token (ImpClient *self, GKeyFile *kf, const char *username)
{
  g_autoptr(GError) error = NULL;
  char *token;

  if ((token = g_key_file_get_string (kf, "session", "token", NULL)) != NULL)
    {
      self->token_location = "file";
      return token;
    }
  if (!g_key_file_get_boolean (kf, "session", "token_in_store", NULL))
    return NULL;
  if (!self->has_token_store)
    {
      g_message ("the session of %s is in a keyring this client does not use", username);
      return NULL;
    }
  token = self->token_store.load (username, self->token_store_data, &error);
  if (token == NULL)
    {
      g_message ("no session token of %s in the keyring%s%s", username,
                 error ? ": " : "", error ? error->message : "");
      return NULL;
    }
  self->token_location = "store";
  return token;
}

void
imp_client_session_forget_token (ImpClient *self, const char *username)
{
  if (self->has_token_store && username != NULL)
    self->token_store.forget (username, self->token_store_data);
  self->token_location = NULL;
}

/* imp-password.c: argon2id password hashing via libsodium. */
#include "imp-password.h"
#include "imp-error.h"

#include <sodium.h>
#include <string.h>

#define PASSWORD_MIN_LEN 8
#define PASSWORD_MAX_LEN 128

static void
ensure_sodium (void)
{
  static gsize once = 0;

  if (g_once_init_enter (&once))
    {
      if (sodium_init () < 0)
        g_error ("libsodium failed to initialise");
      g_once_init_leave (&once, 1);
    }
}

char *
imp_password_hash (const char *password, ImpPasswordCost cost, GError **error)
{
  char out[crypto_pwhash_STRBYTES];
  unsigned long long ops;
  size_t mem;

  g_return_val_if_fail (password != NULL, NULL);

  ensure_sodium ();
  if (cost == IMP_PASSWORD_COST_MIN)
    {
      ops = crypto_pwhash_OPSLIMIT_MIN;
      mem = crypto_pwhash_MEMLIMIT_MIN;
    }
  else
    {
      ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
      mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    }
  if (crypto_pwhash_str (out, password, strlen (password), ops, mem) != 0)
    {
      g_set_error_literal (error, IMP_ERROR, IMP_ERROR_INTERNAL, "Password hashing failed");
      return NULL;
    }
  return g_strdup (out);
}

gboolean
imp_password_verify (const char *hash, const char *password)
{
  if (hash == NULL || password == NULL)
    return FALSE;
  /* crypto_pwhash_str_verify reads a NUL-terminated string of at most STRBYTES. */
  if (strnlen (hash, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES)
    return FALSE;
  ensure_sodium ();
  return crypto_pwhash_str_verify (hash, password, strlen (password)) == 0;
}

gboolean
imp_password_check_policy (const char *password, GError **error)
{
  gsize len;

  if (password == NULL)
    {
      g_set_error_literal (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "Password missing");
      return FALSE;
    }
  len = strnlen (password, PASSWORD_MAX_LEN + 1);
  if (len < PASSWORD_MIN_LEN || len > PASSWORD_MAX_LEN)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "Password must be %d to %d bytes long", PASSWORD_MIN_LEN, PASSWORD_MAX_LEN);
      return FALSE;
    }
  if (!g_utf8_validate (password, (gssize) len, NULL))
    {
      g_set_error_literal (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "Password is not valid UTF-8");
      return FALSE;
    }
  return TRUE;
}

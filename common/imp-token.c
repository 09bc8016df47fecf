/* imp-token.c: HMAC-SHA256 signed session tokens (format in imp-token.h). */
#include "imp-token.h"
#include "imp-error.h"

#include <sodium.h>
#include <string.h>

#define TOKEN_PREFIX "v1."

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

static char *
b64_encode (const guint8 *data, gsize len)
{
  gsize out_len = sodium_base64_ENCODED_LEN (len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char *out = g_malloc (out_len);

  sodium_bin2base64 (out, out_len, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

/* Strict: the whole of s must decode (libsodium also rejects non-zero trailing bits). */
static gboolean
b64_decode (const char *s, gsize s_len, guint8 *out, gsize out_max, gsize *out_len)
{
  const char *end = NULL;
  size_t bin_len = 0;

  if (s_len == 0)
    return FALSE;
  if (sodium_base642bin (out, out_max, s, s_len, NULL, &bin_len, &end,
                         sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return FALSE;
  if (end != s + s_len)
    return FALSE;
  *out_len = bin_len;
  return TRUE;
}

static void
compute_mac (const guint8 secret[IMP_TOKEN_SECRET_LEN], const char *signed_part, gsize len,
             guint8 mac[crypto_auth_hmacsha256_BYTES])
{
  crypto_auth_hmacsha256_state st;

  crypto_auth_hmacsha256_init (&st, secret, IMP_TOKEN_SECRET_LEN);
  crypto_auth_hmacsha256_update (&st, (const guint8 *) signed_part, len);
  crypto_auth_hmacsha256_final (&st, mac);
  sodium_memzero (&st, sizeof st);
}

char *
imp_token_issue (const guint8 secret[IMP_TOKEN_SECRET_LEN], gint64 user_id, gint64 now_s,
                 gint64 ttl_s, ImpTokenClaims *out_claims)
{
  ImpTokenClaims claims = { 0 };
  guint8 rnd[16];
  guint8 mac[crypto_auth_hmacsha256_BYTES];
  g_autofree char *text = NULL;
  g_autofree char *claims_b64 = NULL;
  g_autofree char *signed_part = NULL;
  g_autofree char *mac_b64 = NULL;

  g_return_val_if_fail (secret != NULL, NULL);
  g_return_val_if_fail (user_id > 0 && now_s >= 0 && ttl_s > 0, NULL);
  g_return_val_if_fail (now_s <= G_MAXINT64 - ttl_s, NULL);

  ensure_sodium ();
  randombytes_buf (rnd, sizeof rnd);
  sodium_bin2hex (claims.token_id, sizeof claims.token_id, rnd, sizeof rnd);
  claims.user_id = user_id;
  claims.issued_at = now_s;
  claims.expires_at = now_s + ttl_s;

  text = g_strdup_printf ("%" G_GINT64_FORMAT ":%s:%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT,
                          claims.user_id, claims.token_id, claims.issued_at, claims.expires_at);
  claims_b64 = b64_encode ((const guint8 *) text, strlen (text));
  signed_part = g_strconcat (TOKEN_PREFIX, claims_b64, NULL);
  compute_mac (secret, signed_part, strlen (signed_part), mac);
  mac_b64 = b64_encode (mac, sizeof mac);

  if (out_claims != NULL)
    *out_claims = claims;
  return g_strconcat (signed_part, ".", mac_b64, NULL);
}

/* Non-negative decimal without sign or leading zeros (except "0"), no overflow. */
static gboolean
parse_num (const char *s, gint64 *out)
{
  guint64 v = 0;

  if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
    return FALSE;
  for (; *s != '\0'; s++)
    {
      guint digit;

      if (*s < '0' || *s > '9')
        return FALSE;
      digit = (guint) (*s - '0');
      if (v > ((guint64) G_MAXINT64 - digit) / 10)
        return FALSE;
      v = v * 10 + digit;
    }
  *out = (gint64) v;
  return TRUE;
}

static gboolean
parse_claims (const char *text, ImpTokenClaims *claims)
{
  g_auto(GStrv) parts = g_strsplit (text, ":", -1);
  const char *tid;

  if (g_strv_length (parts) != 4)
    return FALSE;
  if (!parse_num (parts[0], &claims->user_id) || claims->user_id <= 0)
    return FALSE;
  tid = parts[1];
  if (strlen (tid) != 32)
    return FALSE;
  for (const char *p = tid; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return FALSE;
  memcpy (claims->token_id, tid, 33);
  if (!parse_num (parts[2], &claims->issued_at) || !parse_num (parts[3], &claims->expires_at))
    return FALSE;
  return claims->expires_at > claims->issued_at;
}

gboolean
imp_token_verify (const guint8 secret[IMP_TOKEN_SECRET_LEN], const char *token, gint64 now_s,
                  ImpTokenClaims *out_claims, GError **error)
{
  ImpTokenClaims claims = { 0 };
  guint8 mac[crypto_auth_hmacsha256_BYTES];
  guint8 given[crypto_auth_hmacsha256_BYTES + 1];
  guint8 claims_bin[IMP_TOKEN_MAX_LEN];
  gsize token_len, given_len = 0, claims_len = 0;
  const char *claims_b64, *dot, *sig_b64;
  char claims_text[IMP_TOKEN_MAX_LEN + 1];

  g_return_val_if_fail (secret != NULL, FALSE);

  ensure_sodium ();
  if (token == NULL)
    goto bad;
  token_len = strnlen (token, IMP_TOKEN_MAX_LEN + 1);
  if (token_len > IMP_TOKEN_MAX_LEN || !g_str_has_prefix (token, TOKEN_PREFIX))
    goto bad;

  claims_b64 = token + strlen (TOKEN_PREFIX);
  dot = strchr (claims_b64, '.');
  if (dot == NULL)
    goto bad;
  sig_b64 = dot + 1;
  if (strchr (sig_b64, '.') != NULL)
    goto bad;

  /* The signature first: nothing of an unauthenticated payload is looked at. */
  if (!b64_decode (sig_b64, strlen (sig_b64), given, sizeof given, &given_len) ||
      given_len != sizeof mac)
    goto bad;
  compute_mac (secret, token, (gsize) (dot - token), mac);
  if (sodium_memcmp (mac, given, sizeof mac) != 0)
    goto bad;

  if (!b64_decode (claims_b64, (gsize) (dot - claims_b64), claims_bin, sizeof claims_bin, &claims_len))
    goto bad;
  if (memchr (claims_bin, '\0', claims_len) != NULL)
    goto bad;
  memcpy (claims_text, claims_bin, claims_len);
  claims_text[claims_len] = '\0';
  if (!parse_claims (claims_text, &claims))
    goto bad;

  if (now_s >= claims.expires_at)
    {
      g_set_error_literal (error, IMP_ERROR, IMP_ERROR_TOKEN_EXPIRED, "Token expired");
      return FALSE;
    }
  if (out_claims != NULL)
    *out_claims = claims;
  return TRUE;

bad:
  g_set_error_literal (error, IMP_ERROR, IMP_ERROR_AUTH_FAILED, "Invalid token");
  return FALSE;
}

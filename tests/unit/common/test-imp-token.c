/* test-imp-token.c: signed expiring tokens. */
#include "imp-token.h"
#include "imp-error.h"

#include <string.h>

static const guint8 secret[IMP_TOKEN_SECRET_LEN] = "0123456789abcdef0123456789abcdef";
static const guint8 other_secret[IMP_TOKEN_SECRET_LEN] = "fedcba9876543210fedcba9876543210";
#define NOW G_GINT64_CONSTANT (1750000000)

static void
assert_rejected (const char *token, const guint8 *key, gint64 now, ImpErrorCode code)
{
  g_autoptr(GError) error = NULL;
  ImpTokenClaims claims = { .user_id = -7 };

  g_assert_false (imp_token_verify (key, token, now, &claims, &error));
  g_assert_error (error, IMP_ERROR, (gint) code);
  g_assert_cmpint (claims.user_id, ==, -7); /* untouched on failure */
}

static void
test_valid (void)
{
  ImpTokenClaims issued, got;
  g_autofree char *t = imp_token_issue (secret, 42, NOW, 3600, &issued);
  g_autofree char *t2 = imp_token_issue (secret, 42, NOW, 3600, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (g_str_has_prefix (t, "v1."));
  g_assert_cmpuint (strlen (t), <=, IMP_TOKEN_MAX_LEN);
  g_assert_null (strchr (t, '='));
  g_assert_null (strchr (t, '+'));
  g_assert_null (strchr (t, '/'));
  g_assert_cmpstr (t, !=, t2); /* fresh token id each time */
  g_assert_cmpint (issued.user_id, ==, 42);
  g_assert_cmpuint (strlen (issued.token_id), ==, 32);
  g_assert_cmpint (issued.issued_at, ==, NOW);
  g_assert_cmpint (issued.expires_at, ==, NOW + 3600);

  g_assert_true (imp_token_verify (secret, t, NOW + 10, &got, &error));
  g_assert_no_error (error);
  g_assert_cmpint (got.user_id, ==, 42);
  g_assert_cmpstr (got.token_id, ==, issued.token_id);
  g_assert_cmpint (got.issued_at, ==, NOW);
  g_assert_cmpint (got.expires_at, ==, NOW + 3600);
  g_assert_true (imp_token_verify (secret, t, NOW + 3599, NULL, NULL));
}

static void
test_expired (void)
{
  g_autofree char *t = imp_token_issue (secret, 42, NOW, 60, NULL);

  assert_rejected (t, secret, NOW + 60, IMP_ERROR_TOKEN_EXPIRED);
  assert_rejected (t, secret, NOW + 100000, IMP_ERROR_TOKEN_EXPIRED);
}

static void
test_wrong_secret (void)
{
  g_autofree char *t = imp_token_issue (secret, 42, NOW, 60, NULL);

  assert_rejected (t, other_secret, NOW, IMP_ERROR_AUTH_FAILED);
}

static char *
b64url (const char *s)
{
  g_autofree char *b = g_base64_encode ((const guchar *) s, strlen (s));
  char *p;

  g_strdelimit (b, "+", '-');
  g_strdelimit (b, "/", '_');
  if ((p = strchr (b, '=')) != NULL)
    *p = '\0';
  return g_steal_pointer (&b);
}

static void
test_tampered_payload (void)
{
  ImpTokenClaims c;
  g_autofree char *t = imp_token_issue (secret, 42, NOW, 60, &c);
  g_auto(GStrv) parts = g_strsplit (t, ".", -1);
  g_autofree char *claims = g_strdup_printf ("43:%s:%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT,
                                             c.token_id, c.issued_at, c.expires_at);
  g_autofree char *forged_claims = b64url (claims);
  g_autofree char *forged = g_strjoin (".", parts[0], forged_claims, parts[2], NULL);
  g_autofree char *flipped = g_strdup (t);

  assert_rejected (forged, secret, NOW, IMP_ERROR_AUTH_FAILED);
  /* Flip one character of the claims part. */
  flipped[4] = flipped[4] == 'A' ? 'B' : 'A';
  assert_rejected (flipped, secret, NOW, IMP_ERROR_AUTH_FAILED);
}

static void
test_tampered_signature (void)
{
  g_autofree char *t = imp_token_issue (secret, 42, NOW, 60, NULL);
  gsize len = strlen (t);

  for (gsize i = len - 3; i < len; i++)
    {
      g_autofree char *bad = g_strdup (t);
      bad[i] = bad[i] == 'A' ? 'B' : 'A';
      assert_rejected (bad, secret, NOW, IMP_ERROR_AUTH_FAILED);
    }
  {
    g_autofree char *shorter = g_strndup (t, len - 1);
    g_autofree char *longer = g_strconcat (t, "A", NULL);
    g_autofree char *extra = g_strconcat (t, ".AAAA", NULL);
    g_autofree char *nosig = g_strndup (t, strrchr (t, '.') - t + 1);
    assert_rejected (shorter, secret, NOW, IMP_ERROR_AUTH_FAILED);
    assert_rejected (longer, secret, NOW, IMP_ERROR_AUTH_FAILED);
    assert_rejected (extra, secret, NOW, IMP_ERROR_AUTH_FAILED);
    assert_rejected (nosig, secret, NOW, IMP_ERROR_AUTH_FAILED);
  }
}

/* Builds a correctly signed token around arbitrary claims text: the parser must still be strict. */
static char *
sign_claims (const char *claims_text)
{
  g_autofree char *claims = b64url (claims_text);
  g_autofree char *signed_part = g_strconcat ("v1.", claims, NULL);
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, secret, sizeof secret);
  guint8 mac[32];
  gsize mac_len = sizeof mac;
  g_autofree char *sig_b64 = NULL;
  char *p;

  g_hmac_update (hmac, (const guchar *) signed_part, -1);
  g_hmac_get_digest (hmac, mac, &mac_len);
  sig_b64 = g_base64_encode (mac, mac_len);
  g_strdelimit (sig_b64, "+", '-');
  g_strdelimit (sig_b64, "/", '_');
  if ((p = strchr (sig_b64, '=')) != NULL)
    *p = '\0';
  return g_strconcat (signed_part, ".", sig_b64, NULL);
}

static void
test_strict_claims (void)
{
  const char *tid = "0123456789abcdef0123456789abcdef";
  g_autofree char *good = g_strdup_printf ("42:%s:1750000000:1750003600", tid);
  g_autofree char *good_token = sign_claims (good);
  const char *bad_claims[] = {
    "42:%s:1750000000:1750003600:9",    /* extra part */
    "42:%s:1750000000",                 /* missing part */
    "4x:%s:1750000000:1750003600",      /* non-digit */
    "-42:%s:1750000000:1750003600",
    "+42:%s:1750000000:1750003600",
    "042:%s:1750000000:1750003600",
    "0:%s:1750000000:1750003600",
    "99999999999999999999:%s:1750000000:1750003600", /* overflow */
    "42:%s:1750000000:99999999999999999999",
    "42:%s:1750000000:1749999999",      /* expires before issued */
    "42:%s: 1750000000:1750003600",
    "42:%sA:1750000000:1750003600",     /* token id too long */
    "42::1750000000:1750003600%s",
  };

  /* The helper signs like the implementation does. */
  g_assert_true (imp_token_verify (secret, good_token, NOW, NULL, NULL));

  for (gsize i = 0; i < G_N_ELEMENTS (bad_claims); i++)
    {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
      g_autofree char *claims = g_strdup_printf (bad_claims[i], tid);
#pragma GCC diagnostic pop
      g_autofree char *t = sign_claims (claims);
      assert_rejected (t, secret, NOW, IMP_ERROR_AUTH_FAILED);
    }
  {
    g_autofree char *upper = g_strdup_printf ("42:%s:1750000000:1750003600", "0123456789ABCDEF0123456789ABCDEF");
    g_autofree char *t = sign_claims (upper);
    assert_rejected (t, secret, NOW, IMP_ERROR_AUTH_FAILED);
  }
}

static void
test_garbage (void)
{
  static const char *const junk[] = {
    "", "v1", "v1.", "v1..", "v1.a.b", "v2.AAAA.AAAA", "Bearer x", "v1.!!!!.????",
    "v1.AAAA.AAAA.AAAA", "v1.====.====",
  };
  g_autofree char *huge = NULL;
  g_autofree char *t = imp_token_issue (secret, 42, NOW, 60, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (junk); i++)
    assert_rejected (junk[i], secret, NOW, IMP_ERROR_AUTH_FAILED);
  assert_rejected (NULL, secret, NOW, IMP_ERROR_AUTH_FAILED);

  /* Over the length limit even if otherwise fine. */
  huge = g_strnfill (IMP_TOKEN_MAX_LEN + 1, 'A');
  memcpy (huge, t, strlen (t));
  assert_rejected (huge, secret, NOW, IMP_ERROR_AUTH_FAILED);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/token/valid", test_valid);
  g_test_add_func ("/token/expired", test_expired);
  g_test_add_func ("/token/wrong-secret", test_wrong_secret);
  g_test_add_func ("/token/tampered-payload", test_tampered_payload);
  g_test_add_func ("/token/tampered-signature", test_tampered_signature);
  g_test_add_func ("/token/strict-claims", test_strict_claims);
  g_test_add_func ("/token/garbage", test_garbage);
  return g_test_run ();
}

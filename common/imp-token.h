/* imp-token.h: signed, expiring, revocable session tokens.
 *
 * Format: "v1.<base64url(claims)>.<base64url(HMAC-SHA256(secret, "v1." + claims part))>", claims
 * being "<user id>:<token id>:<issued s>:<expires s>". Verification is local (no store access);
 * revocation is a separate check of the token id against the cache/store. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define IMP_TOKEN_SECRET_LEN 32
#define IMP_TOKEN_MAX_LEN 512

typedef struct {
  gint64 user_id;
  char   token_id[33];  /* 32 hex chars */
  gint64 issued_at;     /* unix seconds */
  gint64 expires_at;    /* unix seconds */
} ImpTokenClaims;

/* Issues a token for user_id valid for ttl_s seconds from now_s. out_claims may be NULL. */
char    *imp_token_issue (const guint8 secret[IMP_TOKEN_SECRET_LEN], gint64 user_id,
                          gint64 now_s, gint64 ttl_s, ImpTokenClaims *out_claims);
/* IMP_ERROR_AUTH_FAILED (malformed, tampered, wrong secret) or IMP_ERROR_TOKEN_EXPIRED. */
gboolean imp_token_verify (const guint8 secret[IMP_TOKEN_SECRET_LEN], const char *token,
                           gint64 now_s, ImpTokenClaims *out_claims, GError **error);

G_END_DECLS

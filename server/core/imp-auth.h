/* imp-auth.h: token checks shared by the gateway and every HTTP API.
 * Signature and expiry are checked locally; revocation in the cache, then the store (truth). */
#pragma once

#include <glib.h>
#include "imp-token.h"
#include "store/imp-store.h"
#include "cache/imp-cache.h"

G_BEGIN_DECLS

typedef struct _ImpAuth ImpAuth;

/* Loads the HMAC secret from secret_file, creating it (0600, random) if missing. */
ImpAuth *imp_auth_new (const char *secret_file, gint64 token_ttl_s, ImpStore *store,
                       ImpCache *cache, GError **error);
void     imp_auth_free (ImpAuth *self);
char    *imp_auth_issue (ImpAuth *self, gint64 user_id, ImpTokenClaims *out_claims);
/* Blocking (may ask the store): call from a worker thread. IMP_ERROR_AUTH_FAILED,
 * IMP_ERROR_TOKEN_EXPIRED, IMP_ERROR_TOKEN_REVOKED, or IMP_ERROR_UNAVAILABLE. */
gboolean imp_auth_check (ImpAuth *self, const char *token, ImpTokenClaims *out_claims, GError **error);
/* Store first, then cache. */
gboolean imp_auth_revoke (ImpAuth *self, const ImpTokenClaims *claims, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpAuth, imp_auth_free)

G_END_DECLS

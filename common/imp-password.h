/* imp-password.h: argon2id password hashes (libsodium's crypto_pwhash_str). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  IMP_PASSWORD_COST_INTERACTIVE, /* the product default */
  IMP_PASSWORD_COST_MIN,         /* tests and benchmarks only: many registrations per second */
} ImpPasswordCost;

/* NULL with IMP_ERROR_INTERNAL if hashing failed (out of memory). */
char    *imp_password_hash (const char *password, ImpPasswordCost cost, GError **error);
gboolean imp_password_verify (const char *hash, const char *password);
/* Passwords are 8..128 bytes of valid UTF-8; IMP_ERROR_BAD_REQUEST otherwise. */
gboolean imp_password_check_policy (const char *password, GError **error);

G_END_DECLS

/* imp-error.h: the one error domain shared by server, clients and the wire.
 *
 * ImpErrorCode values are the wire's implus.ErrorCode values, so a GError from any layer
 * turns into a protocol Error frame or an HTTP JSON error through imp_error_* below, in one place.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define IMP_ERROR (imp_error_quark ())
GQuark imp_error_quark (void);

typedef enum {
  IMP_ERROR_NONE = 0,
  IMP_ERROR_BAD_FRAME = 1,
  IMP_ERROR_FRAME_TOO_LARGE = 2,
  IMP_ERROR_NOT_AUTHENTICATED = 3,
  IMP_ERROR_AUTH_FAILED = 4,
  IMP_ERROR_TOKEN_EXPIRED = 5,
  IMP_ERROR_TOKEN_REVOKED = 6,
  IMP_ERROR_BAD_REQUEST = 7,
  IMP_ERROR_CONTENT_EMPTY = 8,
  IMP_ERROR_CONTENT_TOO_LARGE = 9,
  IMP_ERROR_INVALID_UTF8 = 10,
  IMP_ERROR_WRONG_SENDER = 11,
  IMP_ERROR_UNKNOWN_USER = 12,
  IMP_ERROR_FORBIDDEN = 13,
  IMP_ERROR_NOT_FOUND = 14,
  IMP_ERROR_CONFLICT = 15,
  IMP_ERROR_RATE_LIMITED = 16,
  IMP_ERROR_PAYLOAD_TOO_LARGE = 17,
  IMP_ERROR_INTERNAL = 18,
  IMP_ERROR_UNAVAILABLE = 19,
  IMP_ERROR_BLOCKED = 20,
  IMP_ERROR_BANNED = 21,
  IMP_ERROR_MUTED = 22,
  IMP_ERROR_NOT_MEMBER = 23,
} ImpErrorCode;

/* Wire code for any GError: IMP_ERROR codes map to themselves, anything else to INTERNAL. */
ImpErrorCode imp_error_wire_code (const GError *error);
/* HTTP status for a wire code (400, 401, 403, 404, 409, 413, 429, 500, 503). */
guint        imp_error_http_status (ImpErrorCode code);
/* Stable lower-case name, e.g. "token_expired". */
const char  *imp_error_code_name (ImpErrorCode code);

G_END_DECLS

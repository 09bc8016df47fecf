/* imp-error.c: the IMP_ERROR domain and the one table mapping codes to names and HTTP statuses. */
#include "imp-error.h"

G_DEFINE_QUARK (imp-error-quark, imp_error)

typedef struct {
  ImpErrorCode code;
  const char  *name;
  guint        http_status;
} ImpErrorInfo;

/* Indexed by code; the static assert below keeps it in step with the enum. */
static const ImpErrorInfo error_table[] = {
  { IMP_ERROR_NONE,              "none",              200 },
  { IMP_ERROR_BAD_FRAME,         "bad_frame",         400 },
  { IMP_ERROR_FRAME_TOO_LARGE,   "frame_too_large",   413 },
  { IMP_ERROR_NOT_AUTHENTICATED, "not_authenticated", 401 },
  { IMP_ERROR_AUTH_FAILED,       "auth_failed",       401 },
  { IMP_ERROR_TOKEN_EXPIRED,     "token_expired",     401 },
  { IMP_ERROR_TOKEN_REVOKED,     "token_revoked",     401 },
  { IMP_ERROR_BAD_REQUEST,       "bad_request",       400 },
  { IMP_ERROR_CONTENT_EMPTY,     "content_empty",     400 },
  { IMP_ERROR_CONTENT_TOO_LARGE, "content_too_large", 413 },
  { IMP_ERROR_INVALID_UTF8,      "invalid_utf8",      400 },
  { IMP_ERROR_WRONG_SENDER,      "wrong_sender",      403 },
  { IMP_ERROR_UNKNOWN_USER,      "unknown_user",      404 },
  { IMP_ERROR_FORBIDDEN,         "forbidden",         403 },
  { IMP_ERROR_NOT_FOUND,         "not_found",         404 },
  { IMP_ERROR_CONFLICT,          "conflict",          409 },
  { IMP_ERROR_RATE_LIMITED,      "rate_limited",      429 },
  { IMP_ERROR_PAYLOAD_TOO_LARGE, "payload_too_large", 413 },
  { IMP_ERROR_INTERNAL,          "internal",          500 },
  { IMP_ERROR_UNAVAILABLE,       "unavailable",       503 },
  { IMP_ERROR_BLOCKED,           "blocked",           403 },
  { IMP_ERROR_BANNED,            "banned",            403 },
  { IMP_ERROR_MUTED,             "muted",             403 },
  { IMP_ERROR_NOT_MEMBER,        "not_member",        403 },
};

G_STATIC_ASSERT (G_N_ELEMENTS (error_table) == IMP_ERROR_NOT_MEMBER + 1);

static const ImpErrorInfo *
lookup (ImpErrorCode code)
{
  if ((guint) code >= G_N_ELEMENTS (error_table))
    return NULL;
  return &error_table[code];
}

ImpErrorCode
imp_error_wire_code (const GError *error)
{
  if (error == NULL)
    return IMP_ERROR_NONE;
  if (error->domain == IMP_ERROR && lookup ((ImpErrorCode) error->code) != NULL)
    return (ImpErrorCode) error->code;
  return IMP_ERROR_INTERNAL;
}

guint
imp_error_http_status (ImpErrorCode code)
{
  const ImpErrorInfo *info = lookup (code);

  return info != NULL ? info->http_status : 500;
}

const char *
imp_error_code_name (ImpErrorCode code)
{
  const ImpErrorInfo *info = lookup (code);

  return info != NULL ? info->name : "internal";
}

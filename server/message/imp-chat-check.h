/* imp-chat-check.h: validation of a ChatUp, shared by the gateway (early, cheap refusal) and the
 * message worker (defence in depth; a bus record may come from an older gateway). */
#pragma once

#include <glib.h>
#include "implus.pb-c.h"

G_BEGIN_DECLS

/* IMP_ERROR_WRONG_SENDER (sender_id set and != auth_user_id), IMP_ERROR_BAD_REQUEST (missing or
 * non-UUID client_msg_id, not exactly one of to_user_id > 0 and
 * group_id > 0), IMP_ERROR_CONTENT_EMPTY, IMP_ERROR_CONTENT_TOO_LARGE
 * (> max_content bytes), IMP_ERROR_INVALID_UTF8. */
gboolean imp_chat_check (const Implus__ChatUp *chat, gint64 auth_user_id, gsize max_content,
                         GError **error);

G_END_DECLS

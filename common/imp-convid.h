/* imp-convid.h: conversation ids. private_<min>_<max> with ids compared numerically
 * (9 and 10 give private_9_10 both ways), group_<group id>. The server derives them; a
 * client's string is never trusted. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  IMP_CONV_PRIVATE = 1,
  IMP_CONV_GROUP = 2,
} ImpConvKind;

char    *imp_convid_private (gint64 user_a, gint64 user_b);
char    *imp_convid_group (gint64 group_id);
/* Parses a canonical id (no leading zeros, no signs, ids > 0, private ids with a <= b).
 * For private: *out_a, *out_b; for group: *out_a = group id, *out_b = 0. */
gboolean imp_convid_parse (const char *conv_id, ImpConvKind *out_kind,
                           gint64 *out_a, gint64 *out_b, GError **error);
/* TRUE if user_id is a participant of the private conversation conv_id. */
gboolean imp_convid_private_has (const char *conv_id, gint64 user_id);
/* The other participant of a private conversation, or 0. */
gint64   imp_convid_private_peer (const char *conv_id, gint64 user_id);

G_END_DECLS

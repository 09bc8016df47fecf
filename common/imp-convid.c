/* imp-convid.c: canonical conversation ids; parsing is strict so one conversation has one id. */
#include "imp-convid.h"
#include "imp-error.h"

#include <string.h>

char *
imp_convid_private (gint64 user_a, gint64 user_b)
{
  g_return_val_if_fail (user_a > 0 && user_b > 0, NULL);

  return g_strdup_printf ("private_%" G_GINT64_FORMAT "_%" G_GINT64_FORMAT,
                          MIN (user_a, user_b), MAX (user_a, user_b));
}

char *
imp_convid_group (gint64 group_id)
{
  g_return_val_if_fail (group_id > 0, NULL);

  return g_strdup_printf ("group_%" G_GINT64_FORMAT, group_id);
}

/* A positive decimal id without sign or leading zero; *end is left after the digits. */
static gboolean
parse_id (const char *s, const char **end, gint64 *out)
{
  guint64 v = 0;
  const char *p = s;

  if (*p < '1' || *p > '9')
    return FALSE;
  for (; *p >= '0' && *p <= '9'; p++)
    {
      guint digit = (guint) (*p - '0');
      if (v > ((guint64) G_MAXINT64 - digit) / 10)
        return FALSE;
      v = v * 10 + digit;
    }
  *out = (gint64) v;
  *end = p;
  return TRUE;
}

gboolean
imp_convid_parse (const char *conv_id, ImpConvKind *out_kind, gint64 *out_a, gint64 *out_b,
                  GError **error)
{
  const char *p;
  gint64 a = 0, b = 0;
  ImpConvKind kind;

  if (conv_id == NULL)
    goto bad;

  if (g_str_has_prefix (conv_id, "private_"))
    {
      kind = IMP_CONV_PRIVATE;
      p = conv_id + strlen ("private_");
      if (!parse_id (p, &p, &a) || *p != '_')
        goto bad;
      if (!parse_id (p + 1, &p, &b) || *p != '\0' || a > b)
        goto bad;
    }
  else if (g_str_has_prefix (conv_id, "group_"))
    {
      kind = IMP_CONV_GROUP;
      p = conv_id + strlen ("group_");
      if (!parse_id (p, &p, &a) || *p != '\0')
        goto bad;
    }
  else
    goto bad;

  if (out_kind != NULL)
    *out_kind = kind;
  if (out_a != NULL)
    *out_a = a;
  if (out_b != NULL)
    *out_b = b;
  return TRUE;

bad:
  g_set_error_literal (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "Invalid conversation id");
  return FALSE;
}

gboolean
imp_convid_private_has (const char *conv_id, gint64 user_id)
{
  ImpConvKind kind;
  gint64 a, b;

  if (!imp_convid_parse (conv_id, &kind, &a, &b, NULL) || kind != IMP_CONV_PRIVATE)
    return FALSE;
  return user_id > 0 && (user_id == a || user_id == b);
}

gint64
imp_convid_private_peer (const char *conv_id, gint64 user_id)
{
  ImpConvKind kind;
  gint64 a, b;

  if (!imp_convid_parse (conv_id, &kind, &a, &b, NULL) || kind != IMP_CONV_PRIVATE || user_id <= 0)
    return 0;
  if (user_id == a)
    return b;
  if (user_id == b)
    return a;
  return 0;
}

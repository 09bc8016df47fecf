/* imp-cache.c: dispatch of the cache interface through its vtable. */
#include "cache/imp-cache.h"

#include <string.h>

void
imp_cache_free (ImpCache *self)
{
  if (self == NULL)
    return;
  self->vt->free (self);
}

void
imp_cache_presence_add (ImpCache *self, gint64 user_id, const char *gateway_id, guint64 conn_id,
                        gint64 ttl_ms)
{
  g_return_if_fail (self != NULL && gateway_id != NULL);
  self->vt->presence_add (self, user_id, gateway_id, conn_id, ttl_ms);
}

void
imp_cache_presence_remove (ImpCache *self, gint64 user_id, const char *gateway_id, guint64 conn_id)
{
  g_return_if_fail (self != NULL && gateway_id != NULL);
  self->vt->presence_remove (self, user_id, gateway_id, conn_id);
}

GStrv
imp_cache_presence_gateways (ImpCache *self, gint64 user_id)
{
  GStrv gateways;

  g_return_val_if_fail (self != NULL, g_new0 (char *, 1));
  gateways = self->vt->presence_gateways (self, user_id);
  return gateways != NULL ? gateways : g_new0 (char *, 1);
}

GStrv
imp_cache_presence_lookup (ImpCache *self, gint64 user_id)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->vt->presence_gateways (self, user_id);
}

guint
imp_cache_generation (ImpCache *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->vt->generation != NULL ? self->vt->generation (self) : 0;
}

gboolean
imp_cache_presence_last_seen (ImpCache *self, gint64 user_id, gint64 *out_ms)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->vt->presence_last_seen (self, user_id, out_ms);
}

void
imp_cache_token_revoke (ImpCache *self, const char *token_id, gint64 expires_s)
{
  g_return_if_fail (self != NULL && token_id != NULL);
  self->vt->token_revoke (self, token_id, expires_s);
}

int
imp_cache_token_is_revoked (ImpCache *self, const char *token_id)
{
  g_return_val_if_fail (self != NULL && token_id != NULL, -1);
  return self->vt->token_is_revoked (self, token_id);
}

void
imp_gateway_info_free (ImpGatewayInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->gateway_id);
  g_free (info->tcp_address);
  g_free (info->ws_url);
  g_free (info);
}

static gboolean
registry_text_ok (const char *s)
{
  gsize n = 0;

  if (s == NULL)
    return FALSE;
  for (; s[n] != '\0'; n++)
    if (n >= 256 || !g_ascii_isprint (s[n]) || s[n] == '\n')
      return FALSE;
  return TRUE;
}

void
imp_cache_gateway_announce (ImpCache *self, const char *gateway_id, const char *tcp_address,
                            const char *ws_url, guint n_connections, gint64 ttl_ms)
{
  g_return_if_fail (self != NULL);
  /* Checked once here, so no backend ever stores (or a Lua script parses) odd bytes. */
  if (!registry_text_ok (gateway_id) || gateway_id[0] == '\0' ||
      !registry_text_ok (tcp_address != NULL ? tcp_address : "") ||
      !registry_text_ok (ws_url != NULL ? ws_url : ""))
    {
      g_debug ("cache: gateway announcement with a bad id or address ignored");
      return;
    }
  self->vt->gateway_announce (self, gateway_id, tcp_address != NULL ? tcp_address : "",
                              ws_url != NULL ? ws_url : "", n_connections, MAX (ttl_ms, 0));
}

static int
info_by_id (gconstpointer a, gconstpointer b)
{
  const ImpGatewayInfo *x = *(ImpGatewayInfo *const *) a;
  const ImpGatewayInfo *y = *(ImpGatewayInfo *const *) b;

  return strcmp (x->gateway_id, y->gateway_id);
}

GPtrArray *
imp_cache_gateways_live (ImpCache *self)
{
  GPtrArray *list;

  g_return_val_if_fail (self != NULL,
                        g_ptr_array_new_with_free_func ((GDestroyNotify) imp_gateway_info_free));
  list = self->vt->gateways_live (self);
  g_ptr_array_sort (list, info_by_id);
  return list;
}

/* imp-cache.c: dispatch of the cache interface through its vtable. */
#include "cache/imp-cache.h"

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
  g_return_val_if_fail (self != NULL, g_new0 (char *, 1));
  return self->vt->presence_gateways (self, user_id);
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

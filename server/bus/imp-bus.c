/* imp-bus.c: the backend-independent part of the bus interface: dispatch through the vtable and
 * the record helpers every backend shares. */
#include "bus/imp-bus.h"

void
imp_bus_free (ImpBus *self)
{
  if (self == NULL)
    return;
  self->vt->free (self);
}

gboolean
imp_bus_publish (ImpBus *self, const char *topic, const char *key, GBytes *value, GError **error)
{
  g_return_val_if_fail (self != NULL && topic != NULL && value != NULL, FALSE);
  return self->vt->publish (self, topic, key, value, error);
}

ImpBusSubscription *
imp_bus_subscribe (ImpBus *self, const char *topic, const char *group, GMainContext *context,
                   guint max_batch, ImpBusHandler handler, gpointer user_data,
                   GDestroyNotify destroy, GError **error)
{
  g_return_val_if_fail (self != NULL && topic != NULL && handler != NULL, NULL);
  return self->vt->subscribe (self, topic, group, context, max_batch, handler, user_data,
                              destroy, error);
}

void
imp_bus_unsubscribe (ImpBus *self, ImpBusSubscription *sub)
{
  if (self == NULL || sub == NULL)
    return;
  self->vt->unsubscribe (self, sub);
}

void
imp_bus_record_free (ImpBusRecord *rec)
{
  if (rec == NULL)
    return;
  g_free (rec->topic);
  g_free (rec->key);
  g_clear_pointer (&rec->value, g_bytes_unref);
  g_free (rec);
}

char *
imp_bus_push_topic (const char *gateway_id)
{
  g_return_val_if_fail (gateway_id != NULL, NULL);
  return g_strconcat (IMP_TOPIC_PUSH_PREFIX, gateway_id, NULL);
}

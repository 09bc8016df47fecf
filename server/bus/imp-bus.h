/* imp-bus.h: the bus interface (DESIGN §2, §5). Local (bus/local/, in-process) and Kafka
 * (bus/kafka/, distributed issue).
 *
 * Delivery is at-least-once and in order per key. A subscriber's handler runs on the
 * GMainContext it subscribed with and gets a batch of records; when it returns TRUE the batch is
 * done (Kafka: offsets committed), when it returns FALSE the same batch is delivered again after
 * a backoff (the store was unavailable, say). Publishing is thread-safe. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define IMP_TOPIC_CONVERSATION_MESSAGES "conversation-messages"
#define IMP_TOPIC_MESSAGE_ACKS          "message-acks"
#define IMP_TOPIC_PUSH_PREFIX           "push."   /* + gateway id */
#define IMP_TOPIC_READ_MARKS            "read-marks" /* ReadMarkRecord, key = user id */

typedef struct _ImpBus ImpBus;
typedef struct _ImpBusSubscription ImpBusSubscription;

typedef struct {
  char   *topic;
  char   *key;
  GBytes *value;
} ImpBusRecord;

typedef gboolean (*ImpBusHandler) (GPtrArray *records /* ImpBusRecord */, gpointer user_data);

typedef struct {
  const char *name;
  void      (*free) (ImpBus *self);
  gboolean  (*publish) (ImpBus *self, const char *topic, const char *key, GBytes *value,
                        GError **error);
  ImpBusSubscription *(*subscribe) (ImpBus *self, const char *topic, const char *group,
                                    GMainContext *context, guint max_batch,
                                    ImpBusHandler handler, gpointer user_data,
                                    GDestroyNotify destroy, GError **error);
  void      (*unsubscribe) (ImpBus *self, ImpBusSubscription *sub);
} ImpBusVTable;

struct _ImpBus {
  const ImpBusVTable *vt;
};

ImpBus *imp_bus_local_new (void);
#ifdef IMPLUS_HAVE_KAFKA
/* brokers: bootstrap.servers ("host:port,..."); client_id names this process to the brokers;
 * topic_prefix (NULL or "" for none; letters, digits, '.', '_', '-') is prepended to every Kafka
 * topic and consumer group the bus uses, so deployments can share a cluster: callers keep using
 * the plain names, and records come back with them; partitions: the partition count of the
 * topics this bus creates (existing topics keep theirs).
 * Creates the conversation and ack topics before returning: fails (IMP_ERROR_UNAVAILABLE) when
 * the brokers do not answer. Extras (counters) are in bus/kafka/imp-bus-kafka.h. */
ImpBus *imp_bus_kafka_new (const char *brokers, const char *client_id, const char *topic_prefix,
                           guint partitions, GError **error);
#endif

void     imp_bus_free (ImpBus *self);
gboolean imp_bus_publish (ImpBus *self, const char *topic, const char *key, GBytes *value,
                          GError **error);
/* group: consumers in one group share the topic's keys (Kafka consumer group); the local bus
 * gives every record to exactly one subscriber of each group. max_batch bounds a batch. */
ImpBusSubscription *imp_bus_subscribe (ImpBus *self, const char *topic, const char *group,
                                       GMainContext *context, guint max_batch,
                                       ImpBusHandler handler, gpointer user_data,
                                       GDestroyNotify destroy, GError **error);
/* Stops delivery; after it returns the handler is not called again. Call on the context's thread. */
void     imp_bus_unsubscribe (ImpBus *self, ImpBusSubscription *sub);

void     imp_bus_record_free (ImpBusRecord *rec);
char    *imp_bus_push_topic (const char *gateway_id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpBus, imp_bus_free)

G_END_DECLS

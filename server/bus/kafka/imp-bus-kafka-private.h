/* imp-bus-kafka-private.h: shared between the producer side (imp-bus-kafka.c) and the
 * subscriptions (imp-bus-kafka-sub.c) of the Kafka bus. */
#pragma once

#include <librdkafka/rdkafka.h>

#include "bus/imp-bus.h"
#include "bus/kafka/imp-bus-kafka.h"

G_BEGIN_DECLS

#define IMP_BUS_KAFKA_DLQ_SUFFIX ".dlq"

typedef struct {
  ImpBus      parent;
  /* Owned */
  char       *brokers;
  char       *client_id;
  char       *topic_prefix;     /* "" for none; see imp_bus_kafka_name () */
  guint       partitions;
  rd_kafka_t *producer;
  GThread    *poller;           /* serves the producer's delivery reports */
  gint        stopping;         /* atomic: tells the poller to leave */
  GMutex      lock;
  GHashTable *ready_topics;     /* under lock: names known to exist */
  GPtrArray  *subs;             /* under lock: active subscriptions (one reference each) */
  GPtrArray  *closing;          /* under lock: unsubscribed, thread maybe still closing */
  GMutex      dr_lock;          /* delivery waits (dead letters) */
  GCond       dr_cond;
  gint        outage_max_ms;    /* atomic; 0: the default (imp_bus_kafka_set_outage_max) */
  guint       close_timeout_ms; /* imp_bus_kafka_set_close_timeout */
  /* Counters (atomic) */
  gsize       published;
  gsize       delivery_failures;
  gsize       refusals;
  gsize       dead_letters;
  gsize       commit_failures;
} ImpBusKafka;

/* The name in Kafka of a bus topic or consumer group: topic_prefix + name. The bus's users
 * see only the plain names. */
char    *imp_bus_kafka_name (ImpBusKafka *bus, const char *name);

/* Creates kafka_topic (a name in Kafka, prefix included) with bus->partitions partitions unless
 * it is known to exist ("already exists" is success). Blocks up to about 10 s; call from a
 * thread that may wait. */
gboolean imp_bus_kafka_ensure_topic (ImpBusKafka *bus, const char *kafka_topic, GError **error);

/* topic is a plain bus topic (the prefix is added here). Produces one record and waits for the brokers' acknowledgement, or until *cancel becomes
 * non-zero (whoever sets it broadcasts bus->dr_cond under bus->dr_lock). Takes headers. */
gboolean imp_bus_kafka_produce_sync (ImpBusKafka *bus, const char *topic, const char *key,
                                     GBytes *value, rd_kafka_headers_t *headers,
                                     gint *cancel, GError **error);

/* Fills conf with what producer and consumers share (brokers, client id, logging). */
rd_kafka_conf_t *imp_bus_kafka_conf_new (ImpBusKafka *bus);
gboolean         imp_bus_kafka_conf_set (rd_kafka_conf_t *conf, const char *name,
                                         const char *value, GError **error);

/* imp-bus-kafka-sub.c */
ImpBusSubscription *imp_bus_kafka_sub_new (ImpBusKafka *bus, const char *topic, const char *group,
                                           GMainContext *context, guint max_batch,
                                           ImpBusHandler handler, gpointer user_data,
                                           GDestroyNotify destroy, GError **error);
/* On the subscriber's context: no handler call after this returns; the consumer leaves its
 * group on its own thread. Returns FALSE if sub was already stopped. */
gboolean            imp_bus_kafka_sub_stop (ImpBusSubscription *sub);
gboolean            imp_bus_kafka_sub_finished (ImpBusSubscription *sub);
/* Called by a consumer thread once it has set finished (wakes imp_bus_free's wait). */
void                imp_bus_kafka_sub_ended (void);
/* The name in Kafka (prefix included), for log lines. */
const char         *imp_bus_kafka_sub_topic (ImpBusSubscription *sub);
/* Joins the consumer thread (after stop) and drops the caller's reference. */
void                imp_bus_kafka_sub_join (ImpBusSubscription *sub);

G_END_DECLS

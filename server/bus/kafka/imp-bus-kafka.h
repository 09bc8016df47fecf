/* imp-bus-kafka.h: what the Kafka bus offers beyond the ImpBus interface: its counters, for
 * health and metrics pages. The constructor is imp_bus_kafka_new () in bus/imp-bus.h. */
#pragma once

#include "bus/imp-bus.h"

G_BEGIN_DECLS

typedef struct {
  guint64 published;          /* records accepted by publish () */
  guint64 delivery_failures;  /* records the brokers never acknowledged (logged) */
  guint64 refusals;           /* handler calls that returned FALSE (each one is retried) */
  guint64 dead_letters;       /* records sent to "<topic>.dlq" (logged) */
  guint64 commit_failures;    /* offset commits refused (records will be seen again) */
} ImpBusKafkaStats;

/* bus must come from imp_bus_kafka_new (). Thread-safe. */
void imp_bus_kafka_get_stats (ImpBus *bus, ImpBusKafkaStats *stats);

G_END_DECLS

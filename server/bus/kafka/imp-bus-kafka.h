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
/* How long a record that its handler refuses, while nothing else goes through, is retried
 * before it goes to the dead-letter topic (docs/bus.md); 0 = the default, 10 minutes. For
 * tests of the dead-letter path (a real outage must never dead-letter). */
void imp_bus_kafka_set_outage_max (ImpBus *bus, guint ms);
/* How long imp_bus_free waits for the consumers to leave their groups (default 10 s); tests. */
void imp_bus_kafka_set_close_timeout (ImpBus *bus, guint ms);
/* Tests: waits until every consumer left running by a timed-out close has ended (TRUE), or
 * timeout_ms passed (FALSE). */
gboolean imp_bus_kafka_wait_abandoned (guint timeout_ms);

G_END_DECLS

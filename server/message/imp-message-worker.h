/* imp-message-worker.h: the message role's consumer (DESIGN §2). Runs on its own thread with its
 * own GMainContext: takes batches from "conversation-messages", commits them in one store
 * transaction, and only then publishes receipts and pushes to "push.<gateway id>" of every
 * gateway where the sender or recipient is present. Also consumes "message-acks" (delivery). */
#pragma once

#include <glib.h>
#include "core/imp-server-config.h"
#include "store/imp-store.h"
#include "bus/imp-bus.h"
#include "cache/imp-cache.h"

G_BEGIN_DECLS

typedef struct _ImpMessageWorker ImpMessageWorker;

/* Borrowed: config, store, bus, cache must outlive the worker. worker_id < 1024 seeds msg ids. */
ImpMessageWorker *imp_message_worker_new (const ImpServerConfig *config, guint worker_id,
                                          ImpStore *store, ImpBus *bus, ImpCache *cache,
                                          GError **error);
/* Stops the thread (finishing the batch in hand) and frees. */
void              imp_message_worker_free (ImpMessageWorker *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpMessageWorker, imp_message_worker_free)

G_END_DECLS

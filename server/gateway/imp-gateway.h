/* imp-gateway.h: the gateway role (DESIGN §2): client connections over TCP and WebSocket on the
 * main context; auth from the first frame; heartbeats and idle timeouts; chat frames to the bus
 * keyed by conversation id; pushes and receipts from its own "push.<id>" topic; retransmission of
 * unacknowledged pushes; ACKs to "message-acks". */
#pragma once

#include <glib.h>
#include "core/imp-server-config.h"
#include "core/imp-auth.h"
#include "bus/imp-bus.h"
#include "cache/imp-cache.h"
#include "store/imp-store.h"

G_BEGIN_DECLS

typedef struct _ImpGateway ImpGateway;

/* Listens at once on config->bind, tcp_port and ws_port (0 = any). Borrowed arguments outlive it. */
ImpGateway *imp_gateway_new (const ImpServerConfig *config, ImpAuth *auth, ImpBus *bus,
                             ImpCache *cache, GError **error);
/* Group delivery needs the store (each user's groups are loaded at auth, on the auth thread).
 * Call right after new(), before clients connect; without it no group push is delivered. */
void        imp_gateway_set_store (ImpGateway *self, ImpStore *store);
guint       imp_gateway_get_tcp_port (ImpGateway *self);
/* Typing frames dropped by the rate limit (and for a full task queue) so far. */
guint64     imp_gateway_get_typing_dropped (ImpGateway *self);
guint       imp_gateway_get_ws_port (ImpGateway *self);
guint       imp_gateway_get_n_connections (ImpGateway *self);
/* Kicks every connection with KICK_REASON_SHUTDOWN, stops listening. */
void        imp_gateway_shutdown (ImpGateway *self);
void        imp_gateway_free (ImpGateway *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpGateway, imp_gateway_free)

G_END_DECLS

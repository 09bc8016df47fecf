/* imp-gateway-private.h: what the gateway's parts share (core, push delivery, transports). */
#pragma once

#include <gio/gio.h>
#include "imp-gateway.h"
#include "imp-connection.h"
#include "imp-retransmit.h"
#include "imp-wire.h"
#include "implus-bus.pb-c.h"

G_BEGIN_DECLS

typedef struct _ImpGatewayTcp ImpGatewayTcp;
typedef struct _ImpGatewayWs ImpGatewayWs;

struct _ImpGateway {
  /* Borrowed */
  const ImpServerConfig *config;
  ImpAuth               *auth;
  ImpBus                *bus;
  ImpCache              *cache;
  /* Owned */
  GMainContext          *context;
  GHashTable            *conns;        /* &conn->id -> ImpConnection (one ref) */
  GHashTable            *users;        /* &user_id -> GQueue of authenticated connections */
  GHashTable            *per_ip;       /* ip -> GUINT_TO_POINTER (count) */
  GQueue                 idle;         /* every attached connection, oldest activity first */
  GSource               *sweep;
  ImpRetransmit         *wheel;
  GQueue                 ack_dirty;    /* connections with an AckRecord held back */
  GSource               *ack_timer;
  ImpBusSubscription    *sub;
  char                  *push_topic;
  ImpGatewayTcp         *tcp;
  ImpGatewayWs          *ws;
  guint64                next_conn_id;
  gboolean               shut_down;
  /* Auth tasks still running on worker threads (they use auth): free waits for them. */
  GMutex                 auth_lock;
  GCond                  auth_cond;
  guint                  auth_in_flight;
};

/* imp-gateway.c */
/* Attaches a new connection (one more ref); FALSE if over the per-IP limit. */
gboolean imp_gateway_attach (ImpGateway *self, ImpConnection *conn);
/* One complete Envelope's bytes from the client. */
void     imp_gateway_handle_frame (ImpGateway *self, ImpConnection *conn,
                                   const guint8 *data, gsize len);
/* Sends an Error (logged once per connection, never the content); closes after it if asked. */
void     imp_gateway_reject (ImpConnection *conn, ImpErrorCode code, const char *reason,
                             guint64 ref_frame_id, gboolean close);
/* Queues an Envelope; a slow reader is closed. FALSE if the connection is (now) closed. */
gboolean imp_gateway_send (ImpConnection *conn, const ImpEnvelope *env);
gboolean imp_gateway_send_bytes (ImpConnection *conn, GBytes *payload);
/* Detaches from the gateway (tables, presence, pending pushes) and closes the transport. */
void     imp_gateway_close (ImpConnection *conn, gboolean flush);
/* The transport is gone (peer closed, I/O error): detach without a goodbye. */
void     imp_gateway_lost (ImpConnection *conn);
GQueue  *imp_gateway_user_conns (ImpGateway *self, gint64 user_id);

/* imp-gateway-push.c */
gboolean imp_gateway_push_start (ImpGateway *self, GError **error);
void     imp_gateway_push_stop (ImpGateway *self);
void     imp_gateway_push_free (ImpGateway *self);
void     imp_gateway_handle_ack (ImpGateway *self, ImpConnection *conn, gint64 up_to_seq);
/* Forgets a connection's pending pushes and publishes a held-back AckRecord. */
void     imp_gateway_push_detach (ImpGateway *self, ImpConnection *conn);

/* imp-gateway-tcp.c */
GSocketAddress *imp_gateway_bind_address (const char *bind, guint port, GError **error);
ImpGatewayTcp *imp_gateway_tcp_new (ImpGateway *gw, GError **error);
guint          imp_gateway_tcp_get_port (ImpGatewayTcp *self);
void           imp_gateway_tcp_free (ImpGatewayTcp *self);
/* Between cork and uncork, sends to a TCP connection are gathered and written with one call per
 * connection at uncork (bounded; order and limits as for unbuffered sends). NULL is fine. */
void           imp_gateway_tcp_cork (ImpGatewayTcp *self);
void           imp_gateway_tcp_uncork (ImpGatewayTcp *self);

/* imp-gateway-ws.c */
ImpGatewayWs  *imp_gateway_ws_new (ImpGateway *gw, GError **error);
guint          imp_gateway_ws_get_port (ImpGatewayWs *self);
void           imp_gateway_ws_free (ImpGatewayWs *self);

G_END_DECLS

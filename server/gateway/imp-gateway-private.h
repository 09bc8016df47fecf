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
  ImpStore              *store;        /* NULL: no group index (imp_gateway_set_store) */
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
  /* Group index (imp-gateway-group.c): only users with a connection here */
  GHashTable            *group_users;  /* &group_id -> GHashTable &user_id -> &join_seq */
  GHashTable            *user_groups;  /* &user_id -> GArray of gint64 group ids */
  GSource               *announce;     /* gateway registry refresh */
  char                  *tcp_address;
  char                  *ws_url;
  guint                  cache_generation; /* imp_cache_generation () when presence was written */
  GArray                *presence_todo;    /* guint64 conn ids whose presence is written again */
  GSource               *presence_refresh; /* writes presence_todo a slice at a time */
  GSource               *presence_check;   /* watches imp_cache_generation () */
  guint64                typing_dropped;
  guint                  typing_in_flight; /* under auth_lock */
  /* Auth and typing tasks still running on worker threads (they use auth, store, cache, bus):
   * free waits for them. */
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

/* GroupAck: stops retransmitting that group's pushes up to up_to_seq to conn. */
void     imp_gateway_handle_group_ack_seq (ImpGateway *self, ImpConnection *conn, gint64 group_id,
                                           const char *conversation_id, gint64 up_to_seq);
/* Queues payload for conn and keeps it for retransmission until acknowledged (group_id 0: by
 * Ack in the user's stream; else by GroupAck of that group). FALSE if conn was closed. */
gboolean imp_gateway_push_send (ImpGateway *self, ImpConnection *conn, GBytes *payload,
                                gint64 group_id, gint64 seq);

/* imp-gateway-group.c */
void     imp_gateway_group_init (ImpGateway *self);
void     imp_gateway_group_free (ImpGateway *self);
/* A current membership as the index keeps it: pushes with seq > join_seq reach the member. */
typedef struct {
  gint64 group_id;
  gint64 join_seq;
} ImpGatewayGroupEntry;

/* Replaces the user's groups (ImpGatewayGroupEntry) in the index (at auth: the store's list). */
void     imp_gateway_group_set_user (ImpGateway *self, gint64 user_id, const GArray *groups);
/* The user's last connection here is gone. */
void     imp_gateway_group_forget_user (ImpGateway *self, gint64 user_id);
/* Blocking: the user's current groups (ImpGatewayGroupEntry) from the store (auth thread).
 * NULL with error. */
GArray  *imp_gateway_group_load (ImpStore *store, gint64 user_id, GError **error);
void     imp_gateway_deliver_group_push (ImpGateway *self, const Implus__Bus__GatewayGroupPush *gp);
void     imp_gateway_deliver_membership (ImpGateway *self, const Implus__Bus__GatewayMembership *m);
void     imp_gateway_deliver_ephemeral (ImpGateway *self, const Implus__Bus__GatewayEphemeral *e);
void     imp_gateway_handle_group_ack (ImpGateway *self, ImpConnection *conn,
                                       const Implus__Envelope *env);
void     imp_gateway_handle_read_mark (ImpGateway *self, ImpConnection *conn,
                                       const Implus__Envelope *env);
void     imp_gateway_handle_typing (ImpGateway *self, ImpConnection *conn,
                                    const Implus__Envelope *env);
/* Gateway registry: announce now and every few seconds; withdraw at shutdown. */
void     imp_gateway_announce_start (ImpGateway *self);
void     imp_gateway_announce_stop (ImpGateway *self);

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

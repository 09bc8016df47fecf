/* imp-client-private.h: ImpClient's instance, shared by imp-client.c (session, connection) and
 * imp-client-sync.c (pull, acks, outbox). Not installed, not for the faces. */
#pragma once

#include "imp-client.h"
#include "imp-client-api.h"

struct _ImpClient
{
  GObject              parent_instance;

  /* Owned */
  char                *host;
  guint16              user_port, message_port, tcp_port, ws_port;
  ImpTransport         transport;
  char                *data_dir;
  char                *device_id;
  ImpClientApi        *api;
  ImpMirror           *mirror;
  char                *username;
  char                *gateway_tcp;   /* from the login answer */
  char                *gateway_ws;
  ImpClientConnection *conn;
  GHashTable          *in_flight;     /* client_msg_id -> InFlight */
  GPtrArray           *sync_waiters;  /* GTask */
  guint                reconnect_timer;
  guint                resend_timer;
  guint                pull_retry_timer;
  guint                periodic_pull_timer; /* while online: pull from the watermarks now and then */
  guint                periodic_pull_ms;    /* 0: IMP_CLIENT_PERIODIC_PULL_MS (tests set less) */
  guint                connect_failures;    /* in a row, for the gateway failover */
  gboolean             failover_asking;     /* GET /users/gateway in flight */
  guint                ack_idle;

  gint64               user_id;
  ImpClientState       state;
  guint                backoff_ms;
  gboolean             hold;          /* kicked or auth refused: no automatic reconnect */
  gboolean             pulling;
  gboolean             pull_again;
  gint64               pull_after;
  gboolean             pull_progress;
  gint64               last_acked;
  gboolean             ack_force;
  gint64               send_cursor;   /* outbox id of the last row sent since the (re)connect */

  /* Group streams, read marks, typing (imp-client-group.c) */
  GHashTable          *groups;        /* conversation id -> ImpGroupStream */
  guint                group_ack_idle;
  GHashTable          *typing_sent;   /* gint64 peer id -> gint64 monotonic us of the last Typing */
  GHashTable          *read_pending;  /* conversation id -> gint64 seq: read marks not yet sent */

  /* Token storage outside the session file (imp-client-session.c) */
  ImpTokenStore        token_store;
  gboolean             has_token_store;
  gpointer             token_store_data;
  GDestroyNotify       token_store_destroy;
  const char          *token_location;  /* "store", "file" or NULL */
};

enum {
  IMP_CLIENT_SIGNAL_STATE_CHANGED,
  IMP_CLIENT_SIGNAL_MESSAGE_RECEIVED,
  IMP_CLIENT_SIGNAL_MESSAGE_SENT,
  IMP_CLIENT_SIGNAL_MESSAGE_FAILED,
  IMP_CLIENT_SIGNAL_KICKED,
  IMP_CLIENT_SIGNAL_DISCONNECTED,
  IMP_CLIENT_SIGNAL_RECONNECTING,
  IMP_CLIENT_SIGNAL_ERROR,
  IMP_CLIENT_SIGNAL_MESSAGE_STATE_CHANGED,
  IMP_CLIENT_SIGNAL_CONVERSATION_UPDATED,
  IMP_CLIENT_SIGNAL_TYPING,
  IMP_CLIENT_N_SIGNALS
};
extern guint imp_client_signals[IMP_CLIENT_N_SIGNALS];

/* imp-client-sync.c */
void imp_client_sync_online (ImpClient *self);           /* after AuthOk */
void imp_client_sync_offline (ImpClient *self);          /* connection gone */
void imp_client_sync_handle_frame (ImpClient *self, const ImpEnvelope *env);
void imp_client_sync_request_pull (ImpClient *self);
void imp_client_sync_fail_waiters (ImpClient *self, const GError *error);
void imp_client_sync_pump_outbox (ImpClient *self);
/* Pulls the user stream and every group stream from their watermarks (cheap when nothing is new). */
void imp_client_sync_pull_all (ImpClient *self);
/* A connection attempt failed (not an auth refusal): after a few in a row the engine asks the
 * user service for another gateway (GET /users/gateway) and switches to it. */
void imp_client_sync_connect_failed (ImpClient *self);
/* Emits message-received / completes the outbox for one applied message (any stream). */
void imp_client_sync_process_applied (ImpClient *self, ImpMessage *m);
/* Marks the outbox row failed (signal once) and forgets it in flight. */
void imp_client_sync_fail_outbox (ImpClient *self, const char *client_msg_id, int code, const char *reason);
/* imp-client-group.c */
typedef struct _ImpGroupStream ImpGroupStream;
void     imp_client_group_init (ImpClient *self);
void     imp_client_group_clear (ImpClient *self);                 /* dispose */
void     imp_client_group_online (ImpClient *self);
void     imp_client_group_offline (ImpClient *self);
/* A group message from any source (push, receipt, pull); FALSE on a mirror error. */
gboolean imp_client_group_store (ImpClient *self, const ImpMessage *m);
void     imp_client_group_request_pull (ImpClient *self, const char *conversation_id);
/* GroupNotice, ReadUpdate, Delivered, Typing; FALSE if env is none of them. */
gboolean imp_client_group_handle_frame (ImpClient *self, const ImpEnvelope *env);
/* imp-client-session.c: the token in the session key file or in the token store */
void  imp_client_session_put_token (ImpClient *self, GKeyFile *kf, const char *token);
char *imp_client_session_get_token (ImpClient *self, GKeyFile *kf, const char *username);
void  imp_client_session_forget_token (ImpClient *self, const char *username);
void  imp_client_session_clear (ImpClient *self);                 /* dispose */
/* imp-client.c */
void imp_client_handle_kick (ImpClient *self, int reason, const char *message);
/* Connects at once if a reconnect is pending (the gateway address changed). */
void imp_client_reconnect_now (ImpClient *self);

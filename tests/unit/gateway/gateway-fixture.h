/* gateway-fixture.h: what the gateway tests share: a real ImpGateway (ports 0) with the local
 * bus, the memory cache and ImpAuth over a temporary SQLite store, and a TCP test client that
 * never blocks the main context. Every wait is for a condition with a deadline. */
#pragma once

#include <gio/gio.h>

#include "gateway/imp-gateway.h"
#include "imp-frame.h"
#include "imp-wire.h"
#include "imp-id.h"
#include "implus-bus.pb-c.h"

#define GW_ID      "gwtest"
#define MAX_FRAME  4096
#define DEADLINE   5000

gboolean on_deadline (gpointer data);

/* Iterates the main context until cond holds or timeout_ms pass; evaluates to cond. */
#define WAIT_UNTIL(cond, timeout_ms) ({                                      \
  gboolean _timeout = FALSE;                                                 \
  guint _id = g_timeout_add ((timeout_ms), on_deadline, &_timeout);          \
  while (!(cond) && !_timeout)                                               \
    g_main_context_iteration (NULL, TRUE);                                   \
  if (!_timeout)                                                             \
    g_source_remove (_id);                                                   \
  (cond); })

typedef struct {
  char            *dir;
  ImpStore        *store;
  ImpCache        *cache;
  ImpBus          *bus;
  ImpAuth         *auth;
  ImpServerConfig  config;
  ImpGateway      *gw;
  /* records seen on the bus */
  GPtrArray       *chats;      /* Implus__Bus__Chat */
  GPtrArray       *acks;       /* Implus__Bus__AckRecord */
  GPtrArray       *chat_keys;  /* char* */
  ImpBusSubscription *chat_sub;
  ImpBusSubscription *ack_sub;
} Fixture;

typedef struct {
  GSocket        *sock;
  GSource        *src;
  ImpFrameReader *reader;
  GQueue          frames;   /* ImpEnvelope */
  gboolean        eof;
  gboolean        bad;      /* the server sent bytes that are not frames */
} Client;

void         fixture_setup_full (Fixture *fx, gint64 idle_timeout_ms, gint64 retransmit_ms);
void         fixture_setup (Fixture *fx, gconstpointer data);
void         fixture_teardown (Fixture *fx, gconstpointer data);
char        *issue (Fixture *fx, gint64 user_id, ImpTokenClaims *claims);
gboolean     presence_has (Fixture *fx, gint64 user_id);
void         publish_record (Fixture *fx, const Implus__Bus__GatewayRecord *rec);
void         publish_push (Fixture *fx, gint64 user_id, gint64 seq);

Client      *client_new (Fixture *fx);
void         client_free (Client *c);
void         client_send_raw (Client *c, const void *data, gsize len);
void         client_send (Client *c, const ImpEnvelope *env);
/* Next frame, or NULL after EOF or timeout_ms. */
ImpEnvelope *client_next (Client *c, guint timeout_ms);
ImpEnvelope *client_expect (Client *c, Implus__Envelope__BodyCase body);
void         client_expect_error (Client *c, ImpErrorCode code);
void         client_expect_eof (Client *c);
void         client_send_auth (Client *c, const char *token, const char *device);
Client      *client_login (Fixture *fx, gint64 user_id, const char *device);
void         client_send_heartbeat (Client *c, gint64 client_time);
void         client_send_ack (Client *c, gint64 up_to);

/* client-fake.h: a fake IM Plus server for the client engine's tests: a GSocketService speaking
 * the TCP framing (Auth, Ack, ChatUp with receipts, GroupAck, ReadMark, Typing) and a SoupServer
 * for login, /messages/sync, /groups/sync and /conversations. User 1 ("alice") logs in; her stream
 * is f->stream, the group conversation GROUP_CONV's stream is f->gstream. */
#pragma once

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include "imp-client.h"
#include "imp-error.h"
#include "imp-frame.h"
#include "imp-wire.h"

#define PAGE_MAX 2  /* the fake server's pull_page_max: forces has_more paging */
#define GROUP_ID 7
#define GROUP_CONV "group_7"

typedef struct {
  /* fake server */
  GSocketService    *service;
  guint16            tcp_port;
  SoupServer        *http;
  guint16            http_port;
  GSocketConnection *conn;         /* the client's current connection */
  ImpFrameReader    *reader;
  guint8             buf[4096];
  GPtrArray         *stream;       /* ImpMessage, index = seq - 1: user 1's stream */
  GPtrArray         *chat_ups;     /* client_msg_id of every ChatUp seen */
  gboolean           answer_chat;  /* send a receipt for ChatUp */
  gint64             last_ack;
  guint              n_acks;
  guint              n_auths;
  guint              n_sync_calls;
  /* client side */
  char              *dir;
  ImpClient         *client;
  GArray            *received;     /* gint64 seq of "message-received" */
  GPtrArray         *sent;         /* client_msg_id of "message-sent" */
  guint              n_kicked;
  guint              n_reconnecting;
  /* groups: one fake group conversation GROUP_CONV (group GROUP_ID) */
  GPtrArray         *gstream;      /* ImpMessage, index = conversation seq - 1 */
  gint64             join_seq;     /* user 1 sees seqs > join_seq only */
  gboolean           group_listed; /* GET /conversations lists GROUP_CONV */
  gint64             last_group_ack;
  guint              n_group_acks;
  guint              n_group_sync_calls;
  GPtrArray         *read_marks;   /* "conversation_id:seq" of every ReadMark */
  GPtrArray         *typing_to;    /* gint64 to_user_id of every Typing, as "%d" strings */
  GArray            *group_received;
  char              *state_conv;   /* last "message-state-changed" */
  gint64             state_seq;
  guint              state;
  guint              n_conv_updated;
  guint              n_typing;
  gint64             typing_from;
  guint              n_history_calls;
  /* failover: GET /users/gateway answers the current gateway (f->tcp_port) */
  guint              n_gateway_calls;
  char              *gateway_exclude; /* its last "exclude" query */
} Fixture;

gboolean    wait_until (gboolean (*cond) (Fixture *), Fixture *f);
ImpMessage *stream_add (Fixture *f, gint64 sender, gint64 to, const char *content, const char *cmid);
ImpMessage *gstream_add (Fixture *f, gint64 sender, const char *content, const char *cmid);
void        gw_send (Fixture *f, ImpEnvelope *env);
void        gw_push (Fixture *f, gint64 seq);
void        gw_push_group (Fixture *f, gint64 seq);
void        gw_close (Fixture *f);
/* The fake gateway dies (its port refuses connections) and comes back on another port. */
void        gw_move (Fixture *f);
void        new_client (Fixture *f);
void        fixture_setup (Fixture *f, gconstpointer data);
void        fixture_teardown (Fixture *f, gconstpointer data);
gboolean    is_online (Fixture *f);
void        login_and_connect (Fixture *f);
void        assert_received_in_order (Fixture *f, gint64 first, gint64 last);

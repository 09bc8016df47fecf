/* imp-connection.h: one client connection of the gateway, whatever its transport.
 *
 * A plain ref-counted struct, not a GObject, kept small (DESIGN §10: ~2 KB per idle
 * authenticated connection, everything included): buffers live in the transport part and are
 * allocated only while bytes are in flight. Main-context only. */
#pragma once

#include <glib.h>
#include "imp-token.h"
#include "imp-retransmit.h"

G_BEGIN_DECLS

typedef struct _ImpGateway ImpGateway;
typedef struct _ImpConnection ImpConnection;

typedef enum {
  IMP_CONN_NEW = 0,   /* waiting for Auth */
  IMP_CONN_AUTHING,   /* imp_auth_check running on a thread; frames are held */
  IMP_CONN_AUTHED,
  IMP_CONN_CLOSING,   /* detached from the gateway, flushing its last frames */
  IMP_CONN_CLOSED,
} ImpConnState;

typedef struct {
  const char *name;
  /* Queue one Envelope (unframed protobuf bytes). FALSE: the connection is a slow reader
   * (output above max_outbuf) or broken; the caller closes it. */
  gboolean (*send) (ImpConnection *conn, const guint8 *data, gsize len);
  /* Stop reading; close the transport once queued output is flushed (flush) or now. */
  void     (*close) (ImpConnection *conn, gboolean flush);
  /* Release the transport part (the struct itself is freed by imp_connection_unref). */
  void     (*finalize) (ImpConnection *conn);
} ImpTransportVTable;

/* What a connection holds back in the gateway's coalesced-ack list. */
enum {
  IMP_ACK_HELD_USER  = 1 << 0,  /* an AckRecord of the user's stream (ack_seq) */
  IMP_ACK_HELD_GROUP = 1 << 1,  /* a group AckRecord (group_ack_group, group_ack_seq) */
};

/* An unacknowledged push waiting on the retransmit wheel. */
typedef struct {
  ImpRetransmitEntry entry;      /* first: the wheel hands us this pointer */
  GList              conn_link;  /* in conn->unacked, data = this */
  ImpConnection     *conn;       /* Borrowed: the connection frees its pending pushes */
  gint64             group_id;   /* 0: the user's stream (Ack); else that group's (GroupAck) */
  gint64             seq;
  GBytes            *frame;      /* Owned (shared by every connection the push went to) */
  guint              interval_ms;
  guint              tries;
} ImpPendingPush;

struct _ImpConnection {
  const ImpTransportVTable *vt;
  /* Borrowed; NULL once detached */
  ImpGateway *gw;

  guint      ref_count;
  guint8     state;         /* ImpConnState */
  guint8     logged_bad;    /* bad input logged once per connection */
  guint8     ack_dirty;     /* IMP_ACK_HELD_* bits: in the gateway's ack_dirty list if any */
  guint64    id;
  gint64     user_id;
  gint64     last_activity_us;
  GList      idle_link;     /* in the gateway's activity-ordered list, data = this */
  GList      user_link;     /* in the user's connection list, data = this */
  GList      ack_link;      /* in the gateway's coalesced-ack list, data = this */
  /* Owned */
  char      *peer;          /* "ip:port" for logs and the per-IP limit */
  char      *ip;            /* per-IP limit key */
  char      *device_id;
  char      *token_id;
  GQueue    *held;          /* GBytes frames that came during AUTHING; lazy */
  GQueue     unacked;       /* ImpPendingPush in send order */
  gint64     ack_seq;       /* highest Ack received */
  gint64     ack_sent_us;   /* when an AckRecord was last published */
  gint64     group_ack_sent_us; /* when a group AckRecord was last published */
  gint64     group_ack_group;   /* the group of the GroupAck held back (IMP_ACK_HELD_GROUP) */
  gint64     group_ack_seq;     /*   and its position */
  gint64     typing_peer;   /* Typing rate limit: the last peer told, when, and how many */
  gint64     typing_us;     /*   frames in the current one-second window */
  gint64     typing_window_us;
  guint      typing_count;
};

/* Initialises the generic part; the transport struct embeds ImpConnection first. */
void           imp_connection_init (ImpConnection *conn, const ImpTransportVTable *vt,
                                    const char *peer, const char *ip);
ImpConnection *imp_connection_ref (ImpConnection *conn);
void           imp_connection_unref (ImpConnection *conn);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpConnection, imp_connection_unref)

G_END_DECLS

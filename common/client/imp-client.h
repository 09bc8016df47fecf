/* imp-client.h: the client engine's facade, shared by implus-tty and the GTK client.
 *
 * Headless and GTK-free: login over HTTP, one gateway connection (TCP or WebSocket) kept up with
 * backoff, the sync engine (watermark, gap pulls, cumulative acks) over the ImpMirror, and the
 * outbox (sends survive restarts and are retried with the same client_msg_id).
 *
 * Signals:
 *   "state-changed"    (guint ImpClientState)
 *   "message-received" (ImpMessage *): a newly applied message, in seq order; own messages sent
 *                      from this device are reported by "message-sent" instead
 *   "message-sent"     (const char *client_msg_id, gint64 msg_id, gint64 seq)
 *   "message-failed"   (const char *client_msg_id, gint code, const char *reason)
 *   "kicked"           (gint KickReason, const char *message)
 *   "disconnected"     (const char *reason)
 *   "reconnecting"     (guint delay_ms)
 *   "error"            (GError *)
 *   "message-state-changed" (const char *conversation_id, gint64 up_to_seq, guint ImpMessageState):
 *                      own messages of that conversation up to that seq are now delivered or read
 *   "conversation-updated"  (const char *conversation_id): its read position (so unread) moved
 *   "typing"           (gint64 from_user_id)
 *
 * Group conversations are streams of their own (imp-client-group.c): message-received carries
 * them too, with group_id set and seq = the conversation seq.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include "imp-client-connection.h"
#include "imp-message.h"
#include "imp-mirror.h"

G_BEGIN_DECLS

typedef enum {
  IMP_CLIENT_OFFLINE,
  IMP_CLIENT_CONNECTING,
  IMP_CLIENT_ONLINE,
} ImpClientState;

typedef struct {
  const char   *host;          /* default 127.0.0.1 */
  guint16       user_port;     /* 0 = 8090 */
  guint16       message_port;  /* 0 = 8100 */
  guint16       tcp_port;      /* 0 = the login answer's gateway, else 8900 */
  guint16       ws_port;       /* 0 = the login answer's gateway, else 8902 */
  ImpTransport  transport;
  const char   *data_dir;      /* required */
  const char   *device_id;     /* NULL = generated once per data dir and kept */
} ImpClientOptions;

#define IMP_CLIENT_MAX_IN_FLIGHT 256
#define IMP_CLIENT_RESEND_MS     5000
#define IMP_CLIENT_PULL_PAGE     500
#define IMP_CLIENT_MAX_CONTENT   (64 * 1024)

#define IMP_TYPE_CLIENT (imp_client_get_type ())
G_DECLARE_FINAL_TYPE (ImpClient, imp_client, IMP, CLIENT, GObject)

ImpClient     *imp_client_new (const ImpClientOptions *options, GError **error);
/* Picks up the last session of the data dir (token, user) and connects. FALSE if none. */
gboolean       imp_client_restore (ImpClient *self);

ImpClientState imp_client_get_state (ImpClient *self);
const char    *imp_client_state_name (ImpClientState state);
gint64         imp_client_get_user_id (ImpClient *self);      /* 0 when logged out */
const char    *imp_client_get_username (ImpClient *self);
const char    *imp_client_get_device_id (ImpClient *self);
ImpMirror     *imp_client_get_mirror (ImpClient *self);       /* NULL when logged out */
gint64         imp_client_get_watermark (ImpClient *self);
gint64         imp_client_get_outbox_pending (ImpClient *self);

void     imp_client_register_async  (ImpClient *self, const char *username, const char *password,
                                     const char *nickname, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
gint64   imp_client_register_finish (ImpClient *self, GAsyncResult *result, GError **error);
/* On success the session is saved (0600) and the engine connects. */
void     imp_client_login_async     (ImpClient *self, const char *username, const char *password,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
gint64   imp_client_login_finish    (ImpClient *self, GAsyncResult *result, GError **error);
/* Revokes the token on the server (best effort) and forgets the session locally. */
void     imp_client_logout_async    (ImpClient *self, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
gboolean imp_client_logout_finish   (ImpClient *self, GAsyncResult *result, GError **error);
/* username -> user id, from the mirror's cache or GET /users/lookup. */
void     imp_client_lookup_async    (ImpClient *self, const char *username, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
gint64   imp_client_lookup_finish   (ImpClient *self, GAsyncResult *result, GError **error);

/* Queues a message in the outbox; returns the new client_msg_id. */
char    *imp_client_send (ImpClient *self, gint64 to_user_id, const char *content, GError **error);

/* Queues a group message (ChatUp.group_id); the receipt's seq is the conversation seq. */
char    *imp_client_send_group (ImpClient *self, gint64 group_id, const char *content, GError **error);
/* Watermark of one group conversation ("group_<id>"); 0 if unknown. */
gint64   imp_client_get_group_watermark (ImpClient *self, const char *conversation_id);
/* Pulls a group conversation from its watermark (also what a GroupNotice does). */
void     imp_client_pull_group (ImpClient *self, const char *conversation_id);

/* Moves the read position (locally at once): a ReadMark frame when online, else POST
 * /conversations/read (and the frame again at the next connect). FALSE if it did not move. */
gboolean imp_client_mark_read (ImpClient *self, const char *conversation_id, gint64 seq);
/* Sends Typing to a peer, at most once per 3 s per peer; FALSE if skipped or offline. */
gboolean imp_client_send_typing (ImpClient *self, gint64 to_user_id);

/* Social calls of the user service (friends, blacklist, groups), table-driven. args: the JSON
 * body for POST calls, the query members (ints or strings) for GET calls; may be NULL.
 * The answer is the server's JSON object (a new reference). */
typedef enum {
  IMP_SOCIAL_FRIEND_REQUEST,   /* POST /friends/request        {user_id} */
  IMP_SOCIAL_FRIEND_RESPOND,   /* POST /friends/respond        {user_id, accept} */
  IMP_SOCIAL_FRIEND_REMOVE,    /* POST /friends/remove         {user_id} */
  IMP_SOCIAL_FRIENDS,          /* GET  /friends */
  IMP_SOCIAL_BLOCK,            /* POST /blacklist/add          {user_id} */
  IMP_SOCIAL_UNBLOCK,          /* POST /blacklist/remove       {user_id} */
  IMP_SOCIAL_BLACKLIST,        /* GET  /blacklist */
  IMP_SOCIAL_GROUP_CREATE,     /* POST /groups                 {name, members} */
  IMP_SOCIAL_GROUP_INFO,       /* GET  /groups/info            group_id */
  IMP_SOCIAL_GROUP_MEMBERS,    /* GET  /groups/members         group_id, after, limit */
  IMP_SOCIAL_GROUP_ADD,        /* POST /groups/members/add     {group_id, user_ids} */
  IMP_SOCIAL_GROUP_REMOVE,     /* POST /groups/members/remove  {group_id, user_id} */
  IMP_SOCIAL_GROUP_LEAVE,      /* POST /groups/leave           {group_id} */
  IMP_SOCIAL_GROUP_ROLE,       /* POST /groups/role            {group_id, user_id, role} */
  IMP_SOCIAL_GROUP_TRANSFER,   /* POST /groups/transfer        {group_id, user_id} */
  IMP_SOCIAL_GROUP_MUTE,       /* POST /groups/mute            {group_id, user_id, until_ms} */
  IMP_SOCIAL_GROUP_DISSOLVE,   /* POST /groups/dissolve        {group_id} */
  IMP_SOCIAL_GROUPS,           /* GET  /groups */
} ImpSocialCall;

const char *imp_social_call_path (ImpSocialCall call);
void        imp_client_social_async  (ImpClient *self, ImpSocialCall call, JsonObject *args,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
JsonObject *imp_client_social_finish (ImpClient *self, GAsyncResult *result, GError **error);

/* Pulls the stream until caught up; returns the watermark. */
void     imp_client_sync_async      (ImpClient *self, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
gint64   imp_client_sync_finish     (ImpClient *self, GAsyncResult *result, GError **error);

/* GET /conversations: the "conversations" array. */
void       imp_client_conversations_async  (ImpClient *self, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);
JsonArray *imp_client_conversations_finish (ImpClient *self, GAsyncResult *result, GError **error);
/* POST /conversations/read; the answer object. */
void        imp_client_mark_read_async  (ImpClient *self, const char *conversation_id, gint64 seq,
                                         GCancellable *cancellable, GAsyncReadyCallback callback,
                                         gpointer user_data);
JsonObject *imp_client_mark_read_finish (ImpClient *self, GAsyncResult *result, GError **error);

/* Older history of one conversation from the server (GET /messages/history, or /groups/sync for
 * "group_<id>"): the page below before_seq (0 = the newest), at most limit. Messages the mirror
 * lacks at or below their stream's watermark are stored; returns how many were added (0: the
 * mirror already had them, the normal case since the engine pulls whole streams). */
void     imp_client_history_async  (ImpClient *self, const char *conversation_id, gint64 before_seq,
                                    guint limit, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
gint64   imp_client_history_finish (ImpClient *self, GAsyncResult *result, GError **error);

/* Where the session token is kept, outside the engine's session file (the GTK app: the keyring
 * through libsecret). load returns a new string or NULL (error set when the store failed, not
 * when it simply holds nothing); save returns FALSE when the store is unavailable, and the engine
 * then keeps the token in the 0600 session file as before. Called on the engine's thread, at
 * login, restore and logout; a store may block briefly. Without a store (the tty) the file is
 * used. The username is the session's; the store adds whatever else keys it (the server). */
typedef struct {
  gboolean (*save)   (const char *username, const char *token, gpointer user_data, GError **error);
  char    *(*load)   (const char *username, gpointer user_data, GError **error);
  void     (*forget) (const char *username, gpointer user_data);
} ImpTokenStore;

void        imp_client_set_token_store (ImpClient *self, const ImpTokenStore *store,
                                        gpointer user_data, GDestroyNotify destroy);
/* Where the current session's token lives: "store", "file", or NULL when signed out. */
const char *imp_client_get_token_location (ImpClient *self);

/* Closes the connection and stops reconnecting (state offline); the session stays saved. */
void     imp_client_shutdown (ImpClient *self);

G_END_DECLS

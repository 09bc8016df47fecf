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

/* Closes the connection and stops reconnecting (state offline); the session stays saved. */
void     imp_client_shutdown (ImpClient *self);

G_END_DECLS

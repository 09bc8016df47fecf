/* imp-client-connection.h: one connection to a gateway, TCP (length-prefixed frames) or
 * WebSocket (one binary frame per Envelope). Opening sends Auth{token, device_id} first and
 * completes on AuthOk; then it keeps heartbeats at the server's interval, closes itself when the
 * server is silent past its idle timeout, and hands every other frame to "frame".
 *
 * Signals (only after a successful open):
 *   "frame"  (gpointer: const ImpEnvelope *, valid during the emission)
 *   "closed" (GError *: why); emitted once, not for imp_client_connection_close().
 */
#pragma once

#include <gio/gio.h>
#include "imp-wire.h"

G_BEGIN_DECLS

typedef enum {
  IMP_TRANSPORT_TCP,
  IMP_TRANSPORT_WS,
} ImpTransport;

#define IMP_CLIENT_CONNECTION_MAX_FRAME (1024 * 1024)

#define IMP_TYPE_CLIENT_CONNECTION (imp_client_connection_get_type ())
G_DECLARE_FINAL_TYPE (ImpClientConnection, imp_client_connection, IMP, CLIENT_CONNECTION, GObject)

/* address: "host:port" for TCP, a ws:// URL for WebSocket. */
ImpClientConnection *imp_client_connection_new (ImpTransport transport, const char *address);

void     imp_client_connection_open_async  (ImpClientConnection  *self,
                                            const char           *token,
                                            const char           *device_id,
                                            GCancellable         *cancellable,
                                            GAsyncReadyCallback   callback,
                                            gpointer              user_data);
/* Errors: IMP_ERROR_UNAVAILABLE (cannot connect, closed, timeout), or the code of the server's
 * Error frame (AUTH_FAILED, TOKEN_EXPIRED, TOKEN_REVOKED...), or of a Kick during auth. */
gboolean imp_client_connection_open_finish (ImpClientConnection  *self,
                                            GAsyncResult         *result,
                                            GError              **error);

gint64   imp_client_connection_get_user_id (ImpClientConnection *self);
guint    imp_client_connection_get_heartbeat_ms (ImpClientConnection *self);
gboolean imp_client_connection_is_open (ImpClientConnection *self);

/* Queues env (its frame_id is set here); FALSE if the connection is not open. */
gboolean imp_client_connection_send (ImpClientConnection *self, ImpEnvelope *env);
/* Bytes queued but not yet written (TCP), frames queued (WS: what we counted ourselves). */
gsize    imp_client_connection_get_queued (ImpClientConnection *self);
void     imp_client_connection_close (ImpClientConnection *self);

G_END_DECLS

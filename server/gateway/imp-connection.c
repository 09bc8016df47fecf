/* imp-connection.c: the transport-independent part of a client connection. */
#include "imp-connection.h"

void
imp_connection_init (ImpConnection *conn, const ImpTransportVTable *vt, const char *peer,
                     const char *ip)
{
  conn->vt = vt;
  conn->ref_count = 1;  /* the transport's own ref, dropped when the transport is torn down */
  conn->state = IMP_CONN_NEW;
  conn->peer = g_strdup (peer != NULL ? peer : "?");
  conn->ip = g_strdup (ip != NULL ? ip : "?");
  conn->idle_link.data = conn;
  conn->user_link.data = conn;
  conn->ack_link.data = conn;
  g_queue_init (&conn->unacked);
}

ImpConnection *
imp_connection_ref (ImpConnection *conn)
{
  g_assert (conn->ref_count > 0);
  conn->ref_count++;
  return conn;
}

void
imp_connection_unref (ImpConnection *conn)
{
  if (conn == NULL)
    return;
  g_assert (conn->ref_count > 0);
  if (--conn->ref_count > 0)
    return;

  /* Detached by now: pending pushes were freed with the gateway's tables. */
  g_assert (conn->unacked.length == 0);
  if (conn->held != NULL)
    g_queue_free_full (conn->held, (GDestroyNotify) g_bytes_unref);
  conn->vt->finalize (conn);
  g_free (conn->peer);
  g_free (conn->ip);
  g_free (conn->device_id);
  g_free (conn->token_id);
  g_free (conn);
}

/* imp-message-notify.c: ephemeral notices from the message role (read updates, delivered marks)
 * and the stream-numbering translation they need. See imp-message-notify.h. */
#include "message/imp-message-notify.h"
#include "imp-convid.h"
#include "imp-error.h"

#include <string.h>

#define MAX_CONVERSATION_ID 64
#define SEQ_LOOKUP_PAGE     64   /* rows per history page when translating a message's seq */
#define SEQ_LOOKUP_PAGES    4    /* so at most 256 rows per translation */

void
imp_message_publish_gateway (ImpBus *bus, const char *gateway_id, const char *key,
                             const Implus__Bus__GatewayRecord *record)
{
  g_autofree char *topic = imp_bus_push_topic (gateway_id);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  gsize size = implus__bus__gateway_record__get_packed_size (record);
  guint8 *buf = g_malloc (MAX (size, 1));

  implus__bus__gateway_record__pack (record, buf);
  bytes = g_bytes_new_take (buf, size);
  if (!imp_bus_publish (bus, topic, key, bytes, &error))
    g_warning ("message role: publishing to %s failed: %s (the client's pull covers it)",
               topic, error->message);
}

void
imp_message_publish_ephemeral (ImpBus *bus, ImpCache *cache, gint64 user_id,
                               const char *origin_gateway_id, guint64 exclude_conn_id,
                               const Implus__Envelope *env)
{
  Implus__Bus__GatewayEphemeral eph = IMPLUS__BUS__GATEWAY_EPHEMERAL__INIT;
  Implus__Bus__GatewayRecord record = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  g_auto(GStrv) gws = imp_cache_presence_gateways (cache, user_id);
  char key[24];

  /* Keyed by user, like pushes: a user's ephemeral frames stay in order on a gateway's topic. */
  g_snprintf (key, sizeof key, "%" G_GINT64_FORMAT, user_id);
  eph.user_id = user_id;
  eph.envelope = (Implus__Envelope *) env;
  record.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_EPHEMERAL;
  record.ephemeral = &eph;
  for (guint i = 0; gws[i] != NULL; i++)
    {
      /* A connection id means something on its own gateway only. */
      eph.exclude_conn_id = g_strcmp0 (gws[i], origin_gateway_id) == 0 ? exclude_conn_id : 0;
      imp_message_publish_gateway (bus, gws[i], key, &record);
    }
}

gboolean
imp_message_check_conversation (const char *conv_id, gint64 user_id, GError **error)
{
  ImpConvKind kind;
  gint64 a, b;

  if (conv_id == NULL || conv_id[0] == '\0')
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "conversation_id is required");
      return FALSE;
    }
  if (strlen (conv_id) > MAX_CONVERSATION_ID || !imp_convid_parse (conv_id, &kind, &a, &b, NULL))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "conversation_id is not valid");
      return FALSE;
    }
  /* Group conversations check membership in the store; a private one names its two users. */
  if (kind == IMP_CONV_PRIVATE && !imp_convid_private_has (conv_id, user_id))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN, "not a conversation of yours");
      return FALSE;
    }
  return TRUE;
}

gboolean
imp_message_seq_in_stream (ImpStore *store, gint64 user_id, const char *conv_id, gint64 msg_id,
                           gint64 *out_seq)
{
  g_autoptr(GError) lookup_error = NULL;
  gboolean found = FALSE;
  gint64 before = 0;

  /* By primary keys: one short query (the history scan below read up to 256 rows with their
   * content, per sender told, and was the message role's largest MariaDB load after sends).
   * A store error ends it here: the scan would only fail again. */
  if (!imp_store_message_seq_of (store, user_id, msg_id, out_seq, &found, &lookup_error))
    {
      g_message ("message role: seq lookup for user %" G_GINT64_FORMAT " failed: %s", user_id,
                 lookup_error->message);
      return FALSE;
    }
  if (found)
    return TRUE;
  /* Both participants' rows of a message share its msg_id. The message asked about is almost
   * always among the newest (it was just read or just delivered), so a few pages suffice; an
   * older one is not worth a longer scan (the client then keeps its earlier mark). */
  for (guint page = 0; page < SEQ_LOOKUP_PAGES; page++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) rows = imp_store_conversation_history (store, user_id, conv_id, before,
                                                                  SEQ_LOOKUP_PAGE, &error);

      if (rows == NULL)
        {
          g_message ("message role: history of user %" G_GINT64_FORMAT " unavailable: %s",
                     user_id, error->message);
          return FALSE;
        }
      for (guint i = 0; i < rows->len; i++)
        {
          const ImpMessageRecord *m = g_ptr_array_index (rows, i);

          if (m->msg_id == msg_id)
            {
              *out_seq = m->seq;
              return TRUE;
            }
          before = m->seq;
        }
      if (rows->len < SEQ_LOOKUP_PAGE)
        break;
    }
  return FALSE;
}

static void
publish_read_update (ImpBus *bus, ImpCache *cache, gint64 to_user, const char *conv_id,
                     gint64 reader, gint64 read_seq, gint64 unread, const char *origin_gw,
                     guint64 exclude_conn_id)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__ReadUpdate update = IMPLUS__READ_UPDATE__INIT;

  update.conversation_id = (char *) conv_id;
  update.user_id = reader;
  update.read_seq = read_seq;
  update.unread = unread;
  env.body_case = IMPLUS__ENVELOPE__BODY_READ_UPDATE;
  env.read_update = &update;
  imp_message_publish_ephemeral (bus, cache, to_user, origin_gw, exclude_conn_id, &env);
}

/* The peer's view of "read up to read_seq": the last message of the conversation the reader has
 * read (in the reader's stream), found again in the peer's stream by its msg_id. */
static void
tell_peer (ImpStore *store, ImpBus *bus, ImpCache *cache, gint64 reader, const char *conv_id,
           gint64 read_seq)
{
  gint64 peer = imp_convid_private_peer (conv_id, reader);
  g_autoptr(GPtrArray) last = NULL;
  g_autoptr(GError) error = NULL;
  const ImpMessageRecord *m;
  gint64 peer_seq = 0;

  if (peer <= 0 || peer == reader || read_seq <= 0)
    return;
  last = imp_store_conversation_history (store, reader, conv_id, read_seq + 1, 1, &error);
  if (last == NULL || last->len == 0)
    return;
  m = g_ptr_array_index (last, 0);
  if (!imp_message_seq_in_stream (store, peer, conv_id, m->msg_id, &peer_seq))
    return;
  publish_read_update (bus, cache, peer, conv_id, reader, peer_seq, 0, NULL, 0);
}

gboolean
imp_message_mark_read (ImpStore *store, ImpBus *bus, ImpCache *cache, gint64 user_id,
                       const char *conv_id, gint64 seq, const char *origin_gw,
                       guint64 exclude_conn_id, gint64 *out_read_seq, gint64 *out_unread,
                       GError **error)
{
  g_autoptr(GPtrArray) convs = NULL;
  gint64 read_seq = seq, unread = 0;
  gint64 group_id = 0;
  ImpConvKind kind;
  gint64 b;

  if (!imp_message_check_conversation (conv_id, user_id, error))
    return FALSE;
  if (seq < 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "seq must not be negative");
      return FALSE;
    }
  if (!imp_store_conversation_mark_read (store, user_id, conv_id, seq, error))
    return FALSE;
  /* The position as stored (it never moves back; groups clamp it to the member's window) and
   * the unread count it leaves. */
  convs = imp_store_conversations_list (store, user_id, error);
  if (convs == NULL)
    return FALSE;
  for (guint i = 0; i < convs->len; i++)
    {
      ImpConversationRecord *conv = g_ptr_array_index (convs, i);

      if (!g_str_equal (conv->conversation_id, conv_id))
        continue;
      read_seq = conv->read_seq;
      unread = conv->unread;
      break;
    }
  if (out_read_seq != NULL)
    *out_read_seq = read_seq;
  if (out_unread != NULL)
    *out_unread = unread;

  /* Notices are best effort: the position is stored, and every device reads it from
   * GET /conversations on its next sync. */
  if (bus == NULL || cache == NULL)
    return TRUE;
  publish_read_update (bus, cache, user_id, conv_id, user_id, read_seq, unread, origin_gw,
                       exclude_conn_id);
  if (imp_convid_parse (conv_id, &kind, &group_id, &b, NULL) && kind == IMP_CONV_PRIVATE)
    tell_peer (store, bus, cache, user_id, conv_id, read_seq);
  return TRUE;
}

typedef struct {
  gint64      sender_id;
  const char *conversation_id;   /* borrowed from the pulled rows */
  gint64      msg_id;            /* the last delivered message of that sender there */
} DeliveredTo;

void
imp_message_notify_delivered (ImpStore *store, ImpBus *bus, ImpCache *cache, gint64 recipient,
                              gint64 after_seq, gint64 up_to_seq)
{
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) targets = NULL;
  gint64 from = MAX (after_seq, up_to_seq - IMP_DELIVERED_LOOKBACK);

  if (up_to_seq <= from)
    return;
  rows = imp_store_stream_pull (store, recipient, from, (guint) (up_to_seq - from), &error);
  if (rows == NULL)
    {
      g_message ("message role: delivered notices of user %" G_GINT64_FORMAT " skipped: %s",
                 recipient, error->message);
      return;
    }
  /* Per (sender, conversation), the newest message of the range: Delivered is cumulative. */
  targets = g_array_new (FALSE, FALSE, sizeof (DeliveredTo));
  for (guint i = 0; i < rows->len; i++)
    {
      const ImpMessageRecord *m = g_ptr_array_index (rows, i);
      guint j;

      if (m->seq > up_to_seq || m->sender_id == recipient || m->group_id != 0)
        continue;
      for (j = 0; j < targets->len; j++)
        {
          DeliveredTo *t = &g_array_index (targets, DeliveredTo, j);

          if (t->sender_id == m->sender_id && g_str_equal (t->conversation_id, m->conversation_id))
            {
              t->msg_id = m->msg_id;
              break;
            }
        }
      if (j == targets->len && targets->len < IMP_DELIVERED_MAX_SENDERS)
        {
          DeliveredTo t = { m->sender_id, m->conversation_id, m->msg_id };

          g_array_append_val (targets, t);
        }
    }

  for (guint j = 0; j < targets->len; j++)
    {
      const DeliveredTo *t = &g_array_index (targets, DeliveredTo, j);
      Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
      Implus__Delivered delivered = IMPLUS__DELIVERED__INIT;
      gint64 sender_seq;

      /* The sender counts in its own stream: find the same message there. */
      if (!imp_message_seq_in_stream (store, t->sender_id, t->conversation_id, t->msg_id,
                                      &sender_seq))
        continue;
      delivered.conversation_id = (char *) t->conversation_id;
      delivered.up_to_seq = sender_seq;
      delivered.by_user_id = recipient;
      env.body_case = IMPLUS__ENVELOPE__BODY_DELIVERED;
      env.delivered = &delivered;
      imp_message_publish_ephemeral (bus, cache, t->sender_id, NULL, 0, &env);
    }
}

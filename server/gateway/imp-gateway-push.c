/* imp-gateway-push.c: the gateway's push topic (receipts, pushes, kicks), retransmission of
 * unacknowledged pushes on a timing wheel, and client ACKs to the ack topic. */
#include "imp-gateway-private.h"
#include "imp-convid.h"
#include "imp-time.h"

/* At most one AckRecord per connection per this long: each becomes a store transaction, and a
 * busy receiver ACKs every read wakeup (50 ms made ~1,500 transactions/s at 5,000 msg/s over
 * 100 receivers; see docs/benchmarks.md). A closing connection flushes its held record. */
#define ACK_COALESCE_MS     500
#define RETRANSMIT_CAP_MS   60000
#define PUSH_MAX_BATCH      256

/* ---- pending pushes ---- */

static void
pending_free (ImpGateway *self, ImpPendingPush *p)
{
  imp_retransmit_remove (self->wheel, &p->entry);
  g_queue_unlink (&p->conn->unacked, &p->conn_link);
  g_bytes_unref (p->frame);
  g_free (p);
}

static void
on_retransmit (ImpRetransmitEntry *entry, gpointer user_data)
{
  ImpGateway *self = user_data;
  ImpPendingPush *p = (ImpPendingPush *) entry;

  if (p->tries >= (guint) self->config->retransmit_max)
    {
      /* Given up: the client's pull from its watermark covers this push. */
      pending_free (self, p);
      return;
    }
  p->tries++;
  /* On failure the connection is closed and p already freed with it. */
  if (!imp_gateway_send_bytes (p->conn, p->frame))
    return;
  p->interval_ms = MIN (p->interval_ms * 2, RETRANSMIT_CAP_MS);
  imp_retransmit_add (self->wheel, &p->entry, p->interval_ms);
}

/* ---- ACKs ---- */

static void
publish_ack_record (ImpGateway *self, ImpConnection *conn, const char *conversation_id,
                    gint64 up_to_seq)
{
  Implus__Bus__AckRecord rec = IMPLUS__BUS__ACK_RECORD__INIT;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) value = NULL;
  char key[24];
  gsize size;
  guint8 *buf;

  rec.user_id = conn->user_id;
  rec.device_id = conn->device_id;
  rec.up_to_seq = up_to_seq;
  rec.conversation_id = (char *) (conversation_id != NULL ? conversation_id : "");
  size = implus__bus__ack_record__get_packed_size (&rec);
  buf = g_malloc (size > 0 ? size : 1);
  implus__bus__ack_record__pack (&rec, buf);
  value = g_bytes_new_take (buf, size);
  g_snprintf (key, sizeof key, "%" G_GINT64_FORMAT, conn->user_id);

  /* Delivery state only: a lost record is healed by the next ACK. */
  if (!imp_bus_publish (self->bus, IMP_TOPIC_MESSAGE_ACKS, key, value, &error))
    g_warning ("gateway: ack publish failed: %s", error->message);
}

static void
publish_ack (ImpGateway *self, ImpConnection *conn)
{
  conn->ack_sent_us = imp_mono_us ();
  publish_ack_record (self, conn, NULL, conn->ack_seq);
}

static void
publish_group_ack (ImpGateway *self, ImpConnection *conn)
{
  g_autofree char *conversation_id = imp_convid_group (conn->group_ack_group);

  conn->group_ack_sent_us = imp_mono_us ();
  publish_ack_record (self, conn, conversation_id, conn->group_ack_seq);
}

/* Publishes and clears what conn holds back. */
static void
flush_held (ImpGateway *self, ImpConnection *conn)
{
  guint8 held = conn->ack_dirty;

  if (held == 0)
    return;
  g_queue_unlink (&self->ack_dirty, &conn->ack_link);
  conn->ack_dirty = 0;
  if (held & IMP_ACK_HELD_USER)
    publish_ack (self, conn);
  if (held & IMP_ACK_HELD_GROUP)
    publish_group_ack (self, conn);
}

static gboolean
on_ack_timer (gpointer data)
{
  ImpGateway *self = data;

  while (self->ack_dirty.head != NULL)
    flush_held (self, self->ack_dirty.head->data);
  g_clear_pointer (&self->ack_timer, g_source_unref);
  return G_SOURCE_REMOVE;
}

/* Holds back what conn->ack_dirty says until the shared timer (one per gateway, not per
 * connection) publishes every held record. */
static void
hold (ImpGateway *self, ImpConnection *conn, guint8 what)
{
  if (conn->ack_dirty == 0)
    g_queue_push_tail_link (&self->ack_dirty, &conn->ack_link);
  conn->ack_dirty |= what;
  if (self->ack_timer == NULL)
    {
      self->ack_timer = g_timeout_source_new (ACK_COALESCE_MS);
      g_source_set_callback (self->ack_timer, on_ack_timer, self, NULL);
      g_source_set_static_name (self->ack_timer, "imp-gateway-acks");
      g_source_attach (self->ack_timer, self->context);
    }
}

void
imp_gateway_handle_group_ack_seq (ImpGateway *self, ImpConnection *conn, gint64 group_id,
                                  const char *conversation_id, gint64 up_to_seq)
{
  GList *l = conn->unacked.head;
  gboolean freed = FALSE;

  while (l != NULL)
    {
      ImpPendingPush *p = l->data;

      l = l->next;
      if (p->group_id == group_id && p->seq <= up_to_seq)
        {
          pending_free (self, p);
          freed = TRUE;
        }
    }
  /* Informational for the message role (it keeps no per-member group delivery), and one per
   * member per group message would be O(members) bus records: only ACKs that settled something,
   * coalesced like Ack (at most one record per connection per ACK_COALESCE_MS, the latest
   * position held back meanwhile). Another group's held record goes out first. */
  if (!freed)
    return;
  if ((conn->ack_dirty & IMP_ACK_HELD_GROUP) && conn->group_ack_group != group_id)
    {
      publish_group_ack (self, conn);
      conn->ack_dirty &= ~IMP_ACK_HELD_GROUP;
      if (conn->ack_dirty == 0)
        g_queue_unlink (&self->ack_dirty, &conn->ack_link);
    }
  else if (conn->ack_dirty & IMP_ACK_HELD_GROUP)
    {
      conn->group_ack_seq = MAX (conn->group_ack_seq, up_to_seq);
      return;
    }
  conn->group_ack_group = group_id;
  conn->group_ack_seq = up_to_seq;
  if (imp_mono_us () - conn->group_ack_sent_us >= ACK_COALESCE_MS * 1000)
    publish_group_ack (self, conn);
  else
    hold (self, conn, IMP_ACK_HELD_GROUP);
}

void
imp_gateway_handle_ack (ImpGateway *self, ImpConnection *conn, gint64 up_to_seq)
{
  GList *l = conn->unacked.head;
  gint64 now;

  while (l != NULL)
    {
      ImpPendingPush *p = l->data;

      l = l->next;
      if (p->group_id == 0 && p->seq <= up_to_seq)
        pending_free (self, p);
    }

  if (up_to_seq <= conn->ack_seq)
    return;  /* a repeat: nothing new to record */
  conn->ack_seq = up_to_seq;
  if (conn->ack_dirty & IMP_ACK_HELD_USER)
    return;

  now = imp_mono_us ();
  if (now - conn->ack_sent_us >= ACK_COALESCE_MS * 1000)
    {
      publish_ack (self, conn);
      return;
    }
  hold (self, conn, IMP_ACK_HELD_USER);
}

void
imp_gateway_push_detach (ImpGateway *self, ImpConnection *conn)
{
  while (conn->unacked.head != NULL)
    pending_free (self, conn->unacked.head->data);
  flush_held (self, conn);
}

/* ---- records from push.<gateway id> ---- */

static GPtrArray *
user_conns_snapshot (ImpGateway *self, gint64 user_id)
{
  GQueue *q = imp_gateway_user_conns (self, user_id);
  GPtrArray *arr = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_connection_unref);

  /* A copy with refs: sending may close (detach) any of them. */
  if (q != NULL)
    for (GList *l = q->head; l != NULL; l = l->next)
      g_ptr_array_add (arr, imp_connection_ref (l->data));
  return arr;
}

gboolean
imp_gateway_push_send (ImpGateway *self, ImpConnection *conn, GBytes *payload, gint64 group_id,
                       gint64 seq)
{
  ImpPendingPush *p;

  if (self->config->max_unacked > 0 && conn->unacked.length >= (guint64) self->config->max_unacked)
    {
      g_message ("gateway: %s (conn %" G_GUINT64_FORMAT ") has %u unacknowledged pushes, closing",
                 conn->peer, conn->id, conn->unacked.length);
      imp_gateway_close (conn, FALSE);
      return FALSE;
    }
  if (!imp_gateway_send_bytes (conn, payload))
    return FALSE;
  if (self->config->retransmit_max <= 0 || self->config->retransmit_ms <= 0)
    return TRUE;

  p = g_new0 (ImpPendingPush, 1);
  p->conn = conn;
  p->conn_link.data = p;
  p->group_id = group_id;
  p->seq = seq;
  p->frame = g_bytes_ref (payload);
  p->interval_ms = (guint) MIN (self->config->retransmit_ms, RETRANSMIT_CAP_MS);
  g_queue_push_tail_link (&conn->unacked, &p->conn_link);
  imp_retransmit_add (self->wheel, &p->entry, p->interval_ms);
  return TRUE;
}

static void
deliver_push (ImpGateway *self, const Implus__Bus__GatewayPush *gp)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Push push = IMPLUS__PUSH__INIT;
  g_autoptr(GPtrArray) conns = NULL;
  g_autoptr(GBytes) payload = NULL;

  if (gp->message == NULL)
    return;
  conns = user_conns_snapshot (self, gp->user_id);
  if (conns->len == 0)
    return;

  /* Encoded once, shared by every device and every retransmission. */
  push.message = gp->message;
  env.body_case = IMPLUS__ENVELOPE__BODY_PUSH;
  env.push = &push;
  payload = imp_wire_encode (&env, FALSE);

  for (guint i = 0; i < conns->len; i++)
    {
      ImpConnection *conn = g_ptr_array_index (conns, i);

      if (conn->id == gp->exclude_conn_id || conn->state != IMP_CONN_AUTHED)
        continue;
      imp_gateway_push_send (self, conn, payload, 0, gp->message->seq);
    }
}

static void
deliver_receipt (ImpGateway *self, const Implus__Bus__GatewayReceipt *gr)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  guint64 id = gr->conn_id;
  ImpConnection *conn;

  if (gr->receipt == NULL)
    return;
  /* Gone: drop it; the client's outbox resends and gets the original receipt. */
  conn = g_hash_table_lookup (self->conns, &id);
  if (conn == NULL || conn->state != IMP_CONN_AUTHED)
    return;
  env.body_case = IMPLUS__ENVELOPE__BODY_RECEIPT;
  env.receipt = gr->receipt;
  imp_gateway_send (conn, &env);
}

static void
deliver_kick (ImpGateway *self, const Implus__Bus__GatewayKick *gk)
{
  g_autoptr(GPtrArray) conns = user_conns_snapshot (self, gk->user_id);
  const char *token_id = gk->token_id;
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Kick kick = IMPLUS__KICK__INIT;

  kick.reason = gk->reason;
  kick.message = gk->message != NULL ? gk->message : (char *) "";
  env.body_case = IMPLUS__ENVELOPE__BODY_KICK;
  env.kick = &kick;

  for (guint i = 0; i < conns->len; i++)
    {
      ImpConnection *conn = g_ptr_array_index (conns, i);

      if (token_id != NULL && token_id[0] != '\0' && g_strcmp0 (token_id, conn->token_id) != 0)
        continue;
      if (gk->device_id != NULL && gk->device_id[0] != '\0' &&
          g_strcmp0 (gk->device_id, conn->device_id) != 0)
        continue;
      /* The replacing connection itself (its own gateway may be told too). */
      if (gk->exclude_conn_id != 0 && conn->id == gk->exclude_conn_id &&
          g_strcmp0 (gk->exclude_gateway_id, self->config->gateway_id) == 0)
        continue;
      if (imp_gateway_send (conn, &env))
        imp_gateway_close (conn, TRUE);
    }
}

static gboolean
on_records (GPtrArray *records, gpointer user_data)
{
  ImpGateway *self = user_data;

  /* A batch often holds several receipts and pushes for one connection: one write each. */
  imp_gateway_tcp_cork (self->tcp);
  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);
      Implus__Bus__GatewayRecord *gr;
      gsize len;
      const guint8 *data = g_bytes_get_data (rec->value, &len);

      gr = implus__bus__gateway_record__unpack (NULL, len, data);
      if (gr == NULL)
        {
          g_warning ("gateway: undecodable record on %s, skipped", self->push_topic);
          continue;
        }
      switch (gr->body_case)
        {
        case IMPLUS__BUS__GATEWAY_RECORD__BODY_PUSH:
          deliver_push (self, gr->push);
          break;
        case IMPLUS__BUS__GATEWAY_RECORD__BODY_RECEIPT:
          deliver_receipt (self, gr->receipt);
          break;
        case IMPLUS__BUS__GATEWAY_RECORD__BODY_KICK:
          deliver_kick (self, gr->kick);
          break;
        case IMPLUS__BUS__GATEWAY_RECORD__BODY_GROUP_PUSH:
          imp_gateway_deliver_group_push (self, gr->group_push);
          break;
        case IMPLUS__BUS__GATEWAY_RECORD__BODY_MEMBERSHIP:
          imp_gateway_deliver_membership (self, gr->membership);
          break;
        case IMPLUS__BUS__GATEWAY_RECORD__BODY_EPHEMERAL:
          imp_gateway_deliver_ephemeral (self, gr->ephemeral);
          break;
        default:
          break;
        }
      implus__bus__gateway_record__free_unpacked (gr, NULL);
    }
  imp_gateway_tcp_uncork (self->tcp);
  /* Pushes are best effort per connection (retransmit, then the client's pull): never replay. */
  return TRUE;
}

gboolean
imp_gateway_push_start (ImpGateway *self, GError **error)
{
  guint tick = (guint) CLAMP (self->config->retransmit_ms / 8, 5, 100);

  self->wheel = imp_retransmit_new (tick, on_retransmit, self);
  self->push_topic = imp_bus_push_topic (self->config->gateway_id);
  self->sub = imp_bus_subscribe (self->bus, self->push_topic, self->config->gateway_id,
                                 self->context, PUSH_MAX_BATCH, on_records, self, NULL, error);
  return self->sub != NULL;
}

void
imp_gateway_push_stop (ImpGateway *self)
{
  if (self->sub != NULL)
    {
      imp_bus_unsubscribe (self->bus, self->sub);
      self->sub = NULL;
    }
  /* Called before the connections close: their pending pushes and ACKs still need the wheel
   * and the bus, so those go in imp_gateway_push_free(). */
}

void
imp_gateway_push_free (ImpGateway *self)
{
  /* Every connection is detached by now, so the wheel and the ack list are empty. */
  g_clear_pointer (&self->wheel, imp_retransmit_free);
  if (self->ack_timer != NULL)
    {
      g_source_destroy (self->ack_timer);
      g_clear_pointer (&self->ack_timer, g_source_unref);
    }
}

/* imp-message-worker.c: the message role's bus consumer (DESIGN §2, §3).
 *
 * One thread, one GMainContext. A batch of Chat records becomes one store transaction; only
 * after it commits do receipts and pushes go out, so nothing ever describes an uncommitted row.
 * If the store is unavailable the handler returns FALSE and the bus redelivers the same batch
 * later; the store's (sender, client_msg_id) dedup key turns replays into the original receipt.
 * See docs/message-flow.md. */
#include "message/imp-message-worker.h"
#include "message/imp-chat-check.h"
#include "implus-bus.pb-c.h"
#include "imp-error.h"
#include "imp-id.h"
#include "imp-time.h"

#include <string.h>

#define WORKER_GROUP      "message-workers"
#define MAX_GATEWAY_ID    128
#define MAX_DEVICE_ID     128

struct _ImpMessageWorker {
  /* Borrowed */
  const ImpServerConfig *config;
  ImpStore              *store;
  ImpBus                *bus;
  ImpCache              *cache;
  /* Owned */
  ImpIdGen              *ids;
  GMainContext          *context;
  GMainLoop             *loop;
  GThread               *thread;
  ImpBusSubscription    *chat_sub;
  ImpBusSubscription    *ack_sub;
  /* Worker thread only */
  guint64                bad_records;
};

/* One Chat record of a batch and what became of it. */
typedef struct {
  Implus__Bus__Chat *rec;        /* owned; NULL for an undecodable record */
  ImpErrorCode       refused;    /* imp_chat_check's verdict (or a failed transaction) */
  char              *reason;     /* owned */
  int                req;        /* index into the request array, -1 if none */
} BatchItem;

static void
note_bad_record (ImpMessageWorker *self, const char *topic, const char *why)
{
  /* Once loudly, then quietly: a flood of garbage must not flood the log. Never the content. */
  if (self->bad_records++ == 0)
    g_warning ("message worker: dropping a bad record on %s (%s); further ones are counted", topic, why);
  else
    g_debug ("message worker: bad record %" G_GUINT64_FORMAT " on %s (%s)",
             self->bad_records, topic, why);
}

static void
publish_gateway_record (ImpMessageWorker *self, const char *gateway_id, gint64 key_user,
                        const Implus__Bus__GatewayRecord *record)
{
  g_autofree char *topic = imp_bus_push_topic (gateway_id);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  char key[32];
  gsize size = implus__bus__gateway_record__get_packed_size (record);
  guint8 *buf = g_malloc (MAX (size, 1));

  implus__bus__gateway_record__pack (record, buf);
  bytes = g_bytes_new_take (buf, size);
  /* Keyed by user: a user's receipts and pushes stay in order on the gateway's topic. */
  g_snprintf (key, sizeof key, "%" G_GINT64_FORMAT, key_user);
  if (!imp_bus_publish (self->bus, topic, key, bytes, &error))
    g_warning ("message worker: publishing to %s failed: %s (the client's pull covers it)",
               topic, error->message);
}

static void
send_receipt (ImpMessageWorker *self, const Implus__Bus__Chat *rec, const ImpChatResult *res,
              ImpErrorCode code, const char *reason)
{
  Implus__SendReceipt receipt = IMPLUS__SEND_RECEIPT__INIT;
  Implus__Bus__GatewayReceipt greceipt = IMPLUS__BUS__GATEWAY_RECEIPT__INIT;
  Implus__Bus__GatewayRecord record = IMPLUS__BUS__GATEWAY_RECORD__INIT;

  receipt.client_msg_id = rec->chat->client_msg_id;
  receipt.error_code = (Implus__ErrorCode) code;
  if (code != IMP_ERROR_NONE)
    receipt.error_reason = (char *) (reason != NULL ? reason : imp_error_code_name (code));
  else
    {
      receipt.msg_id = res->msg_id;
      receipt.seq = res->sender_seq;
      receipt.server_time_ms = res->send_time_ms;
    }
  if (res != NULL && res->conversation_id != NULL)
    receipt.conversation_id = res->conversation_id;
  greceipt.conn_id = rec->conn_id;
  greceipt.receipt = &receipt;
  record.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_RECEIPT;
  record.receipt = &greceipt;
  publish_gateway_record (self, rec->gateway_id, rec->user_id, &record);
}

/* Gateways of a user, looked up once per batch. */
static const char *const *
gateways_of (ImpMessageWorker *self, GHashTable *memo, gint64 user_id)
{
  GStrv gws = g_hash_table_lookup (memo, &user_id);

  if (gws == NULL)
    {
      gws = imp_cache_presence_gateways (self->cache, user_id);
      g_hash_table_insert (memo, g_memdup2 (&user_id, sizeof user_id), gws);
    }
  return (const char *const *) gws;
}

static void
send_pushes (ImpMessageWorker *self, GHashTable *memo, const Implus__Bus__Chat *rec,
             const ImpChatRequest *req, const ImpChatResult *res)
{
  Implus__Message message = IMPLUS__MESSAGE__INIT;
  Implus__Bus__GatewayPush push = IMPLUS__BUS__GATEWAY_PUSH__INIT;
  Implus__Bus__GatewayRecord record = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  const char *const *gws;

  message.msg_id = res->msg_id;
  message.conversation_id = res->conversation_id;
  message.sender_id = req->sender_id;
  message.to_user_id = req->to_user_id;
  message.content = (char *) req->content;
  message.content_type = (Implus__ContentType) req->content_type;
  message.send_time_ms = res->send_time_ms;
  push.message = &message;
  record.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_PUSH;
  record.push = &push;

  /* The recipient's copy, numbered in the recipient's stream (none for a note to oneself). */
  if (req->to_user_id != req->sender_id && res->recipient_seq > 0)
    {
      message.seq = res->recipient_seq;
      push.user_id = req->to_user_id;
      gws = gateways_of (self, memo, req->to_user_id);
      for (guint i = 0; gws[i] != NULL; i++)
        publish_gateway_record (self, gws[i], req->to_user_id, &record);
    }

  /* The sender's other devices; the sending connection has its receipt. */
  message.seq = res->sender_seq;
  message.client_msg_id = (char *) req->client_msg_id;
  push.user_id = req->sender_id;
  push.exclude_conn_id = rec->conn_id;
  gws = gateways_of (self, memo, req->sender_id);
  for (guint i = 0; gws[i] != NULL; i++)
    {
      /* exclude_conn_id names a connection of the origin gateway only. */
      push.exclude_conn_id = g_str_equal (gws[i], rec->gateway_id) ? rec->conn_id : 0;
      publish_gateway_record (self, gws[i], req->sender_id, &record);
    }
}

static Implus__Bus__Chat *
decode_chat (ImpMessageWorker *self, const ImpBusRecord *brec)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (brec->value, &len);
  Implus__Bus__Chat *rec = implus__bus__chat__unpack (NULL, len, data);
  const char *why = NULL;

  if (rec == NULL)
    why = "undecodable";
  else if (rec->chat == NULL)
    why = "no chat";
  else if (rec->user_id <= 0)
    why = "no sender";
  else if (rec->gateway_id == NULL || rec->gateway_id[0] == '\0' ||
           strlen (rec->gateway_id) > MAX_GATEWAY_ID)
    why = "bad gateway id";
  if (why == NULL)
    return rec;
  note_bad_record (self, brec->topic, why);
  if (rec != NULL)
    implus__bus__chat__free_unpacked (rec, NULL);
  return NULL;
}

static gboolean
on_chat_batch (GPtrArray *records, gpointer user_data)
{
  ImpMessageWorker *self = user_data;
  guint n = records->len;
  g_autofree BatchItem *items = g_new0 (BatchItem, n);
  g_autofree ImpChatRequest *reqs = g_new0 (ImpChatRequest, n);
  g_autofree ImpChatResult *results = g_new0 (ImpChatResult, n);
  g_autoptr(GHashTable) memo = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                                      (GDestroyNotify) g_strfreev);
  g_autoptr(GError) error = NULL;
  gint64 now_ms = imp_now_ms ();
  gsize max_content = (gsize) MAX (self->config->max_content, 1);
  gboolean committed = TRUE;
  guint n_reqs = 0;

  for (guint i = 0; i < n; i++)
    {
      BatchItem *item = &items[i];
      g_autoptr(GError) check_error = NULL;
      ImpChatRequest *req;

      item->req = -1;
      item->rec = decode_chat (self, g_ptr_array_index (records, i));
      if (item->rec == NULL)
        continue;
      if (!imp_chat_check (item->rec->chat, item->rec->user_id, max_content, &check_error))
        {
          item->refused = imp_error_wire_code (check_error);
          item->reason = g_strdup (check_error->message);
          continue;
        }
      req = &reqs[n_reqs];
      req->sender_id = item->rec->user_id;
      req->to_user_id = item->rec->chat->to_user_id;
      req->client_msg_id = item->rec->chat->client_msg_id;
      req->content = item->rec->chat->content;
      req->content_type = item->rec->chat->content_type != IMPLUS__CONTENT_TYPE__CONTENT_TYPE_UNSPECIFIED
                          ? (int) item->rec->chat->content_type
                          : IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
      req->msg_id = imp_id_gen_next (self->ids);
      req->now_ms = now_ms;
      item->req = (int) n_reqs++;
    }

  if (n_reqs > 0 && !imp_store_chat_commit (self->store, reqs, n_reqs, results, &error))
    {
      if (g_error_matches (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE))
        {
          /* Nothing of the batch is written: the bus hands us the same batch again. */
          g_warning ("message worker: store unavailable (%s); %u sends wait for a retry",
                     error->message, n_reqs);
          committed = FALSE;
        }
      else
        {
          /* A final failure would fail the same way forever: refuse these sends explicitly. */
          g_warning ("message worker: store refused a batch of %u sends: %s", n_reqs, error->message);
          for (guint i = 0; i < n; i++)
            if (items[i].req >= 0)
              {
                items[i].refused = IMP_ERROR_INTERNAL;
                items[i].req = -1;
              }
        }
    }

  for (guint i = 0; committed && i < n; i++)
    {
      BatchItem *item = &items[i];
      ImpChatResult *res;

      if (item->rec == NULL)
        continue;
      if (item->req < 0)
        {
          send_receipt (self, item->rec, NULL, item->refused, item->reason);
          continue;
        }
      res = &results[item->req];
      if (res->error_code != IMP_ERROR_NONE)
        {
          send_receipt (self, item->rec, res, res->error_code, NULL);
          continue;
        }
      /* A duplicate repeats the original receipt and pushes nothing new. */
      send_receipt (self, item->rec, res, IMP_ERROR_NONE, NULL);
      if (!res->duplicate)
        send_pushes (self, memo, item->rec, &reqs[item->req], res);
    }

  for (guint i = 0; i < n_reqs; i++)
    imp_chat_result_clear (&results[i]);
  for (guint i = 0; i < n; i++)
    {
      if (items[i].rec != NULL)
        implus__bus__chat__free_unpacked (items[i].rec, NULL);
      g_free (items[i].reason);
    }
  return committed;
}

typedef struct {
  gint64  user_id;
  char   *device_id;
  gint64  up_to_seq;
} AckMax;

static void
ack_max_free (AckMax *ack)
{
  g_free (ack->device_id);
  g_free (ack);
}

static gboolean
on_ack_batch (GPtrArray *records, gpointer user_data)
{
  ImpMessageWorker *self = user_data;
  /* ACKs are cumulative: only the highest per (user, device) needs writing. */
  g_autoptr(GHashTable) max = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                     (GDestroyNotify) ack_max_free);
  GHashTableIter iter;
  AckMax *ack;

  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *brec = g_ptr_array_index (records, i);
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (brec->value, &len);
      Implus__Bus__AckRecord *rec = implus__bus__ack_record__unpack (NULL, len, data);
      g_autofree char *key = NULL;

      if (rec == NULL || rec->user_id <= 0 || rec->up_to_seq <= 0 || rec->device_id == NULL ||
          rec->device_id[0] == '\0' || strlen (rec->device_id) > MAX_DEVICE_ID)
        {
          note_bad_record (self, brec->topic, rec == NULL ? "undecodable" : "bad ack");
          if (rec != NULL)
            implus__bus__ack_record__free_unpacked (rec, NULL);
          continue;
        }
      key = g_strdup_printf ("%" G_GINT64_FORMAT "/%s", rec->user_id, rec->device_id);
      ack = g_hash_table_lookup (max, key);
      if (ack == NULL)
        {
          ack = g_new0 (AckMax, 1);
          ack->user_id = rec->user_id;
          ack->device_id = g_strdup (rec->device_id);
          g_hash_table_insert (max, g_steal_pointer (&key), ack);
        }
      ack->up_to_seq = MAX (ack->up_to_seq, rec->up_to_seq);
      implus__bus__ack_record__free_unpacked (rec, NULL);
    }

  g_hash_table_iter_init (&iter, max);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &ack))
    {
      g_autoptr(GError) error = NULL;

      if (imp_store_delivery_record (self->store, ack->user_id, ack->device_id, ack->up_to_seq,
                                     &error))
        continue;
      /* Delivery records only move forward, so replaying the whole batch is harmless. */
      if (g_error_matches (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE))
        {
          g_warning ("message worker: store unavailable for delivery records: %s", error->message);
          return FALSE;
        }
      g_warning ("message worker: delivery record of user %" G_GINT64_FORMAT " refused: %s",
                 ack->user_id, error->message);
    }
  return TRUE;
}

static gpointer
worker_main (gpointer data)
{
  ImpMessageWorker *self = data;

  g_main_context_push_thread_default (self->context);
  g_main_loop_run (self->loop);
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

static void
worker_unsubscribe (ImpMessageWorker *self)
{
  if (self->chat_sub != NULL)
    imp_bus_unsubscribe (self->bus, g_steal_pointer (&self->chat_sub));
  if (self->ack_sub != NULL)
    imp_bus_unsubscribe (self->bus, g_steal_pointer (&self->ack_sub));
}

static gboolean
quit_loop (gpointer data)
{
  ImpMessageWorker *self = data;

  /* On the worker thread: the subscriptions' own context, as the bus asks. */
  worker_unsubscribe (self);
  g_main_loop_quit (self->loop);
  return G_SOURCE_REMOVE;
}

ImpMessageWorker *
imp_message_worker_new (const ImpServerConfig *config, guint worker_id, ImpStore *store,
                        ImpBus *bus, ImpCache *cache, GError **error)
{
  g_autoptr(ImpMessageWorker) self = NULL;
  guint batch;

  g_return_val_if_fail (config != NULL && store != NULL && bus != NULL && cache != NULL, NULL);
  if (worker_id >= 1024)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "worker id %u is not below 1024", worker_id);
      return NULL;
    }
  batch = (guint) CLAMP (config->worker_batch, 1, 65536);

  self = g_new0 (ImpMessageWorker, 1);
  self->config = config;
  self->store = store;
  self->bus = bus;
  self->cache = cache;
  self->ids = imp_id_gen_new (worker_id);
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);

  /* Subscribed before the thread runs, so nothing published after new() returns is missed. */
  self->chat_sub = imp_bus_subscribe (bus, IMP_TOPIC_CONVERSATION_MESSAGES, WORKER_GROUP,
                                      self->context, batch, on_chat_batch, self, NULL, error);
  if (self->chat_sub == NULL)
    return NULL;
  self->ack_sub = imp_bus_subscribe (bus, IMP_TOPIC_MESSAGE_ACKS, WORKER_GROUP, self->context,
                                     batch, on_ack_batch, self, NULL, error);
  if (self->ack_sub == NULL)
    return NULL;

  self->thread = g_thread_try_new ("imp-msg-worker", worker_main, self, error);
  if (self->thread == NULL)
    return NULL;
  return g_steal_pointer (&self);
}

void
imp_message_worker_free (ImpMessageWorker *self)
{
  if (self == NULL)
    return;
  if (self->thread != NULL)
    {
      /* Queued behind the batch in hand: the loop stops once it is finished. */
      g_autoptr(GSource) source = g_idle_source_new ();

      g_source_set_priority (source, G_PRIORITY_HIGH);
      g_source_set_callback (source, quit_loop, self, NULL);
      g_source_attach (source, self->context);
      g_thread_join (g_steal_pointer (&self->thread));
    }
  /* Without a thread nobody iterates the context: unsubscribing from here is safe. */
  worker_unsubscribe (self);
  g_clear_pointer (&self->ids, imp_id_gen_free);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self);
}

/* imp-message-worker.c: the message role's bus consumer (DESIGN §2, §3).
 *
 * One thread with its own GMainContext (a "lane") for Chat records; ACKs and read marks get a
 * second lane when the store takes writers in parallel (MySQL), so a slow ACK batch (its
 * delivered notices read the store) never holds up sends. On SQLite (one write lock) they share
 * the first: a second writer thread there only contends for the lock (measured: p99 at 5,000
 * msg/s 19-22 ms -> 35-172 ms). A batch of Chat records becomes one store transaction; only
 * after it commits do receipts and pushes go out, so nothing ever describes an uncommitted row.
 * If the store is unavailable the handler returns FALSE and the bus redelivers the same batch
 * later; the store's (sender, client_msg_id) dedup key turns replays into the original receipt.
 * See docs/message-flow.md. */
#include "message/imp-message-worker.h"
#include "message/imp-chat-check.h"
#include "message/imp-message-notify.h"
#include "implus-bus.pb-c.h"
#include "imp-convid.h"
#include "imp-error.h"
#include "imp-id.h"
#include "imp-time.h"

#include <string.h>

#define WORKER_GROUP      "message-workers"
#define MAX_GATEWAY_ID    128
#define MAX_DEVICE_ID     128
/* Group messages with more content than this go out as a GroupNotice (members pull). */
#define GROUP_INLINE_MAX  1024
/* The live gateway list is read at most this often (one cache read, not one per message). */
#define GATEWAYS_TTL_US   (1 * G_USEC_PER_SEC)
/* Users whose delivered position is remembered (above it, the map starts over). */
#define DELIVERED_MEMO_MAX 65536

/* A thread running its own main context; the subscriptions it serves are dispatched there. */
typedef struct {
  GMainContext *context;
  GMainLoop    *loop;
  GThread      *thread;
} Lane;

struct _ImpMessageWorker {
  /* Borrowed */
  const ImpServerConfig *config;
  ImpStore              *store;
  ImpBus                *bus;
  ImpCache              *cache;
  /* Owned */
  ImpIdGen              *ids;
  Lane                   chat;           /* conversation-messages */
  Lane                   acks;           /* message-acks and read-marks (parallel writes) */
  Lane                  *ack_lane;       /* &acks, or &chat when the store has one writer */
  ImpBusSubscription    *chat_sub;
  ImpBusSubscription    *ack_sub;
  ImpBusSubscription    *read_sub;
  gsize                  bad_records;    /* atomic: both lanes count */
  /* Chat lane only */
  GPtrArray             *gateways;       /* ImpGatewayInfo: the live registry, cached */
  gint64                 gateways_us;    /* when it was read */
  GPtrArray             *gateways_known; /* the last non-empty answer (cache outages, wipes) */
  guint64                unknown_presence; /* presence reads the cache could not answer */
  /* ACK lane only */
  GHashTable            *delivered;      /* &user_id -> gint64: highest seq told to senders */
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
  gsize before = (gsize) g_atomic_pointer_add (&self->bad_records, 1);

  /* Once loudly, then quietly: a flood of garbage must not flood the log. Never the content. */
  if (before == 0)
    g_warning ("message worker: dropping a bad record on %s (%s); further ones are counted", topic, why);
  else
    g_debug ("message worker: bad record %" G_GSIZE_FORMAT " on %s (%s)", before + 1, topic, why);
}

static void
publish_gateway_record (ImpMessageWorker *self, const char *gateway_id, gint64 key_user,
                        const Implus__Bus__GatewayRecord *record)
{
  char key[32];

  /* Keyed by user: a user's receipts and pushes stay in order on the gateway's topic. */
  g_snprintf (key, sizeof key, "%" G_GINT64_FORMAT, key_user);
  imp_message_publish_gateway (self->bus, gateway_id, key, record);
}

/* "muted until 2026-11-26T18:00:00Z": the client can show when it may write again. */
static char *
muted_reason (gint64 until_ms)
{
  g_autoptr(GDateTime) dt = until_ms > 0 ? g_date_time_new_from_unix_utc (until_ms / 1000) : NULL;
  g_autofree char *iso = dt != NULL ? g_date_time_format_iso8601 (dt) : NULL;

  return iso != NULL ? g_strdup_printf ("muted until %s", iso) : g_strdup ("muted");
}

static void
send_receipt (ImpMessageWorker *self, const Implus__Bus__Chat *rec, const ImpChatResult *res,
              ImpErrorCode code, const char *reason)
{
  Implus__SendReceipt receipt = IMPLUS__SEND_RECEIPT__INIT;
  Implus__Bus__GatewayReceipt greceipt = IMPLUS__BUS__GATEWAY_RECEIPT__INIT;
  Implus__Bus__GatewayRecord record = IMPLUS__BUS__GATEWAY_RECORD__INIT;

  g_autofree char *muted = NULL;

  receipt.client_msg_id = rec->chat->client_msg_id;
  receipt.error_code = (Implus__ErrorCode) code;
  if (code == IMP_ERROR_MUTED && reason == NULL && res != NULL)
    reason = muted = muted_reason (res->muted_until_ms);
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

static GPtrArray *live_gateways (ImpMessageWorker *self);

/* Gateways of a user, looked up once per batch. When the cache cannot answer (Redis down), the
 * user may be anywhere: every gateway of the registry gets the push, and drops it if the user has
 * no connection there. Skipping would leave the message to the client's next pull. */
static const char *const *
gateways_of (ImpMessageWorker *self, GHashTable *memo, gint64 user_id)
{
  GStrv gws = g_hash_table_lookup (memo, &user_id);

  if (gws == NULL)
    {
      gws = imp_cache_presence_lookup (self->cache, user_id);
      if (gws == NULL)
        {
          GPtrArray *live = live_gateways (self);
          GStrvBuilder *b = g_strv_builder_new ();

          if (self->unknown_presence++ % 1000 == 0)
            g_message ("message worker: presence unknown (cache unreachable): pushing to all %u "
                       "known gateways (%" G_GUINT64_FORMAT " such lookups)", live->len,
                       self->unknown_presence);
          for (guint i = 0; i < live->len; i++)
            g_strv_builder_add (b, ((ImpGatewayInfo *) g_ptr_array_index (live, i))->gateway_id);
          gws = g_strv_builder_end (b);
          g_strv_builder_unref (b);
        }
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

/* The live gateways, read from the registry at most once per GATEWAYS_TTL_US. An empty answer
 * (the cache unreachable, or wiped until the gateways' next announcements) falls back on the last
 * non-empty one: a push to a gateway that is gone is dropped there, a push not sent is lost. */
static GPtrArray *
live_gateways (ImpMessageWorker *self)
{
  gint64 now = imp_mono_us ();

  if (self->gateways == NULL || now - self->gateways_us >= GATEWAYS_TTL_US)
    {
      g_clear_pointer (&self->gateways, g_ptr_array_unref);
      self->gateways = imp_cache_gateways_live (self->cache);
      /* An empty answer may be a cache outage: ask again next time rather than keep it. */
      self->gateways_us = self->gateways->len > 0 ? now : 0;
      if (self->gateways->len > 0)
        {
          g_clear_pointer (&self->gateways_known, g_ptr_array_unref);
          self->gateways_known = g_ptr_array_ref (self->gateways);
        }
    }
  if (self->gateways->len == 0 && self->gateways_known != NULL)
    return self->gateways_known;
  return self->gateways;
}

/* One GatewayGroupPush per live gateway, whatever the group's size: each gateway knows which of
 * its own connections belong to members (DESIGN §10: no O(members) work per message here). */
static void
send_group_push (ImpMessageWorker *self, const Implus__Bus__Chat *rec, const ImpChatRequest *req,
                 const ImpChatResult *res)
{
  Implus__Message message = IMPLUS__MESSAGE__INIT;
  Implus__GroupNotice notice = IMPLUS__GROUP_NOTICE__INIT;
  Implus__Bus__GatewayGroupPush gp = IMPLUS__BUS__GATEWAY_GROUP_PUSH__INIT;
  Implus__Bus__GatewayRecord record = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  GPtrArray *gws = live_gateways (self);
  gboolean origin_done = FALSE;

  gp.group_id = req->group_id;
  gp.origin_gateway_id = rec->gateway_id;
  if (strlen (req->content) <= GROUP_INLINE_MAX)
    {
      message.msg_id = res->msg_id;
      message.conversation_id = res->conversation_id;
      message.sender_id = req->sender_id;
      message.seq = res->sender_seq;  /* the conversation seq */
      message.content = (char *) req->content;
      message.content_type = (Implus__ContentType) req->content_type;
      message.send_time_ms = res->send_time_ms;
      message.group_id = req->group_id;
      gp.message = &message;
    }
  else
    {
      notice.conversation_id = res->conversation_id;
      notice.seq = res->sender_seq;
      gp.notice = &notice;
    }
  record.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_GROUP_PUSH;
  record.group_push = &gp;

  /* Keyed by conversation: one group's pushes stay in seq order on every gateway's topic. */
  for (guint i = 0; i <= gws->len; i++)
    {
      const char *gw;

      /* The origin gateway always (the sender's other devices), even before it is listed. */
      if (i < gws->len)
        gw = ((ImpGatewayInfo *) g_ptr_array_index (gws, i))->gateway_id;
      else if (!origin_done)
        gw = rec->gateway_id;
      else
        break;
      origin_done = origin_done || g_str_equal (gw, rec->gateway_id);
      gp.exclude_conn_id = g_str_equal (gw, rec->gateway_id) ? rec->conn_id : 0;
      imp_message_publish_gateway (self->bus, gw, res->conversation_id, &record);
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
      req->group_id = item->rec->chat->group_id;
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
      if (res->duplicate)
        continue;
      if (reqs[item->req].group_id != 0)
        send_group_push (self, item->rec, &reqs[item->req], res);
      else
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

/* Tells the senders of the recipient's newly stored messages (worker thread). */
static void
note_delivered (ImpMessageWorker *self, gint64 user_id, gint64 up_to_seq)
{
  gint64 *told = g_hash_table_lookup (self->delivered, &user_id);
  gint64 after;

  /* Unknown (first ACK since start): a bounded look back; a repeated notice is harmless
   * (Delivered is cumulative and idempotent on the client). */
  after = told != NULL ? *told : MAX (0, up_to_seq - IMP_DELIVERED_LOOKBACK);
  if (up_to_seq <= after)
    return;
  if (told == NULL)
    {
      if (g_hash_table_size (self->delivered) >= DELIVERED_MEMO_MAX)
        g_hash_table_remove_all (self->delivered);
      told = g_new (gint64, 2);
      told[1] = user_id;
      g_hash_table_insert (self->delivered, &told[1], told);
    }
  *told = up_to_seq;
  imp_message_notify_delivered (self->store, self->bus, self->cache, user_id, after, up_to_seq);
}

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

      /* GroupAcks (conversation_id set) are per-connection retransmission state only: the
       * store keeps no per-member group delivery (that would be O(members) writes). */
      if (rec != NULL && rec->conversation_id != NULL && rec->conversation_id[0] != '\0')
        {
          implus__bus__ack_record__free_unpacked (rec, NULL);
          continue;
        }
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

  /* One transaction for the whole batch of devices. */
  g_autoptr(GArray) batch = g_array_sized_new (FALSE, FALSE, sizeof (ImpDeliveryRecord),
                                               g_hash_table_size (max));
  g_autoptr(GError) error = NULL;

  g_hash_table_iter_init (&iter, max);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &ack))
    {
      ImpDeliveryRecord d = { ack->user_id, ack->device_id, ack->up_to_seq };

      g_array_append_val (batch, d);
    }
  if (batch->len == 0)
    return TRUE;
  if (!imp_store_delivery_record_batch (self->store, (const ImpDeliveryRecord *) batch->data,
                                        batch->len, &error))
    {
      /* Delivery records only move forward, so replaying the whole batch is harmless. */
      if (g_error_matches (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE))
        {
          g_warning ("message worker: store unavailable for delivery records: %s", error->message);
          return FALSE;
        }
      g_warning ("message worker: %u delivery records refused: %s", batch->len, error->message);
      return TRUE;
    }
  g_hash_table_iter_init (&iter, max);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &ack))
    note_delivered (self, ack->user_id, ack->up_to_seq);
  return TRUE;
}

typedef struct {
  Implus__Bus__ReadMarkRecord *rec;   /* owned: the latest of its (user, conversation) */
  gint64                       seq;   /* the highest of the batch */
} ReadMax;

static void
read_max_free (ReadMax *r)
{
  implus__bus__read_mark_record__free_unpacked (r->rec, NULL);
  g_free (r);
}

static gboolean
on_read_batch (GPtrArray *records, gpointer user_data)
{
  ImpMessageWorker *self = user_data;
  /* Read marks only move forward: the highest per (user, conversation) is all that counts. */
  g_autoptr(GHashTable) max = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                     (GDestroyNotify) read_max_free);
  GHashTableIter iter;
  ReadMax *r;

  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *brec = g_ptr_array_index (records, i);
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (brec->value, &len);
      Implus__Bus__ReadMarkRecord *rec = implus__bus__read_mark_record__unpack (NULL, len, data);
      g_autoptr(GError) check_error = NULL;
      g_autofree char *key = NULL;

      if (rec == NULL || rec->user_id <= 0 || rec->seq < 0 ||
          (rec->gateway_id != NULL && strlen (rec->gateway_id) > MAX_GATEWAY_ID) ||
          !imp_message_check_conversation (rec->conversation_id, rec->user_id, &check_error))
        {
          note_bad_record (self, brec->topic, rec == NULL ? "undecodable" : "bad read mark");
          if (rec != NULL)
            implus__bus__read_mark_record__free_unpacked (rec, NULL);
          continue;
        }
      key = g_strdup_printf ("%" G_GINT64_FORMAT "/%s", rec->user_id, rec->conversation_id);
      r = g_hash_table_lookup (max, key);
      if (r == NULL)
        {
          r = g_new0 (ReadMax, 1);
          g_hash_table_insert (max, g_steal_pointer (&key), r);
        }
      else
        implus__bus__read_mark_record__free_unpacked (r->rec, NULL);
      r->seq = MAX (r->seq, rec->seq);
      r->rec = rec;
    }

  g_hash_table_iter_init (&iter, max);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &r))
    {
      g_autoptr(GError) error = NULL;

      if (imp_message_mark_read (self->store, self->bus, self->cache, r->rec->user_id,
                                 r->rec->conversation_id, r->seq, r->rec->gateway_id,
                                 r->rec->conn_id, NULL, NULL, &error))
        continue;
      /* Forward-only positions make a replay of the whole batch harmless. */
      if (g_error_matches (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE))
        {
          g_warning ("message worker: store unavailable for read marks: %s", error->message);
          return FALSE;
        }
      g_debug ("message worker: read mark of user %" G_GINT64_FORMAT " refused: %s",
               r->rec->user_id, error->message);
    }
  return TRUE;
}

static gpointer
lane_main (gpointer data)
{
  Lane *lane = data;

  g_main_context_push_thread_default (lane->context);
  g_main_loop_run (lane->loop);
  g_main_context_pop_thread_default (lane->context);
  return NULL;
}

static void
lane_init (Lane *lane)
{
  lane->context = g_main_context_new ();
  lane->loop = g_main_loop_new (lane->context, FALSE);
}

static gboolean
lane_start (Lane *lane, const char *name, GError **error)
{
  lane->thread = g_thread_try_new (name, lane_main, lane, error);
  return lane->thread != NULL;
}

typedef struct {
  ImpMessageWorker *self;
  Lane             *lane;
} LaneStop;

/* Unsubscribes what lane serves (NULL: everything). On the lane's own thread, or when no thread
 * iterates its context. */
static void
unsubscribe (ImpMessageWorker *self, Lane *lane)
{
  if ((lane == NULL || lane == &self->chat) && self->chat_sub != NULL)
    imp_bus_unsubscribe (self->bus, g_steal_pointer (&self->chat_sub));
  if (lane != NULL && lane != self->ack_lane)
    return;
  if (self->ack_sub != NULL)
    imp_bus_unsubscribe (self->bus, g_steal_pointer (&self->ack_sub));
  if (self->read_sub != NULL)
    imp_bus_unsubscribe (self->bus, g_steal_pointer (&self->read_sub));
}

/* On the lane's thread: its subscriptions are unsubscribed on their own context, as the bus
 * asks, then the loop ends. */
static gboolean
lane_quit (gpointer data)
{
  LaneStop *stop = data;

  unsubscribe (stop->self, stop->lane);
  g_main_loop_quit (stop->lane->loop);
  return G_SOURCE_REMOVE;
}

/* Stops the lane's thread: queued behind the batch in hand, so that one is finished first. */
static void
lane_stop (ImpMessageWorker *self, Lane *lane)
{
  g_autoptr(GSource) source = NULL;
  LaneStop stop = { self, lane };

  if (lane->thread == NULL)
    return;
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, lane_quit, &stop, NULL);
  g_source_attach (source, lane->context);
  g_thread_join (g_steal_pointer (&lane->thread));
}

static void
lane_clear (Lane *lane)
{
  g_clear_pointer (&lane->loop, g_main_loop_unref);
  g_clear_pointer (&lane->context, g_main_context_unref);
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
  lane_init (&self->chat);
  lane_init (&self->acks);
  self->delivered = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, g_free);

  /* Subscribed before the threads run, so nothing published after new() returns is missed. */
  self->chat_sub = imp_bus_subscribe (bus, IMP_TOPIC_CONVERSATION_MESSAGES, WORKER_GROUP,
                                      self->chat.context, batch, on_chat_batch, self, NULL, error);
  if (self->chat_sub == NULL)
    return NULL;
  self->ack_lane = imp_store_parallel_writes (store) ? &self->acks : &self->chat;
  self->ack_sub = imp_bus_subscribe (bus, IMP_TOPIC_MESSAGE_ACKS, WORKER_GROUP,
                                     self->ack_lane->context, batch, on_ack_batch, self, NULL,
                                     error);
  if (self->ack_sub == NULL)
    return NULL;
  self->read_sub = imp_bus_subscribe (bus, IMP_TOPIC_READ_MARKS, WORKER_GROUP,
                                      self->ack_lane->context, batch, on_read_batch, self, NULL,
                                      error);
  if (self->read_sub == NULL)
    return NULL;

  if (!lane_start (&self->chat, "imp-msg-worker", error) ||
      (self->ack_lane == &self->acks && !lane_start (&self->acks, "imp-msg-acks", error)))
    return NULL;
  return g_steal_pointer (&self);
}

void
imp_message_worker_free (ImpMessageWorker *self)
{
  if (self == NULL)
    return;
  lane_stop (self, &self->chat);
  lane_stop (self, &self->acks);
  /* Without threads nobody iterates the contexts: unsubscribing from here is safe (a failed
   * new () may have subscribed before its threads ran). */
  unsubscribe (self, NULL);
  g_clear_pointer (&self->ids, imp_id_gen_free);
  g_clear_pointer (&self->gateways, g_ptr_array_unref);
  g_clear_pointer (&self->gateways_known, g_ptr_array_unref);
  g_clear_pointer (&self->delivered, g_hash_table_unref);
  lane_clear (&self->chat);
  lane_clear (&self->acks);
  g_free (self);
}

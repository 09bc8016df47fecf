/* test-imp-message-worker.c: the message worker end to end over a real SQLite store (temp dir),
 * the local bus and the memory cache: Chat records in, receipts and pushes out on push.<gw>.
 * Proves dense seqs, idempotent sends, error receipts, and the sender's other devices' copies. */
#include "message/imp-message-worker.h"
#include "implus-bus.pb-c.h"
#include "imp-convid.h"
#include "imp-id.h"
#include "imp-time.h"

#include <glib/gstdio.h>
#include <string.h>

#define DEADLINE_MS 10000

typedef struct {
  char                        *gateway;
  Implus__Bus__GatewayRecord  *rec;   /* owned */
} Seen;

/* A store that forwards to the real one but makes chat_commit report UNAVAILABLE: before the
 * transaction (the store is down) or after it (committed, but the answer was lost: a crash
 * between commit and offset commit looks the same to the bus). */
typedef struct {
  ImpStore  parent;
  ImpStore *real;               /* borrowed */
  gint      fail_before;        /* atomic: commits to refuse without writing */
  gint      fail_after;         /* atomic: commits to write, then report as failed */
  gint      calls;              /* atomic */
  /* A gate for delivery records: while hold is set they wait (at most GATE_MAX_US). */
  GMutex    gate_lock;
  GCond     gate_cond;
  gboolean  hold;
  guint     held;               /* delivery records that reached the gate */
  guint     recorded;           /* and that the real store then took */
} FlakyStore;

#define GATE_MAX_US (30 * G_USEC_PER_SEC)

static gboolean
flaky_chat_commit (ImpStore *base, const ImpChatRequest *reqs, guint n_reqs, ImpChatResult *results,
                   GError **error)
{
  FlakyStore *self = (FlakyStore *) base;

  g_atomic_int_inc (&self->calls);
  if (g_atomic_int_add (&self->fail_before, -1) > 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "store down (test)");
      return FALSE;
    }
  if (!imp_store_chat_commit (self->real, reqs, n_reqs, results, error))
    return FALSE;
  if (g_atomic_int_add (&self->fail_after, -1) > 0)
    {
      for (guint i = 0; i < n_reqs; i++)
        imp_chat_result_clear (&results[i]);
      memset (results, 0, n_reqs * sizeof *results);
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "answer lost (test)");
      return FALSE;
    }
  return TRUE;
}

static gboolean
flaky_delivery_record (ImpStore *base, gint64 user_id, const char *device_id, gint64 up_to_seq,
                       GError **error)
{
  FlakyStore *self = (FlakyStore *) base;
  gint64 until = g_get_monotonic_time () + GATE_MAX_US;
  gboolean ok;

  g_mutex_lock (&self->gate_lock);
  self->held++;
  g_cond_broadcast (&self->gate_cond);

  while (self->hold && g_cond_wait_until (&self->gate_cond, &self->gate_lock, until))
    ;
  g_mutex_unlock (&self->gate_lock);
  ok = imp_store_delivery_record (self->real, user_id, device_id, up_to_seq, error);
  g_mutex_lock (&self->gate_lock);
  self->recorded += ok;
  g_cond_broadcast (&self->gate_cond);
  g_mutex_unlock (&self->gate_lock);
  return ok;
}

/* Delivered notices after an ACK read both streams. */
static GPtrArray *
flaky_stream_pull (ImpStore *base, gint64 user_id, gint64 after_seq, guint limit, GError **error)
{
  return imp_store_stream_pull (((FlakyStore *) base)->real, user_id, after_seq, limit, error);
}

static GPtrArray *
flaky_history (ImpStore *base, gint64 user_id, const char *conversation_id, gint64 before_seq,
               guint limit, GError **error)
{
  return imp_store_conversation_history (((FlakyStore *) base)->real, user_id, conversation_id,
                                         before_seq, limit, error);
}

static void
flaky_free (ImpStore *base)
{
  FlakyStore *self = (FlakyStore *) base;

  g_mutex_clear (&self->gate_lock);
  g_cond_clear (&self->gate_cond);
  g_free (base);
}

#define FLAKY_OPS \
  .name = "flaky", \
  .free = flaky_free, \
  .chat_commit = flaky_chat_commit, \
  .delivery_record = flaky_delivery_record, \
  .stream_pull = flaky_stream_pull, \
  .conversation_history = flaky_history

/* Parallel writes: the worker gives ACKs their own thread, as on MySQL (test_ack_lane). With one
 * writer (SQLite) they share the chat thread: the cases with fixture data ONE_WRITER. */
static const ImpStoreVTable flaky_vtable = { FLAKY_OPS, .parallel_writes = TRUE };
static const ImpStoreVTable flaky_vtable_one_writer = { FLAKY_OPS, .parallel_writes = FALSE };
#define ONE_WRITER GINT_TO_POINTER (1)

typedef struct {
  char               *dir;
  ImpServerConfig     config;
  ImpStore           *store;
  FlakyStore         *flaky;      /* wraps store; what the worker uses */
  ImpBus             *bus;
  ImpCache           *cache;
  ImpMessageWorker   *worker;
  ImpBusSubscription *sub_gw1;
  ImpBusSubscription *sub_gw2;
  GPtrArray          *seen;       /* Seen, in arrival order */
  gint64              alice;
  gint64              bob;
} Fixture;

static void
seen_free (Seen *s)
{
  g_free (s->gateway);
  implus__bus__gateway_record__free_unpacked (s->rec, NULL);
  g_free (s);
}

static gboolean
on_push_topic (GPtrArray *records, gpointer data)
{
  Fixture *f = data;

  for (guint i = 0; i < records->len; i++)
    {
      ImpBusRecord *rec = g_ptr_array_index (records, i);
      gsize len;
      const guint8 *bytes = g_bytes_get_data (rec->value, &len);
      Seen *s = g_new0 (Seen, 1);

      s->gateway = g_strdup (rec->topic + strlen (IMP_TOPIC_PUSH_PREFIX));
      s->rec = implus__bus__gateway_record__unpack (NULL, len, bytes);
      g_assert_nonnull (s->rec);
      g_ptr_array_add (f->seen, s);
    }
  return TRUE;
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *topic1 = imp_bus_push_topic ("gw1");
  g_autofree char *topic2 = imp_bus_push_topic ("gw2");

  f->dir = g_dir_make_tmp ("implus-worker-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (f->dir, "implus.db", NULL);
  f->store = imp_store_sqlite_open (path, &error);
  g_assert_no_error (error);
  g_assert_true (imp_store_user_create (f->store, "alice", "Alice", "x", imp_now_ms (), &f->alice, &error));
  g_assert_true (imp_store_user_create (f->store, "bob", "Bob", "x", imp_now_ms (), &f->bob, &error));
  g_assert_no_error (error);

  f->config.max_content = 8192;
  f->config.worker_batch = 16;
  f->config.pull_page_max = 500;
  f->bus = imp_bus_local_new ();
  f->cache = imp_cache_memory_new ();
  /* alice: the sending connection 10 and another device 11 on gw1, a third device on gw2.
   * bob: connection 20 on gw1. */
  imp_cache_presence_add (f->cache, f->alice, "gw1", 10, 600000);
  imp_cache_presence_add (f->cache, f->alice, "gw1", 11, 600000);
  imp_cache_presence_add (f->cache, f->alice, "gw2", 12, 600000);
  imp_cache_presence_add (f->cache, f->bob, "gw1", 20, 600000);

  f->seen = g_ptr_array_new_with_free_func ((GDestroyNotify) seen_free);
  f->sub_gw1 = imp_bus_subscribe (f->bus, topic1, NULL, NULL, 64, on_push_topic, f, NULL, &error);
  f->sub_gw2 = imp_bus_subscribe (f->bus, topic2, NULL, NULL, 64, on_push_topic, f, NULL, &error);
  g_assert_no_error (error);
  f->flaky = g_new0 (FlakyStore, 1);
  f->flaky->parent.vt = data == ONE_WRITER ? &flaky_vtable_one_writer : &flaky_vtable;
  f->flaky->real = f->store;
  g_mutex_init (&f->flaky->gate_lock);
  g_cond_init (&f->flaky->gate_cond);
  f->worker = imp_message_worker_new (&f->config, 1, &f->flaky->parent, f->bus, f->cache, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->worker);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "implus.db", NULL);
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (path, "-shm", NULL);

  g_clear_pointer (&f->worker, imp_message_worker_free);
  imp_bus_unsubscribe (f->bus, f->sub_gw1);
  imp_bus_unsubscribe (f->bus, f->sub_gw2);
  g_clear_pointer (&f->bus, imp_bus_free);
  g_clear_pointer (&f->cache, imp_cache_free);
  imp_store_free (&f->flaky->parent);
  g_clear_pointer (&f->store, imp_store_free);
  g_ptr_array_unref (f->seen);
  g_unlink (path);
  g_unlink (wal);
  g_unlink (shm);
  g_rmdir (f->dir);
  g_free (f->dir);
}

static void
publish_chat (Fixture *f, const char *gateway, guint64 conn, gint64 sender, gint64 to,
              const char *client_msg_id, const char *content)
{
  Implus__ChatUp chat = IMPLUS__CHAT_UP__INIT;
  Implus__Bus__Chat rec = IMPLUS__BUS__CHAT__INIT;
  g_autofree char *key = imp_convid_private (sender, to);
  gsize size;
  guint8 *buf;
  g_autoptr(GBytes) bytes = NULL;

  chat.client_msg_id = (char *) client_msg_id;
  chat.to_user_id = to;
  chat.content = (char *) content;
  chat.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  rec.gateway_id = (char *) gateway;
  rec.conn_id = conn;
  rec.user_id = sender;
  rec.device_id = (char *) "dev";
  rec.chat = &chat;
  size = implus__bus__chat__get_packed_size (&rec);
  buf = g_malloc (size);
  implus__bus__chat__pack (&rec, buf);
  bytes = g_bytes_new_take (buf, size);
  g_assert_true (imp_bus_publish (f->bus, IMP_TOPIC_CONVERSATION_MESSAGES, key, bytes, NULL));
}

/* The receipt for client_msg_id, or NULL. */
static const Implus__SendReceipt *
find_receipt (Fixture *f, const char *client_msg_id)
{
  for (guint i = 0; i < f->seen->len; i++)
    {
      Seen *s = g_ptr_array_index (f->seen, i);

      if (s->rec->body_case == IMPLUS__BUS__GATEWAY_RECORD__BODY_RECEIPT &&
          g_str_equal (s->rec->receipt->receipt->client_msg_id, client_msg_id))
        return s->rec->receipt->receipt;
    }
  return NULL;
}

static guint
count_receipts (Fixture *f, const char *client_msg_id)
{
  guint n = 0;

  for (guint i = 0; i < f->seen->len; i++)
    {
      Seen *s = g_ptr_array_index (f->seen, i);

      if (s->rec->body_case == IMPLUS__BUS__GATEWAY_RECORD__BODY_RECEIPT &&
          g_str_equal (s->rec->receipt->receipt->client_msg_id, client_msg_id))
        n++;
    }
  return n;
}

/* Pushes for user on gateway, in arrival order (borrowed). */
static GPtrArray *
pushes_for (Fixture *f, const char *gateway, gint64 user)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; i < f->seen->len; i++)
    {
      Seen *s = g_ptr_array_index (f->seen, i);

      if (s->rec->body_case == IMPLUS__BUS__GATEWAY_RECORD__BODY_PUSH &&
          g_str_equal (s->gateway, gateway) && s->rec->push->user_id == user)
        g_ptr_array_add (out, s->rec->push);
    }
  return out;
}

static guint
n_pushes (Fixture *f, const char *gateway, gint64 user)
{
  g_autoptr(GPtrArray) p = pushes_for (f, gateway, user);
  return p->len;
}

static gboolean
deadline_hit (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

typedef struct {
  Fixture    *f;
  const char *client_msg_id;  /* wait for this receipt */
  const char *gateway;        /* and for n pushes to user there */
  gint64      user;
  guint       n;
} Cond;

static gboolean
cond_met (const Cond *c)
{
  if (c->client_msg_id != NULL && find_receipt (c->f, c->client_msg_id) == NULL)
    return FALSE;
  return c->gateway == NULL || n_pushes (c->f, c->gateway, c->user) >= c->n;
}

static void
wait_for (const Cond *c)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (DEADLINE_MS, deadline_hit, &expired);

  while (!cond_met (c) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_assert_true (cond_met (c));
}

static void
test_flow (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) bob = NULL;
  g_autoptr(GPtrArray) alice_gw1 = NULL;
  g_autoptr(GPtrArray) alice_gw2 = NULL;
  g_autofree char *conv = imp_convid_private (f->alice, f->bob);
  const guint n = 40;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *content = g_strdup_printf ("hello %u", i);

      g_ptr_array_add (ids, imp_uuid_new ());
      publish_chat (f, "gw1", 10, f->alice, f->bob, g_ptr_array_index (ids, i), content);
    }
  wait_for (&(Cond) { f, g_ptr_array_index (ids, n - 1), "gw1", f->bob, n });
  wait_for (&(Cond) { f, NULL, "gw1", f->alice, n });
  wait_for (&(Cond) { f, NULL, "gw2", f->alice, n });

  bob = pushes_for (f, "gw1", f->bob);
  alice_gw1 = pushes_for (f, "gw1", f->alice);
  alice_gw2 = pushes_for (f, "gw2", f->alice);
  g_assert_cmpuint (bob->len, ==, n);
  g_assert_cmpuint (alice_gw1->len, ==, n);
  g_assert_cmpuint (alice_gw2->len, ==, n);
  for (guint i = 0; i < n; i++)
    {
      const Implus__SendReceipt *r = find_receipt (f, g_ptr_array_index (ids, i));
      Implus__Bus__GatewayPush *pb = g_ptr_array_index (bob, i);
      Implus__Bus__GatewayPush *pa = g_ptr_array_index (alice_gw1, i);
      Implus__Bus__GatewayPush *pa2 = g_ptr_array_index (alice_gw2, i);
      g_autofree char *content = g_strdup_printf ("hello %u", i);

      /* Dense seqs in both streams, in send order. */
      g_assert_nonnull (r);
      g_assert_cmpint (r->error_code, ==, IMPLUS__ERROR_CODE__ERROR_CODE_NONE);
      g_assert_cmpint (r->seq, ==, i + 1);
      g_assert_cmpint (r->msg_id, >, 0);
      g_assert_cmpint (r->server_time_ms, >, 0);
      g_assert_cmpstr (r->conversation_id, ==, conv);
      g_assert_cmpuint (count_receipts (f, g_ptr_array_index (ids, i)), ==, 1);

      /* The recipient's copy: its own seq, no client_msg_id. */
      g_assert_cmpint (pb->exclude_conn_id, ==, 0);
      g_assert_cmpint (pb->message->seq, ==, i + 1);
      g_assert_cmpint (pb->message->msg_id, ==, r->msg_id);
      g_assert_cmpint (pb->message->sender_id, ==, f->alice);
      g_assert_cmpint (pb->message->to_user_id, ==, f->bob);
      g_assert_cmpstr (pb->message->content, ==, content);
      g_assert_cmpstr (pb->message->client_msg_id, ==, "");
      g_assert_cmpint (pb->message->send_time_ms, ==, r->server_time_ms);

      /* The sender's other devices: the sender's seq and client_msg_id; on the origin gateway
       * the sending connection is excluded (it has the receipt), elsewhere nobody is. */
      g_assert_cmpint (pa->exclude_conn_id, ==, 10);
      g_assert_cmpint (pa->message->seq, ==, r->seq);
      g_assert_cmpint (pa->message->msg_id, ==, r->msg_id);
      g_assert_cmpstr (pa->message->client_msg_id, ==, g_ptr_array_index (ids, i));
      g_assert_cmpint (pa2->exclude_conn_id, ==, 0);
      g_assert_cmpint (pa2->message->seq, ==, r->seq);
    }
}

static void
test_duplicate (Fixture *f, gconstpointer data)
{
  g_autofree char *id1 = imp_uuid_new ();
  g_autofree char *id2 = imp_uuid_new ();
  Implus__SendReceipt first;
  const Implus__SendReceipt *again;
  guint bob_before, alice_before;

  publish_chat (f, "gw1", 10, f->alice, f->bob, id1, "once");
  wait_for (&(Cond) { f, id1, "gw1", f->bob, 1 });
  /* The sender's copy goes out after the recipient's: count from after it. */
  wait_for (&(Cond) { f, NULL, "gw1", f->alice, 1 });
  first = *find_receipt (f, id1);
  bob_before = n_pushes (f, "gw1", f->bob);
  alice_before = n_pushes (f, "gw1", f->alice);

  /* The client retries (new connection even); then sends something new. Per-key order on the
   * bus means the retry's outcome is out before the new message's. */
  publish_chat (f, "gw1", 11, f->alice, f->bob, id1, "once");
  publish_chat (f, "gw1", 10, f->alice, f->bob, id2, "twice");
  wait_for (&(Cond) { f, id2, "gw1", f->bob, bob_before + 1 });
  g_assert_cmpuint (count_receipts (f, id1), ==, 2);
  for (guint i = 0, n = 0; i < f->seen->len; i++)
    {
      Seen *s = g_ptr_array_index (f->seen, i);
      const Implus__SendReceipt *r;

      if (s->rec->body_case != IMPLUS__BUS__GATEWAY_RECORD__BODY_RECEIPT)
        continue;
      r = s->rec->receipt->receipt;
      if (!g_str_equal (r->client_msg_id, id1) || n++ == 0)
        continue;
      /* The replay's receipt is the original one, sent to the retrying connection. */
      again = r;
      g_assert_cmpint (s->rec->receipt->conn_id, ==, 11);
      g_assert_cmpint (again->error_code, ==, 0);
      g_assert_cmpint (again->msg_id, ==, first.msg_id);
      g_assert_cmpint (again->seq, ==, first.seq);
      g_assert_cmpint (again->server_time_ms, ==, first.server_time_ms);
      g_assert_cmpstr (again->conversation_id, ==, first.conversation_id);
    }
  /* No second push: only id2's. */
  g_assert_cmpuint (n_pushes (f, "gw1", f->bob), ==, bob_before + 1);
  wait_for (&(Cond) { f, NULL, "gw1", f->alice, alice_before + 1 });
  g_assert_cmpuint (n_pushes (f, "gw1", f->alice), ==, alice_before + 1);
  g_assert_cmpint (find_receipt (f, id2)->seq, ==, first.seq + 1);
}

static void
test_refused (Fixture *f, gconstpointer data)
{
  g_autofree char *unknown = imp_uuid_new ();
  g_autofree char *empty = imp_uuid_new ();
  g_autofree char *good = imp_uuid_new ();
  const Implus__SendReceipt *r;
  gsize len = 5;
  g_autoptr(GBytes) garbage = g_bytes_new_static ("\xff\xff\xff\xff\xff", len);

  publish_chat (f, "gw1", 10, f->alice, 999999, unknown, "anyone there?");
  publish_chat (f, "gw1", 10, f->alice, f->bob, empty, "");
  /* Undecodable: dropped and counted, the worker goes on. */
  g_assert_true (imp_bus_publish (f->bus, IMP_TOPIC_CONVERSATION_MESSAGES, "x", garbage, NULL));
  publish_chat (f, "gw1", 10, f->alice, f->bob, good, "fine");
  wait_for (&(Cond) { f, good, "gw1", f->bob, 1 });
  wait_for (&(Cond) { f, unknown, NULL, 0, 0 });
  wait_for (&(Cond) { f, empty, NULL, 0, 0 });

  r = find_receipt (f, unknown);
  g_assert_cmpint (r->error_code, ==, IMPLUS__ERROR_CODE__ERROR_CODE_UNKNOWN_USER);
  g_assert_cmpint (r->msg_id, ==, 0);
  g_assert_cmpint (r->seq, ==, 0);
  r = find_receipt (f, empty);
  g_assert_cmpint (r->error_code, ==, IMPLUS__ERROR_CODE__ERROR_CODE_CONTENT_EMPTY);
  /* Nothing stored for the refused ones: the good one is seq 1 in both streams. */
  r = find_receipt (f, good);
  g_assert_cmpint (r->error_code, ==, 0);
  g_assert_cmpint (r->seq, ==, 1);
  g_assert_cmpuint (n_pushes (f, "gw1", f->bob), ==, 1);
  wait_for (&(Cond) { f, NULL, "gw1", f->alice, 1 });
  g_assert_cmpuint (n_pushes (f, "gw1", f->alice), ==, 1);
}

static void
publish_ack (Fixture *f, gint64 user, const char *device, gint64 up_to_seq)
{
  Implus__Bus__AckRecord ack = IMPLUS__BUS__ACK_RECORD__INIT;
  g_autoptr(GBytes) bytes = NULL;
  char key[24];
  gsize size;
  guint8 *buf;

  ack.user_id = user;
  ack.device_id = (char *) device;
  ack.up_to_seq = up_to_seq;
  size = implus__bus__ack_record__get_packed_size (&ack);
  buf = g_malloc (size);
  implus__bus__ack_record__pack (&ack, buf);
  bytes = g_bytes_new_take (buf, size);
  g_snprintf (key, sizeof key, "%" G_GINT64_FORMAT, user);
  g_assert_true (imp_bus_publish (f->bus, IMP_TOPIC_MESSAGE_ACKS, key, bytes, NULL));
}

/* Waits (DEADLINE_MS) until *counter, one of the gate's, is above 0; FALSE if it never was. */
static gboolean
gate_wait (FlakyStore *store, guint *counter)
{
  gint64 until = g_get_monotonic_time () + DEADLINE_MS * G_TIME_SPAN_MILLISECOND;
  gboolean reached;

  g_mutex_lock (&store->gate_lock);
  while (*counter == 0 && g_cond_wait_until (&store->gate_cond, &store->gate_lock, until))
    ;
  reached = *counter > 0;
  g_mutex_unlock (&store->gate_lock);
  return reached;
}

static void
test_stored (Fixture *f, gconstpointer data)
{
  g_autofree char *id = imp_uuid_new ();
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GError) error = NULL;

  publish_chat (f, "gw1", 10, f->alice, f->bob, id, "kept");
  wait_for (&(Cond) { f, id, "gw1", f->bob, 1 });
  /* The receipt came after the commit: the row is there to pull. */
  rows = imp_store_stream_pull (f->store, f->bob, 0, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rows->len, ==, 1);
  g_assert_cmpstr (((ImpMessageRecord *) g_ptr_array_index (rows, 0))->content, ==, "kept");

  /* The ACK reaches the store (on either thread layout). */
  publish_ack (f, f->bob, "bob-dev", 1);
  g_assert_true (gate_wait (f->flaky, &f->flaky->recorded));
}

static void
gate_set (FlakyStore *store, gboolean hold)
{
  g_mutex_lock (&store->gate_lock);
  store->hold = hold;
  g_cond_broadcast (&store->gate_cond);
  g_mutex_unlock (&store->gate_lock);
}

/* On a store with parallel writes, ACKs and read marks have a thread of their own: an ACK batch
 * stuck in the store (its delivery record, or the lookups of the delivered notices) does not
 * hold up sends. With one thread the receipt below would wait for the gate (30 s), past
 * wait_for's deadline (10 s). */
static void
test_ack_lane (Fixture *f, gconstpointer data)
{
  g_autofree char *first = imp_uuid_new ();
  g_autofree char *second = imp_uuid_new ();

  publish_chat (f, "gw1", 10, f->alice, f->bob, first, "one");
  wait_for (&(Cond) { f, first, "gw1", f->bob, 1 });

  gate_set (f->flaky, TRUE);
  publish_ack (f, f->bob, "bob-dev", 1);
  g_assert_true (gate_wait (f->flaky, &f->flaky->held));  /* the ACK batch is in the store, held */

  publish_chat (f, "gw1", 10, f->alice, f->bob, second, "two");
  wait_for (&(Cond) { f, second, "gw1", f->bob, 2 });
  g_assert_cmpint (find_receipt (f, second)->seq, ==, 2);

  /* Released, the ACK is recorded. */
  gate_set (f->flaky, FALSE);
  g_assert_true (gate_wait (f->flaky, &f->flaky->recorded));
  g_assert_cmpuint (f->flaky->recorded, ==, 1);
}

/* The bus redelivers a batch whose commit failed; the dedup key makes a replay of a batch that
 * did commit harmless: same ids and seqs, one row per message, no hole in the streams. */
static void
test_store_unavailable (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GError) error = NULL;
  const guint n = 6;

  g_atomic_int_set (&f->flaky->fail_before, 2);
  g_atomic_int_set (&f->flaky->fail_after, 1);
  for (guint i = 0; i < n; i++)
    {
      g_ptr_array_add (ids, imp_uuid_new ());
      publish_chat (f, "gw1", 10, f->alice, f->bob, g_ptr_array_index (ids, i), "retry me");
    }
  for (guint i = 0; i < n; i++)
    wait_for (&(Cond) { f, g_ptr_array_index (ids, i), NULL, 0, 0 });
  /* Two refusals, one lost answer, then success (the last maybe in more than one batch). */
  g_assert_cmpint (g_atomic_int_get (&f->flaky->calls), >=, 4);
  for (guint i = 0; i < n; i++)
    {
      const Implus__SendReceipt *r = find_receipt (f, g_ptr_array_index (ids, i));

      g_assert_cmpint (r->error_code, ==, 0);
      g_assert_cmpint (r->seq, ==, i + 1);
      g_assert_cmpuint (count_receipts (f, g_ptr_array_index (ids, i)), ==, 1);
    }
  rows = imp_store_stream_pull (f->store, f->bob, 0, 100, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rows->len, ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (((ImpMessageRecord *) g_ptr_array_index (rows, i))->seq, ==, i + 1);
}

static void
publish_group_chat (Fixture *f, guint64 conn, gint64 sender, gint64 group_id,
                    const char *client_msg_id, const char *content)
{
  Implus__ChatUp chat = IMPLUS__CHAT_UP__INIT;
  Implus__Bus__Chat rec = IMPLUS__BUS__CHAT__INIT;
  g_autofree char *key = imp_convid_group (group_id);
  g_autoptr(GBytes) bytes = NULL;
  gsize size;
  guint8 *buf;

  chat.client_msg_id = (char *) client_msg_id;
  chat.group_id = group_id;
  chat.content = (char *) content;
  rec.gateway_id = (char *) "gw1";
  rec.conn_id = conn;
  rec.user_id = sender;
  rec.device_id = (char *) "dev";
  rec.chat = &chat;
  size = implus__bus__chat__get_packed_size (&rec);
  buf = g_malloc (size);
  implus__bus__chat__pack (&rec, buf);
  bytes = g_bytes_new_take (buf, size);
  g_assert_true (imp_bus_publish (f->bus, IMP_TOPIC_CONVERSATION_MESSAGES, key, bytes, NULL));
}

static guint
n_group_pushes (Fixture *f, const char *gateway)
{
  guint n = 0;

  for (guint i = 0; i < f->seen->len; i++)
    {
      Seen *s = g_ptr_array_index (f->seen, i);

      n += s->rec->body_case == IMPLUS__BUS__GATEWAY_RECORD__BODY_GROUP_PUSH &&
           g_str_equal (s->gateway, gateway);
    }
  return n;
}

static const Implus__Bus__GatewayGroupPush *
group_push_on (Fixture *f, const char *gateway)
{
  for (guint i = 0; i < f->seen->len; i++)
    {
      Seen *s = g_ptr_array_index (f->seen, i);

      if (s->rec->body_case == IMPLUS__BUS__GATEWAY_RECORD__BODY_GROUP_PUSH &&
          g_str_equal (s->gateway, gateway))
        return s->rec->group_push;
    }
  return NULL;
}

/* The store's refusals become explicit receipts: MUTED says until when (ISO 8601, UTC). */
static void
test_social_refusals (Fixture *f, gconstpointer data)
{
  g_autofree char *id1 = imp_uuid_new ();
  g_autofree char *id2 = imp_uuid_new ();
  g_autoptr(GError) error = NULL;
  const Implus__SendReceipt *r;

  g_assert_true (imp_store_user_set_muted (f->store, f->alice, G_GINT64_CONSTANT (1893456000000),
                                           &error));
  publish_chat (f, "gw1", 10, f->alice, f->bob, id1, "shh");
  wait_for (&(Cond) { f, id1, NULL, 0, 0 });
  r = find_receipt (f, id1);
  g_assert_cmpint (r->error_code, ==, IMP_ERROR_MUTED);
  g_assert_cmpstr (r->error_reason, ==, "muted until 2030-01-01T00:00:00Z");
  g_assert_cmpint (r->seq, ==, 0);

  g_assert_true (imp_store_user_set_muted (f->store, f->alice, 0, &error));
  g_assert_true (imp_store_block (f->store, f->bob, f->alice, imp_now_ms (), &error));
  publish_chat (f, "gw1", 10, f->alice, f->bob, id2, "hello?");
  wait_for (&(Cond) { f, id2, NULL, 0, 0 });
  r = find_receipt (f, id2);
  g_assert_cmpint (r->error_code, ==, IMP_ERROR_BLOCKED);
  g_assert_cmpuint (n_pushes (f, "gw1", f->bob), ==, 0);
}

/* A group send: the receipt carries the conversation seq; one GatewayGroupPush per live gateway
 * (the origin's excludes the sending connection); a non-member gets NOT_MEMBER and no push. */
static void
test_group (Fixture *f, gconstpointer data)
{
  g_autofree char *id1 = imp_uuid_new ();
  g_autofree char *id2 = imp_uuid_new ();
  g_autofree char *id3 = imp_uuid_new ();
  g_autofree char *conv = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpGroupChange) change = NULL;
  g_autoptr(ImpGroupRecord) group = NULL;
  g_autoptr(ImpIdGen) ids = imp_id_gen_new (9);
  const Implus__SendReceipt *r;
  const Implus__Bus__GatewayGroupPush *gp;
  gint64 carol = 0;

  imp_cache_gateway_announce (f->cache, "gw1", "h:1", "ws://h:2/", 0, 600000);
  imp_cache_gateway_announce (f->cache, "gw2", "h:3", "ws://h:4/", 0, 600000);
  g_assert_true (imp_store_user_create (f->store, "carol", "Carol", "x", imp_now_ms (), &carol, &error));
  change = imp_store_group_create (f->store, f->alice, "g", &f->bob, 1, 10, ids, imp_now_ms (), &error);
  g_assert_no_error (error);
  conv = imp_convid_group (change->group_id);
  group = imp_store_group_get (f->store, change->group_id, &error);
  g_assert_no_error (error);

  publish_group_chat (f, 10, f->alice, change->group_id, id1, "hi all");
  wait_for (&(Cond) { f, id1, NULL, 0, 0 });
  r = find_receipt (f, id1);
  g_assert_cmpint (r->error_code, ==, 0);
  g_assert_cmpint (r->seq, ==, group->last_seq + 1);
  g_assert_cmpstr (r->conversation_id, ==, conv);

  /* The refused send is published after the good one's pushes (same key: in order). */
  publish_group_chat (f, 30, carol, change->group_id, id2, "me too");
  publish_group_chat (f, 10, f->alice, change->group_id, id3, "second");
  wait_for (&(Cond) { f, id3, NULL, 0, 0 });
  {
    gboolean expired = FALSE;
    guint t = g_timeout_add (DEADLINE_MS, deadline_hit, &expired);

    while ((n_group_pushes (f, "gw1") < 2 || n_group_pushes (f, "gw2") < 2) && !expired)
      g_main_context_iteration (NULL, TRUE);
    if (!expired)
      g_source_remove (t);
  }
  r = find_receipt (f, id2);
  g_assert_nonnull (r);
  g_assert_cmpint (r->error_code, ==, IMP_ERROR_NOT_MEMBER);
  g_assert_cmpuint (n_group_pushes (f, "gw1"), ==, 2);
  g_assert_cmpuint (n_group_pushes (f, "gw2"), ==, 2);
  /* No per-member push records at all. */
  g_assert_cmpuint (n_pushes (f, "gw1", f->bob) + n_pushes (f, "gw1", f->alice), ==, 0);
  gp = group_push_on (f, "gw1");
  g_assert_cmpint (gp->group_id, ==, change->group_id);
  g_assert_cmpuint (gp->exclude_conn_id, ==, 10);
  g_assert_cmpstr (gp->message->content, ==, "hi all");
  g_assert_cmpint (gp->message->seq, ==, group->last_seq + 1);
  g_assert_cmpint (gp->message->group_id, ==, change->group_id);
  gp = group_push_on (f, "gw2");
  g_assert_cmpuint (gp->exclude_conn_id, ==, 0);
}

/* A cache that cannot answer presence reads (Redis unreachable): forwards the rest to a memory
 * cache. */
typedef struct {
  ImpCache  parent;
  ImpCache *real;   /* borrowed */
} BlindCache;

static void blind_free (ImpCache *base) { g_free (base); }
static void
blind_presence_add (ImpCache *base, gint64 user_id, const char *gw, guint64 conn, gint64 ttl_ms)
{
  imp_cache_presence_add (((BlindCache *) base)->real, user_id, gw, conn, ttl_ms);
}
static void
blind_presence_remove (ImpCache *base, gint64 user_id, const char *gw, guint64 conn)
{
  imp_cache_presence_remove (((BlindCache *) base)->real, user_id, gw, conn);
}
static GStrv blind_presence_gateways (ImpCache *base, gint64 user_id) { return NULL; }
static gboolean blind_last_seen (ImpCache *base, gint64 user_id, gint64 *out_ms) { return FALSE; }
static void blind_revoke (ImpCache *base, const char *token_id, gint64 expires_s) { }
static int blind_is_revoked (ImpCache *base, const char *token_id) { return -1; }
static void
blind_announce (ImpCache *base, const char *id, const char *tcp, const char *ws, guint n, gint64 ttl)
{
  imp_cache_gateway_announce (((BlindCache *) base)->real, id, tcp, ws, n, ttl);
}
static GPtrArray *
blind_gateways_live (ImpCache *base)
{
  return imp_cache_gateways_live (((BlindCache *) base)->real);
}

static const ImpCacheVTable blind_vtable = {
  .name = "blind",
  .free = blind_free,
  .presence_add = blind_presence_add,
  .presence_remove = blind_presence_remove,
  .presence_gateways = blind_presence_gateways,
  .presence_last_seen = blind_last_seen,
  .token_revoke = blind_revoke,
  .token_is_revoked = blind_is_revoked,
  .gateway_announce = blind_announce,
  .gateways_live = blind_gateways_live,
};

/* Presence unknown (the cache unreachable) is not "offline": the push goes to every live gateway
 * of the registry (each drops it if the user has no connection there), never skipped. */
static void
test_unknown_presence (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) bob1 = NULL;
  g_autoptr(GPtrArray) bob2 = NULL;
  g_autoptr(GPtrArray) alice2 = NULL;
  BlindCache *blind = g_new0 (BlindCache, 1);
  g_autofree char *id = imp_uuid_new ();
  g_auto(GStrv) known = NULL;

  blind->parent.vt = &blind_vtable;
  blind->real = f->cache;
  known = imp_cache_presence_lookup (&blind->parent, f->bob);
  g_assert_null (known);
  imp_cache_gateway_announce (f->cache, "gw1", "127.0.0.1:1", "ws://127.0.0.1:2/ws", 0, 600000);
  imp_cache_gateway_announce (f->cache, "gw2", "127.0.0.1:3", "ws://127.0.0.1:4/ws", 0, 600000);
  g_clear_pointer (&f->worker, imp_message_worker_free);
  f->worker = imp_message_worker_new (&f->config, 1, &f->flaky->parent, f->bus, &blind->parent,
                                      &error);
  g_assert_no_error (error);

  publish_chat (f, "gw1", 10, f->alice, f->bob, id, "while the cache is away");
  wait_for (&(Cond) { f, id, "gw1", f->bob, 1 });
  wait_for (&(Cond) { f, NULL, "gw2", f->bob, 1 });
  wait_for (&(Cond) { f, NULL, "gw2", f->alice, 1 });
  bob1 = pushes_for (f, "gw1", f->bob);
  bob2 = pushes_for (f, "gw2", f->bob);
  alice2 = pushes_for (f, "gw2", f->alice);
  g_assert_cmpuint (bob1->len, ==, 1);
  g_assert_cmpuint (bob2->len, ==, 1);
  g_assert_cmpint (((Implus__Bus__GatewayPush *) bob2->pdata[0])->message->seq, ==, 1);
  /* The sender's own connection is still excluded on its gateway only. */
  g_assert_cmpuint (n_pushes (f, "gw1", f->alice), ==, 1);
  g_assert_cmpint (((Implus__Bus__GatewayPush *) alice2->pdata[0])->exclude_conn_id, ==, 0);
  g_assert_cmpuint (count_receipts (f, id), ==, 1);

  g_clear_pointer (&f->worker, imp_message_worker_free);
  imp_cache_free (&blind->parent);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* test_refused's garbage record makes the worker warn once, on its own thread, where neither
   * g_test_expect_message nor a fatal handler (both per thread) reach: warnings are not fatal
   * here, criticals still are. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_test_add ("/message-worker/flow", Fixture, NULL, fixture_set_up, test_flow, fixture_tear_down);
  g_test_add ("/message-worker/social-refusals", Fixture, NULL, fixture_set_up,
              test_social_refusals, fixture_tear_down);
  g_test_add ("/message-worker/group", Fixture, NULL, fixture_set_up, test_group,
              fixture_tear_down);
  g_test_add ("/message-worker/duplicate", Fixture, NULL, fixture_set_up, test_duplicate,
              fixture_tear_down);
  g_test_add ("/message-worker/refused", Fixture, NULL, fixture_set_up, test_refused,
              fixture_tear_down);
  g_test_add ("/message-worker/stored", Fixture, NULL, fixture_set_up, test_stored,
              fixture_tear_down);
  g_test_add ("/message-worker/ack-lane", Fixture, NULL, fixture_set_up, test_ack_lane,
              fixture_tear_down);
  /* One writer (SQLite): ACKs on the chat thread, and the teardown unsubscribes them there. */
  g_test_add ("/message-worker/one-writer/flow", Fixture, ONE_WRITER, fixture_set_up, test_flow,
              fixture_tear_down);
  g_test_add ("/message-worker/one-writer/stored", Fixture, ONE_WRITER, fixture_set_up,
              test_stored, fixture_tear_down);
  g_test_add ("/message-worker/store-unavailable", Fixture, NULL, fixture_set_up,
              test_store_unavailable, fixture_tear_down);
  g_test_add ("/message-worker/unknown-presence", Fixture, NULL, fixture_set_up,
              test_unknown_presence, fixture_tear_down);
  return g_test_run ();
}

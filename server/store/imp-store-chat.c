/* imp-store-chat.c: the send transaction both backends share (docs/store.md "The send
 * transaction"). One transaction per batch over the backend's ImpStoreChatOps. What a batch reads
 * more than once (a user's seq counter, the checks of a pair) is read once and kept here; what it
 * would write more than once (counters, conversation and conversation list rows) is written once,
 * at the end, with the last values. */
#include "imp-store-common.h"
#include "imp-convid.h"

#include <string.h>

/* A user's counter in this batch: row = what the row holds in the transaction (bumped once at
 * first use), last = the last seq handed out (row - 1 until then). */
typedef struct {
  gint64 user_id;  /* key */
  gint64 row;
  gint64 last;
} SeqEntry;

/* The one-to-one checks of a (sender, recipient) pair (IMP_STORE_SQL_CHAT_CHECK): recipient
 * status, sender status, sender muted until, blocked, friends. */
typedef struct {
  gint64 key[2];
  gint64 v[5];
} CheckEntry;

typedef struct {
  ImpStoreConvRows rows;
  char            *conv_id;   /* owned; rows.conv_id points here */
  gboolean         group;     /* a group's conversation: only its last message is written */
} ConvEntry;

guint
imp_store_pair_hash (gconstpointer key)
{
  const gint64 *k = key;

  return g_int64_hash (&k[0]) * 31u + g_int64_hash (&k[1]);
}

gboolean
imp_store_pair_equal (gconstpointer a, gconstpointer b)
{
  const gint64 *x = a, *y = b;

  return x[0] == y[0] && x[1] == y[1];
}

static void
conv_entry_free (gpointer p)
{
  ConvEntry *e = p;

  g_free (e->conv_id);
  g_free (e);
}

static void
batch_init (ImpStoreChatBatch *b)
{
  b->seqs = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, g_free);
  b->checks = g_hash_table_new_full (imp_store_pair_hash, imp_store_pair_equal, NULL, g_free);
  b->convs = g_hash_table_new (g_str_hash, g_str_equal);
  b->conv_order = g_ptr_array_new_with_free_func (conv_entry_free);
  b->groups = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, g_free);
  b->members = g_hash_table_new_full (imp_store_pair_hash, imp_store_pair_equal, NULL, g_free);
}

static void
batch_clear (ImpStoreChatBatch *b)
{
  g_hash_table_unref (b->seqs);
  g_hash_table_unref (b->checks);
  g_hash_table_unref (b->convs);
  g_ptr_array_unref (b->conv_order);
  g_hash_table_unref (b->groups);
  g_hash_table_unref (b->members);
}

/* The user's counter, bumped in the database at its first use in the batch. */
static SeqEntry *
seq_entry (const ImpStoreChatOps *ops, ImpStoreChatBatch *b, gpointer c, gint64 user_id,
           GError **error)
{
  SeqEntry *e = g_hash_table_lookup (b->seqs, &user_id);
  gint64 row;

  if (e != NULL)
    return e;
  if (!ops->seq_next (c, user_id, &row, error))
    return NULL;
  e = g_new (SeqEntry, 1);
  e->user_id = user_id;
  e->row = row;
  e->last = row - 1;
  g_hash_table_insert (b->seqs, &e->user_id, e);
  return e;
}

static ConvEntry *
conv_entry (ImpStoreChatBatch *b, const char *conv_id, gint64 now_ms)
{
  ConvEntry *e = g_hash_table_lookup (b->convs, conv_id);

  if (e != NULL)
    return e;
  e = g_new0 (ConvEntry, 1);
  e->conv_id = g_strdup (conv_id);
  e->rows.conv_id = e->conv_id;
  e->rows.first_ms = now_ms;
  g_hash_table_insert (b->convs, e->conv_id, e);
  g_ptr_array_add (b->conv_order, e);
  return e;
}

void
imp_store_chat_batch_group_message (ImpStoreChatBatch *batch, const char *conv_id,
                                    gint64 msg_id, gint64 now_ms)
{
  ConvEntry *e = conv_entry (batch, conv_id, now_ms);

  e->group = TRUE;
  e->rows.msg_id = msg_id;
  e->rows.last_ms = now_ms;
}

gboolean
imp_store_chat_duplicate (const ImpStoreChatOps *ops, gpointer c, const ImpChatRequest *req,
                          ImpChatResult *res, GError **error)
{
  gboolean found = FALSE;

  imp_chat_result_clear (res);
  if (!ops->dedup_get (c, req, res, &found, error))
    return FALSE;
  if (!found)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "store: send key vanished, retry");
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  CheckEntry *e = data;

  for (int i = 0; i < 5; i++)
    e->v[i] = f->int64 (row, i);
  return FALSE;
}

/* The refusals of a one-to-one send, from one statement per pair and batch: recipient missing or
 * banned, sender banned or muted, the recipient blocked the sender, not friends while
 * friends_only. Sets res->error_code (and muted_until_ms); FALSE only on a database error. */
static gboolean
chat_check (const ImpStoreChatOps *ops, ImpStoreChatBatch *b, gpointer c, gboolean friends_only,
            const ImpChatRequest *req, ImpChatResult *res, GError **error)
{
  gboolean self_chat = (req->to_user_id == req->sender_id);
  gint64 key[2] = { req->sender_id, req->to_user_id };
  CheckEntry *e = g_hash_table_lookup (b->checks, key);
  const gint64 *v;

  if (e == NULL)
    {
      e = g_new0 (CheckEntry, 1);
      e->key[0] = key[0];
      e->key[1] = key[1];
      if (!ops->db->exec (c, IMP_STORE_SQL_CHAT_CHECK,
                          IMP_ARGS (IMP_ARG_INT (req->sender_id), IMP_ARG_INT (req->to_user_id)),
                          check_row, e, NULL, error))
        {
          g_free (e);
          return FALSE;
        }
      g_hash_table_insert (b->checks, e->key, e);
    }
  v = e->v;
  if (v[0] == 0)
    res->error_code = IMP_ERROR_UNKNOWN_USER;
  else if (v[1] == IMP_USER_STATUS_BANNED)
    res->error_code = IMP_ERROR_BANNED;
  else if (v[2] > req->now_ms)
    {
      res->error_code = IMP_ERROR_MUTED;
      res->muted_until_ms = v[2];
    }
  else if (v[0] == IMP_USER_STATUS_BANNED)
    res->error_code = IMP_ERROR_BANNED;
  else if (!self_chat && v[3] > 0)
    res->error_code = IMP_ERROR_BLOCKED;
  else if (!self_chat && friends_only && v[4] == 0)
    res->error_code = IMP_ERROR_FORBIDDEN;
  return TRUE;
}

/* A one-to-one send: checks, the tentative seqs, the key (a duplicate stops here and takes
 * nothing), the message and stream rows; the counters and conversation rows are kept for the
 * end of the batch. */
static gboolean
private_one (const ImpStoreChatOps *ops, ImpStoreChatBatch *b, gpointer c, gboolean friends_only,
             const ImpChatRequest *req, ImpChatResult *res, GError **error)
{
  gboolean self_chat = (req->to_user_id == req->sender_id);
  SeqEntry *se, *re = NULL;
  ConvEntry *conv;
  gboolean dup = FALSE;

  if (req->to_user_id <= 0)
    {
      res->error_code = IMP_ERROR_UNKNOWN_USER;
      return TRUE;
    }
  if (!chat_check (ops, b, c, friends_only, req, res, error))
    return FALSE;
  if (res->error_code != IMP_ERROR_NONE)
    return TRUE;

  if ((se = seq_entry (ops, b, c, req->sender_id, error)) == NULL
      || (!self_chat && (re = seq_entry (ops, b, c, req->to_user_id, error)) == NULL))
    return FALSE;
  res->msg_id = req->msg_id;
  res->send_time_ms = req->now_ms;
  res->conversation_id = imp_convid_private (req->sender_id, req->to_user_id);
  res->sender_seq = se->last + 1;
  res->recipient_seq = re != NULL ? re->last + 1 : 0;
  /* The key first: a repeat (earlier in this batch, or committed before) takes no seq. */
  if (!ops->dedup_insert (c, req, res, &dup, error))
    return FALSE;
  if (dup)
    return imp_store_chat_duplicate (ops, c, req, res, error);
  se->last = res->sender_seq;
  if (re != NULL)
    re->last = res->recipient_seq;

  if (!ops->message_insert (c, req, res->conversation_id, error)
      || !ops->uml_insert (c, req, res->conversation_id, res->sender_seq, res->recipient_seq,
                           error))
    return FALSE;

  conv = conv_entry (b, res->conversation_id, req->now_ms);
  if (conv->rows.user_a == 0)
    {
      conv->rows.user_a = req->sender_id;
      conv->rows.user_b = req->to_user_id;
    }
  conv->rows.seq_a = conv->rows.user_a == req->sender_id ? res->sender_seq : res->recipient_seq;
  conv->rows.seq_b = conv->rows.user_a == req->sender_id ? res->recipient_seq : res->sender_seq;
  conv->rows.msg_id = req->msg_id;
  conv->rows.last_ms = req->now_ms;
  return TRUE;
}

/* One request inside the open transaction. FALSE only on a database error (the batch then
 * rolls back); a refusal sets res->error_code and writes nothing. */
static gboolean
chat_one (const ImpStoreChatOps *ops, ImpStoreChatBatch *b, gpointer c, gboolean friends_only,
          const ImpChatRequest *req, ImpChatResult *res, GError **error)
{
  ImpChatResult orig = { 0 };
  gboolean found = FALSE;
  gboolean ok;

  memset (res, 0, sizeof *res);
  if (req->client_msg_id == NULL || req->client_msg_id[0] == '\0'
      || strlen (req->client_msg_id) > IMP_STORE_CLIENT_MSG_ID_MAX || req->content == NULL
      || req->sender_id <= 0)
    {
      res->error_code = IMP_ERROR_BAD_REQUEST;
      return TRUE;
    }

  if (req->group_id != 0)
    ok = imp_store_group_chat_one (ops, b, c, req, res, error);
  else
    ok = private_one (ops, b, c, friends_only, req, res, error);
  if (!ok || res->error_code == IMP_ERROR_NONE)
    return ok;

  /* Refused: a repeat of an accepted send still gets its receipt (the key decides first). A
   * refusal holds nothing to free. */
  if (!ops->dedup_get (c, req, &orig, &found, error))
    return FALSE;
  if (found)
    *res = orig;
  return TRUE;
}

static int
conv_by_id (gconstpointer a, gconstpointer b)
{
  const ConvEntry *x = *(ConvEntry *const *) a, *y = *(ConvEntry *const *) b;

  return strcmp (x->conv_id, y->conv_id);
}

/* The batch's deferred writes: counters whose row differs from the last seq handed out (a
 * duplicate's bump is given back here), conversation rows, group counters. */
static gboolean
chat_flush (const ImpStoreChatOps *ops, ImpStoreChatBatch *b, gpointer c, GError **error)
{
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, b->seqs);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      SeqEntry *e = value;

      if (e->last != e->row
          && !ops->db->write (c, IMP_STORE_SQL_SEQ_SET,
                              IMP_ARGS (IMP_ARG_INT (e->user_id), IMP_ARG_INT (e->last)), error))
        return FALSE;
    }
  /* One order for every worker: fewer lock waits between processes (MySQL). */
  g_ptr_array_sort (b->conv_order, conv_by_id);
  for (guint i = 0; i < b->conv_order->len; i++)
    {
      ConvEntry *e = g_ptr_array_index (b->conv_order, i);

      if (e->group
          ? !ops->db->write (c, IMP_STORE_SQL_GROUP_CONV_UPDATE,
                             IMP_ARGS (IMP_ARG_TEXT (e->conv_id), IMP_ARG_INT (e->rows.msg_id),
                                       IMP_ARG_INT (e->rows.last_ms)), error)
          : !ops->conversation_write (c, &e->rows, error))
        return FALSE;
    }
  return imp_store_group_chat_flush (ops, b, c, error);
}

gboolean
imp_store_chat_run (const ImpStoreChatOps *ops, gpointer conn, gboolean friends_only,
                    const ImpChatRequest *reqs, guint n_reqs, ImpChatResult *results,
                    GError **error)
{
  ImpStoreChatBatch batch;
  gboolean ok;
  guint i;

  memset (results, 0, n_reqs * sizeof *results);
  if (n_reqs == 0)
    return TRUE;
  if (!ops->tx (conn, IMP_STORE_TX_BEGIN, error))
    return FALSE;
  batch_init (&batch);
  for (i = 0; i < n_reqs; i++)
    if (!chat_one (ops, &batch, conn, friends_only, &reqs[i], &results[i], error))
      break;
  ok = i == n_reqs && chat_flush (ops, &batch, conn, error)
       && ops->tx (conn, IMP_STORE_TX_COMMIT, error);
  batch_clear (&batch);
  if (ok)
    return TRUE;

  ops->tx (conn, IMP_STORE_TX_ROLLBACK, NULL);
  for (guint j = 0; j < n_reqs; j++)
    imp_chat_result_clear (&results[j]);
  return FALSE;
}

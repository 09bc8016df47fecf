/* imp-store-mysql-chat.c: the MySQL statements of the send transaction (DESIGN §2, §3). The
 * steps and their order are imp_store_chat_run ()'s (imp-store-chat.c). Here, unlike SQLite,
 * several processes write at once:
 * - seqs: the first use of a user in a batch bumps their user_seq row, which locks it until
 *   commit, and LAST_INSERT_ID(seq + 1) hands back the new value in the same round trip; the
 *   batch then counts in memory and writes the row once at the end (still under the lock), so
 *   two workers never take the same seq and a rollback gives it back (no hole);
 * - dedup: the key is inserted with no lookup first; a key that exists (earlier in the batch,
 *   or committed by another worker) fails with ER_DUP_ENTRY and the original receipt is read;
 * - deadlock (1213) and lock wait timeout (1205) roll the batch back with
 *   IMP_ERROR_UNAVAILABLE: the caller retries the whole batch. */
#include "imp-store-mysql-private.h"

#include <mysqld_error.h>
#include <string.h>

#define SQL_SEQ_NEXT \
  "INSERT INTO user_seq (user_id, seq) VALUES (?1, LAST_INSERT_ID(1)) " \
  "ON DUPLICATE KEY UPDATE seq = LAST_INSERT_ID(seq + 1)"
#define SQL_CONV_UPSERT \
  "INSERT INTO conversation (conversation_id, type, member_count, last_msg_id, " \
  "last_msg_time, create_time, update_time) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?4) " \
  "ON DUPLICATE KEY UPDATE last_msg_id = VALUES(last_msg_id), " \
  "last_msg_time = VALUES(last_msg_time), update_time = VALUES(update_time)"
/* ?1 user, ?2 conversation, ?3 peer, ?4 the user's last seq (?8 the peer's), ?5 last msg id,
 * ?6 last time, ?7 first time (imp-store-chat.c) */
#define SQL_UCL_UPSERT(values) \
  "INSERT INTO user_conversation_list (user_id, conversation_id, peer_id, last_seq, " \
  "last_msg_id, last_update_time, create_time, update_time) " values " " \
  "ON DUPLICATE KEY UPDATE last_seq = VALUES(last_seq), last_msg_id = VALUES(last_msg_id), " \
  "last_update_time = VALUES(last_update_time), update_time = VALUES(update_time)"

typedef ImpMysqlCtx ChatCtx;

#define EXEC(ctx, sql, res, affected, err_no, error, ...) \
  imp_store_mysql_exec ((ctx)->store, (ctx)->conn, sql, IMP_MY_ARGS (__VA_ARGS__), res, affected, \
                        err_no, error)
/* The rows after the dedup key: nothing reads their results, so they go with the next statement
 * (the next request's dedup lookup, or the COMMIT). */
#define DEFER(ctx, sql, error, ...) \
  imp_store_mysql_defer ((ctx)->conn, sql, IMP_MY_ARGS (__VA_ARGS__), error)

static gboolean
dedup_get (gpointer data, const ImpChatRequest *req, ImpChatResult *res, gboolean *found,
           GError **error)
{
  ChatCtx *ctx = data;
  MYSQL_RES *rows = NULL;
  MYSQL_ROW row;

  if (!EXEC (ctx, IMP_STORE_SQL_DEDUP_GET, &rows, NULL, NULL, error,
             IMP_MY_INT (req->sender_id), IMP_MY_TEXT (req->client_msg_id)))
    return FALSE;
  row = rows != NULL ? mysql_fetch_row (rows) : NULL;
  *found = (row != NULL);
  if (*found)
    imp_store_chat_result_from_dedup_row (&imp_store_mysql_row, row, res);
  if (rows != NULL)
    mysql_free_result (rows);
  return TRUE;
}

static gboolean
seq_next (gpointer data, gint64 user_id, gint64 *out_seq, GError **error)
{
  ChatCtx *ctx = data;

  if (!EXEC (ctx, SQL_SEQ_NEXT, NULL, NULL, NULL, error, IMP_MY_INT (user_id)))
    return FALSE;
  *out_seq = (gint64) mysql_insert_id (ctx->conn->mysql);
  return TRUE;
}

static gboolean
dedup_insert (gpointer data, const ImpChatRequest *req, const ImpChatResult *res,
              gboolean *out_duplicate, GError **error)
{
  ChatCtx *ctx = data;
  GError *local = NULL;
  guint code = 0;

  *out_duplicate = FALSE;
  if (EXEC (ctx, IMP_STORE_SQL_DEDUP_INSERT, NULL, NULL, &code, &local,
            IMP_MY_INT (req->sender_id), IMP_MY_TEXT (req->client_msg_id),
            IMP_MY_INT (res->msg_id), IMP_MY_INT (res->sender_seq),
            IMP_MY_INT (res->recipient_seq), IMP_MY_TEXT (res->conversation_id),
            IMP_MY_INT (res->send_time_ms)))
    return TRUE;
  /* The key is send_dedup's primary key: the only duplicate this insert can meet. */
  if (code == ER_DUP_ENTRY)
    {
      g_clear_error (&local);
      *out_duplicate = TRUE;
      return TRUE;
    }
  g_propagate_error (error, local);
  return FALSE;
}

static gboolean
message_insert (gpointer data, const ImpChatRequest *req, const char *conv_id, GError **error)
{
  ChatCtx *ctx = data;

  return DEFER (ctx, IMP_STORE_SQL_MESSAGE_INSERT, error,
               IMP_MY_INT (req->msg_id), IMP_MY_TEXT (conv_id), IMP_MY_INT (req->sender_id),
               IMP_MY_INT (req->to_user_id), IMP_MY_INT (req->content_type),
               IMP_MY_TEXT (req->content), IMP_MY_TEXT (req->client_msg_id),
               IMP_MY_INT (req->now_ms));
}

static gboolean
uml_insert (gpointer data, const ImpChatRequest *req, const char *conv_id, gint64 sender_seq,
            gint64 recipient_seq, GError **error)
{
  ChatCtx *ctx = data;

  if (recipient_seq == 0)
    return DEFER (ctx, IMP_STORE_SQL_UML_INSERT, error,
                  IMP_MY_INT (req->sender_id), IMP_MY_INT (req->msg_id), IMP_MY_TEXT (conv_id),
                  IMP_MY_INT (sender_seq), IMP_MY_INT (req->sender_id), IMP_MY_INT (req->now_ms));
  return DEFER (ctx, IMP_STORE_SQL_UML_INSERT2, error,
                IMP_MY_INT (req->sender_id), IMP_MY_INT (req->msg_id), IMP_MY_TEXT (conv_id),
                IMP_MY_INT (sender_seq), IMP_MY_INT (req->now_ms), IMP_MY_INT (req->to_user_id),
                IMP_MY_INT (recipient_seq));
}

static gboolean
conversation_write (gpointer data, const ImpStoreConvRows *r, GError **error)
{
  ChatCtx *ctx = data;
  gboolean self_chat = r->user_a == r->user_b;

  if (!DEFER (ctx, SQL_CONV_UPSERT, error,
              IMP_MY_TEXT (r->conv_id), IMP_MY_INT (self_chat ? 1 : 2), IMP_MY_INT (r->msg_id),
              IMP_MY_INT (r->last_ms), IMP_MY_INT (r->first_ms)))
    return FALSE;
  if (self_chat)
    return DEFER (ctx, SQL_UCL_UPSERT ("VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6)"), error,
                  IMP_MY_INT (r->user_a), IMP_MY_TEXT (r->conv_id), IMP_MY_INT (r->user_b),
                  IMP_MY_INT (r->seq_a), IMP_MY_INT (r->msg_id), IMP_MY_INT (r->last_ms),
                  IMP_MY_INT (r->first_ms));
  return DEFER (ctx, SQL_UCL_UPSERT ("VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6), "
                                     "(?3, ?2, ?1, ?8, ?5, ?6, ?7, ?6)"), error,
                IMP_MY_INT (r->user_a), IMP_MY_TEXT (r->conv_id), IMP_MY_INT (r->user_b),
                IMP_MY_INT (r->seq_a), IMP_MY_INT (r->msg_id), IMP_MY_INT (r->last_ms),
                IMP_MY_INT (r->first_ms), IMP_MY_INT (r->seq_b));
}

static const ImpStoreChatOps chat_ops = {
  .db = &imp_store_mysql_db,
  .tx = imp_store_mysql_tx_op,
  .dedup_get = dedup_get,
  .seq_next = seq_next,
  .dedup_insert = dedup_insert,
  .message_insert = message_insert,
  .uml_insert = uml_insert,
  .conversation_write = conversation_write,
};

gboolean
imp_store_mysql_chat_commit (ImpStore *store, const ImpChatRequest *reqs, guint n_reqs,
                             ImpChatResult *results, GError **error)
{
  ImpStoreMysql *self = (ImpStoreMysql *) store;
  ChatCtx ctx = { self, NULL };
  gboolean ok;

  memset (results, 0, n_reqs * sizeof *results);
  if (n_reqs == 0)
    return TRUE;
  if ((ctx.conn = imp_store_mysql_conn_acquire (self, error)) == NULL)
    return FALSE;
  ok = imp_store_chat_run (&chat_ops, &ctx, store->friends_only, reqs, n_reqs, results, error);
  imp_store_mysql_conn_release (self, ctx.conn);
  return ok;
}

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
 *   IMP_ERROR_UNAVAILABLE: the caller retries the whole batch.
 * Round trips: the BEGIN also prefetches, in the same round trip, what the steps would ask one
 * statement at a time: every one-to-one user's counter is bumped at once (in user id order, so
 * two workers lock rows in one order) and read back, and every pair's refusal check is run. A
 * bumped counter that no send of the batch takes is given back before the COMMIT (in its round
 * trip), so seqs keep no holes. What the prefetch does not cover falls back on the statements. */
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

/* Prefetched for at most this many requests of a batch (bounds the BEGIN's query). */
#define PREFETCH_MAX 4096
#define SQL_SEQ_READ "SELECT user_id, seq FROM user_seq WHERE user_id IN (%s) FOR UPDATE"

/* Deferred statements beyond this size go out with the next statement that waits anyway. */
#define PENDING_MAX (1024 * 1024)
#define SQL_DEDUP_INSERT_IGNORE \
  "INSERT IGNORE INTO send_dedup (sender_id, client_msg_id, msg_id, sender_seq, recipient_seq, " \
  "conversation_id, send_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"

typedef struct {
  gint64   row;        /* the bumped value, what seq_next would have returned */
  gboolean taken;
} SeqPre;

typedef struct {
  ImpMysqlCtx  base;   /* first: the generic statements (imp_store_mysql_db) take a ChatCtx */
  const ImpChatRequest *reqs;
  guint        n_reqs;
  GHashTable  *seqs;   /* &user_id -> SeqPre (owned: g_free) */
  GHashTable  *checks; /* "a/b" -> GStrv of the check's 5 columns */
  GPtrArray   *check_keys; /* the checks' keys, in statement order */
  GHashTable  *keys_asked;  /* "sender/cmid": looked up in send_dedup by the BEGIN */
  GHashTable  *keys_taken;  /* of those: committed before, or inserted by this batch */
  GString     *keys_check;  /* the keys inserted without waiting, as an OR of conditions */
  guint        n_keys_check;
} ChatCtx;

#define EXEC(ctx, sql, res, affected, err_no, error, ...) \
  imp_store_mysql_exec ((ctx)->base.store, (ctx)->base.conn, sql, IMP_MY_ARGS (__VA_ARGS__), res, affected, \
                        err_no, error)
/* The rows after the dedup key: nothing reads their results, so they go with the next statement
 * (the next request's dedup lookup, or the COMMIT). */
#define DEFER(ctx, sql, error, ...) \
  imp_store_mysql_defer ((ctx)->base.conn, sql, IMP_MY_ARGS (__VA_ARGS__), error)

static char *
dedup_key (gint64 sender_id, const char *client_msg_id)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT "/%s", sender_id, client_msg_id);
}

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
  SeqPre *pre = ctx->seqs != NULL ? g_hash_table_lookup (ctx->seqs, &user_id) : NULL;

  if (pre != NULL && !pre->taken)
    {
      pre->taken = TRUE;
      *out_seq = pre->row;
      return TRUE;
    }
  if (!EXEC (ctx, SQL_SEQ_NEXT, NULL, NULL, NULL, error, IMP_MY_INT (user_id)))
    return FALSE;
  *out_seq = (gint64) mysql_insert_id (ctx->base.conn->mysql);
  return TRUE;
}

static gboolean
dedup_insert (gpointer data, const ImpChatRequest *req, const ImpChatResult *res,
              gboolean *out_duplicate, GError **error)
{
  ChatCtx *ctx = data;
  GError *local = NULL;
  guint code = 0;
  g_autofree char *key = NULL;

  *out_duplicate = FALSE;
  if (ctx->keys_asked != NULL
      && g_hash_table_contains (ctx->keys_asked, key = dedup_key (req->sender_id, req->client_msg_id))
      && (ctx->base.conn->pending == NULL || ctx->base.conn->pending->len < PENDING_MAX))
    {
      /* Known to be free when the batch began, so no round trip: the insert goes with the next
       * statement. IGNORE: should another writer commit the key meanwhile, the COMMIT's check
       * finds our row missing and the batch is retried (dedup_verify). */
      if (g_hash_table_contains (ctx->keys_taken, key))
        {
          *out_duplicate = TRUE;
          return TRUE;
        }
      if (!DEFER (ctx, SQL_DEDUP_INSERT_IGNORE, error,
                  IMP_MY_INT (req->sender_id), IMP_MY_TEXT (req->client_msg_id),
                  IMP_MY_INT (res->msg_id), IMP_MY_INT (res->sender_seq),
                  IMP_MY_INT (res->recipient_seq), IMP_MY_TEXT (res->conversation_id),
                  IMP_MY_INT (res->send_time_ms)))
        return FALSE;
      if (ctx->n_keys_check > 0)
        g_string_append (ctx->keys_check, " OR ");
      if (!imp_store_mysql_format (ctx->base.conn, ctx->keys_check,
                                   "(sender_id = ?1 AND client_msg_id = ?2 AND msg_id = ?3)",
                                   IMP_MY_ARGS (IMP_MY_INT (req->sender_id),
                                                IMP_MY_TEXT (req->client_msg_id),
                                                IMP_MY_INT (res->msg_id)), error))
        return FALSE;
      ctx->n_keys_check++;
      g_hash_table_add (ctx->keys_taken, g_steal_pointer (&key));
      return TRUE;
    }
  if (EXEC (ctx, IMP_STORE_SQL_DEDUP_INSERT, NULL, NULL, &code, &local,
            IMP_MY_INT (req->sender_id), IMP_MY_TEXT (req->client_msg_id),
            IMP_MY_INT (res->msg_id), IMP_MY_INT (res->sender_seq),
            IMP_MY_INT (res->recipient_seq), IMP_MY_TEXT (res->conversation_id),
            IMP_MY_INT (res->send_time_ms)))
    {
      /* A later repeat in the batch must see this key as taken. */
      if (key != NULL && ctx->keys_taken != NULL)
        g_hash_table_add (ctx->keys_taken, g_steal_pointer (&key));
      return TRUE;
    }
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

static char *
check_key (gint64 a, gint64 b)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT, a, b);
}

static gboolean
prefetchable (const ImpChatRequest *req)
{
  return req->group_id == 0 && req->sender_id > 0 && req->to_user_id > 0;
}

typedef enum {
  STMT_NONE,      /* START TRANSACTION, the bump */
  STMT_SEQS,
  STMT_KEYS,
  STMT_CHECK,     /* the first check; the others follow */
} StmtKind;

typedef struct {
  ChatCtx *ctx;
  guint    seqs_at, keys_at, checks_at;   /* statement indexes; G_MAXUINT: none */
} Prefetch;

static void
read_seqs (ChatCtx *ctx, MYSQL_RES *res)
{
  MYSQL_ROW row;

  while ((row = mysql_fetch_row (res)) != NULL)
    if (row[0] != NULL && row[1] != NULL)
      {
        gint64 user = g_ascii_strtoll (row[0], NULL, 10);
        SeqPre *pre = g_new0 (SeqPre, 1);

        pre->row = g_ascii_strtoll (row[1], NULL, 10);
        g_hash_table_insert (ctx->seqs, g_memdup2 (&user, sizeof user), pre);
      }
}

static void
read_check (ChatCtx *ctx, guint i, MYSQL_RES *res)
{
  MYSQL_ROW row;
  GStrvBuilder *b;

  if (i >= ctx->check_keys->len || mysql_num_fields (res) != 5
      || (row = mysql_fetch_row (res)) == NULL)
    return;
  b = g_strv_builder_new ();
  for (int k = 0; k < 5; k++)
    g_strv_builder_add (b, row[k] != NULL ? row[k] : "0");
  g_hash_table_insert (ctx->checks, g_strdup (g_ptr_array_index (ctx->check_keys, i)),
                       g_strv_builder_end (b));
  g_strv_builder_unref (b);
}

static void
prefetch_result (guint index, MYSQL_RES *res, gpointer data)
{
  Prefetch *pf = data;
  ChatCtx *ctx = pf->ctx;
  MYSQL_ROW row;

  if (res == NULL)
    return;
  if (index == pf->seqs_at)
    read_seqs (ctx, res);
  else if (index == pf->keys_at)
    {
      while ((row = mysql_fetch_row (res)) != NULL)
        if (row[0] != NULL && row[1] != NULL)
          g_hash_table_add (ctx->keys_taken, g_strdup_printf ("%s/%s", row[0], row[1]));
    }
  else if (pf->checks_at != G_MAXUINT && index >= pf->checks_at)
    read_check (ctx, index - pf->checks_at, res);
}

static void
prefetch_clear (ChatCtx *ctx)
{
  g_clear_pointer (&ctx->seqs, g_hash_table_unref);
  g_clear_pointer (&ctx->checks, g_hash_table_unref);
  g_clear_pointer (&ctx->check_keys, g_ptr_array_unref);
  g_clear_pointer (&ctx->keys_asked, g_hash_table_unref);
  g_clear_pointer (&ctx->keys_taken, g_hash_table_unref);
  if (ctx->keys_check != NULL)
    g_string_free (g_steal_pointer (&ctx->keys_check), TRUE);
  ctx->n_keys_check = 0;
}

static int
cmp_int64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

/* The counters of the batch's one-to-one users: bumped (in user id order) and read back. */
static guint
add_seqs (ChatCtx *ctx, GString *q, guint n, guint *n_stmts)
{
  g_autoptr(GArray) users = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  g_autoptr(GString) list = g_string_sized_new (256);

  for (guint i = 0; i < n; i++)
    {
      const ImpChatRequest *req = &ctx->reqs[i];
      gint64 ids[2] = { req->sender_id, req->to_user_id };

      if (!prefetchable (req))
        continue;
      for (guint k = 0; k < 2; k++)
        if (!g_hash_table_contains (seen, &ids[k]))
          {
            g_hash_table_add (seen, g_memdup2 (&ids[k], sizeof ids[k]));
            g_array_append_val (users, ids[k]);
          }
    }
  if (users->len == 0)
    return G_MAXUINT;
  g_array_sort (users, cmp_int64);
  g_string_append (q, "INSERT INTO user_seq (user_id, seq) VALUES ");
  for (guint i = 0; i < users->len; i++)
    {
      gint64 u = g_array_index (users, gint64, i);

      g_string_append_printf (q, "%s(%" G_GINT64_FORMAT ", 1)", i > 0 ? ", " : "", u);
      g_string_append_printf (list, "%s%" G_GINT64_FORMAT, i > 0 ? ", " : "", u);
    }
  g_string_append (q, " ON DUPLICATE KEY UPDATE seq = seq + 1;");
  g_string_append_printf (q, SQL_SEQ_READ ";", list->str);
  *n_stmts += 2;
  return *n_stmts - 1;
}

/* The batch's send keys already in send_dedup (a range lookup on the primary key each). */
static guint
add_keys (ChatCtx *ctx, GString *q, guint n, guint *n_stmts, GError **error)
{
  guint asked = 0;

  for (guint i = 0; i < n; i++)
    {
      const ImpChatRequest *req = &ctx->reqs[i];
      g_autofree char *key = NULL;

      if (req->client_msg_id == NULL || req->client_msg_id[0] == '\0'
          || strlen (req->client_msg_id) > IMP_STORE_CLIENT_MSG_ID_MAX || req->sender_id <= 0)
        continue;
      key = dedup_key (req->sender_id, req->client_msg_id);
      if (g_hash_table_contains (ctx->keys_asked, key))
        continue;
      g_string_append (q, asked == 0 ? "SELECT sender_id, client_msg_id FROM send_dedup WHERE "
                                     : " OR ");
      if (!imp_store_mysql_format (ctx->base.conn, q, "(sender_id = ?1 AND client_msg_id = ?2)",
                                   IMP_MY_ARGS (IMP_MY_INT (req->sender_id),
                                                IMP_MY_TEXT (req->client_msg_id)), error))
        return 0;
      g_hash_table_add (ctx->keys_asked, g_steal_pointer (&key));
      asked++;
    }
  if (asked == 0)
    return G_MAXUINT;
  g_string_append_c (q, ';');
  return (*n_stmts)++;
}

/* One check per pair of the batch. */
static guint
add_checks (ChatCtx *ctx, GString *q, guint n, guint *n_stmts, GError **error)
{
  g_autoptr(GHashTable) queued = g_hash_table_new (g_str_hash, g_str_equal);
  guint first = *n_stmts;

  for (guint i = 0; i < n; i++)
    {
      const ImpChatRequest *req = &ctx->reqs[i];
      g_autofree char *key = NULL;

      if (!prefetchable (req))
        continue;
      key = check_key (req->sender_id, req->to_user_id);
      if (g_hash_table_contains (queued, key))
        continue;
      if (!imp_store_mysql_format (ctx->base.conn, q, IMP_STORE_SQL_CHAT_CHECK,
                                   IMP_MY_ARGS (IMP_MY_INT (req->sender_id),
                                                IMP_MY_INT (req->to_user_id)), error))
        return 0;
      g_string_append_c (q, ';');
      g_hash_table_add (queued, key);
      g_ptr_array_add (ctx->check_keys, g_steal_pointer (&key));
      (*n_stmts)++;
    }
  return *n_stmts > first ? first : G_MAXUINT;
}

/* START TRANSACTION, the counters' bump and read back, the send keys, the checks: one round
 * trip. */
static gboolean
begin_prefetch (ChatCtx *ctx, GError **error)
{
  g_autoptr(GString) q = g_string_sized_new (8192);
  guint n = MIN (ctx->n_reqs, PREFETCH_MAX);
  guint n_stmts = 1;
  Prefetch pf = { ctx, G_MAXUINT, G_MAXUINT, G_MAXUINT };

  if (ctx->base.conn->mysql == NULL)
    return imp_store_mysql_tx_op (&ctx->base, IMP_STORE_TX_BEGIN, error);
  ctx->seqs = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  ctx->checks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_strfreev);
  ctx->check_keys = g_ptr_array_new_with_free_func (g_free);
  ctx->keys_asked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ctx->keys_taken = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ctx->keys_check = g_string_sized_new (1024);

  g_string_append (q, "START TRANSACTION;");
  pf.seqs_at = add_seqs (ctx, q, n, &n_stmts);
  if ((pf.keys_at = add_keys (ctx, q, n, &n_stmts, error)) == 0
      || (pf.checks_at = add_checks (ctx, q, n, &n_stmts, error)) == 0)
    return FALSE;
  g_string_truncate (q, q->len - 1);   /* no empty statement at the end */
  if (imp_store_mysql_exec_multi (ctx->base.store, ctx->base.conn, q, prefetch_result, &pf, error))
    return TRUE;
  /* A lock wait timeout undoes only its statement: end the transaction here. */
  imp_store_mysql_tx_op (&ctx->base, IMP_STORE_TX_ROLLBACK, NULL);
  prefetch_clear (ctx);
  return FALSE;
}

/* The send keys inserted without a round trip are all there, with this batch's msg ids (an
 * IGNOREd insert means another writer took the key since the BEGIN: the batch is retried and
 * then sees it as a repeat). Goes with the deferred writes, before the COMMIT. */
static gboolean
dedup_verify (ChatCtx *ctx, GError **error)
{
  g_autoptr(GString) sql = NULL;
  MYSQL_RES *res = NULL;
  MYSQL_ROW row;
  gint64 found = -1;

  if (ctx->n_keys_check == 0)
    return TRUE;
  sql = g_string_new ("SELECT count(*) FROM send_dedup WHERE ");
  g_string_append_len (sql, ctx->keys_check->str, ctx->keys_check->len);
  if (!imp_store_mysql_exec (ctx->base.store, ctx->base.conn, sql->str, NULL, 0, &res, NULL,
                             NULL, error))
    return FALSE;
  if (res != NULL && (row = mysql_fetch_row (res)) != NULL && row[0] != NULL)
    found = g_ascii_strtoll (row[0], NULL, 10);
  if (res != NULL)
    mysql_free_result (res);
  if (found == (gint64) ctx->n_keys_check)
    return TRUE;
  g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE,
               "store: a send key was taken by another writer meanwhile, retry");
  return FALSE;
}

/* Gives back the counters bumped by the prefetch that no send took (their rows are still
 * locked by this transaction, so "- 1" restores exactly the value before the bump). */
static gboolean
give_back (ChatCtx *ctx, GError **error)
{
  g_autoptr(GString) list = g_string_new (NULL);
  GHashTableIter it;
  gpointer key, value;

  if (ctx->seqs == NULL)
    return TRUE;
  g_hash_table_iter_init (&it, ctx->seqs);
  while (g_hash_table_iter_next (&it, &key, &value))
    if (!((SeqPre *) value)->taken)
      g_string_append_printf (list, "%s%" G_GINT64_FORMAT, list->len > 0 ? ", " : "",
                              *(gint64 *) key);
  if (list->len == 0)
    return TRUE;
  g_string_prepend (list, "UPDATE user_seq SET seq = seq - 1 WHERE user_id IN (");
  g_string_append_c (list, ')');
  return imp_store_mysql_defer (ctx->base.conn, list->str, NULL, 0, error);
}

static gboolean
chat_tx (gpointer data, ImpStoreTx what, GError **error)
{
  ChatCtx *ctx = data;

  switch (what)
    {
    case IMP_STORE_TX_BEGIN:
      return begin_prefetch (ctx, error);
    case IMP_STORE_TX_COMMIT:
      return give_back (ctx, error) && dedup_verify (ctx, error)
             && imp_store_mysql_tx_op (&ctx->base, what, error);
    case IMP_STORE_TX_ROLLBACK:
    default:
      return imp_store_mysql_tx_op (&ctx->base, what, error);
    }
}

/* The generic statements, except that a prefetched check is answered from memory. */
static gboolean
chat_db_exec (gpointer data, const char *sql, const ImpStoreArg *args, guint n_args,
              ImpStoreRowCb row_cb, gpointer cb_data, gint64 *out_changes, GError **error)
{
  ChatCtx *ctx = data;

  if (ctx->checks != NULL && row_cb != NULL && n_args == 2 && !args[0].is_text
      && !args[1].is_text && strcmp (sql, IMP_STORE_SQL_CHAT_CHECK) == 0)
    {
      g_autofree char *key = check_key (args[0].i, args[1].i);
      GStrv row = g_hash_table_lookup (ctx->checks, key);

      if (row != NULL)
        {
          row_cb (&imp_store_mysql_row, row, cb_data);
          if (out_changes != NULL)
            *out_changes = 0;
          return TRUE;
        }
    }
  return imp_store_mysql_db.exec (data, sql, args, n_args, row_cb, cb_data, out_changes, error);
}

static ImpStoreDbOps chat_db;

static const ImpStoreChatOps chat_ops = {
  .db = &chat_db,
  .tx = chat_tx,
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
  static gsize db_ready = 0;
  ImpStoreMysql *self = (ImpStoreMysql *) store;
  ChatCtx ctx = { { self, NULL }, reqs, n_reqs, NULL, NULL, NULL, NULL, NULL, NULL, 0 };
  gboolean ok;

  memset (results, 0, n_reqs * sizeof *results);
  if (n_reqs == 0)
    return TRUE;
  if (g_once_init_enter (&db_ready))
    {
      chat_db = imp_store_mysql_db;
      chat_db.exec = chat_db_exec;
      g_once_init_leave (&db_ready, 1);
    }
  if ((ctx.base.conn = imp_store_mysql_conn_acquire (self, error)) == NULL)
    return FALSE;
  ok = imp_store_chat_run (&chat_ops, &ctx, store->friends_only, reqs, n_reqs, results, error);
  imp_store_mysql_conn_release (self, ctx.base.conn);
  prefetch_clear (&ctx);
  return ok;
}

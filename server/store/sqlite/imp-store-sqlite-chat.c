/* imp-store-sqlite-chat.c: the SQLite statements of the send transaction (DESIGN §2, §3). The
 * steps and their order are imp_store_chat_run ()'s (imp-store-chat.c); here one
 * BEGIN IMMEDIATE ... COMMIT per batch under the store's write lock. */
#include "imp-store-sqlite-private.h"

#include <string.h>

/* Looks the dedup key up; TRUE with *found set, FALSE on a database error. */
static gboolean
dedup_get (gpointer conn, const ImpChatRequest *req, ImpChatResult *res, gboolean *found,
           GError **error)
{
  ImpSqliteConn *c = conn;
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (c, IMP_SQL_DEDUP_GET, error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, req->sender_id);
  sqlite3_bind_text (stmt, 2, req->client_msg_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  *found = (rc == SQLITE_ROW);
  if (*found)
    imp_store_chat_result_from_dedup_row (&imp_store_sqlite_row, stmt, res);
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      imp_store_sqlite_set_error (c->db, rc, "dedup lookup", error);
      return FALSE;
    }
  return TRUE;
}

/* The user's counter, bumped once per batch (imp-store-chat.c keeps the running value): the row
 * is written in this transaction, so a rollback takes it back and seqs stay dense. */
static gboolean
seq_next (gpointer conn, gint64 user_id, gint64 *out_seq, GError **error)
{
  ImpSqliteConn *c = conn;
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (c, IMP_SQL_SEQ_NEXT, error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, user_id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      *out_seq = sqlite3_column_int64 (stmt, 0);
      rc = sqlite3_step (stmt);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      imp_store_sqlite_set_error (c->db, rc, "seq", error);
      return FALSE;
    }
  return TRUE;
}

static gboolean
uml_insert_one (ImpSqliteConn *c, gint64 user_id, gint64 seq, const ImpChatRequest *req,
                const char *conv_id, GError **error)
{
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (c, IMP_SQL_UML_INSERT, error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_int64 (stmt, 2, req->msg_id);
  sqlite3_bind_text (stmt, 3, conv_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 4, seq);
  sqlite3_bind_int64 (stmt, 5, req->sender_id);
  sqlite3_bind_int64 (stmt, 6, req->now_ms);
  return imp_store_sqlite_run (c, stmt, error);
}

/* One single-row statement per participant: in SQLite a two-row VALUES costs more instructions
 * than running the one-row statement twice (measured with callgrind). */
static gboolean
uml_insert (gpointer conn, const ImpChatRequest *req, const char *conv_id, gint64 sender_seq,
            gint64 recipient_seq, GError **error)
{
  return uml_insert_one (conn, req->sender_id, sender_seq, req, conv_id, error)
         && (recipient_seq == 0
             || uml_insert_one (conn, req->to_user_id, recipient_seq, req, conv_id, error));
}

static gboolean
ucl_upsert (ImpSqliteConn *c, const ImpStoreConvRows *r, gint64 user_id, gint64 peer_id,
            gint64 seq, GError **error)
{
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (c, IMP_SQL_UCL_UPSERT, error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, r->conv_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, peer_id);
  sqlite3_bind_int64 (stmt, 4, seq);
  sqlite3_bind_int64 (stmt, 5, r->msg_id);
  sqlite3_bind_int64 (stmt, 6, r->last_ms);
  sqlite3_bind_int64 (stmt, 7, r->first_ms);
  return imp_store_sqlite_run (c, stmt, error);
}

/* The conversation row and the participants' list rows (one for a note to oneself). */
static gboolean
conversation_write (gpointer conn, const ImpStoreConvRows *r, GError **error)
{
  ImpSqliteConn *c = conn;
  gboolean self_chat = r->user_a == r->user_b;
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (c, IMP_SQL_CONV_UPSERT, error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, r->conv_id, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 2, self_chat ? 1 : 2);
  sqlite3_bind_int64 (stmt, 3, r->msg_id);
  sqlite3_bind_int64 (stmt, 4, r->last_ms);
  sqlite3_bind_int64 (stmt, 5, r->first_ms);
  return imp_store_sqlite_run (c, stmt, error)
         && ucl_upsert (c, r, r->user_a, r->user_b, r->seq_a, error)
         && (self_chat || ucl_upsert (c, r, r->user_b, r->user_a, r->seq_b, error));
}

static gboolean
message_insert (gpointer conn, const ImpChatRequest *req, const char *conv_id, GError **error)
{
  ImpSqliteConn *c = conn;
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (c, IMP_SQL_MESSAGE_INSERT, error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, req->msg_id);
  sqlite3_bind_text (stmt, 2, conv_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, req->sender_id);
  sqlite3_bind_int64 (stmt, 4, req->to_user_id);
  sqlite3_bind_int (stmt, 5, req->content_type);
  sqlite3_bind_text (stmt, 6, req->content, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 7, req->client_msg_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 8, req->now_ms);
  return imp_store_sqlite_run (c, stmt, error);
}

/* INSERT ... ON CONFLICT DO NOTHING: no row changed means the key exists (written earlier in
 * this transaction, or committed before: BEGIN IMMEDIATE excludes other writers). Counted with
 * sqlite3_changes () rather than RETURNING, whose result table costs ~3x the insert (callgrind). */
static gboolean
dedup_insert (gpointer conn, const ImpChatRequest *req, const ImpChatResult *res,
              gboolean *out_duplicate, GError **error)
{
  ImpSqliteConn *c = conn;
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (c, IMP_SQL_DEDUP_INSERT, error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, req->sender_id);
  sqlite3_bind_text (stmt, 2, req->client_msg_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, res->msg_id);
  sqlite3_bind_int64 (stmt, 4, res->sender_seq);
  sqlite3_bind_int64 (stmt, 5, res->recipient_seq);
  sqlite3_bind_text (stmt, 6, res->conversation_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 7, res->send_time_ms);
  if (!imp_store_sqlite_run (c, stmt, error))
    return FALSE;
  *out_duplicate = sqlite3_changes (c->db) == 0;
  return TRUE;
}

static const ImpStoreChatOps chat_ops = {
  .db = &imp_store_sqlite_db,
  .tx = imp_store_sqlite_tx_op,
  .dedup_get = dedup_get,
  .seq_next = seq_next,
  .dedup_insert = dedup_insert,
  .message_insert = message_insert,
  .uml_insert = uml_insert,
  .conversation_write = conversation_write,
};

gboolean
imp_store_sqlite_chat_commit (ImpStore *store, const ImpChatRequest *reqs, guint n_reqs,
                              ImpChatResult *results, GError **error)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;
  ImpSqliteConn *conn;
  gboolean ok = FALSE;

  if (n_reqs == 0)
    return TRUE;

  g_mutex_lock (&self->write_lock);
  if ((conn = imp_store_sqlite_conn_acquire (self, error)) != NULL)
    {
      ok = imp_store_chat_run (&chat_ops, conn, store->friends_only, reqs, n_reqs, results,
                               error);
      imp_store_sqlite_conn_release (self, conn);
    }
  else
    memset (results, 0, n_reqs * sizeof *results);
  g_mutex_unlock (&self->write_lock);
  return ok;
}

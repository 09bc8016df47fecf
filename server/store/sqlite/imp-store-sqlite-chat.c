/* imp-store-sqlite-chat.c: the send transaction (DESIGN §2, §3). One BEGIN IMMEDIATE ... COMMIT
 * per batch; per request: dedup, recipient check, seqs, message, index rows, dedup key,
 * conversation rows. */
#include "imp-store-sqlite-private.h"
#include "imp-convid.h"

#include <string.h>

/* Looks the dedup key up; TRUE with *found set, FALSE on a database error. */
static gboolean
dedup_get (ImpSqliteConn *c, const ImpChatRequest *req, ImpChatResult *res, gboolean *found,
           GError **error)
{
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (c, IMP_SQL_DEDUP_GET, error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, req->sender_id);
  sqlite3_bind_text (stmt, 2, req->client_msg_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  *found = (rc == SQLITE_ROW);
  if (*found)
    {
      res->duplicate = TRUE;
      res->msg_id = sqlite3_column_int64 (stmt, 0);
      res->sender_seq = sqlite3_column_int64 (stmt, 1);
      res->recipient_seq = sqlite3_column_int64 (stmt, 2);
      res->conversation_id = g_strdup ((const char *) sqlite3_column_text (stmt, 3));
      res->send_time_ms = sqlite3_column_int64 (stmt, 4);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      imp_store_sqlite_set_error (c->db, rc, "dedup lookup", error);
      return FALSE;
    }
  return TRUE;
}

/* The recipient's refusal code (NONE if it may receive), or FALSE on a database error. */
static gboolean
recipient_check (ImpSqliteConn *c, gint64 user_id, ImpErrorCode *out_code, GError **error)
{
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (c, IMP_SQL_USER_STATUS, error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, user_id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *out_code = sqlite3_column_int (stmt, 0) == IMP_USER_STATUS_BANNED ? IMP_ERROR_BANNED
                                                                        : IMP_ERROR_NONE;
  else
    *out_code = IMP_ERROR_UNKNOWN_USER;
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      imp_store_sqlite_set_error (c->db, rc, "recipient lookup", error);
      return FALSE;
    }
  return TRUE;
}

/* The user's next seq: the counter row is bumped in this transaction, so a rollback takes it
 * back and seqs stay dense. */
static gboolean
seq_next (ImpSqliteConn *c, gint64 user_id, gint64 *out_seq, GError **error)
{
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
uml_insert (ImpSqliteConn *c, gint64 user_id, gint64 seq, const ImpChatRequest *req,
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

static gboolean
ucl_upsert (ImpSqliteConn *c, gint64 user_id, gint64 peer_id, gint64 seq,
            const ImpChatRequest *req, const char *conv_id, GError **error)
{
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (c, IMP_SQL_UCL_UPSERT, error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, conv_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, peer_id);
  sqlite3_bind_int64 (stmt, 4, seq);
  sqlite3_bind_int64 (stmt, 5, req->msg_id);
  sqlite3_bind_int64 (stmt, 6, req->now_ms);
  return imp_store_sqlite_run (c, stmt, error);
}

static gboolean
message_insert (ImpSqliteConn *c, const ImpChatRequest *req, const char *conv_id, GError **error)
{
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

static gboolean
dedup_insert (ImpSqliteConn *c, const ImpChatRequest *req, const ImpChatResult *res,
              GError **error)
{
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
  return imp_store_sqlite_run (c, stmt, error);
}

static gboolean
conversation_upsert (ImpSqliteConn *c, const ImpChatRequest *req, const char *conv_id,
                     GError **error)
{
  sqlite3_stmt *stmt = imp_store_sqlite_stmt (c, IMP_SQL_CONV_UPSERT, error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, conv_id, -1, SQLITE_STATIC);
  sqlite3_bind_int (stmt, 2, req->to_user_id == req->sender_id ? 1 : 2);
  sqlite3_bind_int64 (stmt, 3, req->msg_id);
  sqlite3_bind_int64 (stmt, 4, req->now_ms);
  return imp_store_sqlite_run (c, stmt, error);
}

/* One request inside the open transaction. FALSE only on a database error (the batch then
 * rolls back); a refusal sets res->error_code and writes nothing. */
static gboolean
chat_one (ImpSqliteConn *c, const ImpChatRequest *req, ImpChatResult *res, GError **error)
{
  gboolean self_chat = (req->to_user_id == req->sender_id);
  gboolean found = FALSE;
  ImpErrorCode code = IMP_ERROR_NONE;

  memset (res, 0, sizeof *res);
  if (req->client_msg_id == NULL || req->client_msg_id[0] == '\0' || req->content == NULL
      || req->sender_id <= 0)
    {
      res->error_code = IMP_ERROR_BAD_REQUEST;
      return TRUE;
    }
  if (!dedup_get (c, req, res, &found, error))
    return FALSE;
  if (found)
    return TRUE;

  if (req->to_user_id <= 0)
    code = IMP_ERROR_UNKNOWN_USER;
  else if (!recipient_check (c, req->to_user_id, &code, error))
    return FALSE;
  if (code != IMP_ERROR_NONE)
    {
      res->error_code = code;
      return TRUE;
    }

  res->msg_id = req->msg_id;
  res->send_time_ms = req->now_ms;
  res->conversation_id = imp_convid_private (req->sender_id, req->to_user_id);
  if (!seq_next (c, req->sender_id, &res->sender_seq, error)
      || (!self_chat && !seq_next (c, req->to_user_id, &res->recipient_seq, error))
      || !message_insert (c, req, res->conversation_id, error)
      || !uml_insert (c, req->sender_id, res->sender_seq, req, res->conversation_id, error)
      || (!self_chat
          && !uml_insert (c, req->to_user_id, res->recipient_seq, req, res->conversation_id,
                          error))
      || !dedup_insert (c, req, res, error)
      || !conversation_upsert (c, req, res->conversation_id, error)
      || !ucl_upsert (c, req->sender_id, req->to_user_id, res->sender_seq, req,
                      res->conversation_id, error)
      || (!self_chat
          && !ucl_upsert (c, req->to_user_id, req->sender_id, res->recipient_seq, req,
                          res->conversation_id, error)))
    return FALSE;
  return TRUE;
}

gboolean
imp_store_sqlite_chat_commit (ImpStore *store, const ImpChatRequest *reqs, guint n_reqs,
                              ImpChatResult *results, GError **error)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;
  ImpSqliteConn *conn;
  gboolean ok = FALSE;

  g_return_val_if_fail (n_reqs == 0 || (reqs != NULL && results != NULL), FALSE);

  memset (results, 0, n_reqs * sizeof *results);
  if (n_reqs == 0)
    return TRUE;

  g_mutex_lock (&self->write_lock);
  if ((conn = imp_store_sqlite_conn_acquire (self, error)) == NULL)
    goto out;
  if (imp_store_sqlite_tx (conn, IMP_SQL_BEGIN_WRITE, error))
    {
      guint i;

      for (i = 0; i < n_reqs; i++)
        if (!chat_one (conn, &reqs[i], &results[i], error))
          break;
      ok = (i == n_reqs) && imp_store_sqlite_tx (conn, IMP_SQL_COMMIT, error);
      if (!ok)
        {
          /* ROLLBACK fails only if SQLite already rolled back on its own (e.g. IOERR). */
          if (!sqlite3_get_autocommit (conn->db))
            sqlite3_exec (conn->db, "ROLLBACK", NULL, NULL, NULL);
          for (guint j = 0; j < n_reqs; j++)
            imp_chat_result_clear (&results[j]);
        }
    }
  imp_store_sqlite_conn_release (self, conn);
out:
  g_mutex_unlock (&self->write_lock);
  return ok;
}

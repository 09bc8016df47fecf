/* imp-store-sqlite-read.c: a user's stream, one conversation's history, the conversation list,
 * read positions. Each call is one statement (or one read transaction), so it sees one
 * consistent snapshot; reads run on their own pooled connection, beside a write (WAL). */
#include "imp-store-sqlite-private.h"
#include "imp-convid.h"
#include "imp-time.h"

static ImpMessageRecord *
message_from_row (sqlite3_stmt *stmt)
{
  ImpMessageRecord *rec = g_new0 (ImpMessageRecord, 1);

  rec->msg_id = sqlite3_column_int64 (stmt, 0);
  rec->conversation_id = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  rec->sender_id = sqlite3_column_int64 (stmt, 2);
  rec->to_user_id = sqlite3_column_int64 (stmt, 3);
  rec->seq = sqlite3_column_int64 (stmt, 4);
  rec->content = g_strdup ((const char *) sqlite3_column_text (stmt, 5));
  rec->content_type = sqlite3_column_int (stmt, 6);
  rec->send_time_ms = sqlite3_column_int64 (stmt, 7);
  rec->client_msg_id = g_strdup ((const char *) sqlite3_column_text (stmt, 8));
  return rec;
}

/* Steps stmt (bound) and collects message rows. */
static GPtrArray *
collect_messages (ImpSqliteConn *conn, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_record_free);
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (out, message_from_row (stmt));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      imp_store_sqlite_set_error (conn->db, rc, "read messages", error);
      return NULL;
    }
  return g_steal_pointer (&out);
}

GPtrArray *
imp_store_sqlite_stream_pull (ImpStore *store, gint64 user_id, gint64 after_seq, guint limit,
                              GError **error)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;
  GPtrArray *out = NULL;
  ImpSqliteConn *conn;
  sqlite3_stmt *stmt;

  if ((conn = imp_store_sqlite_conn_acquire (self, error)) == NULL)
    return NULL;
  if ((stmt = imp_store_sqlite_stmt (conn, IMP_SQL_STREAM_PULL, error)) != NULL)
    {
      sqlite3_bind_int64 (stmt, 1, user_id);
      sqlite3_bind_int64 (stmt, 2, after_seq);
      sqlite3_bind_int64 (stmt, 3, MIN (limit, IMP_STORE_SQLITE_PAGE_MAX));
      out = collect_messages (conn, stmt, error);
    }
  imp_store_sqlite_conn_release (self, conn);
  return out;
}

gboolean
imp_store_sqlite_check_participant (ImpSqliteConn *conn, gint64 user_id,
                                    const char *conversation_id, GError **error)
{
  ImpConvKind kind;
  gint64 a, b;
  sqlite3_stmt *stmt;
  int rc;

  if (conversation_id == NULL || !imp_convid_parse (conversation_id, &kind, &a, &b, NULL))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "malformed conversation id");
      return FALSE;
    }
  if (kind == IMP_CONV_PRIVATE)
    {
      if (a == user_id || b == user_id)
        return TRUE;
      g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN, "not a participant of this conversation");
      return FALSE;
    }

  /* Groups arrive with migration 0002; until then a group is one the user has a list row for. */
  if ((stmt = imp_store_sqlite_stmt (conn, IMP_SQL_UCL_EXISTS, error)) == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, conversation_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  if (rc == SQLITE_ROW)
    return TRUE;
  if (rc == SQLITE_DONE)
    g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN, "not a member of this conversation");
  else
    imp_store_sqlite_set_error (conn->db, rc, "membership", error);
  return FALSE;
}

GPtrArray *
imp_store_sqlite_conversation_history (ImpStore *store, gint64 user_id,
                                       const char *conversation_id, gint64 before_seq,
                                       guint limit, GError **error)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;
  GPtrArray *out = NULL;
  ImpSqliteConn *conn;
  sqlite3_stmt *stmt;

  if ((conn = imp_store_sqlite_conn_acquire (self, error)) == NULL)
    return NULL;
  if (imp_store_sqlite_check_participant (conn, user_id, conversation_id, error)
      && (stmt = imp_store_sqlite_stmt (conn, IMP_SQL_HISTORY, error)) != NULL)
    {
      sqlite3_bind_int64 (stmt, 1, user_id);
      sqlite3_bind_text (stmt, 2, conversation_id, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 3, before_seq > 0 ? before_seq : G_MAXINT64);
      sqlite3_bind_int64 (stmt, 4, MIN (limit, IMP_STORE_SQLITE_PAGE_MAX));
      out = collect_messages (conn, stmt, error);
    }
  imp_store_sqlite_conn_release (self, conn);
  return out;
}

static ImpConversationRecord *
conversation_from_row (sqlite3_stmt *stmt)
{
  ImpConversationRecord *rec = g_new0 (ImpConversationRecord, 1);
  ImpMessageRecord *msg;

  rec->conversation_id = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  rec->kind = g_str_has_prefix (rec->conversation_id, "group_") ? IMP_CONV_GROUP : IMP_CONV_PRIVATE;
  rec->peer_id = sqlite3_column_int64 (stmt, 1);
  rec->peer_username = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
  rec->read_seq = sqlite3_column_int64 (stmt, 3);
  rec->last_seq = sqlite3_column_int64 (stmt, 4);
  rec->updated_ms = sqlite3_column_int64 (stmt, 5);
  rec->unread = sqlite3_column_int64 (stmt, 6);
  if (sqlite3_column_type (stmt, 7) == SQLITE_NULL)
    return rec;

  msg = g_new0 (ImpMessageRecord, 1);
  msg->msg_id = sqlite3_column_int64 (stmt, 7);
  msg->conversation_id = g_strdup (rec->conversation_id);
  msg->sender_id = sqlite3_column_int64 (stmt, 8);
  msg->to_user_id = sqlite3_column_int64 (stmt, 9);
  msg->seq = rec->last_seq;
  msg->content = g_strdup ((const char *) sqlite3_column_text (stmt, 10));
  msg->content_type = sqlite3_column_int (stmt, 11);
  msg->send_time_ms = sqlite3_column_int64 (stmt, 12);
  msg->client_msg_id = g_strdup ((const char *) sqlite3_column_text (stmt, 13));
  rec->last_message = msg;
  return rec;
}

GPtrArray *
imp_store_sqlite_conversations_list (ImpStore *store, gint64 user_id, GError **error)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;
  g_autoptr(GPtrArray) out = NULL;
  ImpSqliteConn *conn;
  sqlite3_stmt *stmt;
  int rc;

  if ((conn = imp_store_sqlite_conn_acquire (self, error)) == NULL)
    return NULL;
  if ((stmt = imp_store_sqlite_stmt (conn, IMP_SQL_CONV_LIST, error)) != NULL)
    {
      out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_conversation_record_free);
      sqlite3_bind_int64 (stmt, 1, user_id);
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        g_ptr_array_add (out, conversation_from_row (stmt));
      sqlite3_reset (stmt);
      if (rc != SQLITE_DONE)
        {
          imp_store_sqlite_set_error (conn->db, rc, "conversation list", error);
          g_clear_pointer (&out, g_ptr_array_unref);
        }
    }
  imp_store_sqlite_conn_release (self, conn);
  return g_steal_pointer (&out);
}

gboolean
imp_store_sqlite_conversation_mark_read (ImpStore *store, gint64 user_id,
                                         const char *conversation_id, gint64 seq, GError **error)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;
  ImpSqliteConn *conn;
  sqlite3_stmt *stmt;
  gboolean ok = FALSE;

  g_mutex_lock (&self->write_lock);
  if ((conn = imp_store_sqlite_conn_acquire (self, error)) == NULL)
    goto out;
  /* One statement: forward only, and never past the conversation's last message. */
  if (imp_store_sqlite_check_participant (conn, user_id, conversation_id, error)
      && (stmt = imp_store_sqlite_stmt (conn, IMP_SQL_UCL_MARK_READ, error)) != NULL)
    {
      sqlite3_bind_int64 (stmt, 1, user_id);
      sqlite3_bind_text (stmt, 2, conversation_id, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 3, seq);
      sqlite3_bind_int64 (stmt, 4, imp_now_ms ());
      ok = imp_store_sqlite_run (conn, stmt, error);
    }
  imp_store_sqlite_conn_release (self, conn);
out:
  g_mutex_unlock (&self->write_lock);
  return ok;
}

gboolean
imp_store_sqlite_stream_max_seq (ImpStore *store, gint64 user_id, gint64 *out_seq, GError **error)
{
  ImpStoreSqlite *self = (ImpStoreSqlite *) store;
  ImpSqliteConn *conn;
  sqlite3_stmt *stmt;
  gboolean ok = FALSE;
  int rc;

  g_return_val_if_fail (out_seq != NULL, FALSE);

  if ((conn = imp_store_sqlite_conn_acquire (self, error)) == NULL)
    return FALSE;
  if ((stmt = imp_store_sqlite_stmt (conn, IMP_SQL_SEQ_GET, error)) != NULL)
    {
      sqlite3_bind_int64 (stmt, 1, user_id);
      rc = sqlite3_step (stmt);
      *out_seq = (rc == SQLITE_ROW) ? sqlite3_column_int64 (stmt, 0) : 0;
      sqlite3_reset (stmt);
      ok = (rc == SQLITE_ROW || rc == SQLITE_DONE);
      if (!ok)
        imp_store_sqlite_set_error (conn->db, rc, "max seq", error);
    }
  imp_store_sqlite_conn_release (self, conn);
  return ok;
}

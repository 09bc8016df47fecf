/* imp-store-sqlite-read.c: a user's stream, one conversation's history, the conversation list,
 * read positions. Each call is one statement (or one read transaction), so it sees one
 * consistent snapshot; reads run on their own pooled connection, beside a write (WAL). */
#include "imp-store-sqlite-private.h"
#include "imp-time.h"

/* Steps stmt (bound) and collects message rows. */
static GPtrArray *
collect_messages (ImpSqliteConn *conn, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_record_free);
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (out, imp_store_message_from_row (&imp_store_sqlite_row, stmt));
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
      sqlite3_bind_int64 (stmt, 3, imp_store_page_limit (limit));
      out = collect_messages (conn, stmt, error);
    }
  imp_store_sqlite_conn_release (self, conn);
  return out;
}

gboolean
imp_store_sqlite_check_participant (ImpSqliteConn *conn, gint64 user_id,
                                    const char *conversation_id, GError **error)
{
  gboolean need_membership;
  sqlite3_stmt *stmt;
  int rc;

  if (!imp_store_conversation_access (user_id, conversation_id, &need_membership, error))
    return FALSE;
  if (!need_membership)
    return TRUE;

  if ((stmt = imp_store_sqlite_stmt (conn, IMP_SQL_UCL_EXISTS, error)) == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, user_id);
  sqlite3_bind_text (stmt, 2, conversation_id, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  if (rc == SQLITE_ROW)
    return TRUE;
  if (rc == SQLITE_DONE)
    imp_store_set_not_member (error);
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

  if (imp_store_is_group_conversation (conversation_id, NULL))
    return imp_store_group_history (store, user_id, conversation_id, before_seq, limit, error);
  if ((conn = imp_store_sqlite_conn_acquire (self, error)) == NULL)
    return NULL;
  if (imp_store_sqlite_check_participant (conn, user_id, conversation_id, error)
      && (stmt = imp_store_sqlite_stmt (conn, IMP_SQL_HISTORY, error)) != NULL)
    {
      sqlite3_bind_int64 (stmt, 1, user_id);
      sqlite3_bind_text (stmt, 2, conversation_id, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 3, before_seq > 0 ? before_seq : G_MAXINT64);
      sqlite3_bind_int64 (stmt, 4, imp_store_page_limit (limit));
      out = collect_messages (conn, stmt, error);
    }
  imp_store_sqlite_conn_release (self, conn);
  return out;
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
        g_ptr_array_add (out, imp_store_conversation_from_row (&imp_store_sqlite_row, stmt));
      sqlite3_reset (stmt);
      if (rc != SQLITE_DONE)
        {
          imp_store_sqlite_set_error (conn->db, rc, "conversation list", error);
          g_clear_pointer (&out, g_ptr_array_unref);
        }
      if (out != NULL && !imp_store_group_conversations (&imp_store_sqlite_db, conn, user_id, out,
                                                         error))
        g_clear_pointer (&out, g_ptr_array_unref);
      if (out != NULL)
        imp_store_conversations_sort (out);
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

  if (imp_store_is_group_conversation (conversation_id, NULL))
    return imp_store_group_mark_read (store, user_id, conversation_id, seq, error);
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

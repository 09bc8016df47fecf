/* imp-store-mysql-read.c: a user's stream, one conversation's history, the conversation list,
 * read positions, on MySQL. Each call is one statement (READ COMMITTED: one consistent view of
 * the committed rows per statement). */
#include "imp-store-mysql-private.h"
#include "imp-time.h"

#define SQL_MARK_READ \
  "UPDATE user_conversation_list SET last_read_seq = LEAST(?3, last_seq), update_time = ?4 " \
  "WHERE user_id = ?1 AND conversation_id = ?2 AND LEAST(?3, last_seq) > last_read_seq"

typedef gpointer (*RowFunc) (const ImpStoreRowFuncs *f, gpointer row);

/* Runs a query on a pooled connection and builds one record per row. */
static GPtrArray *
collect (ImpStoreMysql *self, ImpMysqlConn *conn, const char *sql, const ImpMysqlArg *args,
         guint n_args, RowFunc from_row, GDestroyNotify free_func, GError **error)
{
  GPtrArray *out;
  MYSQL_RES *res = NULL;
  MYSQL_ROW row;

  if (!imp_store_mysql_exec (self, conn, sql, args, n_args, &res, NULL, NULL, error))
    return NULL;
  out = g_ptr_array_new_with_free_func (free_func);
  while (res != NULL && (row = mysql_fetch_row (res)) != NULL)
    g_ptr_array_add (out, from_row (&imp_store_mysql_row, row));
  if (res != NULL)
    mysql_free_result (res);
  return out;
}

static GPtrArray *
collect_messages (ImpStoreMysql *self, ImpMysqlConn *conn, const char *sql,
                  const ImpMysqlArg *args, guint n_args, GError **error)
{
  return collect (self, conn, sql, args, n_args, (RowFunc) imp_store_message_from_row,
                  (GDestroyNotify) imp_message_record_free, error);
}

GPtrArray *
imp_store_mysql_stream_pull (ImpStore *store, gint64 user_id, gint64 after_seq, guint limit,
                             GError **error)
{
  ImpStoreMysql *self = (ImpStoreMysql *) store;
  ImpMysqlConn *conn;
  GPtrArray *out;

  if ((conn = imp_store_mysql_conn_acquire (self, error)) == NULL)
    return NULL;
  out = collect_messages (self, conn, IMP_STORE_SQL_STREAM_PULL,
                          IMP_MY_ARGS (IMP_MY_INT (user_id), IMP_MY_INT (after_seq),
                                       IMP_MY_INT (imp_store_page_limit (limit))), error);
  imp_store_mysql_conn_release (self, conn);
  return out;
}

/* imp_store_conversation_access (), plus the membership lookup for a group. */
static gboolean
check_participant (ImpStoreMysql *self, ImpMysqlConn *conn, gint64 user_id,
                   const char *conversation_id, GError **error)
{
  gboolean need_membership, member;
  MYSQL_RES *res = NULL;

  if (!imp_store_conversation_access (user_id, conversation_id, &need_membership, error))
    return FALSE;
  if (!need_membership)
    return TRUE;
  if (!imp_store_mysql_exec (self, conn, IMP_STORE_SQL_UCL_EXISTS,
                             IMP_MY_ARGS (IMP_MY_INT (user_id), IMP_MY_TEXT (conversation_id)),
                             &res, NULL, NULL, error))
    return FALSE;
  member = res != NULL && mysql_num_rows (res) > 0;
  if (res != NULL)
    mysql_free_result (res);
  if (!member)
    imp_store_set_not_member (error);
  return member;
}

GPtrArray *
imp_store_mysql_conversation_history (ImpStore *store, gint64 user_id,
                                      const char *conversation_id, gint64 before_seq,
                                      guint limit, GError **error)
{
  ImpStoreMysql *self = (ImpStoreMysql *) store;
  ImpMysqlConn *conn;
  GPtrArray *out = NULL;

  if (imp_store_is_group_conversation (conversation_id, NULL))
    return imp_store_group_history (store, user_id, conversation_id, before_seq, limit, error);
  if ((conn = imp_store_mysql_conn_acquire (self, error)) == NULL)
    return NULL;
  if (check_participant (self, conn, user_id, conversation_id, error))
    out = collect_messages (self, conn, IMP_STORE_SQL_HISTORY,
                            IMP_MY_ARGS (IMP_MY_INT (user_id), IMP_MY_TEXT (conversation_id),
                                         IMP_MY_INT (before_seq > 0 ? before_seq : G_MAXINT64),
                                         IMP_MY_INT (imp_store_page_limit (limit))), error);
  imp_store_mysql_conn_release (self, conn);
  return out;
}

GPtrArray *
imp_store_mysql_conversations_list (ImpStore *store, gint64 user_id, GError **error)
{
  ImpStoreMysql *self = (ImpStoreMysql *) store;
  ImpMysqlConn *conn;
  GPtrArray *out;

  if ((conn = imp_store_mysql_conn_acquire (self, error)) == NULL)
    return NULL;
  out = collect (self, conn, IMP_STORE_SQL_CONV_LIST, IMP_MY_ARGS (IMP_MY_INT (user_id)),
                 (RowFunc) imp_store_conversation_from_row,
                 (GDestroyNotify) imp_conversation_record_free, error);
  if (out != NULL)
    {
      ImpMysqlCtx ctx = { self, conn };

      if (!imp_store_group_conversations (&imp_store_mysql_db, &ctx, user_id, out, error))
        g_clear_pointer (&out, g_ptr_array_unref);
      else
        imp_store_conversations_sort (out);
    }
  imp_store_mysql_conn_release (self, conn);
  return out;
}

gboolean
imp_store_mysql_conversation_mark_read (ImpStore *store, gint64 user_id,
                                        const char *conversation_id, gint64 seq, GError **error)
{
  ImpStoreMysql *self = (ImpStoreMysql *) store;
  ImpMysqlConn *conn;
  gboolean ok = FALSE;

  if (imp_store_is_group_conversation (conversation_id, NULL))
    return imp_store_group_mark_read (store, user_id, conversation_id, seq, error);
  if ((conn = imp_store_mysql_conn_acquire (self, error)) == NULL)
    return FALSE;
  /* One statement: forward only, and never past the conversation's last message. */
  if (check_participant (self, conn, user_id, conversation_id, error))
    ok = imp_store_mysql_exec (self, conn, SQL_MARK_READ,
                               IMP_MY_ARGS (IMP_MY_INT (user_id), IMP_MY_TEXT (conversation_id),
                                            IMP_MY_INT (seq), IMP_MY_INT (imp_now_ms ())),
                               NULL, NULL, NULL, error);
  imp_store_mysql_conn_release (self, conn);
  return ok;
}

gboolean
imp_store_mysql_stream_max_seq (ImpStore *store, gint64 user_id, gint64 *out_seq, GError **error)
{
  ImpStoreMysql *self = (ImpStoreMysql *) store;
  ImpMysqlConn *conn;
  MYSQL_RES *res = NULL;
  MYSQL_ROW row;
  gboolean ok;

  if ((conn = imp_store_mysql_conn_acquire (self, error)) == NULL)
    return FALSE;
  ok = imp_store_mysql_exec (self, conn, IMP_STORE_SQL_SEQ_GET, IMP_MY_ARGS (IMP_MY_INT (user_id)),
                             &res, NULL, NULL, error);
  if (ok)
    {
      row = res != NULL ? mysql_fetch_row (res) : NULL;
      *out_seq = row != NULL ? imp_store_mysql_row.int64 (row, 0) : 0;
    }
  if (res != NULL)
    mysql_free_result (res);
  imp_store_mysql_conn_release (self, conn);
  return ok;
}

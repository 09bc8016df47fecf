/* imp-store-mysql-conn.c: connections of the MySQL store: connect, the bounded pool, running a
 * statement with its arguments substituted, and error classification (lost connection,
 * deadlock, lock wait timeout -> IMP_ERROR_UNAVAILABLE). */
#include "imp-store-mysql-private.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <string.h>

#define CONNECT_TIMEOUT_S 5
/* Above the session's innodb_lock_wait_timeout, so a lock wait ends as 1205, not as a lost
 * connection. */
#define IO_TIMEOUT_S 30
#define LOCK_WAIT_TIMEOUT_S 10

static gboolean
errno_is_lost (guint code)
{
  switch (code)
    {
    case CR_CONNECTION_ERROR:    /* 2002: socket refused */
    case CR_CONN_HOST_ERROR:     /* 2003: TCP refused */
    case CR_SERVER_GONE_ERROR:   /* 2006 */
    case CR_SERVER_LOST:         /* 2013 */
    case CR_SERVER_LOST_EXTENDED:
    case CR_COMMANDS_OUT_OF_SYNC:/* the connection's state is unknown: start afresh */
    case ER_SERVER_SHUTDOWN:     /* 1053 */
    case ER_CONNECTION_KILLED:   /* 1927, MariaDB */
    case ER_QUERY_INTERRUPTED:   /* 1317: KILL QUERY or shutdown */
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
errno_is_transient (guint code)
{
  return code == ER_LOCK_DEADLOCK || code == ER_LOCK_WAIT_TIMEOUT || code == ER_CON_COUNT_ERROR
         || code == ER_TOO_MANY_USER_CONNECTIONS || code == ER_OPTION_PREVENTS_STATEMENT;
}

static void
set_error (guint code, const char *msg, const char *what, GError **error)
{
  ImpErrorCode imp = (errno_is_lost (code) || errno_is_transient (code)) ? IMP_ERROR_UNAVAILABLE
                                                                          : IMP_ERROR_INTERNAL;

  g_set_error (error, IMP_ERROR, imp, "store: %s: %s (%u)", what, msg, code);
}

MYSQL *
imp_store_mysql_connect (ImpStoreMysql *self, gboolean multi_statements, GError **error)
{
  static const char *const session[] = {
    /* Each statement sees the last committed rows: a dedup key inserted by another worker is
     * found as soon as it commits, and gap locks (deadlocks) are rarer. */
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO', innodb_lock_wait_timeout = " G_STRINGIFY (LOCK_WAIT_TIMEOUT_S),
  };
  unsigned int connect_timeout = CONNECT_TIMEOUT_S, io_timeout = IO_TIMEOUT_S;
  my_bool no = 0;
  MYSQL *mysql = mysql_init (NULL);

  if (mysql == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "store: out of memory");
      return NULL;
    }
  /* No automatic reconnect: it would silently drop an open transaction. We reconnect ourselves
   * at the start of the next call. */
  mysql_optionsv (mysql, MYSQL_OPT_RECONNECT, &no);
  mysql_optionsv (mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_optionsv (mysql, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
  mysql_optionsv (mysql, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
  mysql_optionsv (mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (mysql_real_connect (mysql, self->host, self->user, self->password, self->database,
                          self->port, NULL, multi_statements ? CLIENT_MULTI_STATEMENTS : 0)
      == NULL)
    {
      guint code = mysql_errno (mysql);

      /* Refused or unreachable: retry later. Bad credentials or database: final. */
      g_set_error (error, IMP_ERROR,
                   code >= 2000 && code < 3000 ? IMP_ERROR_UNAVAILABLE : IMP_ERROR_INTERNAL,
                   "store: connect to %s:%u: %s (%u)", self->host, self->port,
                   mysql_error (mysql), code);
      mysql_close (mysql);
      return NULL;
    }
  for (guint i = 0; i < G_N_ELEMENTS (session); i++)
    if (mysql_query (mysql, session[i]) != 0)
      {
        set_error (mysql_errno (mysql), mysql_error (mysql), "session setup", error);
        mysql_close (mysql);
        return NULL;
      }
  return mysql;
}

static void
conn_disconnect (ImpMysqlConn *conn)
{
  g_clear_pointer (&conn->mysql, mysql_close);
  imp_store_mysql_discard (conn);
}

void
imp_store_mysql_discard (ImpMysqlConn *conn)
{
  if (conn->pending != NULL)
    g_string_truncate (conn->pending, 0);
  conn->n_pending = 0;
}

/* Idle longer than this: ping before use. */
#define IDLE_PING_US (G_USEC_PER_SEC)

ImpMysqlConn *
imp_store_mysql_conn_acquire (ImpStoreMysql *self, GError **error)
{
  ImpMysqlConn *conn = NULL;
  guint generation;

  g_mutex_lock (&self->lock);
  while (self->idle->len == 0 && self->n_conns >= self->pool_size)
    g_cond_wait (&self->idle_cond, &self->lock);
  if (self->idle->len > 0)
    conn = g_ptr_array_steal_index_fast (self->idle, self->idle->len - 1);
  else
    {
      conn = g_new0 (ImpMysqlConn, 1);
      self->n_conns++;
    }
  g_mutex_unlock (&self->lock);

  /* Another connection was found lost since this one connected (e.g. the server restarted):
   * reconnect now rather than fail this call too. */
  generation = (guint) g_atomic_int_get (&self->generation);
  if (conn->mysql != NULL && conn->generation != generation)
    conn_disconnect (conn);
  /* A connection that sat idle may have been cut (the database restarted, wait_timeout): one
   * ping finds out before the caller's statement does, so the first request after a restart
   * does not fail. */
  if (conn->mysql != NULL && g_get_monotonic_time () - conn->released_us > IDLE_PING_US &&
      mysql_ping (conn->mysql) != 0)
    {
      g_atomic_int_inc (&self->generation);
      generation = (guint) g_atomic_int_get (&self->generation);
      conn_disconnect (conn);
    }
  if (conn->mysql == NULL)
    {
      /* Several statements per query: deferred writes share a round trip (every value is
       * escaped by format_sql ()). */
      conn->mysql = imp_store_mysql_connect (self, TRUE, error);
      conn->generation = generation;
      if (conn->mysql == NULL)
        {
          imp_store_mysql_conn_release (self, conn);
          return NULL;
        }
    }
  return conn;
}

void
imp_store_mysql_conn_release (ImpStoreMysql *self, ImpMysqlConn *conn)
{
  conn->released_us = g_get_monotonic_time ();
  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->idle, conn);
  g_cond_signal (&self->idle_cond);
  g_mutex_unlock (&self->lock);
}

/* Appends sql to out with ?N replaced by the escaped literal of args[N-1]. */
static gboolean
format_sql (MYSQL *mysql, GString *out, const char *sql, const ImpMysqlArg *args, guint n_args,
            GError **error)
{
  for (const char *p = sql; *p != '\0'; p++)
    {
      const ImpMysqlArg *arg;
      guint n = 0;

      if (*p != '?')
        {
          g_string_append_c (out, *p);
          continue;
        }
      while (g_ascii_isdigit (p[1]) && n < 1000)
        n = n * 10 + (*++p - '0');
      if (n == 0 || n > n_args)
        {
          g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "store: bad placeholder in %s", sql);
          return FALSE;
        }
      arg = &args[n - 1];
      if (!arg->is_text)
        g_string_append_printf (out, "%" G_GINT64_FORMAT, arg->i);
      else if (arg->s == NULL)
        g_string_append (out, "NULL");
      else
        {
          gsize len = strlen (arg->s);
          gsize at;

          if (len > (G_MAXSIZE - out->len - 3) / 2)
            {
              g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "store: value too large");
              return FALSE;
            }
          g_string_append_c (out, '\'');
          at = out->len;
          g_string_set_size (out, at + 2 * len + 1);  /* escaping at most doubles */
          at += mysql_real_escape_string (mysql, out->str + at, arg->s, len);
          g_string_set_size (out, at);
          g_string_append_c (out, '\'');
        }
    }
  return TRUE;
}

gboolean
imp_store_mysql_defer (ImpMysqlConn *conn, const char *sql, const ImpMysqlArg *args,
                       guint n_args, GError **error)
{
  if (conn->mysql == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "store: connection lost");
      return FALSE;
    }
  if (conn->pending == NULL)
    conn->pending = g_string_sized_new (4096);
  if (!format_sql (conn->mysql, conn->pending, sql, args, n_args, error))
    return FALSE;
  g_string_append_c (conn->pending, ';');
  conn->n_pending++;
  return TRUE;
}

gboolean
imp_store_mysql_exec (ImpStoreMysql *self, ImpMysqlConn *conn, const char *sql,
                      const ImpMysqlArg *args, guint n_args, MYSQL_RES **out_res,
                      guint64 *out_affected, guint *out_errno, GError **error)
{
  g_autoptr(GString) query = NULL;
  MYSQL_RES *res = NULL;
  guint code = 0, n_pending = conn->n_pending;
  gboolean own_failed = TRUE;  /* the error is this statement's, not a deferred one's */
  int rc;

  if (out_errno != NULL)
    *out_errno = 0;
  if (conn->mysql == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "store: connection lost");
      return FALSE;
    }
  if (n_pending > 0)
    {
      query = g_string_new_len (conn->pending->str, conn->pending->len);
      imp_store_mysql_discard (conn);
    }
  else
    query = g_string_sized_new (256);
  if (!format_sql (conn->mysql, query, sql, args, n_args, error))
    return FALSE;

  rc = mysql_real_query (conn->mysql, query->str, query->len);
  own_failed = (n_pending == 0);
  /* The deferred writes' results come first; the server stops at the first error. */
  for (guint k = 0; rc == 0 && k < n_pending; k++)
    {
      if ((res = mysql_store_result (conn->mysql)) != NULL)
        mysql_free_result (res);
      rc = mysql_next_result (conn->mysql);
      own_failed = (rc > 0 && k + 1 == n_pending);
      if (rc < 0)  /* fewer results than statements: cannot happen, but never read past */
        rc = 1;
    }
  res = NULL;
  if (rc == 0)
    {
      if (out_res == NULL)
        {
          if (out_affected != NULL)
            *out_affected = mysql_affected_rows (conn->mysql);
          return TRUE;
        }
      if ((res = mysql_store_result (conn->mysql)) != NULL || mysql_field_count (conn->mysql) == 0)
        {
          *out_res = res;
          return TRUE;
        }
      own_failed = TRUE;
    }

  code = mysql_errno (conn->mysql);
  if (out_errno != NULL && own_failed)
    *out_errno = code;
  set_error (code, mysql_error (conn->mysql), own_failed ? "query" : "deferred write", error);
  if (errno_is_lost (code))
    {
      conn_disconnect (conn);
      g_atomic_int_inc (&self->generation);
    }
  return FALSE;
}

gboolean
imp_store_mysql_format (ImpMysqlConn *conn, GString *out, const char *sql,
                        const ImpMysqlArg *args, guint n_args, GError **error)
{
  if (conn->mysql == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "store: connection lost");
      return FALSE;
    }
  return format_sql (conn->mysql, out, sql, args, n_args, error);
}

gboolean
imp_store_mysql_exec_multi (ImpStoreMysql *self, ImpMysqlConn *conn, const GString *query,
                            ImpMysqlResultCb cb, gpointer data, GError **error)
{
  guint n_pending = conn->n_pending;
  guint index = 0;
  int rc;

  if (conn->mysql == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "store: connection lost");
      return FALSE;
    }
  if (n_pending > 0)
    {
      g_autoptr(GString) all = g_string_new_len (conn->pending->str, conn->pending->len);

      g_string_append_len (all, query->str, query->len);
      imp_store_mysql_discard (conn);
      rc = mysql_real_query (conn->mysql, all->str, all->len);
    }
  else
    rc = mysql_real_query (conn->mysql, query->str, query->len);

  /* The deferred writes' results first (skipped), then one per statement of query; the server
   * stops at the first error. */
  for (guint k = 0; rc == 0; k++)
    {
      MYSQL_RES *res = mysql_store_result (conn->mysql);

      if (res == NULL && mysql_field_count (conn->mysql) != 0)
        {
          rc = 1;
          break;
        }
      if (k >= n_pending && cb != NULL)
        cb (index++, res, data);
      if (res != NULL)
        mysql_free_result (res);
      rc = mysql_next_result (conn->mysql);
      if (rc < 0)
        return TRUE;
    }

  {
    guint code = mysql_errno (conn->mysql);

    set_error (code, mysql_error (conn->mysql), "multi-statement query", error);
    if (errno_is_lost (code))
      {
        conn_disconnect (conn);
        g_atomic_int_inc (&self->generation);
      }
  }
  return FALSE;
}

static gint64
row_int64 (gpointer row, int col)
{
  const char *s = ((MYSQL_ROW) row)[col];

  return s != NULL ? g_ascii_strtoll (s, NULL, 10) : 0;
}

static const char *
row_text (gpointer row, int col)
{
  return ((MYSQL_ROW) row)[col];
}

const ImpStoreRowFuncs imp_store_mysql_row = { row_int64, row_text };

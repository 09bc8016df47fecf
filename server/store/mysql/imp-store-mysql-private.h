/* imp-store-mysql-private.h: what the files of the MySQL/MariaDB store share. A store owns a
 * bounded pool of connections (MariaDB Connector/C, text protocol): a call checks one out, runs
 * its statements, and gives it back. A connection found lost is closed and reopened by the next
 * call that takes it (docs/store.md). */
#pragma once

#include <mysql.h>
#include "store/imp-store-common.h"

G_BEGIN_DECLS

#define IMP_STORE_MYSQL_DELIVERY_UPSERT \
  "INSERT INTO device_delivery (user_id, device_id, up_to_seq, update_time) " \
  "VALUES (?1, ?2, ?3, ?4) ON DUPLICATE KEY UPDATE " \
  "up_to_seq = GREATEST(up_to_seq, VALUES(up_to_seq)), update_time = VALUES(update_time)"

typedef struct {
  MYSQL   *mysql;      /* NULL while disconnected */
  guint    generation; /* the store's generation when connected */
  GString *pending;    /* deferred statements, sent ahead of the next one (one round trip) */
  guint    n_pending;
  gint64   released_us; /* monotonic time it went back to the pool */
} ImpMysqlConn;

typedef struct {
  ImpStore   parent;
  char      *host, *user, *password, *database;
  guint      port;
  guint      pool_size;
  GMutex     lock;       /* guards idle and n_conns */
  GCond      idle_cond;
  GPtrArray *idle;       /* ImpMysqlConn *, not in use */
  guint      n_conns;    /* created so far, at most pool_size */
  guint      generation; /* bumped (atomically) when a connection is found lost */
} ImpStoreMysql;

/* A statement argument, substituted for ?N (1-based) as a literal: integers printed, text
 * escaped and quoted, NULL text as NULL. */
typedef ImpStoreArg ImpMysqlArg;

/* The connection the chat ops and the generic statements (ImpStoreDbOps) work on. */
typedef struct {
  ImpStoreMysql *store;
  ImpMysqlConn  *conn;
} ImpMysqlCtx;

#define IMP_MY_INT(x) ((ImpMysqlArg) { FALSE, (x), NULL })
#define IMP_MY_TEXT(x) ((ImpMysqlArg) { TRUE, 0, (x) })
#define IMP_MY_ARGS(...) (const ImpMysqlArg[]) { __VA_ARGS__ }, \
  G_N_ELEMENTS (((const ImpMysqlArg[]) { __VA_ARGS__ }))

/* A connected connection (connecting if needed), or NULL with IMP_ERROR_UNAVAILABLE. Blocks
 * while pool_size connections are in use. */
ImpMysqlConn *imp_store_mysql_conn_acquire (ImpStoreMysql *self, GError **error);
void          imp_store_mysql_conn_release (ImpStoreMysql *self, ImpMysqlConn *conn);

/* Runs one statement (after the deferred ones). With out_res, its rows (mysql_store_result; NULL rows are an empty
 * result); else *out_affected (if given) gets the changed rows. On failure: a lost connection
 * is closed (the next call reconnects) and gives IMP_ERROR_UNAVAILABLE, as do deadlocks and
 * lock wait timeouts; anything else IMP_ERROR_INTERNAL. *out_errno (if given) gets
 * mysql_errno (). */
gboolean      imp_store_mysql_exec (ImpStoreMysql *self, ImpMysqlConn *conn, const char *sql,
                                    const ImpMysqlArg *args, guint n_args, MYSQL_RES **out_res,
                                    guint64 *out_affected, guint *out_errno, GError **error);

/* Queues a write whose result nobody waits for; it is sent in the same round trip as the next
 * imp_store_mysql_exec () on conn (e.g. the COMMIT), whose call fails if it failed. */
gboolean      imp_store_mysql_defer (ImpMysqlConn *conn, const char *sql, const ImpMysqlArg *args,
                                     guint n_args, GError **error);
/* Appends sql with its ?N replaced by the escaped args (see imp_store_mysql_exec). */
gboolean      imp_store_mysql_format (ImpMysqlConn *conn, GString *out, const char *sql,
                                      const ImpMysqlArg *args, guint n_args, GError **error);

/* Each statement's result (NULL for one without rows), in order; index counts from 0. */
typedef void (*ImpMysqlResultCb) (guint index, MYSQL_RES *res, gpointer data);

/* Sends query (several statements separated by ';', after the deferred ones) in one round trip
 * and hands each statement's result to cb. Errors as imp_store_mysql_exec (); the statements
 * before the failing one have run. */
gboolean      imp_store_mysql_exec_multi (ImpStoreMysql *self, ImpMysqlConn *conn,
                                          const GString *query, ImpMysqlResultCb cb,
                                          gpointer data, GError **error);
/* Drops the deferred statements (before a ROLLBACK). */
void          imp_store_mysql_discard (ImpMysqlConn *conn);

/* Generic statements (imp-store-mysql-db.c). */
extern const ImpStoreDbOps imp_store_mysql_db;
gboolean      imp_store_mysql_tx_op (gpointer ctx, ImpStoreTx what, GError **error);

/* The row getters over a MYSQL_ROW (text protocol: every value a string or NULL). */
extern const ImpStoreRowFuncs imp_store_mysql_row;

/* Applies the embedded migrations (data/migrations/mysql/) under a named lock. */
gboolean      imp_store_mysql_migrate (ImpStoreMysql *self, MYSQL *mysql, GError **error);
MYSQL        *imp_store_mysql_connect (ImpStoreMysql *self, gboolean multi_statements,
                                       GError **error);

gboolean   imp_store_mysql_chat_commit (ImpStore *store, const ImpChatRequest *reqs, guint n_reqs,
                                        ImpChatResult *results, GError **error);
GPtrArray *imp_store_mysql_stream_pull (ImpStore *store, gint64 user_id, gint64 after_seq,
                                        guint limit, GError **error);
GPtrArray *imp_store_mysql_conversation_history (ImpStore *store, gint64 user_id,
                                                 const char *conversation_id, gint64 before_seq,
                                                 guint limit, GError **error);
GPtrArray *imp_store_mysql_conversations_list (ImpStore *store, gint64 user_id, GError **error);
gboolean   imp_store_mysql_conversation_mark_read (ImpStore *store, gint64 user_id,
                                                   const char *conversation_id, gint64 seq,
                                                   GError **error);
gboolean   imp_store_mysql_stream_max_seq (ImpStore *store, gint64 user_id, gint64 *out_seq,
                                           GError **error);

G_END_DECLS

/* imp-store-sqlite-private.h: what the files of the SQLite store share. A store owns a small
 * pool of connections (one per concurrent caller, each with its cached prepared statements) and
 * a write lock that serialises write transactions inside the process (docs/store.md). */
#pragma once

#include <sqlite3.h>
#include "store/imp-store-common.h"

G_BEGIN_DECLS

#define IMP_STORE_SQLITE_DELIVERY_UPSERT \
  "INSERT INTO device_delivery (user_id, device_id, up_to_seq, update_time) " \
  "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, device_id) DO UPDATE SET " \
  "up_to_seq = max(up_to_seq, excluded.up_to_seq), update_time = excluded.update_time"

typedef enum {
  IMP_SQL_BEGIN_READ,
  IMP_SQL_BEGIN_WRITE,
  IMP_SQL_COMMIT,
  IMP_SQL_ROLLBACK,
  IMP_SQL_USER_INSERT,
  IMP_SQL_USER_GET,
  IMP_SQL_USER_FIND,
  IMP_SQL_USER_TOUCH,
  IMP_SQL_TOKEN_INSERT,
  IMP_SQL_TOKEN_PURGE,
  IMP_SQL_TOKEN_GET,
  IMP_SQL_DELIVERY_UPSERT,
  IMP_SQL_DEDUP_GET,
  IMP_SQL_DEDUP_INSERT,
  IMP_SQL_SEQ_NEXT,
  IMP_SQL_SEQ_GET,
  IMP_SQL_MESSAGE_INSERT,
  IMP_SQL_UML_INSERT,
  IMP_SQL_CONV_UPSERT,
  IMP_SQL_UCL_UPSERT,
  IMP_SQL_UCL_EXISTS,
  IMP_SQL_UCL_MARK_READ,
  IMP_SQL_STREAM_PULL,
  IMP_SQL_HISTORY,
  IMP_SQL_CONV_LIST,
  IMP_SQL_N_STMTS
} ImpSqlId;

typedef struct {
  sqlite3      *db;
  sqlite3_stmt *stmts[IMP_SQL_N_STMTS]; /* prepared on first use, kept for the connection's life */
  GHashTable   *by_text;  /* SQL text -> sqlite3_stmt *: the generic statements (db ops) */
} ImpSqliteConn;

/* Runs the WAL checkpoints on a thread of its own (imp-store-sqlite-checkpoint.c). */
typedef struct _ImpSqliteCheckpointer ImpSqliteCheckpointer;

/* write_lock: the store's, which the checkpointer takes to finish a checkpoint. */
ImpSqliteCheckpointer *imp_store_sqlite_checkpointer_new (const char *path, GMutex *write_lock,
                                                          GError **error);
/* Turns off db's automatic checkpoint: its commits wake the checkpointer instead. */
void                   imp_store_sqlite_checkpointer_attach (ImpSqliteCheckpointer *self,
                                                             sqlite3 *db);
/* Stops the thread and checkpoints (TRUNCATE): call once the store's connections are closed. */
void                   imp_store_sqlite_checkpointer_free (ImpSqliteCheckpointer *self);

typedef struct {
  ImpStore   parent;
  char      *path;
  ImpSqliteCheckpointer *ckpt;
  GMutex     pool_lock;  /* guards idle */
  GPtrArray *idle;       /* ImpSqliteConn *, not in use */
  GMutex     write_lock; /* one write transaction at a time in this process */
} ImpStoreSqlite;

ImpSqliteConn *imp_store_sqlite_conn_acquire (ImpStoreSqlite *self, GError **error);
void           imp_store_sqlite_conn_release (ImpStoreSqlite *self, ImpSqliteConn *conn);

/* The cached statement id of conn, reset and with cleared bindings; NULL on error. Callers
 * reset it again when done, so no read transaction stays open. */
sqlite3_stmt  *imp_store_sqlite_stmt (ImpSqliteConn *conn, ImpSqlId id, GError **error);
/* Steps a statement that returns no row (or whose rows are not wanted) to completion. */
gboolean       imp_store_sqlite_run (ImpSqliteConn *conn, sqlite3_stmt *stmt, GError **error);
/* Runs one of the BEGIN/COMMIT/ROLLBACK statements. */
gboolean       imp_store_sqlite_tx (ImpSqliteConn *conn, ImpSqlId id, GError **error);
/* IMP_ERROR_UNAVAILABLE for busy/locked/IO/full, IMP_ERROR_INTERNAL for the rest. */
void           imp_store_sqlite_set_error (sqlite3 *db, int rc, const char *what, GError **error);

/* Column getters over a stepped sqlite3_stmt. */
extern const ImpStoreRowFuncs imp_store_sqlite_row;

/* Applies the embedded migrations not yet applied, in order, in one transaction. */
gboolean       imp_store_sqlite_migrate (sqlite3 *db, GError **error);

/* Generic statements (imp-store-sqlite-db.c). */
extern const ImpStoreDbOps imp_store_sqlite_db;
gboolean       imp_store_sqlite_tx_op (gpointer conn, ImpStoreTx what, GError **error);

/* Reads: imp-store-sqlite-read.c. Chat: imp-store-sqlite-chat.c. */
gboolean   imp_store_sqlite_chat_commit (ImpStore *store, const ImpChatRequest *reqs, guint n_reqs,
                                         ImpChatResult *results, GError **error);
GPtrArray *imp_store_sqlite_stream_pull (ImpStore *store, gint64 user_id, gint64 after_seq,
                                         guint limit, GError **error);
GPtrArray *imp_store_sqlite_conversation_history (ImpStore *store, gint64 user_id,
                                                  const char *conversation_id, gint64 before_seq,
                                                  guint limit, GError **error);
GPtrArray *imp_store_sqlite_conversations_list (ImpStore *store, gint64 user_id, GError **error);
gboolean   imp_store_sqlite_conversation_mark_read (ImpStore *store, gint64 user_id,
                                                    const char *conversation_id, gint64 seq,
                                                    GError **error);
gboolean   imp_store_sqlite_stream_max_seq (ImpStore *store, gint64 user_id, gint64 *out_seq,
                                            GError **error);

/* Checks that user_id may read conversation_id: IMP_ERROR_BAD_REQUEST for a malformed id,
 * IMP_ERROR_FORBIDDEN for a conversation the user is not in. */
gboolean   imp_store_sqlite_check_participant (ImpSqliteConn *conn, gint64 user_id,
                                               const char *conversation_id, GError **error);

G_END_DECLS

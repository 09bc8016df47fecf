/* imp-store-common.h: what the SQLite and MySQL stores share (DESIGN §8: no copy-paste between
 * backends). The SQL both dialects accept as written, the column orders of result rows and the
 * records built from them, the checks of a send and of a conversation id, the send transaction's
 * steps and their order (imp-store-chat.c), and the list of embedded migrations. A backend
 * supplies only its driver calls (ImpStoreRowFuncs, ImpStoreChatOps, ImpStoreDbOps) and the SQL
 * that differs between dialects. */
#pragma once

#include "store/imp-store.h"

G_BEGIN_DECLS

/* Largest page a pull or history call returns, whatever the caller asks. */
#define IMP_STORE_PAGE_MAX 5000
/* Longest client_msg_id stored (clients send UUIDs, 36 characters). */
#define IMP_STORE_CLIENT_MSG_ID_MAX 64

static inline guint
imp_store_page_limit (guint limit)
{
  return MIN (limit, IMP_STORE_PAGE_MAX);
}

/* SQL that reads the same in SQLite and MySQL. Placeholders are numbered (?1, ?2, ...): SQLite
 * binds them, the MySQL store substitutes escaped literals. */
#define IMP_STORE_USER_COLUMNS \
  "id, user_id, username, password, status, create_time, muted_until_ms"
#define IMP_STORE_MSG_COLUMNS \
  "m.msg_id, m.conversation_id, m.sender_id, m.to_id, l.seq, m.content, m.content_type, " \
  "m.send_time, CASE WHEN m.sender_id = l.user_id THEN m.client_msg_id END"

#define IMP_STORE_SQL_USER_INSERT \
  "INSERT INTO users (user_id, username, password, status, create_time, update_time) " \
  "VALUES (?1, ?2, ?3, 1, ?4, ?4)"
#define IMP_STORE_SQL_USER_GET \
  "SELECT " IMP_STORE_USER_COLUMNS " FROM users WHERE id = ?1 AND deleted = 0"
#define IMP_STORE_SQL_USER_FIND \
  "SELECT " IMP_STORE_USER_COLUMNS " FROM users WHERE user_id = ?1 AND deleted = 0"
#define IMP_STORE_SQL_USER_TOUCH \
  "UPDATE users SET last_login_time = ?2, update_time = ?2 WHERE id = ?1 AND deleted = 0"
/* The checks of a one-to-one send in one round trip (?1 sender, ?2 recipient): recipient
 * status, sender status and mute, recipient's block of the sender, friendship. NULL reads 0. */
#define IMP_STORE_SQL_CHAT_CHECK \
  "SELECT (SELECT status FROM users WHERE id = ?2 AND deleted = 0), " \
  "(SELECT status FROM users WHERE id = ?1 AND deleted = 0), " \
  "(SELECT muted_until_ms FROM users WHERE id = ?1 AND deleted = 0), " \
  "(SELECT count(*) FROM blacklist WHERE user_id = ?2 AND blocked_id = ?1), " \
  "(SELECT count(*) FROM friends WHERE user_id = ?1 AND friend_id = ?2 AND state = 2)"
#define IMP_STORE_SQL_TOKEN_PURGE "DELETE FROM revoked_token WHERE expires_s < ?1"
#define IMP_STORE_SQL_TOKEN_GET "SELECT 1 FROM revoked_token WHERE token_id = ?1"
#define IMP_STORE_SQL_DEDUP_GET \
  "SELECT msg_id, sender_seq, recipient_seq, conversation_id, send_time FROM send_dedup " \
  "WHERE sender_id = ?1 AND client_msg_id = ?2"
#define IMP_STORE_SQL_DEDUP_INSERT \
  "INSERT INTO send_dedup (sender_id, client_msg_id, msg_id, sender_seq, recipient_seq, " \
  "conversation_id, send_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
/* A one-to-one message's seq in the stream of ?2 (0: neither its sender nor its recipient). */
#define IMP_STORE_SQL_SEQ_OF \
  "SELECT CASE WHEN d.sender_id = ?2 THEN d.sender_seq WHEN m.to_id = ?2 THEN d.recipient_seq " \
  "ELSE 0 END FROM message m JOIN send_dedup d " \
  "ON d.sender_id = m.sender_id AND d.client_msg_id = m.client_msg_id AND d.msg_id = m.msg_id " \
  "WHERE m.msg_id = ?1 AND m.msg_type = 1"
#define IMP_STORE_SQL_SEQ_GET "SELECT seq FROM user_seq WHERE user_id = ?1"
#define IMP_STORE_SQL_MESSAGE_INSERT \
  "INSERT INTO message (msg_id, conversation_id, sender_id, to_id, msg_type, content_type, " \
  "content, client_msg_id, send_time, update_time) " \
  "VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?8)"
#define IMP_STORE_SQL_UML_INSERT \
  "INSERT INTO user_msg_list (user_id, msg_id, conversation_id, seq, sender_id, create_time) " \
  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
#define IMP_STORE_SQL_UML_INSERT2 \
  "INSERT INTO user_msg_list (user_id, msg_id, conversation_id, seq, sender_id, create_time) " \
  "VALUES (?1, ?2, ?3, ?4, ?1, ?5), (?6, ?2, ?3, ?7, ?1, ?5)"
#define IMP_STORE_SQL_SEQ_SET "UPDATE user_seq SET seq = ?2 WHERE user_id = ?1"
#define IMP_STORE_SQL_GROUP_CONV_UPDATE \
  "UPDATE conversation SET last_msg_id = ?2, last_msg_time = ?3, update_time = ?3 " \
  "WHERE conversation_id = ?1"
#define IMP_STORE_SQL_UCL_EXISTS \
  "SELECT 1 FROM user_conversation_list WHERE user_id = ?1 AND conversation_id = ?2"
#define IMP_STORE_SQL_STREAM_PULL \
  "SELECT " IMP_STORE_MSG_COLUMNS " FROM user_msg_list l JOIN message m ON m.msg_id = l.msg_id " \
  "WHERE l.user_id = ?1 AND l.seq > ?2 ORDER BY l.seq LIMIT ?3"
#define IMP_STORE_SQL_HISTORY \
  "SELECT " IMP_STORE_MSG_COLUMNS " FROM user_msg_list l JOIN message m ON m.msg_id = l.msg_id " \
  "WHERE l.user_id = ?1 AND l.conversation_id = ?2 AND l.seq < ?3 " \
  "ORDER BY l.seq DESC LIMIT ?4"
#define IMP_STORE_SQL_CONV_LIST \
  "SELECT c.conversation_id, c.peer_id, u.user_id, c.last_read_seq, c.last_seq, " \
  "c.last_update_time, " \
  "(SELECT count(*) FROM user_msg_list l WHERE l.user_id = c.user_id " \
  " AND l.conversation_id = c.conversation_id AND l.seq > c.last_read_seq " \
  " AND l.sender_id <> c.user_id), " \
  "m.msg_id, m.sender_id, m.to_id, m.content, m.content_type, m.send_time, " \
  "CASE WHEN m.sender_id = c.user_id THEN m.client_msg_id END " \
  "FROM user_conversation_list c " \
  "LEFT JOIN users u ON u.id = c.peer_id " \
  "LEFT JOIN message m ON m.msg_id = c.last_msg_id " \
  "WHERE c.user_id = ?1 AND c.peer_id <> 0 " /* peer 0: a group's row (imp-store-group*.c) */ \
  "ORDER BY c.last_update_time DESC, c.last_seq DESC"

/* One result row, read through the backend's getters. text returns NULL for SQL NULL. */
typedef struct {
  gint64      (*int64) (gpointer row, int col);
  const char *(*text) (gpointer row, int col);
} ImpStoreRowFuncs;

/* A statement argument for ?N (1-based): an integer, or text (NULL text is SQL NULL). */
typedef struct {
  gboolean    is_text;
  gint64      i;
  const char *s;
} ImpStoreArg;

#define IMP_ARG_INT(x) ((ImpStoreArg) { FALSE, (x), NULL })
#define IMP_ARG_TEXT(x) ((ImpStoreArg) { TRUE, 0, (x) })
#define IMP_ARGS(...) (const ImpStoreArg[]) { __VA_ARGS__ }, \
  G_N_ELEMENTS (((const ImpStoreArg[]) { __VA_ARGS__ }))

typedef enum {
  IMP_STORE_TX_BEGIN,
  IMP_STORE_TX_COMMIT,
  IMP_STORE_TX_ROLLBACK,
} ImpStoreTx;

/* Called for each result row; FALSE stops reading (not an error). */
typedef gboolean (*ImpStoreRowCb) (const ImpStoreRowFuncs *f, gpointer row, gpointer data);

/* Generic statements over a backend's connections (ImpStoreVTable.db): the social and group
 * functions and the group send are written once on top of these. SQL uses numbered ?N
 * placeholders and only what both dialects accept, plus the dialect strings below. */
struct _ImpStoreDbOps {
  const char *for_update;     /* appended to a SELECT that must lock its rows ("" in SQLite,
                               * where BEGIN IMMEDIATE already serialises writers) */
  const char *insert_ignore;  /* "INSERT OR IGNORE" / "INSERT IGNORE" */
  /* device_delivery upsert, forward only: ?1 user, ?2 device, ?3 seq, ?4 time */
  const char *delivery_upsert;
  /* A connection for this thread; write: for a write transaction (SQLite takes the store's
   * write lock). */
  gpointer (*acquire) (ImpStore *store, gboolean write, GError **error);
  void     (*release) (ImpStore *store, gpointer conn, gboolean write);
  gboolean (*tx) (gpointer conn, ImpStoreTx what, GError **error);
  /* Runs one statement; row_cb (may be NULL) sees each row; *out_changes (may be NULL) gets the
   * rows changed (MySQL: changed, not matched). */
  gboolean (*exec) (gpointer conn, const char *sql, const ImpStoreArg *args, guint n_args,
                    ImpStoreRowCb row_cb, gpointer data, gint64 *out_changes, GError **error);
  /* A write whose result nobody reads: a backend may send it with the next statement of the
   * transaction (its failure then fails that statement, and so the transaction). */
  gboolean (*write) (gpointer conn, const char *sql, const ImpStoreArg *args, guint n_args,
                     GError **error);
  gint64   (*last_insert_id) (gpointer conn);
};
typedef struct _ImpStoreDbOps ImpStoreDbOps;

/* Rows in the column orders of the SQL above. */
ImpUserRecord         *imp_store_user_from_row (const ImpStoreRowFuncs *f, gpointer row);
ImpMessageRecord      *imp_store_message_from_row (const ImpStoreRowFuncs *f, gpointer row);
ImpConversationRecord *imp_store_conversation_from_row (const ImpStoreRowFuncs *f, gpointer row);
/* A send_dedup row (IMP_STORE_SQL_DEDUP_GET) as the original receipt, duplicate = TRUE. */
void                   imp_store_chat_result_from_dedup_row (const ImpStoreRowFuncs *f,
                                                             gpointer row, ImpChatResult *res);

/* Access to a conversation: FALSE with BAD_REQUEST (malformed id) or FORBIDDEN (a private
 * conversation without user_id). TRUE with *out_need_membership set for a group, whose
 * membership the backend then looks up (IMP_STORE_SQL_UCL_EXISTS). */
gboolean imp_store_conversation_access (gint64 user_id, const char *conversation_id,
                                        gboolean *out_need_membership, GError **error);
void     imp_store_set_not_member (GError **error);

/* The rows of one private conversation a batch touched, written once at the end of the batch
 * with its last message's values (docs/store.md "The send transaction"). */
typedef struct {
  const char *conv_id;
  gint64      user_a, user_b;  /* the participants (equal for a note to oneself) */
  gint64      seq_a, seq_b;    /* their seqs of the conversation's last message (seq_b unused
                                * for a note to oneself) */
  gint64      msg_id;          /* the last message */
  gint64      last_ms;         /* its time */
  gint64      first_ms;        /* the batch's first message in it (create_time of new rows) */
} ImpStoreConvRows;

/* The statements of the send transaction that differ between backends, on the backend's
 * connection conn (the same connection type as db's). */
typedef struct {
  const ImpStoreDbOps *db;  /* checks, counters, the group send */
  gboolean (*tx) (gpointer conn, ImpStoreTx what, GError **error);
  /* Fills res (imp_store_chat_result_from_dedup_row) and sets *found if the key exists. */
  gboolean (*dedup_get) (gpointer conn, const ImpChatRequest *req, ImpChatResult *res,
                         gboolean *found, GError **error);
  /* Bumps the user's counter row by one (creating it at 1) and returns the new value; on MySQL
   * the row stays locked until the transaction ends. Called once per user per batch. */
  gboolean (*seq_next) (gpointer conn, gint64 user_id, gint64 *out_seq, GError **error);
  /* Inserts the key; *out_duplicate (and TRUE, nothing written) if it exists already: written
   * earlier in this transaction or committed by another. */
  gboolean (*dedup_insert) (gpointer conn, const ImpChatRequest *req, const ImpChatResult *res,
                            gboolean *out_duplicate, GError **error);
  gboolean (*message_insert) (gpointer conn, const ImpChatRequest *req, const char *conv_id,
                              GError **error);
  /* The stream rows of a one-to-one message: the sender's, and the recipient's unless
   * recipient_seq is 0 (a note to oneself), in one statement. */
  gboolean (*uml_insert) (gpointer conn, const ImpChatRequest *req, const char *conv_id,
                          gint64 sender_seq, gint64 recipient_seq, GError **error);
  /* The conversation row and the participants' list rows (upserts). */
  gboolean (*conversation_write) (gpointer conn, const ImpStoreConvRows *rows, GError **error);
} ImpStoreChatOps;

/* What a batch has read and what it still has to write (imp-store-chat.c). */
typedef struct {
  GHashTable *seqs;     /* user id -> counter: the row's value and the last seq handed out */
  GHashTable *checks;   /* (sender, recipient) -> the one-to-one check row */
  GHashTable *convs;    /* conversation id -> rows to write at the end */
  GPtrArray  *conv_order; /* the same, in first-touch order */
  GHashTable *groups;   /* group id -> status and counter (imp-store-group-read.c) */
  GHashTable *members;  /* (group, user) -> the sender's group check row */
} ImpStoreChatBatch;

/* A key of two integers for the batch's tables (g_hash_table_new (imp_store_pair_hash,
 * imp_store_pair_equal)): the first two gint64 of the entry. */
guint    imp_store_pair_hash (gconstpointer key);
gboolean imp_store_pair_equal (gconstpointer a, gconstpointer b);

/* imp_store_chat_commit () for any backend: one transaction for the batch, per request dedup,
 * checks, seqs, rows; the counters and conversation rows once at the end. On failure
 * everything is rolled back and every result cleared. */
gboolean imp_store_chat_run (const ImpStoreChatOps *ops, gpointer conn, gboolean friends_only,
                             const ImpChatRequest *reqs, guint n_reqs, ImpChatResult *results,
                             GError **error);

/* res was a duplicate of an existing key: res becomes the original receipt. */
gboolean imp_store_chat_duplicate (const ImpStoreChatOps *ops, gpointer conn,
                                   const ImpChatRequest *req, ImpChatResult *res, GError **error);
/* Records a group message as its conversation row's last message (written at the end). */
void     imp_store_chat_batch_group_message (ImpStoreChatBatch *batch, const char *conv_id,
                                             gint64 msg_id, gint64 now_ms);

/* The group send of one request inside the open transaction (imp-store-group-read.c): group
 * active, sender a current member and not muted (each read once per batch), next conversation
 * seq, the dedup key, one message row, one conversation_msg_list row. The group's counter is
 * written by imp_store_group_chat_flush () at the end of the batch. */
gboolean imp_store_group_chat_one (const ImpStoreChatOps *ops, ImpStoreChatBatch *batch,
                                   gpointer conn, const ImpChatRequest *req, ImpChatResult *res,
                                   GError **error);
gboolean imp_store_group_chat_flush (const ImpStoreChatOps *ops, ImpStoreChatBatch *batch,
                                     gpointer conn, GError **error);

/* Device delivery positions, one transaction (imp-store-social.c over db->delivery_upsert). */
gboolean imp_store_db_delivery_record_batch (ImpStore *store, const ImpDeliveryRecord *records,
                                             guint n_records, GError **error);

/* Group conversations in the conversation list, history and read marks (imp-store-group.c),
 * for the backends' conversations_list, conversation_history and conversation_mark_read. */
gboolean   imp_store_group_conversations (const ImpStoreDbOps *db, gpointer conn, gint64 user_id,
                                          GPtrArray *out, GError **error);
/* Sorts a conversation list most recent first. */
void       imp_store_conversations_sort (GPtrArray *list);
GPtrArray *imp_store_group_history (ImpStore *store, gint64 user_id, const char *conversation_id,
                                    gint64 before_seq, guint limit, GError **error);
gboolean   imp_store_group_mark_read (ImpStore *store, gint64 user_id, const char *conversation_id,
                                      gint64 seq, GError **error);
/* TRUE if conversation_id is a well-formed group conversation id (then *out_group_id). */
gboolean   imp_store_is_group_conversation (const char *conversation_id, gint64 *out_group_id);

/* Helpers over ImpStoreDbOps (imp-store-social.c). */
typedef gboolean (*ImpStoreDbFunc) (const ImpStoreDbOps *db, gpointer conn, gpointer data,
                                    GError **error);
/* fn inside one write transaction (rolled back if fn fails), or, for imp_store_db_read, on a
 * connection without a transaction. */
gboolean imp_store_db_transaction (ImpStore *store, ImpStoreDbFunc fn, gpointer data,
                                   GError **error);
gboolean imp_store_db_read (ImpStore *store, ImpStoreDbFunc fn, gpointer data, GError **error);
/* The first column of the first row as an integer; *out_found FALSE (and *out 0) if no row. */
gboolean imp_store_db_int (const ImpStoreDbOps *db, gpointer conn, const char *sql,
                           const ImpStoreArg *args, guint n_args, gint64 *out,
                           gboolean *out_found, GError **error);

/* Migrations: data/migrations/<backend>/NNNN-name.sql, embedded as a GResource. apply runs one
 * migration's SQL and records its version. Those above current run in numeric order; a schema
 * newer than the program is refused. */
typedef gboolean (*ImpStoreMigrationFunc) (gpointer data, gint64 version, const char *name,
                                           const char *sql, GError **error);
gboolean imp_store_migrations_apply (const char *backend, gint64 current,
                                     ImpStoreMigrationFunc apply, gpointer data, GError **error);

G_END_DECLS

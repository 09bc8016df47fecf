/* imp-store-social.c: friends, blacklist and moderation, written once for every backend over
 * its generic statements (ImpStoreDbOps), plus the helpers the group code shares. */
#include "imp-store-common.h"

#include <string.h>

/* Helpers */

/* A wrapper store (tests) may have no generic statements: an error, not a crash. */
static gboolean
has_db (ImpStore *store, GError **error)
{
  if (store->vt->db != NULL)
    return TRUE;
  g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "store %s: no social or group support",
               store->vt->name);
  return FALSE;
}

gboolean
imp_store_db_transaction (ImpStore *store, ImpStoreDbFunc fn, gpointer data, GError **error)
{
  const ImpStoreDbOps *db = store->vt->db;
  gpointer conn;
  gboolean ok;

  if (!has_db (store, error) || (conn = db->acquire (store, TRUE, error)) == NULL)
    return FALSE;

  ok = db->tx (conn, IMP_STORE_TX_BEGIN, error)
       && fn (db, conn, data, error)
       && db->tx (conn, IMP_STORE_TX_COMMIT, error);
  if (!ok)
    db->tx (conn, IMP_STORE_TX_ROLLBACK, NULL);
  db->release (store, conn, TRUE);
  return ok;
}

gboolean
imp_store_db_read (ImpStore *store, ImpStoreDbFunc fn, gpointer data, GError **error)
{
  const ImpStoreDbOps *db = store->vt->db;
  gpointer conn;
  gboolean ok;

  if (!has_db (store, error) || (conn = db->acquire (store, FALSE, error)) == NULL)
    return FALSE;

  ok = fn (db, conn, data, error);
  db->release (store, conn, FALSE);
  return ok;
}

typedef struct {
  gint64   v;
  gboolean found;
} IntRow;

static gboolean
int_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  IntRow *r = data;

  r->v = f->int64 (row, 0);
  r->found = TRUE;
  return FALSE;
}

gboolean
imp_store_db_int (const ImpStoreDbOps *db, gpointer conn, const char *sql, const ImpStoreArg *args,
                  guint n_args, gint64 *out, gboolean *out_found, GError **error)
{
  IntRow r = { 0, FALSE };

  if (!db->exec (conn, sql, args, n_args, int_row, &r, NULL, error))
    return FALSE;
  *out = r.v;
  if (out_found != NULL)
    *out_found = r.found;
  return TRUE;
}

/* Whether user_id exists (and is not deleted). */
static gboolean
user_exists (const ImpStoreDbOps *db, gpointer conn, gint64 user_id, GError **error)
{
  gint64 status = 0;
  gboolean found = FALSE;

  if (!imp_store_db_int (db, conn, "SELECT status FROM users WHERE id = ?1 AND deleted = 0",
                         IMP_ARGS (IMP_ARG_INT (user_id)), &status, &found, error))
    return FALSE;
  if (!found)
    g_set_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER, "no such user");
  return found;
}

void
imp_store_set_friends_only (ImpStore *self, gboolean friends_only)
{
  g_return_if_fail (self != NULL);
  self->friends_only = friends_only;
}

/* Moderation */

typedef struct {
  gint64      user_id;
  gint64      other_id;
  gint64      value;
  gint64      now;
  const char *sql;
  int         state;
  gboolean    flag;
  GPtrArray  *out;
} Args;

static gboolean
do_user_update (const ImpStoreDbOps *db, gpointer conn, gpointer data, GError **error)
{
  Args *a = data;

  /* Looked up first: MySQL reports changed rows, not matched ones. */
  return user_exists (db, conn, a->user_id, error)
         && db->exec (conn, a->sql, IMP_ARGS (IMP_ARG_INT (a->user_id), IMP_ARG_INT (a->value),
                                              IMP_ARG_INT (a->now)), NULL, NULL, NULL, error);
}

gboolean
imp_store_user_set_status (ImpStore *self, gint64 user_id, int status, GError **error)
{
  Args a = { .user_id = user_id, .value = status, .now = g_get_real_time () / 1000,
             .sql = "UPDATE users SET status = ?2, update_time = ?3 WHERE id = ?1" };

  g_return_val_if_fail (self != NULL, FALSE);
  if (status != IMP_USER_STATUS_NORMAL && status != IMP_USER_STATUS_BANNED)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "unknown user status %d", status);
      return FALSE;
    }
  return imp_store_db_transaction (self, do_user_update, &a, error);
}

gboolean
imp_store_user_set_muted (ImpStore *self, gint64 user_id, gint64 until_ms, GError **error)
{
  Args a = { .user_id = user_id, .value = MAX (until_ms, 0), .now = g_get_real_time () / 1000,
             .sql = "UPDATE users SET muted_until_ms = ?2, update_time = ?3 WHERE id = ?1" };

  g_return_val_if_fail (self != NULL, FALSE);
  return imp_store_db_transaction (self, do_user_update, &a, error);
}

/* Friends: one row per direction (user_id, friend_id, state 1 requested / 2 accepted). */

#define SQL_FRIEND_STATE "SELECT state FROM friends WHERE user_id = ?1 AND friend_id = ?2"
#define SQL_FRIEND_DELETE "DELETE FROM friends WHERE user_id = ?1 AND friend_id = ?2"
#define SQL_FRIEND_INSERT \
  "INSERT INTO friends (user_id, friend_id, state, create_time, update_time) " \
  "VALUES (?1, ?2, ?3, ?4, ?4)"
#define SQL_FRIEND_ACCEPT \
  "UPDATE friends SET state = 2, update_time = ?3 WHERE user_id = ?1 AND friend_id = ?2"
#define SQL_BLOCKED "SELECT 1 FROM blacklist WHERE user_id = ?1 AND blocked_id = ?2"

static gboolean
friend_state (const ImpStoreDbOps *db, gpointer conn, gint64 a, gint64 b, gint64 *out_state,
              GError **error)
{
  return imp_store_db_int (db, conn, SQL_FRIEND_STATE, IMP_ARGS (IMP_ARG_INT (a), IMP_ARG_INT (b)),
                           out_state, NULL, error);
}

/* b accepts a's request: both directions accepted. */
static gboolean
friend_accept (const ImpStoreDbOps *db, gpointer conn, gint64 a, gint64 b, gint64 now,
               GError **error)
{
  return db->exec (conn, SQL_FRIEND_ACCEPT, IMP_ARGS (IMP_ARG_INT (a), IMP_ARG_INT (b),
                                                      IMP_ARG_INT (now)), NULL, NULL, NULL, error)
         && db->exec (conn, SQL_FRIEND_DELETE, IMP_ARGS (IMP_ARG_INT (b), IMP_ARG_INT (a)),
                      NULL, NULL, NULL, error)
         && db->exec (conn, SQL_FRIEND_INSERT, IMP_ARGS (IMP_ARG_INT (b), IMP_ARG_INT (a),
                                                         IMP_ARG_INT (2), IMP_ARG_INT (now)),
                      NULL, NULL, NULL, error);
}

static gboolean
do_friend_request (const ImpStoreDbOps *db, gpointer conn, gpointer data, GError **error)
{
  Args *a = data;
  gint64 mine = 0, theirs = 0, blocked = 0;
  gboolean is_blocked = FALSE;

  if (!user_exists (db, conn, a->other_id, error)
      || !imp_store_db_int (db, conn, SQL_BLOCKED,
                            IMP_ARGS (IMP_ARG_INT (a->other_id), IMP_ARG_INT (a->user_id)),
                            &blocked, &is_blocked, error))
    return FALSE;
  if (is_blocked)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BLOCKED, "this user has blocked you");
      return FALSE;
    }
  if (!friend_state (db, conn, a->user_id, a->other_id, &mine, error)
      || !friend_state (db, conn, a->other_id, a->user_id, &theirs, error))
    return FALSE;
  if (mine == 2)
    a->state = IMP_FRIEND_ACCEPTED;
  else if (theirs == 1)
    {
      /* Both asked: that is an agreement. */
      a->state = IMP_FRIEND_ACCEPTED;
      return friend_accept (db, conn, a->other_id, a->user_id, a->now, error);
    }
  else if (mine == 1)
    a->state = IMP_FRIEND_OUTGOING;
  else
    {
      a->state = IMP_FRIEND_OUTGOING;
      return db->exec (conn, SQL_FRIEND_INSERT,
                       IMP_ARGS (IMP_ARG_INT (a->user_id), IMP_ARG_INT (a->other_id),
                                 IMP_ARG_INT (1), IMP_ARG_INT (a->now)), NULL, NULL, NULL, error);
    }
  return TRUE;
}

gboolean
imp_store_friend_request (ImpStore *self, gint64 user_id, gint64 other_id, gint64 now_ms,
                          int *out_state, GError **error)
{
  Args a = { .user_id = user_id, .other_id = other_id, .now = now_ms };

  g_return_val_if_fail (self != NULL, FALSE);
  if (user_id == other_id)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "cannot befriend oneself");
      return FALSE;
    }
  if (!imp_store_db_transaction (self, do_friend_request, &a, error))
    return FALSE;
  if (out_state != NULL)
    *out_state = a.state;
  return TRUE;
}

static gboolean
do_friend_respond (const ImpStoreDbOps *db, gpointer conn, gpointer data, GError **error)
{
  Args *a = data;
  gint64 theirs = 0;

  if (!friend_state (db, conn, a->other_id, a->user_id, &theirs, error))
    return FALSE;
  if (theirs != 1)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_FOUND, "no pending friend request from this user");
      return FALSE;
    }
  if (a->flag)
    return friend_accept (db, conn, a->other_id, a->user_id, a->now, error);
  return db->exec (conn, SQL_FRIEND_DELETE,
                   IMP_ARGS (IMP_ARG_INT (a->other_id), IMP_ARG_INT (a->user_id)),
                   NULL, NULL, NULL, error);
}

gboolean
imp_store_friend_respond (ImpStore *self, gint64 user_id, gint64 other_id, gboolean accept,
                          gint64 now_ms, GError **error)
{
  Args a = { .user_id = user_id, .other_id = other_id, .now = now_ms, .flag = accept };

  g_return_val_if_fail (self != NULL, FALSE);
  return imp_store_db_transaction (self, do_friend_respond, &a, error);
}

static gboolean
do_friend_remove (const ImpStoreDbOps *db, gpointer conn, gpointer data, GError **error)
{
  Args *a = data;
  gint64 one = 0, two = 0;

  if (!db->exec (conn, SQL_FRIEND_DELETE, IMP_ARGS (IMP_ARG_INT (a->user_id),
                                                    IMP_ARG_INT (a->other_id)),
                 NULL, NULL, &one, error)
      || !db->exec (conn, SQL_FRIEND_DELETE, IMP_ARGS (IMP_ARG_INT (a->other_id),
                                                       IMP_ARG_INT (a->user_id)),
                    NULL, NULL, &two, error))
    return FALSE;
  if (one + two == 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_FOUND, "not a friend");
      return FALSE;
    }
  return TRUE;
}

gboolean
imp_store_friend_remove (ImpStore *self, gint64 user_id, gint64 other_id, GError **error)
{
  Args a = { .user_id = user_id, .other_id = other_id };

  g_return_val_if_fail (self != NULL, FALSE);
  return imp_store_db_transaction (self, do_friend_remove, &a, error);
}

static gboolean
friend_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  ImpFriendRecord *rec = g_new0 (ImpFriendRecord, 1);

  rec->user_id = f->int64 (row, 0);
  rec->username = g_strdup (f->text (row, 1));
  rec->nickname = g_strdup (f->text (row, 2));
  rec->state = (int) f->int64 (row, 3);
  rec->created_ms = f->int64 (row, 4);
  g_ptr_array_add (data, rec);
  return TRUE;
}

static gboolean
do_friend_list (const ImpStoreDbOps *db, gpointer conn, gpointer data, GError **error)
{
  Args *a = data;

  /* Mine (accepted or outgoing), then requests to me; sorted by the other's id. */
  return db->exec (conn,
                   "SELECT f.friend_id, u.user_id, u.username, "
                   "CASE WHEN f.state = 2 THEN 3 ELSE 1 END, f.create_time "
                   "FROM friends f JOIN users u ON u.id = f.friend_id WHERE f.user_id = ?1 "
                   "UNION ALL "
                   "SELECT f.user_id, u.user_id, u.username, 2, f.create_time "
                   "FROM friends f JOIN users u ON u.id = f.user_id "
                   "WHERE f.friend_id = ?1 AND f.state = 1 ORDER BY 1",
                   IMP_ARGS (IMP_ARG_INT (a->user_id)), friend_row, a->out, NULL, error);
}

GPtrArray *
imp_store_friend_list (ImpStore *self, gint64 user_id, GError **error)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_friend_record_free);
  Args a = { .user_id = user_id, .out = out };

  g_return_val_if_fail (self != NULL, NULL);
  if (!imp_store_db_read (self, do_friend_list, &a, error))
    return NULL;
  return g_steal_pointer (&out);
}

/* Blacklist */

static gboolean
do_block (const ImpStoreDbOps *db, gpointer conn, gpointer data, GError **error)
{
  Args *a = data;
  g_autofree char *sql = g_strconcat (db->insert_ignore, " INTO blacklist (user_id, blocked_id, "
                                      "create_time) VALUES (?1, ?2, ?3)", NULL);

  return user_exists (db, conn, a->other_id, error)
         && db->exec (conn, sql, IMP_ARGS (IMP_ARG_INT (a->user_id), IMP_ARG_INT (a->other_id),
                                           IMP_ARG_INT (a->now)), NULL, NULL, NULL, error);
}

gboolean
imp_store_block (ImpStore *self, gint64 user_id, gint64 blocked_id, gint64 now_ms, GError **error)
{
  Args a = { .user_id = user_id, .other_id = blocked_id, .now = now_ms };

  g_return_val_if_fail (self != NULL, FALSE);
  if (user_id == blocked_id)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "cannot block oneself");
      return FALSE;
    }
  return imp_store_db_transaction (self, do_block, &a, error);
}

static gboolean
do_unblock (const ImpStoreDbOps *db, gpointer conn, gpointer data, GError **error)
{
  Args *a = data;
  gint64 changes = 0;

  if (!db->exec (conn, "DELETE FROM blacklist WHERE user_id = ?1 AND blocked_id = ?2",
                 IMP_ARGS (IMP_ARG_INT (a->user_id), IMP_ARG_INT (a->other_id)),
                 NULL, NULL, &changes, error))
    return FALSE;
  if (changes == 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_FOUND, "this user is not blocked");
      return FALSE;
    }
  return TRUE;
}

gboolean
imp_store_unblock (ImpStore *self, gint64 user_id, gint64 blocked_id, GError **error)
{
  Args a = { .user_id = user_id, .other_id = blocked_id };

  g_return_val_if_fail (self != NULL, FALSE);
  return imp_store_db_transaction (self, do_unblock, &a, error);
}

static gboolean
user_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  g_ptr_array_add (data, imp_store_user_from_row (f, row));
  return TRUE;
}

static gboolean
do_block_list (const ImpStoreDbOps *db, gpointer conn, gpointer data, GError **error)
{
  Args *a = data;

  return db->exec (conn,
                   "SELECT u.id, u.user_id, u.username, NULL, u.status, b.create_time, 0 "
                   "FROM blacklist b JOIN users u ON u.id = b.blocked_id "
                   "WHERE b.user_id = ?1 ORDER BY b.blocked_id",
                   IMP_ARGS (IMP_ARG_INT (a->user_id)), user_row, a->out, NULL, error);
}

GPtrArray *
imp_store_block_list (ImpStore *self, gint64 user_id, GError **error)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_user_record_free);
  Args a = { .user_id = user_id, .out = out };

  g_return_val_if_fail (self != NULL, NULL);
  if (!imp_store_db_read (self, do_block_list, &a, error))
    return NULL;
  return g_steal_pointer (&out);
}

static gboolean
do_is_blocked (const ImpStoreDbOps *db, gpointer conn, gpointer data, GError **error)
{
  Args *a = data;
  gint64 one = 0;

  return imp_store_db_int (db, conn, SQL_BLOCKED,
                           IMP_ARGS (IMP_ARG_INT (a->user_id), IMP_ARG_INT (a->other_id)),
                           &one, &a->flag, error);
}

gboolean
imp_store_is_blocked (ImpStore *self, gint64 user_id, gint64 blocked_id, gboolean *out_blocked,
                      GError **error)
{
  Args a = { .user_id = user_id, .other_id = blocked_id };

  g_return_val_if_fail (self != NULL && out_blocked != NULL, FALSE);
  if (!imp_store_db_read (self, do_is_blocked, &a, error))
    return FALSE;
  *out_blocked = a.flag;
  return TRUE;
}

/* Record free functions */

void
imp_friend_record_free (ImpFriendRecord *rec)
{
  if (rec == NULL)
    return;
  g_free (rec->username);
  g_free (rec->nickname);
  g_free (rec);
}

void
imp_group_record_free (ImpGroupRecord *rec)
{
  if (rec == NULL)
    return;
  g_free (rec->name);
  g_free (rec);
}

void
imp_group_member_record_free (ImpGroupMemberRecord *rec)
{
  if (rec == NULL)
    return;
  g_free (rec->username);
  g_free (rec->group_name);
  g_free (rec);
}

void
imp_group_change_free (ImpGroupChange *change)
{
  if (change == NULL)
    return;
  g_clear_pointer (&change->messages, g_ptr_array_unref);
  g_clear_pointer (&change->joined, g_array_unref);
  g_clear_pointer (&change->join_seqs, g_array_unref);
  g_clear_pointer (&change->left, g_array_unref);
  g_clear_pointer (&change->left_seqs, g_array_unref);
  g_free (change);
}

/* Delivery positions (imp_store_delivery_record_batch) */

typedef struct {
  const ImpDeliveryRecord *records;
  guint                    n;
  gint64                   now;
} DeliveryArgs;

static gboolean
do_delivery (const ImpStoreDbOps *db, gpointer conn, gpointer data, GError **error)
{
  const DeliveryArgs *a = data;

  /* Forward only (the upsert keeps the higher seq), so repeats in the batch need no merging. */
  for (guint i = 0; i < a->n; i++)
    if (!db->write (conn, db->delivery_upsert,
                    IMP_ARGS (IMP_ARG_INT (a->records[i].user_id),
                              IMP_ARG_TEXT (a->records[i].device_id),
                              IMP_ARG_INT (a->records[i].up_to_seq), IMP_ARG_INT (a->now)),
                    error))
      return FALSE;
  return TRUE;
}

gboolean
imp_store_db_delivery_record_batch (ImpStore *store, const ImpDeliveryRecord *records,
                                    guint n_records, GError **error)
{
  DeliveryArgs a = { records, n_records, g_get_real_time () / 1000 };

  if (n_records == 0)
    return TRUE;
  return imp_store_db_transaction (store, do_delivery, &a, error);
}

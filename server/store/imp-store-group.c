/* imp-store-group.c: group changes (create, add, remove, leave, role, transfer, mute,
 * dissolve), written once for every backend over ImpStoreDbOps. Each change is one write
 * transaction that locks the group row, checks the actor's role, changes group_members and
 * writes its system messages (content type 99, JSON) into the group's stream with the next
 * conversation seqs: one message row and one conversation_msg_list row each (docs/store.md). */
#include "imp-store-common.h"
#include "imp-convid.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define GROUP_NAME_MAX 255

#define SQL_GROUP_LOCK "SELECT status, seq, owner_id, member_count FROM `groups` WHERE id = ?1"
#define SQL_MEMBER_GET \
  "SELECT role, muted_until_ms, join_seq, left_seq FROM group_members " \
  "WHERE group_id = ?1 AND user_id = ?2"
#define SQL_MEMBER_DELETE "DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2"
/* Inserts the member only if the user exists: the caller counts the members afterwards. */
#define SQL_MEMBER_INSERT \
  "INSERT INTO group_members (group_id, user_id, role, muted_until_ms, join_seq, left_seq, " \
  "create_time, update_time) SELECT ?1, id, ?3, 0, ?4, NULL, ?5, ?5 FROM users " \
  "WHERE id = ?2 AND deleted = 0"
#define SQL_MEMBER_COUNT \
  "SELECT count(*) FROM group_members WHERE group_id = ?1 AND left_seq IS NULL"
#define SQL_UCL_DELETE \
  "DELETE FROM user_conversation_list WHERE user_id = ?1 AND conversation_id = ?2"
/* A group's list row holds the read position (a conversation seq); last_seq is unused. */
#define SQL_UCL_INSERT \
  "INSERT INTO user_conversation_list (user_id, conversation_id, peer_id, last_read_seq, " \
  "last_seq, last_msg_id, last_update_time, create_time, update_time) " \
  "SELECT ?1, ?2, 0, ?3, 0, NULL, ?4, ?4, ?4 FROM users WHERE id = ?1 AND deleted = 0"
#define SQL_MESSAGE_INSERT \
  "INSERT INTO message (msg_id, conversation_id, sender_id, to_id, msg_type, content_type, " \
  "content, client_msg_id, send_time, update_time) VALUES (?1, ?2, ?3, 0, 2, ?4, ?5, ?6, ?7, ?7)"
#define SQL_CML_INSERT \
  "INSERT INTO conversation_msg_list (conversation_id, msg_id, seq, sender_id, create_time, " \
  "update_time) VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
#define SQL_GROUP_UPDATE \
  "UPDATE `groups` SET seq = ?2, member_count = ?3, owner_id = ?4, status = ?5, " \
  "update_time = ?6 WHERE id = ?1"
#define SQL_CONV_UPDATE \
  "UPDATE conversation SET last_msg_id = ?2, last_msg_time = ?3, member_count = ?4, " \
  "update_time = ?3 WHERE conversation_id = ?1"

/* One change in progress: the locked group's state, written back at the end. */
typedef struct {
  const ImpStoreDbOps *db;
  gpointer    c;
  ImpIdGen   *ids;
  gint64      now;
  gint64      actor;
  gint64      group_id;
  char       *conv_id;
  int         status;
  gint64      seq;
  gint64      owner_id;
  gint64      member_count;
  gint64      last_msg_id;
  ImpGroupChange *change;
  /* the operation's arguments */
  const char *name;
  const gint64 *users;
  guint       n_users;
  guint       max_size;
  gint64      target;
  gint64      value;
} GroupTx;

typedef struct {
  gboolean found;
  int      role;
  gint64   muted_until;
  gint64   join_seq;
  gint64   left_seq;  /* 0 while a member */
} Member;

static gboolean
member_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  Member *m = data;

  m->found = TRUE;
  m->role = (int) f->int64 (row, 0);
  m->muted_until = f->int64 (row, 1);
  m->join_seq = f->int64 (row, 2);
  m->left_seq = f->text (row, 3) != NULL ? f->int64 (row, 3) : 0;
  return FALSE;
}

static gboolean
member_get (GroupTx *t, gint64 user_id, Member *m, GError **error)
{
  memset (m, 0, sizeof *m);
  return t->db->exec (t->c, SQL_MEMBER_GET,
                      IMP_ARGS (IMP_ARG_INT (t->group_id), IMP_ARG_INT (user_id)),
                      member_row, m, NULL, error);
}

static gboolean
is_current (const Member *m)
{
  return m->found && m->left_seq == 0;
}

typedef struct {
  gboolean found;
  gint64   v[4];
} LockRow;

static gboolean
lock_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  LockRow *r = data;

  r->found = TRUE;
  for (int i = 0; i < 4; i++)
    r->v[i] = f->int64 (row, i);
  return FALSE;
}

/* Locks the group row (MySQL: FOR UPDATE; SQLite: the write transaction already excludes
 * other writers) and loads its state. NOT_FOUND for a missing or dissolved group. */
static gboolean
group_lock (GroupTx *t, GError **error)
{
  g_autofree char *sql = g_strconcat (SQL_GROUP_LOCK, t->db->for_update, NULL);
  LockRow r = { FALSE, { 0 } };

  if (!t->db->exec (t->c, sql, IMP_ARGS (IMP_ARG_INT (t->group_id)), lock_row, &r, NULL, error))
    return FALSE;
  if (!r.found || r.v[0] != IMP_GROUP_ACTIVE)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_FOUND, "no such group");
      return FALSE;
    }
  t->status = (int) r.v[0];
  t->seq = r.v[1];
  t->owner_id = r.v[2];
  t->member_count = r.v[3];
  return TRUE;
}

/* The actor's membership, which must be current and have at least min_role. */
static gboolean
actor_check (GroupTx *t, int min_role, Member *out, GError **error)
{
  if (!member_get (t, t->actor, out, error))
    return FALSE;
  if (!is_current (out))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_MEMBER, "not a member of this group");
      return FALSE;
    }
  if (out->role < min_role)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN, "your role in this group does not allow this");
      return FALSE;
    }
  return TRUE;
}

static const char *
role_name (int role)
{
  switch (role)
    {
    case IMP_GROUP_ROLE_OWNER: return "owner";
    case IMP_GROUP_ROLE_ADMIN: return "admin";
    default: return "member";
    }
}

/* Writes one system message with the next conversation seq. The JSON object is
 * {"event": event, "by": actor, <member>: <value>...}. */
static gboolean
system_message (GroupTx *t, const char *event, gint64 user_id, const char *extra_key,
                const char *extra_text, gint64 extra_int, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *content = NULL;
  ImpMessageRecord *msg;
  gint64 msg_id = imp_id_gen_next_at (t->ids, t->now);
  gint64 seq = t->seq + 1;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "event");
  json_builder_add_string_value (b, event);
  if (user_id != 0)
    {
      json_builder_set_member_name (b, "user_id");
      json_builder_add_int_value (b, user_id);
    }
  json_builder_set_member_name (b, "by");
  json_builder_add_int_value (b, t->actor);
  if (extra_key != NULL)
    {
      json_builder_set_member_name (b, extra_key);
      if (extra_text != NULL)
        json_builder_add_string_value (b, extra_text);
      else
        json_builder_add_int_value (b, extra_int);
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  content = json_to_string (root, FALSE);

  if (!t->db->write (t->c, SQL_MESSAGE_INSERT,
                     IMP_ARGS (IMP_ARG_INT (msg_id), IMP_ARG_TEXT (t->conv_id),
                               IMP_ARG_INT (t->actor), IMP_ARG_INT (IMP_CONTENT_TYPE_SYSTEM),
                               IMP_ARG_TEXT (content), IMP_ARG_TEXT (NULL), IMP_ARG_INT (t->now)),
                     error)
      || !t->db->write (t->c, SQL_CML_INSERT,
                        IMP_ARGS (IMP_ARG_TEXT (t->conv_id), IMP_ARG_INT (msg_id),
                                  IMP_ARG_INT (seq), IMP_ARG_INT (t->actor),
                                  IMP_ARG_INT (t->now)), error))
    return FALSE;
  t->seq = seq;
  t->last_msg_id = msg_id;

  msg = g_new0 (ImpMessageRecord, 1);
  msg->msg_id = msg_id;
  msg->conversation_id = g_strdup (t->conv_id);
  msg->sender_id = t->actor;
  msg->seq = seq;
  msg->content = g_steal_pointer (&content);
  msg->content_type = IMP_CONTENT_TYPE_SYSTEM;
  msg->send_time_ms = t->now;
  msg->group_id = t->group_id;
  g_ptr_array_add (t->change->messages, msg);
  return TRUE;
}

/* Writes the group's state back (counter, members, owner, status) and its conversation row. */
static gboolean
group_save (GroupTx *t, GError **error)
{
  return t->db->write (t->c, SQL_GROUP_UPDATE,
                       IMP_ARGS (IMP_ARG_INT (t->group_id), IMP_ARG_INT (t->seq),
                                 IMP_ARG_INT (t->member_count), IMP_ARG_INT (t->owner_id),
                                 IMP_ARG_INT (t->status), IMP_ARG_INT (t->now)), error)
         && (t->last_msg_id == 0
             || t->db->write (t->c, SQL_CONV_UPDATE,
                              IMP_ARGS (IMP_ARG_TEXT (t->conv_id), IMP_ARG_INT (t->last_msg_id),
                                        IMP_ARG_INT (t->now), IMP_ARG_INT (t->member_count)),
                              error));
}

/* Makes user_id a member seeing seqs after join_seq, with a fresh read position. A former
 * member's old row is replaced (their window starts again at this join). */
static gboolean
member_join (GroupTx *t, gint64 user_id, int role, gint64 join_seq, GError **error)
{
  const ImpStoreDbOps *db = t->db;

  if (!db->write (t->c, SQL_MEMBER_DELETE,
                  IMP_ARGS (IMP_ARG_INT (t->group_id), IMP_ARG_INT (user_id)), error)
      || !db->write (t->c, SQL_MEMBER_INSERT,
                     IMP_ARGS (IMP_ARG_INT (t->group_id), IMP_ARG_INT (user_id),
                               IMP_ARG_INT (role), IMP_ARG_INT (join_seq), IMP_ARG_INT (t->now)),
                     error)
      || !db->write (t->c, SQL_UCL_DELETE,
                     IMP_ARGS (IMP_ARG_INT (user_id), IMP_ARG_TEXT (t->conv_id)), error)
      || !db->write (t->c, SQL_UCL_INSERT,
                     IMP_ARGS (IMP_ARG_INT (user_id), IMP_ARG_TEXT (t->conv_id),
                               IMP_ARG_INT (join_seq), IMP_ARG_INT (t->now)), error))
    return FALSE;
  g_array_append_val (t->change->joined, user_id);
  g_array_append_val (t->change->join_seqs, join_seq);
  return TRUE;
}

/* Checks that every user given really became a member (SQL_MEMBER_INSERT skips unknown ids). */
static gboolean
members_check (GroupTx *t, gint64 expect, GError **error)
{
  gint64 n = 0;

  if (!imp_store_db_int (t->db, t->c, SQL_MEMBER_COUNT, IMP_ARGS (IMP_ARG_INT (t->group_id)),
                         &n, NULL, error))
    return FALSE;
  if (n != expect)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER, "a user to add does not exist");
      return FALSE;
    }
  t->member_count = n;
  return TRUE;
}

static gboolean
size_check (guint64 n, guint max_size, GError **error)
{
  if (max_size > 0 && n > max_size)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_PAYLOAD_TOO_LARGE,
                   "a group has at most %u members", max_size);
      return FALSE;
    }
  return TRUE;
}

/* The distinct ids of users, without skip; NULL with BAD_REQUEST for an id <= 0. */
static GArray *
distinct_ids (const gint64 *users, guint n, gint64 skip, GError **error)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_autoptr(GArray) out = g_array_sized_new (FALSE, FALSE, sizeof (gint64), n);

  for (guint i = 0; i < n; i++)
    {
      if (users[i] <= 0)
        {
          g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "bad user id %" G_GINT64_FORMAT,
                       users[i]);
          return NULL;
        }
      if (users[i] == skip || g_hash_table_contains (seen, &users[i]))
        continue;
      g_hash_table_add (seen, (gpointer) &users[i]);
      g_array_append_val (out, users[i]);
    }
  return g_steal_pointer (&out);
}

/* Create */

static gboolean
do_create (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  GroupTx *t = data;
  g_autoptr(GArray) members = distinct_ids (t->users, t->n_users, t->actor, error);

  if (members == NULL || !size_check (members->len + 1, t->max_size, error))
    return FALSE;
  if (!db->exec (c, "INSERT INTO `groups` (name, owner_id, status, member_count, seq, "
                    "create_time, update_time) VALUES (?1, ?2, 1, 0, 0, ?3, ?3)",
                 IMP_ARGS (IMP_ARG_TEXT (t->name), IMP_ARG_INT (t->actor), IMP_ARG_INT (t->now)),
                 NULL, NULL, NULL, error))
    return FALSE;
  t->group_id = db->last_insert_id (c);
  t->change->group_id = t->group_id;
  t->conv_id = imp_convid_group (t->group_id);
  t->status = IMP_GROUP_ACTIVE;
  t->owner_id = t->actor;
  if (!db->write (c, "INSERT INTO conversation (conversation_id, type, member_count, "
                     "create_time, update_time) VALUES (?1, 2, 0, ?2, ?2)",
                  IMP_ARGS (IMP_ARG_TEXT (t->conv_id), IMP_ARG_INT (t->now)), error))
    return FALSE;

  /* Initial members see the whole stream (join_seq 0), starting with "group_created". */
  if (!member_join (t, t->actor, IMP_GROUP_ROLE_OWNER, 0, error))
    return FALSE;
  for (guint i = 0; i < members->len; i++)
    if (!member_join (t, g_array_index (members, gint64, i), IMP_GROUP_ROLE_MEMBER, 0, error))
      return FALSE;
  return members_check (t, members->len + 1, error)
         && system_message (t, "group_created", 0, "name", t->name, 0, error)
         && group_save (t, error);
}

/* Runs fn in one transaction and returns the change, or NULL with error. */
static ImpGroupChange *
run_change (ImpStore *store, ImpStoreDbFunc fn, GroupTx *t, GError **error)
{
  g_autoptr(ImpGroupChange) change = g_new0 (ImpGroupChange, 1);
  gboolean ok;

  change->group_id = t->group_id;
  change->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_message_record_free);
  change->joined = g_array_new (FALSE, FALSE, sizeof (gint64));
  change->join_seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  change->left = g_array_new (FALSE, FALSE, sizeof (gint64));
  change->left_seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  t->change = change;
  if (t->conv_id == NULL && t->group_id > 0)
    t->conv_id = imp_convid_group (t->group_id);
  ok = imp_store_db_transaction (store, fn, t, error);
  g_free (t->conv_id);
  return ok ? g_steal_pointer (&change) : NULL;
}

/* Every change but create: lock the group first. */
static gboolean
locked (const ImpStoreDbOps *db, gpointer c, GroupTx *t, GError **error)
{
  t->db = db;
  t->c = c;
  return group_lock (t, error);
}

static gboolean
do_create_tx (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  GroupTx *t = data;

  t->db = db;
  t->c = c;
  return do_create (db, c, data, error);
}

ImpGroupChange *
imp_store_group_create (ImpStore *self, gint64 owner_id, const char *name, const gint64 *members,
                        guint n_members, guint max_size, ImpIdGen *ids, gint64 now_ms,
                        GError **error)
{
  GroupTx t = { .ids = ids, .now = now_ms, .actor = owner_id, .name = name, .users = members,
                .n_users = n_members, .max_size = max_size };

  g_return_val_if_fail (self != NULL && ids != NULL, NULL);
  g_return_val_if_fail (n_members == 0 || members != NULL, NULL);
  if (name == NULL || name[0] == '\0' || strlen (name) > GROUP_NAME_MAX || owner_id <= 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "a group needs a name of 1..%d bytes", GROUP_NAME_MAX);
      return NULL;
    }
  return run_change (self, do_create_tx, &t, error);
}

/* Add */

static gboolean
do_add (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  GroupTx *t = data;
  g_autoptr(GArray) users = NULL;
  g_autoptr(GArray) fresh = NULL;
  Member actor, m;

  if (!locked (db, c, t, error) || !actor_check (t, IMP_GROUP_ROLE_ADMIN, &actor, error))
    return FALSE;
  if ((users = distinct_ids (t->users, t->n_users, 0, error)) == NULL)
    return FALSE;
  fresh = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint i = 0; i < users->len; i++)
    {
      gint64 id = g_array_index (users, gint64, i);

      if (!member_get (t, id, &m, error))
        return FALSE;
      if (!is_current (&m))
        g_array_append_val (fresh, id);
    }
  if (!size_check ((guint64) t->member_count + fresh->len, t->max_size, error))
    return FALSE;
  for (guint i = 0; i < fresh->len; i++)
    {
      gint64 id = g_array_index (fresh, gint64, i);

      /* The new member's window starts with the message announcing them. */
      if (!member_join (t, id, IMP_GROUP_ROLE_MEMBER, t->seq, error)
          || !system_message (t, "member_added", id, NULL, NULL, 0, error))
        return FALSE;
    }
  return members_check (t, t->member_count + fresh->len, error) && group_save (t, error);
}

ImpGroupChange *
imp_store_group_add_members (ImpStore *self, gint64 actor_id, gint64 group_id,
                             const gint64 *user_ids, guint n, guint max_size, ImpIdGen *ids,
                             gint64 now_ms, GError **error)
{
  GroupTx t = { .ids = ids, .now = now_ms, .actor = actor_id, .group_id = group_id,
                .users = user_ids, .n_users = n, .max_size = max_size };

  g_return_val_if_fail (self != NULL && ids != NULL, NULL);
  g_return_val_if_fail (n == 0 || user_ids != NULL, NULL);
  return run_change (self, do_add, &t, error);
}

/* Remove and leave */

/* Ends target's membership with a system message: their window ends with it. */
static gboolean
member_end (GroupTx *t, gint64 target, const char *event, GError **error)
{
  if (!system_message (t, event, target, NULL, NULL, 0, error)
      || !t->db->write (t->c, "UPDATE group_members SET left_seq = ?3, update_time = ?4 "
                              "WHERE group_id = ?1 AND user_id = ?2",
                        IMP_ARGS (IMP_ARG_INT (t->group_id), IMP_ARG_INT (target),
                                  IMP_ARG_INT (t->seq), IMP_ARG_INT (t->now)), error))
    return FALSE;
  t->member_count--;
  g_array_append_val (t->change->left, target);
  g_array_append_val (t->change->left_seqs, t->seq);
  return group_save (t, error);
}

static gboolean
do_remove (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  GroupTx *t = data;
  Member actor, m;

  if (!locked (db, c, t, error) || !actor_check (t, IMP_GROUP_ROLE_ADMIN, &actor, error)
      || !member_get (t, t->target, &m, error))
    return FALSE;
  if (!is_current (&m))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_MEMBER, "this user is not a member");
      return FALSE;
    }
  if (t->target == t->actor || m.role >= actor.role)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN,
                   "you may remove only members of a lower role (leave the group instead)");
      return FALSE;
    }
  return member_end (t, t->target, "member_removed", error);
}

ImpGroupChange *
imp_store_group_remove_member (ImpStore *self, gint64 actor_id, gint64 group_id, gint64 user_id,
                               ImpIdGen *ids, gint64 now_ms, GError **error)
{
  GroupTx t = { .ids = ids, .now = now_ms, .actor = actor_id, .group_id = group_id,
                .target = user_id };

  g_return_val_if_fail (self != NULL && ids != NULL, NULL);
  return run_change (self, do_remove, &t, error);
}

static gboolean
do_leave (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  GroupTx *t = data;
  Member actor;

  if (!locked (db, c, t, error) || !actor_check (t, IMP_GROUP_ROLE_MEMBER, &actor, error))
    return FALSE;
  if (actor.role == IMP_GROUP_ROLE_OWNER)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN,
                   "the owner transfers the group or dissolves it before leaving");
      return FALSE;
    }
  return member_end (t, t->actor, "member_left", error);
}

ImpGroupChange *
imp_store_group_leave (ImpStore *self, gint64 user_id, gint64 group_id, ImpIdGen *ids,
                       gint64 now_ms, GError **error)
{
  GroupTx t = { .ids = ids, .now = now_ms, .actor = user_id, .group_id = group_id };

  g_return_val_if_fail (self != NULL && ids != NULL, NULL);
  return run_change (self, do_leave, &t, error);
}

/* Roles, transfer, mute */

static gboolean
set_member (GroupTx *t, gint64 user_id, const char *column, gint64 value, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("UPDATE group_members SET %s = ?3, update_time = ?4 "
                                          "WHERE group_id = ?1 AND user_id = ?2", column);

  return t->db->write (t->c, sql, IMP_ARGS (IMP_ARG_INT (t->group_id), IMP_ARG_INT (user_id),
                                            IMP_ARG_INT (value), IMP_ARG_INT (t->now)), error);
}

static gboolean
target_current (GroupTx *t, Member *m, GError **error)
{
  if (!member_get (t, t->target, m, error))
    return FALSE;
  if (!is_current (m))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_MEMBER, "this user is not a member");
      return FALSE;
    }
  return TRUE;
}

static gboolean
do_role (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  GroupTx *t = data;
  Member actor, m;

  if (!locked (db, c, t, error) || !actor_check (t, IMP_GROUP_ROLE_OWNER, &actor, error)
      || !target_current (t, &m, error))
    return FALSE;
  if (t->target == t->actor)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN, "the owner's role changes by transfer");
      return FALSE;
    }
  if (m.role == t->value)
    return TRUE;
  return set_member (t, t->target, "role", t->value, error)
         && system_message (t, "role_changed", t->target, "role", role_name ((int) t->value), 0,
                            error)
         && group_save (t, error);
}

ImpGroupChange *
imp_store_group_set_role (ImpStore *self, gint64 actor_id, gint64 group_id, gint64 user_id,
                          int role, ImpIdGen *ids, gint64 now_ms, GError **error)
{
  GroupTx t = { .ids = ids, .now = now_ms, .actor = actor_id, .group_id = group_id,
                .target = user_id, .value = role };

  g_return_val_if_fail (self != NULL && ids != NULL, NULL);
  if (role != IMP_GROUP_ROLE_ADMIN && role != IMP_GROUP_ROLE_MEMBER)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "role must be admin or member (the owner changes by transfer)");
      return NULL;
    }
  return run_change (self, do_role, &t, error);
}

static gboolean
do_transfer (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  GroupTx *t = data;
  Member actor, m;

  if (!locked (db, c, t, error) || !actor_check (t, IMP_GROUP_ROLE_OWNER, &actor, error)
      || !target_current (t, &m, error))
    return FALSE;
  if (t->target == t->actor)
    return TRUE;
  t->owner_id = t->target;
  return set_member (t, t->target, "role", IMP_GROUP_ROLE_OWNER, error)
         && set_member (t, t->actor, "role", IMP_GROUP_ROLE_ADMIN, error)
         && system_message (t, "owner_transferred", t->target, NULL, NULL, 0, error)
         && group_save (t, error);
}

ImpGroupChange *
imp_store_group_transfer (ImpStore *self, gint64 actor_id, gint64 group_id, gint64 new_owner_id,
                          ImpIdGen *ids, gint64 now_ms, GError **error)
{
  GroupTx t = { .ids = ids, .now = now_ms, .actor = actor_id, .group_id = group_id,
                .target = new_owner_id };

  g_return_val_if_fail (self != NULL && ids != NULL, NULL);
  return run_change (self, do_transfer, &t, error);
}

static gboolean
do_mute (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  GroupTx *t = data;
  Member actor, m;
  gboolean unmute = (t->value <= t->now);

  if (!locked (db, c, t, error) || !actor_check (t, IMP_GROUP_ROLE_ADMIN, &actor, error)
      || !target_current (t, &m, error))
    return FALSE;
  if (m.role >= actor.role)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN, "you may mute only members of a lower role");
      return FALSE;
    }
  return set_member (t, t->target, "muted_until_ms", unmute ? 0 : t->value, error)
         && system_message (t, unmute ? "member_unmuted" : "member_muted", t->target,
                            unmute ? NULL : "until_ms", NULL, t->value, error)
         && group_save (t, error);
}

ImpGroupChange *
imp_store_group_mute (ImpStore *self, gint64 actor_id, gint64 group_id, gint64 user_id,
                      gint64 until_ms, ImpIdGen *ids, gint64 now_ms, GError **error)
{
  GroupTx t = { .ids = ids, .now = now_ms, .actor = actor_id, .group_id = group_id,
                .target = user_id, .value = until_ms };

  g_return_val_if_fail (self != NULL && ids != NULL, NULL);
  return run_change (self, do_mute, &t, error);
}

/* Dissolve */

static gboolean
id_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  gint64 id = f->int64 (row, 0);

  g_array_append_val ((GArray *) data, id);
  return TRUE;
}

static gboolean
do_dissolve (const ImpStoreDbOps *db, gpointer c, gpointer data, GError **error)
{
  GroupTx *t = data;
  Member actor;

  if (!locked (db, c, t, error) || !actor_check (t, IMP_GROUP_ROLE_OWNER, &actor, error)
      || !db->exec (c, "SELECT user_id FROM group_members WHERE group_id = ?1 "
                       "AND left_seq IS NULL ORDER BY user_id",
                    IMP_ARGS (IMP_ARG_INT (t->group_id)), id_row, t->change->left, NULL, error)
      || !system_message (t, "group_dissolved", 0, NULL, NULL, 0, error))
    return FALSE;
  /* Every member's window ends with the dissolution notice; the history stays readable. */
  t->status = IMP_GROUP_DISSOLVED;
  t->member_count = 0;
  for (guint i = 0; i < t->change->left->len; i++)
    g_array_append_val (t->change->left_seqs, t->seq);
  return db->write (c, "UPDATE group_members SET left_seq = ?2, update_time = ?3 "
                       "WHERE group_id = ?1 AND left_seq IS NULL",
                    IMP_ARGS (IMP_ARG_INT (t->group_id), IMP_ARG_INT (t->seq),
                              IMP_ARG_INT (t->now)), error)
         && group_save (t, error);
}

ImpGroupChange *
imp_store_group_dissolve (ImpStore *self, gint64 actor_id, gint64 group_id, ImpIdGen *ids,
                          gint64 now_ms, GError **error)
{
  GroupTx t = { .ids = ids, .now = now_ms, .actor = actor_id, .group_id = group_id };

  g_return_val_if_fail (self != NULL && ids != NULL, NULL);
  return run_change (self, do_dissolve, &t, error);
}

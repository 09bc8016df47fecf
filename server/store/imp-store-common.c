/* imp-store-common.c: the backend-independent half of the stores (imp-store-common.h). */
#include "imp-store-common.h"
#include "imp-store-migrations.h"
#include "imp-convid.h"

#include <stdlib.h>
#include <string.h>

#define MIGRATIONS_PATH "/io/github/implus/server/migrations/"

/* Records */

ImpUserRecord *
imp_store_user_from_row (const ImpStoreRowFuncs *f, gpointer row)
{
  ImpUserRecord *rec = g_new0 (ImpUserRecord, 1);

  rec->id = f->int64 (row, 0);
  rec->username = g_strdup (f->text (row, 1));
  rec->nickname = g_strdup (f->text (row, 2));
  rec->password_hash = g_strdup (f->text (row, 3));
  rec->status = (int) f->int64 (row, 4);
  rec->created_ms = f->int64 (row, 5);
  rec->muted_until_ms = f->int64 (row, 6);
  return rec;
}

ImpMessageRecord *
imp_store_message_from_row (const ImpStoreRowFuncs *f, gpointer row)
{
  ImpMessageRecord *rec = g_new0 (ImpMessageRecord, 1);

  rec->msg_id = f->int64 (row, 0);
  rec->conversation_id = g_strdup (f->text (row, 1));
  rec->sender_id = f->int64 (row, 2);
  rec->to_user_id = f->int64 (row, 3);
  rec->seq = f->int64 (row, 4);
  rec->content = g_strdup (f->text (row, 5));
  rec->content_type = (int) f->int64 (row, 6);
  rec->send_time_ms = f->int64 (row, 7);
  rec->client_msg_id = g_strdup (f->text (row, 8));
  return rec;
}

ImpConversationRecord *
imp_store_conversation_from_row (const ImpStoreRowFuncs *f, gpointer row)
{
  ImpConversationRecord *rec = g_new0 (ImpConversationRecord, 1);
  ImpMessageRecord *msg;

  rec->conversation_id = g_strdup (f->text (row, 0));
  rec->kind = g_str_has_prefix (rec->conversation_id, "group_") ? IMP_CONV_GROUP : IMP_CONV_PRIVATE;
  rec->peer_id = f->int64 (row, 1);
  rec->peer_username = g_strdup (f->text (row, 2));
  rec->read_seq = f->int64 (row, 3);
  rec->last_seq = f->int64 (row, 4);
  rec->updated_ms = f->int64 (row, 5);
  rec->unread = f->int64 (row, 6);
  if (f->text (row, 7) == NULL)  /* no last message (LEFT JOIN found none) */
    return rec;

  msg = g_new0 (ImpMessageRecord, 1);
  msg->msg_id = f->int64 (row, 7);
  msg->conversation_id = g_strdup (rec->conversation_id);
  msg->sender_id = f->int64 (row, 8);
  msg->to_user_id = f->int64 (row, 9);
  msg->seq = rec->last_seq;
  msg->content = g_strdup (f->text (row, 10));
  msg->content_type = (int) f->int64 (row, 11);
  msg->send_time_ms = f->int64 (row, 12);
  msg->client_msg_id = g_strdup (f->text (row, 13));
  rec->last_message = msg;
  return rec;
}

void
imp_store_chat_result_from_dedup_row (const ImpStoreRowFuncs *f, gpointer row, ImpChatResult *res)
{
  res->duplicate = TRUE;
  res->msg_id = f->int64 (row, 0);
  res->sender_seq = f->int64 (row, 1);
  res->recipient_seq = f->int64 (row, 2);
  res->conversation_id = g_strdup (f->text (row, 3));
  res->send_time_ms = f->int64 (row, 4);
}

/* Conversation access */

gboolean
imp_store_conversation_access (gint64 user_id, const char *conversation_id,
                               gboolean *out_need_membership, GError **error)
{
  ImpConvKind kind;
  gint64 a, b;

  *out_need_membership = FALSE;
  if (conversation_id == NULL || !imp_convid_parse (conversation_id, &kind, &a, &b, NULL))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "malformed conversation id");
      return FALSE;
    }
  if (kind == IMP_CONV_GROUP)
    {
      /* A group's history and read marks go through imp-store-group.c (group_members). */
      *out_need_membership = TRUE;
      return TRUE;
    }
  if (a == user_id || b == user_id)
    return TRUE;
  g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN, "not a participant of this conversation");
  return FALSE;
}

void
imp_store_set_not_member (GError **error)
{
  g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN, "not a member of this conversation");
}

/* The send transaction */

/* Takes the seqs and claims the dedup key. FALSE on a database error; *out_duplicate when
 * another transaction committed the same key first: the seqs are given back. */
static gboolean
chat_claim (const ImpStoreChatOps *ops, gpointer c, const ImpChatRequest *req, ImpChatResult *res,
            gboolean *out_duplicate, GError **error)
{
  gboolean self_chat = (req->to_user_id == req->sender_id);

  if (!ops->seq_next (c, req->sender_id, &res->sender_seq, error)
      || (!self_chat && !ops->seq_next (c, req->to_user_id, &res->recipient_seq, error))
      || !ops->dedup_insert (c, req, res, out_duplicate, error))
    return FALSE;
  if (!*out_duplicate)
    return TRUE;
  if (ops->seq_undo == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "store: unexpected duplicate send key");
      return FALSE;
    }
  return ops->seq_undo (c, req->sender_id, error)
         && (self_chat || ops->seq_undo (c, req->to_user_id, error));
}

typedef struct {
  gint64 v[5];
  gboolean found;
} CheckRow;

static gboolean
check_row (const ImpStoreRowFuncs *f, gpointer row, gpointer data)
{
  CheckRow *r = data;

  for (int i = 0; i < 5; i++)
    r->v[i] = f->int64 (row, i);
  r->found = TRUE;
  return FALSE;
}

/* The refusals of a one-to-one send, from one statement: recipient missing or banned, sender
 * banned or muted, the recipient blocked the sender, not friends while friends_only. Sets
 * res->error_code (and muted_until_ms); FALSE only on a database error. */
static gboolean
chat_check (const ImpStoreChatOps *ops, gpointer c, gboolean friends_only,
            const ImpChatRequest *req, ImpChatResult *res, GError **error)
{
  gboolean self_chat = (req->to_user_id == req->sender_id);
  CheckRow r = { { 0 }, FALSE };

  if (!ops->db->exec (c, IMP_STORE_SQL_CHAT_CHECK,
                      IMP_ARGS (IMP_ARG_INT (req->sender_id), IMP_ARG_INT (req->to_user_id)),
                      check_row, &r, NULL, error))
    return FALSE;
  /* v: recipient status, sender status, sender muted until, blocked, friends */
  if (r.v[0] == 0)
    res->error_code = IMP_ERROR_UNKNOWN_USER;
  else if (r.v[1] == IMP_USER_STATUS_BANNED)
    res->error_code = IMP_ERROR_BANNED;
  else if (r.v[2] > req->now_ms)
    {
      res->error_code = IMP_ERROR_MUTED;
      res->muted_until_ms = r.v[2];
    }
  else if (r.v[0] == IMP_USER_STATUS_BANNED)
    res->error_code = IMP_ERROR_BANNED;
  else if (!self_chat && r.v[3] > 0)
    res->error_code = IMP_ERROR_BLOCKED;
  else if (!self_chat && friends_only && r.v[4] == 0)
    res->error_code = IMP_ERROR_FORBIDDEN;
  return TRUE;
}

/* One request inside the open transaction. FALSE only on a database error (the batch then
 * rolls back); a refusal sets res->error_code and writes nothing. */
static gboolean
chat_one (const ImpStoreChatOps *ops, gpointer c, gboolean friends_only, const ImpChatRequest *req,
          ImpChatResult *res, GError **error)
{
  gboolean self_chat = (req->to_user_id == req->sender_id);
  gboolean found = FALSE;

  memset (res, 0, sizeof *res);
  if (req->client_msg_id == NULL || req->client_msg_id[0] == '\0'
      || strlen (req->client_msg_id) > IMP_STORE_CLIENT_MSG_ID_MAX || req->content == NULL
      || req->sender_id <= 0)
    {
      res->error_code = IMP_ERROR_BAD_REQUEST;
      return TRUE;
    }
  /* Rows written earlier in this transaction are visible: a repeat inside the batch is found. */
  if (!ops->dedup_get (c, req, res, &found, error))
    return FALSE;
  if (found)
    return TRUE;

  if (req->group_id != 0)
    return imp_store_group_chat_one (ops, c, req, res, error);
  if (req->to_user_id > 0 && !chat_check (ops, c, friends_only, req, res, error))
    return FALSE;
  if (req->to_user_id <= 0)
    res->error_code = IMP_ERROR_UNKNOWN_USER;
  if (res->error_code != IMP_ERROR_NONE)
    return TRUE;

  res->msg_id = req->msg_id;
  res->send_time_ms = req->now_ms;
  res->conversation_id = imp_convid_private (req->sender_id, req->to_user_id);
  if (!chat_claim (ops, c, req, res, &found, error))
    return FALSE;
  if (found)
    {
      /* The same send, committed by another worker meanwhile: its receipt is the answer. */
      imp_chat_result_clear (res);
      if (!ops->dedup_get (c, req, res, &found, error))
        return FALSE;
      if (!found)
        {
          g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "store: send key vanished, retry");
          return FALSE;
        }
      return TRUE;
    }

  return ops->message_insert (c, req, res->conversation_id, error)
         && ops->uml_insert (c, req->sender_id, res->sender_seq, req, res->conversation_id, error)
         && (self_chat
             || ops->uml_insert (c, req->to_user_id, res->recipient_seq, req, res->conversation_id,
                                 error))
         && ops->conversation_upsert (c, req, res->conversation_id, error)
         && ops->ucl_upsert (c, req->sender_id, req->to_user_id, res->sender_seq, req,
                             res->conversation_id, error)
         && (self_chat
             || ops->ucl_upsert (c, req->to_user_id, req->sender_id, res->recipient_seq, req,
                                 res->conversation_id, error));
}

gboolean
imp_store_chat_run (const ImpStoreChatOps *ops, gpointer conn, gboolean friends_only,
                    const ImpChatRequest *reqs, guint n_reqs, ImpChatResult *results,
                    GError **error)
{
  guint i;

  memset (results, 0, n_reqs * sizeof *results);
  if (n_reqs == 0)
    return TRUE;
  if (!ops->tx (conn, IMP_STORE_TX_BEGIN, error))
    return FALSE;
  for (i = 0; i < n_reqs; i++)
    if (!chat_one (ops, conn, friends_only, &reqs[i], &results[i], error))
      break;
  if (i == n_reqs && ops->tx (conn, IMP_STORE_TX_COMMIT, error))
    return TRUE;

  ops->tx (conn, IMP_STORE_TX_ROLLBACK, NULL);
  for (guint j = 0; j < n_reqs; j++)
    imp_chat_result_clear (&results[j]);
  return FALSE;
}

/* Migrations */

/* "0001-init.sql" -> 1; 0 if the name does not start with a positive number and a dash. */
static gint64
migration_version (const char *name)
{
  gint64 v = 0;
  const char *p = name;

  for (; g_ascii_isdigit (*p) && v < G_MAXINT32; p++)
    v = v * 10 + (*p - '0');
  return (p != name && *p == '-' && g_str_has_suffix (name, ".sql")) ? v : 0;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  gint64 va = migration_version (*(const char *const *) a);
  gint64 vb = migration_version (*(const char *const *) b);

  return va < vb ? -1 : va > vb;
}

gboolean
imp_store_migrations_apply (const char *backend, gint64 current, ImpStoreMigrationFunc apply,
                            gpointer data, GError **error)
{
  GResource *res = imp_store_migrations_get_resource ();
  g_autofree char *dir = g_strconcat (MIGRATIONS_PATH, backend, "/", NULL);
  g_auto(GStrv) names = NULL;
  gint64 last = 0;

  names = g_resource_enumerate_children (res, dir, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (names == NULL)
    return FALSE;
  qsort (names, g_strv_length (names), sizeof (char *), compare_names);

  for (guint i = 0; names[i] != NULL; i++)
    {
      gint64 version = migration_version (names[i]);
      g_autofree char *path = NULL;
      g_autofree char *sql = NULL;
      g_autoptr(GBytes) bytes = NULL;
      gsize size;
      gconstpointer bytes_data;

      if (version == 0 || version == last)
        {
          g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL,
                       "store: bad or repeated migration name %s", names[i]);
          return FALSE;
        }
      last = version;
      if (version <= current)
        continue;

      path = g_strconcat (dir, names[i], NULL);
      bytes = g_resource_lookup_data (res, path, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
      if (bytes == NULL)
        return FALSE;
      bytes_data = g_bytes_get_data (bytes, &size);
      sql = g_strndup (bytes_data, size);
      g_debug ("store: applying migration %s/%s", backend, names[i]);
      if (!apply (data, version, names[i], sql, error))
        return FALSE;
    }

  if (current > last)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL,
                   "store: schema version %" G_GINT64_FORMAT " is newer than this program's %"
                   G_GINT64_FORMAT, current, last);
      return FALSE;
    }
  return TRUE;
}

/* imp-store.c: the store interface's public wrappers (with the argument checks every backend
 * relies on) and the record free functions. */
#include "imp-store-common.h"

#include <string.h>

void
imp_user_record_free (ImpUserRecord *rec)
{
  if (rec == NULL)
    return;
  g_free (rec->username);
  g_free (rec->nickname);
  g_free (rec->password_hash);
  g_free (rec);
}

void
imp_message_record_free (ImpMessageRecord *rec)
{
  if (rec == NULL)
    return;
  g_free (rec->conversation_id);
  g_free (rec->content);
  g_free (rec->client_msg_id);
  g_free (rec);
}

void
imp_chat_result_clear (ImpChatResult *res)
{
  if (res == NULL)
    return;
  g_free (res->conversation_id);
  memset (res, 0, sizeof *res);
}

void
imp_conversation_record_free (ImpConversationRecord *rec)
{
  if (rec == NULL)
    return;
  g_free (rec->conversation_id);
  g_free (rec->peer_username);
  g_free (rec->name);
  imp_message_record_free (rec->last_message);
  g_free (rec);
}

void
imp_store_free (ImpStore *self)
{
  if (self != NULL)
    self->vt->free (self);
}

gboolean
imp_store_user_create (ImpStore *self, const char *username, const char *nickname,
                       const char *password_hash, gint64 now_ms, gint64 *out_id, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (username != NULL && password_hash != NULL, FALSE);
  return self->vt->user_create (self, username, nickname, password_hash, now_ms, out_id, error);
}

ImpUserRecord *
imp_store_user_get (ImpStore *self, gint64 id, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->vt->user_get (self, id, error);
}

ImpUserRecord *
imp_store_user_find (ImpStore *self, const char *username, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (username != NULL, NULL);
  return self->vt->user_find (self, username, error);
}

gboolean
imp_store_user_touch_login (ImpStore *self, gint64 id, gint64 now_ms, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->vt->user_touch_login (self, id, now_ms, error);
}

gboolean
imp_store_token_revoke (ImpStore *self, const char *token_id, gint64 user_id, gint64 expires_s,
                        GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (token_id != NULL, FALSE);
  return self->vt->token_revoke (self, token_id, user_id, expires_s, error);
}

gboolean
imp_store_token_is_revoked (ImpStore *self, const char *token_id, gboolean *out_revoked,
                            GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (token_id != NULL && out_revoked != NULL, FALSE);
  return self->vt->token_is_revoked (self, token_id, out_revoked, error);
}

gboolean
imp_store_chat_commit (ImpStore *self, const ImpChatRequest *reqs, guint n_reqs,
                       ImpChatResult *results, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (n_reqs == 0 || (reqs != NULL && results != NULL), FALSE);
  return self->vt->chat_commit (self, reqs, n_reqs, results, error);
}

GPtrArray *
imp_store_stream_pull (ImpStore *self, gint64 user_id, gint64 after_seq, guint limit,
                       GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->vt->stream_pull (self, user_id, after_seq, limit, error);
}

GPtrArray *
imp_store_conversation_history (ImpStore *self, gint64 user_id, const char *conversation_id,
                                gint64 before_seq, guint limit, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->vt->conversation_history (self, user_id, conversation_id, before_seq, limit, error);
}

GPtrArray *
imp_store_conversations_list (ImpStore *self, gint64 user_id, GError **error)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->vt->conversations_list (self, user_id, error);
}

gboolean
imp_store_conversation_mark_read (ImpStore *self, gint64 user_id, const char *conversation_id,
                                  gint64 seq, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->vt->conversation_mark_read (self, user_id, conversation_id, seq, error);
}

gboolean
imp_store_delivery_record (ImpStore *self, gint64 user_id, const char *device_id,
                           gint64 up_to_seq, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (device_id != NULL, FALSE);
  return self->vt->delivery_record (self, user_id, device_id, up_to_seq, error);
}

gboolean
imp_store_delivery_record_batch (ImpStore *self, const ImpDeliveryRecord *records, guint n_records,
                                 GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (records != NULL || n_records == 0, FALSE);
  for (guint i = 0; i < n_records; i++)
    g_return_val_if_fail (records[i].device_id != NULL, FALSE);
  if (self->vt->db != NULL)
    return imp_store_db_delivery_record_batch (self, records, n_records, error);
  /* A store without generic statements (test wrappers): one transaction per record. */
  for (guint i = 0; i < n_records; i++)
    if (!self->vt->delivery_record (self, records[i].user_id, records[i].device_id,
                                    records[i].up_to_seq, error))
      return FALSE;
  return TRUE;
}

gboolean
imp_store_parallel_writes (ImpStore *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->vt->parallel_writes;
}

gboolean
imp_store_stream_max_seq (ImpStore *self, gint64 user_id, gint64 *out_seq, GError **error)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (out_seq != NULL, FALSE);
  return self->vt->stream_max_seq (self, user_id, out_seq, error);
}

typedef struct {
  gint64   user_id;
  gint64   msg_id;
  gint64   seq;
  gboolean found;
} SeqOf;

static gboolean
do_seq_of (const ImpStoreDbOps *db, gpointer conn, gpointer data, GError **error)
{
  SeqOf *q = data;

  return imp_store_db_int (db, conn, IMP_STORE_SQL_SEQ_OF,
                           IMP_ARGS (IMP_ARG_INT (q->msg_id), IMP_ARG_INT (q->user_id)),
                           &q->seq, &q->found, error);
}

gboolean
imp_store_message_seq_of (ImpStore *self, gint64 user_id, gint64 msg_id, gint64 *out_seq,
                          gboolean *out_found, GError **error)
{
  SeqOf q = { .user_id = user_id, .msg_id = msg_id };

  g_return_val_if_fail (self != NULL && out_seq != NULL && out_found != NULL, FALSE);
  *out_found = FALSE;
  if (self->vt->db == NULL)
    return TRUE;
  if (!imp_store_db_read (self, do_seq_of, &q, error))
    return FALSE;
  /* 0: the row exists, but user_id is neither side of it. */
  *out_found = q.found && q.seq > 0;
  *out_seq = *out_found ? q.seq : 0;
  return TRUE;
}

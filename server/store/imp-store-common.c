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

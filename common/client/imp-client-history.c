/* imp-client-history.c: older history of one conversation from the server, for a mirror that
 * does not hold it (a mirror trimmed by hand or by a future retention rule; today's engine never
 * trims, and a new device pulls every stream from its start, so this normally adds nothing).
 *
 * One-to-one: GET /messages/history (newest first, seq < before). Groups: GET /groups/sync from
 * just below `before` (the server clamps it to the member's window). Only messages at or below
 * their stream's watermark are stored: those above it belong to the sync engine, which applies
 * them in order (DESIGN invariant: the mirror applies a stream without holes). */
#define G_LOG_DOMAIN "implus-client"

#include "imp-client-private.h"
#include "imp-error.h"

#define HISTORY_MAX 500

typedef struct {
  char   *conversation_id;
  gint64  before;
} HistoryData;

static void
history_data_free (HistoryData *d)
{
  g_free (d->conversation_id);
  g_free (d);
}

static void
history_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ImpClient *self = g_task_get_source_object (task);
  HistoryData *d = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr(JsonObject) obj = imp_client_api_call_finish (IMP_CLIENT_API (source), res, &error);
  gboolean group = g_str_has_prefix (d->conversation_id, "group_");
  JsonArray *list;
  gint64 watermark, added = 0;

  if (obj == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (self->mirror == NULL)
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_NOT_AUTHENTICATED, "logged out");
      return;
    }
  watermark = group ? imp_mirror_group_watermark (self->mirror, d->conversation_id)
                    : imp_mirror_get_watermark (self->mirror);
  list = imp_json_array_member (obj, "messages");
  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    {
      JsonObject *o = json_array_get_object_element (list, i);
      g_autoptr(ImpMessage) m = o ? imp_message_new_from_json (o, NULL) : NULL;
      g_autoptr(ImpMessage) have = NULL;
      gboolean dup = FALSE;

      if (m == NULL || g_strcmp0 (m->conversation_id, d->conversation_id) != 0
          || m->seq <= 0 || m->seq >= d->before || m->seq > watermark)
        continue;
      have = group ? imp_mirror_group_get_message (self->mirror, d->conversation_id, m->seq)
                   : imp_mirror_get_message (self->mirror, m->seq);
      if (have != NULL)
        continue;
      if (!(group ? imp_mirror_group_store (self->mirror, m, &dup, NULL, &error)
                  : imp_mirror_store (self->mirror, m, &dup, NULL, &error)))
        {
          g_task_return_error (task, error);
          return;
        }
      added++;
    }
  if (added > 0)
    g_debug ("%" G_GINT64_FORMAT " older messages of %s restored from the server", added,
             d->conversation_id);
  g_task_return_int (task, added);
}

void
imp_client_history_async (ImpClient *self, const char *conversation_id, gint64 before_seq,
                          guint limit, GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *escaped = NULL, *path = NULL;
  HistoryData *d;

  g_return_if_fail (conversation_id != NULL);
  if (self->mirror == NULL || imp_client_api_get_token (self->api) == NULL)
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_NOT_AUTHENTICATED, "not logged in");
      g_object_unref (task);
      return;
    }
  if (before_seq == 1 || before_seq < 0)
    {
      g_task_return_int (task, 0);    /* nothing lies below seq 1 */
      g_object_unref (task);
      return;
    }
  limit = CLAMP (limit, 1, HISTORY_MAX);
  d = g_new0 (HistoryData, 1);
  d->conversation_id = g_strdup (conversation_id);
  d->before = before_seq > 0 ? before_seq : G_MAXINT64;
  g_task_set_task_data (task, d, (GDestroyNotify) history_data_free);
  escaped = g_uri_escape_string (conversation_id, NULL, FALSE);
  if (g_str_has_prefix (conversation_id, "group_"))
    {
      gint64 top = before_seq > 0 ? before_seq : imp_mirror_group_watermark (self->mirror, conversation_id) + 1;

      path = g_strdup_printf ("/groups/sync?conversation_id=%s&after=%" G_GINT64_FORMAT "&limit=%u",
                              escaped, MAX (0, top - 1 - (gint64) limit), limit);
      imp_client_api_call_async (self->api, IMP_API_MESSAGE, "GET", path, NULL, cancellable,
                                 history_cb, task);
    }
  else
    {
      path = g_strdup_printf ("/messages/history?conversation_id=%s&before=%" G_GINT64_FORMAT "&limit=%u",
                              escaped, MAX (0, before_seq), limit);
      imp_client_api_call_async (self->api, IMP_API_MESSAGE, "GET", path, NULL, cancellable,
                                 history_cb, task);
    }
}

gint64
imp_client_history_finish (ImpClient *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_int (G_TASK (result), error);
}

/* imp-client-api.h: the HTTP APIs (docs/http-api.md) over one SoupSession, JSON via json-glib.
 *
 * Every call is async; the _finish functions give the answer's JSON object or a GError in the
 * IMP_ERROR domain: the server's {"code": N} for an HTTP error, IMP_ERROR_UNAVAILABLE when the
 * server cannot be reached, IMP_ERROR_BAD_REQUEST for an answer that is not a JSON object.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum {
  IMP_API_USER,     /* user service: register, login, logout, lookup */
  IMP_API_MESSAGE,  /* message service: sync, history, conversations */
} ImpApiService;

#define IMP_TYPE_CLIENT_API (imp_client_api_get_type ())
G_DECLARE_FINAL_TYPE (ImpClientApi, imp_client_api, IMP, CLIENT_API, GObject)

/* Base URLs such as "http://127.0.0.1:8090" (no trailing slash needed). */
ImpClientApi *imp_client_api_new (const char *user_base_url, const char *message_base_url);
void          imp_client_api_set_token (ImpClientApi *self, const char *token);
const char   *imp_client_api_get_token (ImpClientApi *self);

/* method "GET" or "POST"; path with its query (already escaped); body NULL or a JSON object. */
void        imp_client_api_call_async  (ImpClientApi        *self,
                                        ImpApiService        service,
                                        const char          *method,
                                        const char          *path,
                                        JsonObject          *body,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data);
JsonObject *imp_client_api_call_finish (ImpClientApi        *self,
                                        GAsyncResult        *result,
                                        GError             **error);

/* json-glib 1.6 has no array/object _with_default getters: NULL if absent or another type. */
JsonArray  *imp_json_array_member (JsonObject *obj, const char *name);
JsonObject *imp_json_object_member (JsonObject *obj, const char *name);

/* Answers bigger than this are refused before they are buffered whole. */
#define IMP_CLIENT_API_MAX_ANSWER (16 * 1024 * 1024)

G_END_DECLS

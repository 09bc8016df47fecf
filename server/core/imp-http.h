/* imp-http.h: what every HTTP API of the server shares (Redis' "one place that turns errors into
 * replies"): bounded JSON bodies, JSON error replies from GErrors, bearer auth, and running a
 * blocking handler on a worker thread while the SoupServerMessage is paused.
 *
 * Error body: {"code": <ImpErrorCode number>, "error": "<code name>", "message": "<text>"} with
 * the status of imp_error_http_status(). */
#pragma once

#include <libsoup/soup.h>
#include <json-glib/json-glib.h>
#include "imp-token.h"
#include "core/imp-auth.h"

G_BEGIN_DECLS

typedef struct {
  SoupServerMessage *msg;       /* borrowed; paused while the job runs */
  ImpTokenClaims     claims;    /* filled when the route needs auth */
  JsonObject        *body;      /* owned; parsed request body (POST), or NULL */
  GHashTable        *query;     /* owned; query parameters, or NULL */
  char              *path;      /* owned */
  gpointer           route_data;/* borrowed: the API object */
  /* Set by the handler: */
  guint              status;    /* 200 if left 0 */
  JsonNode          *reply;     /* owned; the JSON reply (object) */
} ImpHttpJob;

/* Runs on a worker thread. Return FALSE with error set to answer with a JSON error. */
typedef gboolean (*ImpHttpHandler) (ImpHttpJob *job, GError **error);

typedef struct {
  const char    *method;        /* "GET", "POST" */
  const char    *path;          /* exact path */
  gboolean       needs_auth;    /* Authorization: Bearer <token> checked with ImpAuth first */
  gboolean       needs_body;    /* a JSON object body is required */
  ImpHttpHandler handler;
} ImpHttpRoute;

typedef struct _ImpHttpApi ImpHttpApi;

/* Serves routes on server at every path listed; bodies above max_body get 413 before parsing;
 * wrong methods 405; unknown paths 404; all as JSON errors. route_data reaches handlers. */
ImpHttpApi *imp_http_api_new (SoupServer *server, const ImpHttpRoute *routes, guint n_routes,
                              ImpAuth *auth, gsize max_body, gpointer route_data);
void        imp_http_api_free (ImpHttpApi *self);

/* Helpers for handlers: typed, validated fields (IMP_ERROR_BAD_REQUEST with the field's name). */
const char *imp_http_body_string (ImpHttpJob *job, const char *member, gsize max_len, GError **error);
gboolean    imp_http_body_int (ImpHttpJob *job, const char *member, gint64 *out, GError **error);
gboolean    imp_http_query_int (ImpHttpJob *job, const char *name, gint64 def, gint64 min, gint64 max,
                                gint64 *out, GError **error);

/* Listens on bind:port (port 0 = any) and returns the port really used. */
gboolean    imp_http_listen (SoupServer *server, const char *bind, guint port, guint *out_port,
                             GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpHttpApi, imp_http_api_free)

G_END_DECLS

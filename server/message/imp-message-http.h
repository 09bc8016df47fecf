/* imp-message-http.h: the pull API (docs/http-api.md, "Message service"). */
#pragma once

#include <libsoup/soup.h>
#include "core/imp-server-config.h"
#include "core/imp-auth.h"
#include "store/imp-store.h"

G_BEGIN_DECLS

typedef struct _ImpMessageHttp ImpMessageHttp;

/* Adds its routes to server (borrowed, like the others). */
ImpMessageHttp *imp_message_http_new (SoupServer *server, const ImpServerConfig *config,
                                      ImpStore *store, ImpAuth *auth);
void            imp_message_http_free (ImpMessageHttp *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpMessageHttp, imp_message_http_free)

G_END_DECLS

/* imp-message-http.h: the pull API (docs/http-api.md, "Message service"). */
#pragma once

#include <libsoup/soup.h>
#include "core/imp-server-config.h"
#include "core/imp-auth.h"
#include "store/imp-store.h"
#include "bus/imp-bus.h"
#include "cache/imp-cache.h"

G_BEGIN_DECLS

typedef struct _ImpMessageHttp ImpMessageHttp;

/* Adds its routes to server (borrowed, like the others). */
ImpMessageHttp *imp_message_http_new (SoupServer *server, const ImpServerConfig *config,
                                      ImpStore *store, ImpAuth *auth);
/* Read marks made over HTTP are announced (ReadUpdate) through bus to the gateways cache names.
 * Borrowed; set once before serving. Without it they are only stored. */
void            imp_message_http_set_bus (ImpMessageHttp *self, ImpBus *bus, ImpCache *cache);
void            imp_message_http_free (ImpMessageHttp *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpMessageHttp, imp_message_http_free)

G_END_DECLS

/* imp-user-http.h: the account API (docs/http-api.md, "User service"). */
#pragma once

#include <libsoup/soup.h>
#include "core/imp-server-config.h"
#include "core/imp-auth.h"
#include "store/imp-store.h"
#include "bus/imp-bus.h"
#include "cache/imp-cache.h"

G_BEGIN_DECLS

typedef struct _ImpUserHttp ImpUserHttp;

ImpUserHttp *imp_user_http_new (SoupServer *server, const ImpServerConfig *config, ImpStore *store,
                                ImpAuth *auth, ImpBus *bus, ImpCache *cache);
/* What login hands out as the gateway to connect to ("127.0.0.1:8900", "ws://127.0.0.1:8902/websocket"). */
void         imp_user_http_set_gateway (ImpUserHttp *self, const char *tcp_address, const char *ws_url);
void         imp_user_http_free (ImpUserHttp *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpUserHttp, imp_user_http_free)

G_END_DECLS

/* imp-server.h: one process: builds the backends the config names and starts its roles. */
#pragma once

#include <glib.h>
#include "core/imp-server-config.h"

G_BEGIN_DECLS

typedef struct _ImpServer ImpServer;

ImpServer *imp_server_new (ImpServerConfig *config /* borrowed */, GError **error);
/* Prints "IMPLUS-READY role=... tcp=N ws=N user_http=N message_http=N" (ports really bound; roles
 * not running print 0) on stdout, flushed, once everything listens. */
void       imp_server_print_ready (ImpServer *self);
void       imp_server_free (ImpServer *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpServer, imp_server_free)

G_END_DECLS

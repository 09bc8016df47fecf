/* imp-id.h: message ids and client ids. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Snowflake-style 63-bit ids: 41 bits of milliseconds since 2024-01-01, 10 bits of worker id,
 * 12 bits of sequence. Strictly increasing per generator, thread-safe, never 0. If the clock
 * goes backwards the generator keeps counting from its last timestamp. */
typedef struct _ImpIdGen ImpIdGen;

ImpIdGen *imp_id_gen_new (guint worker_id); /* worker_id < 1024 */
void      imp_id_gen_free (ImpIdGen *self);
gint64    imp_id_gen_next (ImpIdGen *self);
/* For tests: next id as if the wall clock read now_ms. */
gint64    imp_id_gen_next_at (ImpIdGen *self, gint64 now_ms);
gint64    imp_id_timestamp_ms (gint64 id);
guint     imp_id_worker (gint64 id);

/* A fresh random UUID string (client_msg_id, device ids). */
char     *imp_uuid_new (void);
/* TRUE if s is a canonical 36-character UUID. */
gboolean  imp_uuid_is_valid (const char *s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpIdGen, imp_id_gen_free)

G_END_DECLS

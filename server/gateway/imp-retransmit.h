/* imp-retransmit.h: a hashed timing wheel for push retransmission deadlines (DESIGN §2, §10).
 *
 * One GSource per wheel, armed only while entries are waiting; entries are embedded in the
 * caller's structs (no allocation per add), removal is O(1). Deadlines are rounded up to the
 * wheel's tick, so an entry never fires early. Main-context only. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _ImpRetransmit ImpRetransmit;

typedef struct {
  GList   link;         /* in a wheel slot; link.data = the entry */
  guint64 expire_tick;
  guint   slot;
  gboolean queued;
} ImpRetransmitEntry;

/* Called for each expired entry; the entry is already out of the wheel and may be re-added. */
typedef void (*ImpRetransmitFunc) (ImpRetransmitEntry *entry, gpointer user_data);

ImpRetransmit *imp_retransmit_new (guint tick_ms, ImpRetransmitFunc func, gpointer user_data);
void           imp_retransmit_free (ImpRetransmit *self);
void           imp_retransmit_add (ImpRetransmit *self, ImpRetransmitEntry *entry, guint delay_ms);
void           imp_retransmit_remove (ImpRetransmit *self, ImpRetransmitEntry *entry);
guint          imp_retransmit_get_n_entries (ImpRetransmit *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpRetransmit, imp_retransmit_free)

G_END_DECLS

/* imp-time.h: clock helpers, so tests can see what "now" is in one place. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

static inline gint64 imp_now_ms (void) { return g_get_real_time () / 1000; }
static inline gint64 imp_now_s (void) { return g_get_real_time () / G_USEC_PER_SEC; }
static inline gint64 imp_mono_us (void) { return g_get_monotonic_time (); }

G_END_DECLS

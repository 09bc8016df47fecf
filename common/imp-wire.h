/* imp-wire.h: Envelope encode/decode helpers over the protobuf-c generated code. */
#pragma once

#include <glib.h>
#include "implus.pb-c.h"
#include "imp-error.h"

G_BEGIN_DECLS

typedef Implus__Envelope ImpEnvelope;

/* Decodes one Envelope; IMP_ERROR_BAD_FRAME if the bytes are not one, or its body is unset. */
ImpEnvelope *imp_wire_decode (const guint8 *data, gsize len, GError **error);
void         imp_wire_envelope_free (ImpEnvelope *env);
/* Encodes; framed = TRUE prepends the 4-byte length (TCP), FALSE gives the bare bytes (WebSocket). */
GBytes      *imp_wire_encode (const ImpEnvelope *env, gboolean framed);

/* Builders for the frames both sides send; the result owns nothing borrowed. */
GBytes      *imp_wire_error_frame (ImpErrorCode code, const char *reason, guint64 ref_frame_id, gboolean framed);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpEnvelope, imp_wire_envelope_free)

G_END_DECLS

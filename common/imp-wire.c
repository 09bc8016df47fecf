/* imp-wire.c: Envelope encode/decode over protobuf-c. */
#include "imp-wire.h"
#include "imp-frame.h"

ImpEnvelope *
imp_wire_decode (const guint8 *data, gsize len, GError **error)
{
  ImpEnvelope *env;

  g_return_val_if_fail (data != NULL || len == 0, NULL);

  /* NULL allocator: protobuf-c's default malloc/free; sizes are bounded by the frame reader. */
  env = implus__envelope__unpack (NULL, len, data);
  if (env == NULL)
    {
      g_set_error_literal (error, IMP_ERROR, IMP_ERROR_BAD_FRAME, "Undecodable envelope");
      return NULL;
    }
  if (env->body_case == IMPLUS__ENVELOPE__BODY__NOT_SET)
    {
      implus__envelope__free_unpacked (env, NULL);
      g_set_error_literal (error, IMP_ERROR, IMP_ERROR_BAD_FRAME, "Envelope without a body");
      return NULL;
    }
  return env;
}

void
imp_wire_envelope_free (ImpEnvelope *env)
{
  if (env != NULL)
    implus__envelope__free_unpacked (env, NULL);
}

GBytes *
imp_wire_encode (const ImpEnvelope *env, gboolean framed)
{
  gsize size, header;
  guint8 *buf;

  g_return_val_if_fail (env != NULL, NULL);

  size = implus__envelope__get_packed_size (env);
  g_return_val_if_fail (size <= G_MAXUINT32, NULL);
  header = framed ? IMP_FRAME_HEADER_SIZE : 0;
  buf = g_malloc (header + size + 1); /* +1: g_malloc(0) would give NULL for an empty envelope */
  if (framed)
    imp_frame_write_header (buf, (guint32) size);
  implus__envelope__pack (env, buf + header);
  return g_bytes_new_take (buf, header + size);
}

GBytes *
imp_wire_error_frame (ImpErrorCode code, const char *reason, guint64 ref_frame_id, gboolean framed)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Error err = IMPLUS__ERROR__INIT;

  err.code = (Implus__ErrorCode) code;
  /* protobuf-c wants char * but pack() only reads it. */
  err.reason = (char *) (reason != NULL ? reason : "");
  err.ref_frame_id = ref_frame_id;
  env.body_case = IMPLUS__ENVELOPE__BODY_ERROR;
  env.error = &err;
  return imp_wire_encode (&env, framed);
}

/* fuzz-frame.c: libFuzzer entry for the TCP frame reader and the Envelope decoder.
 *
 * The first input byte chooses the read size, so the same input is cut into different recv()
 * patterns; the rest goes through ImpFrameReader, every frame through imp_wire_decode, and
 * every decoded envelope is re-encoded and decoded again. The whole input is also decoded as
 * one bare envelope (the WebSocket path). Nothing may crash, leak or trip a sanitizer.
 */
#include "imp-frame.h"
#include "imp-wire.h"

#include <string.h>

#define FUZZ_MAX_FRAME 4096

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_envelope (const guint8 *frame, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpEnvelope) env = imp_wire_decode (frame, len, &error);
  g_autoptr(GBytes) again = NULL;
  g_autoptr(ImpEnvelope) env2 = NULL;
  const guint8 *bytes;
  gsize bytes_len;

  if (env == NULL)
    {
      g_assert (error != NULL && error->domain == IMP_ERROR && error->code == IMP_ERROR_BAD_FRAME);
      return;
    }
  g_assert (env->body_case != IMPLUS__ENVELOPE__BODY__NOT_SET);

  /* What we accepted must survive our own encoder. */
  again = imp_wire_encode (env, TRUE);
  bytes = g_bytes_get_data (again, &bytes_len);
  g_assert (bytes_len >= IMP_FRAME_HEADER_SIZE);
  env2 = imp_wire_decode (bytes + IMP_FRAME_HEADER_SIZE, bytes_len - IMP_FRAME_HEADER_SIZE, NULL);
  g_assert (env2 != NULL);
  g_assert (env2->body_case == env->body_case);
  g_assert (env2->frame_id == env->frame_id);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(ImpFrameReader) reader = NULL;
  gsize chunk, pos = 0;

  if (size == 0)
    return 0;
  chunk = (gsize) data[0] + 1;
  data++;
  size--;

  check_envelope (data, size);

  reader = imp_frame_reader_new (FUZZ_MAX_FRAME);
  while (pos < size)
    {
      gsize room, n;
      guint8 *space = imp_frame_reader_space (reader, &room);
      const guint8 *frame;
      gsize frame_len;
      g_autoptr(GError) error = NULL;

      g_assert (space != NULL && room >= 1);
      n = MIN (MIN (room, chunk), size - pos);
      memcpy (space, data + pos, n);
      imp_frame_reader_commit (reader, n);
      pos += n;

      while (imp_frame_reader_next (reader, &frame, &frame_len, &error))
        {
          g_assert (frame_len > 0 && frame_len <= FUZZ_MAX_FRAME);
          check_envelope (frame, frame_len);
        }
      g_assert (imp_frame_reader_capacity (reader) <= IMP_FRAME_HEADER_SIZE + FUZZ_MAX_FRAME);
      if (error != NULL)
        {
          g_assert (error->code == IMP_ERROR_BAD_FRAME || error->code == IMP_ERROR_FRAME_TOO_LARGE);
          break;
        }
    }
  return 0;
}

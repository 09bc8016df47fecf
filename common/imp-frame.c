/* imp-frame.c: bounded reader for 4-byte big-endian length-prefixed frames.
 *
 * One buffer [0, cap) holds unread bytes in [start, end). The declared length is checked
 * against max_frame as soon as the header is complete, before any payload is buffered, and
 * the buffer grows only as far as the frame in progress needs (never past 4 + max_frame on the
 * recv path). Returned frames point into the buffer; compaction happens on the next
 * space()/feed() call, which the API documents as invalidating them.
 */
#include "imp-frame.h"
#include "imp-error.h"

#include <string.h>

#define INITIAL_CAPACITY 4096

struct _ImpFrameReader {
  guint8  *buf;
  gsize    cap;
  gsize    start;
  gsize    end;
  gsize    max_frame;
  /* Set once a bad header was seen; the stream cannot be resynchronised. */
  GError  *broken;
};

ImpFrameReader *
imp_frame_reader_new (gsize max_frame)
{
  ImpFrameReader *self;

  g_return_val_if_fail (max_frame > 0 && max_frame <= G_MAXUINT32 - IMP_FRAME_HEADER_SIZE, NULL);

  self = g_new0 (ImpFrameReader, 1);
  self->max_frame = max_frame;
  self->cap = MIN (INITIAL_CAPACITY, IMP_FRAME_HEADER_SIZE + max_frame);
  self->buf = g_malloc (self->cap);
  return self;
}

void
imp_frame_reader_free (ImpFrameReader *self)
{
  if (self == NULL)
    return;
  g_clear_error (&self->broken);
  g_free (self->buf);
  g_free (self);
}

static guint32
read_be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | (guint32) p[3];
}

/* Bytes the frame at start needs in total (header + payload), as far as known. */
static gsize
frame_need (ImpFrameReader *self)
{
  guint32 len;

  if (self->end - self->start < IMP_FRAME_HEADER_SIZE)
    return IMP_FRAME_HEADER_SIZE;
  len = read_be32 (self->buf + self->start);
  if (len == 0 || len > self->max_frame)
    return IMP_FRAME_HEADER_SIZE;
  return IMP_FRAME_HEADER_SIZE + (gsize) len;
}

static void
compact (ImpFrameReader *self)
{
  if (self->start == 0)
    return;
  if (self->end > self->start)
    memmove (self->buf, self->buf + self->start, self->end - self->start);
  self->end -= self->start;
  self->start = 0;
}

static void
grow_to (ImpFrameReader *self, gsize cap)
{
  if (cap <= self->cap)
    return;
  self->buf = g_realloc (self->buf, cap);
  self->cap = cap;
}

/* Makes room for at least one more byte after end, within 4 + max_frame when possible. */
static void
ensure_space (ImpFrameReader *self)
{
  gsize limit = IMP_FRAME_HEADER_SIZE + self->max_frame;
  gsize need;

  if (self->broken != NULL)
    {
      /* Nothing buffered can ever be returned; drop it so a careless caller cannot grow us. */
      self->start = self->end = 0;
      return;
    }
  if (self->start == self->end)
    self->start = self->end = 0;

  need = frame_need (self);
  if (self->end < self->cap && self->start + need <= self->cap)
    return;

  compact (self);
  if (self->end < self->cap && need <= self->cap)
    return;

  /* Double for amortised growth, clamped to the largest legal frame. */
  grow_to (self, MIN (limit, MAX (need, self->cap * 2)));
  if (self->end == self->cap)
    {
      /* Only reachable if the caller left complete frames unread; keep going, bounded by them. */
      grow_to (self, self->cap + INITIAL_CAPACITY);
    }
}

guint8 *
imp_frame_reader_space (ImpFrameReader *self, gsize *out_len)
{
  g_return_val_if_fail (self != NULL && out_len != NULL, NULL);

  ensure_space (self);
  *out_len = self->cap - self->end;
  return self->buf + self->end;
}

void
imp_frame_reader_commit (ImpFrameReader *self, gsize n_read)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (n_read <= self->cap - self->end);

  self->end += n_read;
}

void
imp_frame_reader_feed (ImpFrameReader *self, const guint8 *data, gsize len)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (data != NULL || len == 0);

  while (len > 0)
    {
      gsize room;
      guint8 *space = imp_frame_reader_space (self, &room);
      gsize n = MIN (room, len);

      memcpy (space, data, n);
      imp_frame_reader_commit (self, n);
      data += n;
      len -= n;
      if (len > 0 && self->broken == NULL && self->end == self->cap)
        {
          /* feed() is for callers already holding the bytes (tests, fuzzers, WebSocket); it may
           * buffer several complete frames, bounded by what they handed over. */
          grow_to (self, self->cap + MAX (len, (gsize) INITIAL_CAPACITY));
        }
    }
}

gboolean
imp_frame_reader_next (ImpFrameReader *self, const guint8 **out_data, gsize *out_len, GError **error)
{
  guint32 len;
  gsize avail;

  g_return_val_if_fail (self != NULL && out_data != NULL && out_len != NULL, FALSE);

  if (self->broken != NULL)
    {
      g_propagate_error (error, g_error_copy (self->broken));
      return FALSE;
    }

  avail = self->end - self->start;
  if (avail < IMP_FRAME_HEADER_SIZE)
    return FALSE;

  len = read_be32 (self->buf + self->start);
  if (len == 0)
    self->broken = g_error_new_literal (IMP_ERROR, IMP_ERROR_BAD_FRAME, "Zero-length frame");
  else if (len > self->max_frame)
    self->broken = g_error_new (IMP_ERROR, IMP_ERROR_FRAME_TOO_LARGE,
                                "Frame of %u bytes exceeds the maximum of %" G_GSIZE_FORMAT,
                                len, self->max_frame);
  if (self->broken != NULL)
    {
      self->start = self->end = 0;
      g_propagate_error (error, g_error_copy (self->broken));
      return FALSE;
    }

  if (avail - IMP_FRAME_HEADER_SIZE < len)
    return FALSE;

  *out_data = self->buf + self->start + IMP_FRAME_HEADER_SIZE;
  *out_len = len;
  self->start += IMP_FRAME_HEADER_SIZE + (gsize) len;
  return TRUE;
}

gsize
imp_frame_reader_pending (ImpFrameReader *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->end - self->start;
}

gsize
imp_frame_reader_capacity (ImpFrameReader *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->cap;
}

void
imp_frame_write_header (guint8 out[IMP_FRAME_HEADER_SIZE], guint32 len)
{
  out[0] = (guint8) (len >> 24);
  out[1] = (guint8) (len >> 16);
  out[2] = (guint8) (len >> 8);
  out[3] = (guint8) len;
}

/* imp-frame.h: TCP framing, a 4-byte big-endian length then that many bytes.
 *
 * ImpFrameReader is a bounded buffer in the style of mosquitto's packet reader: the length is
 * checked against the maximum before any payload is buffered, and the buffer never grows past
 * 4 + max_frame bytes. Feed it whatever recv() returned; take complete frames out.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define IMP_FRAME_HEADER_SIZE 4

typedef struct _ImpFrameReader ImpFrameReader;

ImpFrameReader *imp_frame_reader_new (gsize max_frame);
void            imp_frame_reader_free (ImpFrameReader *self);

/* Space to read into (at least 1 byte); call imp_frame_reader_commit() with what was read. */
guint8         *imp_frame_reader_space (ImpFrameReader *self, gsize *out_len);
void            imp_frame_reader_commit (ImpFrameReader *self, gsize n_read);
/* Convenience: copy bytes in (for WebSocket tests and fuzzers). Unlike space()/commit() it may
 * buffer several complete frames, beyond 4 + max_frame, when handed more bytes than fit. */
void            imp_frame_reader_feed (ImpFrameReader *self, const guint8 *data, gsize len);

/* Next complete frame: TRUE and *out_data and *out_len point into the reader's buffer, valid until
 * the next call on the reader. FALSE with *error unset: need more bytes. FALSE with *error set
 * (IMP_ERROR_FRAME_TOO_LARGE, IMP_ERROR_BAD_FRAME for a zero length): the stream is unusable. */
gboolean        imp_frame_reader_next (ImpFrameReader *self,
                                       const guint8  **out_data,
                                       gsize          *out_len,
                                       GError        **error);
/* Bytes buffered but not yet returned as frames. */
gsize           imp_frame_reader_pending (ImpFrameReader *self);
/* Bytes allocated for the buffer (tests check it stays within 4 + max_frame). */
gsize           imp_frame_reader_capacity (ImpFrameReader *self);

/* Writes the 4-byte big-endian header for a payload of len bytes. */
void            imp_frame_write_header (guint8 out[IMP_FRAME_HEADER_SIZE], guint32 len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpFrameReader, imp_frame_reader_free)

G_END_DECLS

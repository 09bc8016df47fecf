/* test-imp-frame.c: the bounded frame reader. */
#include "imp-frame.h"
#include "imp-error.h"

#include <string.h>

#define MAX_FRAME 1000

/* Appends one framed payload of len bytes, each byte = tag. */
static void
append_frame (GByteArray *out, gsize len, guint8 tag)
{
  guint8 hdr[IMP_FRAME_HEADER_SIZE];

  imp_frame_write_header (hdr, (guint32) len);
  g_byte_array_append (out, hdr, sizeof hdr);
  for (gsize i = 0; i < len; i++)
    g_byte_array_append (out, &tag, 1);
}

/* Reads through the space/commit path in chunks of at most chunk bytes, draining frames
 * after each read as a server would; returns the tags of the frames in order. */
static GString *
read_chunked (ImpFrameReader *r, const guint8 *data, gsize len, gsize chunk, gsize *out_max_cap)
{
  GString *tags = g_string_new (NULL);
  gsize pos = 0;

  while (pos < len)
    {
      gsize room, n;
      guint8 *space = imp_frame_reader_space (r, &room);
      const guint8 *frame;
      gsize frame_len;
      g_autoptr(GError) error = NULL;

      g_assert_nonnull (space);
      g_assert_cmpuint (room, >=, 1);
      n = MIN (MIN (room, chunk), len - pos);
      memcpy (space, data + pos, n);
      imp_frame_reader_commit (r, n);
      pos += n;

      while (imp_frame_reader_next (r, &frame, &frame_len, &error))
        {
          g_assert_cmpuint (frame_len, >, 0);
          for (gsize i = 1; i < frame_len; i++)
            g_assert_cmpuint (frame[i], ==, frame[0]);
          g_string_append_c (tags, (char) frame[0]);
        }
      g_assert_no_error (error);
      *out_max_cap = MAX (*out_max_cap, imp_frame_reader_capacity (r));
    }
  return tags;
}

static void
test_byte_by_byte (void)
{
  g_autoptr(ImpFrameReader) r = imp_frame_reader_new (MAX_FRAME);
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autoptr(GString) tags = NULL;
  gsize cap = 0;

  append_frame (data, 1, 'a');
  append_frame (data, 300, 'b');
  append_frame (data, MAX_FRAME, 'c');
  append_frame (data, 7, 'd');
  tags = read_chunked (r, data->data, data->len, 1, &cap);
  g_assert_cmpstr (tags->str, ==, "abcd");
  g_assert_cmpuint (imp_frame_reader_pending (r), ==, 0);
  g_assert_cmpuint (cap, <=, IMP_FRAME_HEADER_SIZE + MAX_FRAME);
}

static void
test_many_in_one_read (void)
{
  g_autoptr(ImpFrameReader) r = imp_frame_reader_new (MAX_FRAME);
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autoptr(GString) expected = g_string_new (NULL);
  g_autoptr(GString) tags = NULL;
  gsize cap = 0;

  for (int i = 0; i < 200; i++)
    {
      append_frame (data, 1 + (i * 37) % MAX_FRAME, (guint8) ('A' + i % 26));
      g_string_append_c (expected, (char) ('A' + i % 26));
    }
  /* Reads as large as the buffer allows, and odd sizes that split headers. */
  tags = read_chunked (r, data->data, data->len, G_MAXSIZE, &cap);
  g_assert_cmpstr (tags->str, ==, expected->str);
  g_assert_cmpuint (cap, <=, IMP_FRAME_HEADER_SIZE + MAX_FRAME);
  g_string_free (g_steal_pointer (&tags), TRUE);

  for (gsize chunk = 2; chunk < 16; chunk++)
    {
      g_autoptr(ImpFrameReader) r2 = imp_frame_reader_new (MAX_FRAME);
      g_autoptr(GString) t2 = read_chunked (r2, data->data, data->len, chunk * 97 + 3, &cap);
      g_assert_cmpstr (t2->str, ==, expected->str);
      g_assert_cmpuint (cap, <=, IMP_FRAME_HEADER_SIZE + MAX_FRAME);
    }
}

static void
test_feed_many (void)
{
  g_autoptr(ImpFrameReader) r = imp_frame_reader_new (16);
  g_autoptr(GByteArray) data = g_byte_array_new ();
  const guint8 *frame;
  gsize len;
  int n = 0;

  for (int i = 0; i < 50; i++)
    append_frame (data, 16, (guint8) i);
  /* A trailing partial frame stays pending. */
  g_byte_array_append (data, (const guint8 *) "\0\0\0\x05" "ab", 6);
  imp_frame_reader_feed (r, data->data, data->len);
  while (imp_frame_reader_next (r, &frame, &len, NULL))
    {
      g_assert_cmpuint (len, ==, 16);
      g_assert_cmpuint (frame[0], ==, n);
      n++;
    }
  g_assert_cmpint (n, ==, 50);
  g_assert_cmpuint (imp_frame_reader_pending (r), ==, 6);
  imp_frame_reader_feed (r, (const guint8 *) "cde", 3);
  g_assert_true (imp_frame_reader_next (r, &frame, &len, NULL));
  g_assert_cmpmem (frame, len, "abcde", 5);
}

static void
test_exact_max (void)
{
  g_autoptr(ImpFrameReader) r = imp_frame_reader_new (MAX_FRAME);
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  const guint8 *frame;
  gsize len;

  append_frame (data, MAX_FRAME, 'x');
  imp_frame_reader_feed (r, data->data, data->len);
  g_assert_true (imp_frame_reader_next (r, &frame, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (len, ==, MAX_FRAME);
  g_assert_cmpuint (imp_frame_reader_capacity (r), <=, IMP_FRAME_HEADER_SIZE + MAX_FRAME);
}

static void
test_too_large (void)
{
  g_autoptr(ImpFrameReader) r = imp_frame_reader_new (MAX_FRAME);
  g_autoptr(GError) error = NULL;
  guint8 hdr[IMP_FRAME_HEADER_SIZE];
  const guint8 *frame;
  gsize len, room;

  /* The header alone is enough to refuse: nothing of the payload is buffered. */
  imp_frame_write_header (hdr, MAX_FRAME + 1);
  imp_frame_reader_feed (r, hdr, sizeof hdr);
  g_assert_false (imp_frame_reader_next (r, &frame, &len, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_FRAME_TOO_LARGE);
  g_clear_error (&error);
  /* It stays broken, and never grows. */
  g_assert_false (imp_frame_reader_next (r, &frame, &len, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_FRAME_TOO_LARGE);
  g_clear_error (&error);
  g_assert_nonnull (imp_frame_reader_space (r, &room));
  g_assert_cmpuint (room, >=, 1);

  {
    g_autoptr(ImpFrameReader) r2 = imp_frame_reader_new (MAX_FRAME);
    imp_frame_write_header (hdr, G_MAXUINT32);
    imp_frame_reader_feed (r2, hdr, sizeof hdr);
    g_assert_false (imp_frame_reader_next (r2, &frame, &len, &error));
    g_assert_error (error, IMP_ERROR, IMP_ERROR_FRAME_TOO_LARGE);
    g_assert_cmpuint (imp_frame_reader_capacity (r2), <=, IMP_FRAME_HEADER_SIZE + MAX_FRAME);
  }
}

static void
test_zero_length (void)
{
  g_autoptr(ImpFrameReader) r = imp_frame_reader_new (MAX_FRAME);
  g_autoptr(GError) error = NULL;
  const guint8 *frame;
  gsize len;

  imp_frame_reader_feed (r, (const guint8 *) "\0\0\0\0", 4);
  g_assert_false (imp_frame_reader_next (r, &frame, &len, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_FRAME);
}

static void
test_need_more (void)
{
  g_autoptr(ImpFrameReader) r = imp_frame_reader_new (MAX_FRAME);
  g_autoptr(GError) error = NULL;
  const guint8 *frame;
  gsize len;

  g_assert_false (imp_frame_reader_next (r, &frame, &len, &error));
  g_assert_no_error (error);
  imp_frame_reader_feed (r, (const guint8 *) "\0\0", 2);
  g_assert_false (imp_frame_reader_next (r, &frame, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (imp_frame_reader_pending (r), ==, 2);
}

static void
test_garbage (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);

  /* Random bytes: every outcome is a frame within bounds, "need more", or a clean error. */
  for (int round = 0; round < 200; round++)
    {
      g_autoptr(ImpFrameReader) r = imp_frame_reader_new (64);
      guint8 buf[512];
      gsize n = g_rand_int_range (rand, 1, sizeof buf);
      gsize fed = 0;
      gboolean broken = FALSE;

      for (gsize i = 0; i < n; i++)
        buf[i] = (guint8) g_rand_int (rand);
      /* Small headers sometimes, so some frames parse. */
      if (round % 2 == 0)
        buf[0] = buf[1] = buf[2] = 0, buf[3] = (guint8) (buf[3] % 65);
      while (fed < n && !broken)
        {
          gsize room, chunk;
          guint8 *space = imp_frame_reader_space (r, &room);
          const guint8 *frame;
          gsize len;
          g_autoptr(GError) error = NULL;

          gsize want = (gsize) g_rand_int_range (rand, 1, 40); /* MIN() evaluates twice */

          chunk = MIN (room, MIN (n - fed, want));
          memcpy (space, buf + fed, chunk);
          imp_frame_reader_commit (r, chunk);
          fed += chunk;
          while (imp_frame_reader_next (r, &frame, &len, &error))
            g_assert_cmpuint (len, <=, 64);
          if (error != NULL)
            {
              g_assert_true (error->domain == IMP_ERROR);
              g_assert_true (error->code == IMP_ERROR_BAD_FRAME ||
                             error->code == IMP_ERROR_FRAME_TOO_LARGE);
              broken = TRUE;
            }
          g_assert_cmpuint (imp_frame_reader_capacity (r), <=, IMP_FRAME_HEADER_SIZE + 64);
        }
    }
}

static void
test_header (void)
{
  guint8 hdr[4];

  imp_frame_write_header (hdr, 0x01020304);
  g_assert_cmpmem (hdr, 4, "\x01\x02\x03\x04", 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/frame/byte-by-byte", test_byte_by_byte);
  g_test_add_func ("/frame/many-in-one-read", test_many_in_one_read);
  g_test_add_func ("/frame/feed-many", test_feed_many);
  g_test_add_func ("/frame/exact-max", test_exact_max);
  g_test_add_func ("/frame/too-large", test_too_large);
  g_test_add_func ("/frame/zero-length", test_zero_length);
  g_test_add_func ("/frame/need-more", test_need_more);
  g_test_add_func ("/frame/garbage", test_garbage);
  g_test_add_func ("/frame/header", test_header);
  return g_test_run ();
}

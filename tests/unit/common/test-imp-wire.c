/* test-imp-wire.c: envelope encode/decode. */
#include "imp-wire.h"
#include "imp-frame.h"

#include <string.h>

static void
test_roundtrip (void)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__ChatUp chat = IMPLUS__CHAT_UP__INIT;
  g_autoptr(GBytes) bare = NULL;
  g_autoptr(GBytes) framed = NULL;
  g_autoptr(ImpEnvelope) out = NULL;
  g_autoptr(GError) error = NULL;
  gsize bare_len, framed_len;
  const guint8 *b, *f;

  chat.client_msg_id = (char *) "0b7c7f0e-8a3b-4c1e-9d7a-2f3e4d5c6b7a";
  chat.to_user_id = 10;
  chat.content = (char *) "你好, world";
  chat.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  env.frame_id = 77;
  env.body_case = IMPLUS__ENVELOPE__BODY_CHAT_UP;
  env.chat_up = &chat;

  bare = imp_wire_encode (&env, FALSE);
  framed = imp_wire_encode (&env, TRUE);
  b = g_bytes_get_data (bare, &bare_len);
  f = g_bytes_get_data (framed, &framed_len);
  g_assert_cmpuint (framed_len, ==, bare_len + 4);
  g_assert_cmpuint ((guint) f[0] << 24 | (guint) f[1] << 16 | (guint) f[2] << 8 | f[3], ==, bare_len);
  g_assert_cmpmem (f + 4, framed_len - 4, b, bare_len);

  out = imp_wire_decode (b, bare_len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (out);
  g_assert_cmpuint (out->frame_id, ==, 77);
  g_assert_cmpint (out->body_case, ==, IMPLUS__ENVELOPE__BODY_CHAT_UP);
  g_assert_cmpstr (out->chat_up->client_msg_id, ==, chat.client_msg_id);
  g_assert_cmpint (out->chat_up->to_user_id, ==, 10);
  g_assert_cmpstr (out->chat_up->content, ==, chat.content);
}

static void
test_through_reader (void)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  Implus__Ack ack = IMPLUS__ACK__INIT;
  g_autoptr(GBytes) framed = NULL;
  g_autoptr(ImpFrameReader) r = imp_frame_reader_new (1024);
  const guint8 *data, *frame;
  gsize len, frame_len;

  ack.up_to_seq = 123456789;
  env.body_case = IMPLUS__ENVELOPE__BODY_ACK;
  env.ack = &ack;
  framed = imp_wire_encode (&env, TRUE);
  data = g_bytes_get_data (framed, &len);
  imp_frame_reader_feed (r, data, len);
  imp_frame_reader_feed (r, data, len);
  for (int i = 0; i < 2; i++)
    {
      g_autoptr(ImpEnvelope) out = NULL;
      g_assert_true (imp_frame_reader_next (r, &frame, &frame_len, NULL));
      out = imp_wire_decode (frame, frame_len, NULL);
      g_assert_nonnull (out);
      g_assert_cmpint (out->body_case, ==, IMPLUS__ENVELOPE__BODY_ACK);
      g_assert_cmpint (out->ack->up_to_seq, ==, 123456789);
    }
}

static void
test_garbage (void)
{
  static const struct { const char *bytes; gsize len; } cases[] = {
    { "\xff\xff\xff\xff\xff", 5 },        /* bad varint key */
    { "\x52\x10" "abc", 5 },              /* auth, length beyond the end */
    { "\x08", 1 },                        /* frame_id without its value */
    { "\x0f\x01", 2 },                    /* wire type 7 */
    { "\x52\x02\x0a\x05", 4 },            /* nested string too long */
  };
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(ImpEnvelope) out = imp_wire_decode ((const guint8 *) cases[i].bytes, cases[i].len, &error);
      g_assert_null (out);
      g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_FRAME);
    }

  /* Random bytes decode or fail cleanly; a decoded envelope always has a body. */
  for (int round = 0; round < 2000; round++)
    {
      guint8 buf[64];
      gsize n = g_rand_int_range (rand, 0, sizeof buf);
      g_autoptr(GError) error = NULL;
      g_autoptr(ImpEnvelope) out = NULL;

      for (gsize i = 0; i < n; i++)
        buf[i] = (guint8) g_rand_int (rand);
      out = imp_wire_decode (buf, n, &error);
      if (out != NULL)
        g_assert_cmpint (out->body_case, !=, IMPLUS__ENVELOPE__BODY__NOT_SET);
      else
        g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_FRAME);
    }
}

static void
test_unset_body (void)
{
  Implus__Envelope env = IMPLUS__ENVELOPE__INIT;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpEnvelope) out = NULL;
  const guint8 *data;
  gsize len;

  env.frame_id = 5;
  bytes = imp_wire_encode (&env, FALSE);
  data = g_bytes_get_data (bytes, &len);
  out = imp_wire_decode (data, len, &error);
  g_assert_null (out);
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_FRAME);
  g_clear_error (&error);

  /* Empty input and an unknown field only: no body either. */
  g_assert_null (imp_wire_decode ((const guint8 *) "", 0, &error));
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_FRAME);
  g_clear_error (&error);
  g_assert_null (imp_wire_decode ((const guint8 *) "\xf8\x07\x01", 3, &error)); /* field 127 varint */
  g_assert_error (error, IMP_ERROR, IMP_ERROR_BAD_FRAME);
}

static void
test_error_frame (void)
{
  g_autoptr(GBytes) bytes = imp_wire_error_frame (IMP_ERROR_NOT_AUTHENTICATED, "auth first", 9, FALSE);
  g_autoptr(GBytes) framed = imp_wire_error_frame (IMP_ERROR_INTERNAL, NULL, 0, TRUE);
  g_autoptr(ImpEnvelope) out = NULL;
  const guint8 *data;
  gsize len;

  data = g_bytes_get_data (bytes, &len);
  out = imp_wire_decode (data, len, NULL);
  g_assert_nonnull (out);
  g_assert_cmpint (out->body_case, ==, IMPLUS__ENVELOPE__BODY_ERROR);
  g_assert_cmpint (out->error->code, ==, IMPLUS__ERROR_CODE__ERROR_CODE_NOT_AUTHENTICATED);
  g_assert_cmpstr (out->error->reason, ==, "auth first");
  g_assert_cmpuint (out->error->ref_frame_id, ==, 9);
  g_clear_pointer (&out, imp_wire_envelope_free);

  data = g_bytes_get_data (framed, &len);
  g_assert_cmpuint (len, >, 4);
  out = imp_wire_decode (data + 4, len - 4, NULL);
  g_assert_nonnull (out);
  g_assert_cmpint (out->error->code, ==, IMPLUS__ERROR_CODE__ERROR_CODE_INTERNAL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wire/roundtrip", test_roundtrip);
  g_test_add_func ("/wire/through-reader", test_through_reader);
  g_test_add_func ("/wire/garbage", test_garbage);
  g_test_add_func ("/wire/unset-body", test_unset_body);
  g_test_add_func ("/wire/error-frame", test_error_frame);
  return g_test_run ();
}

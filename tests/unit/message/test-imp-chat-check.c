/* test-imp-chat-check.c: every refusal of imp_chat_check, and what passes. */
#include "message/imp-chat-check.h"
#include "imp-error.h"

#define UUID "0b8f3c2e-5d4a-4e6b-9a1c-2f3e4d5c6b7a"

static Implus__ChatUp
valid_chat (void)
{
  Implus__ChatUp chat = IMPLUS__CHAT_UP__INIT;

  chat.client_msg_id = (char *) UUID;
  chat.to_user_id = 2;
  chat.content = (char *) "hello, 世界";
  chat.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT;
  return chat;
}

static void
assert_refused (const Implus__ChatUp *chat, gsize max_content, ImpErrorCode code)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (imp_chat_check (chat, 1, max_content, &error));
  g_assert_error (error, IMP_ERROR, (int) code);
}

static void
test_valid (void)
{
  Implus__ChatUp chat = valid_chat ();
  g_autoptr(GError) error = NULL;

  g_assert_true (imp_chat_check (&chat, 1, 8192, &error));
  g_assert_no_error (error);
  /* sender_id may repeat the authenticated user; content_type may be left unset. */
  chat.sender_id = 1;
  chat.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_UNSPECIFIED;
  g_assert_true (imp_chat_check (&chat, 1, 8192, NULL));
  /* Exactly max_content bytes is allowed; a message to oneself too. */
  chat.content = (char *) "abcd";
  chat.to_user_id = 1;
  g_assert_true (imp_chat_check (&chat, 1, 4, NULL));
}

static void
test_wrong_sender (void)
{
  Implus__ChatUp chat = valid_chat ();

  chat.sender_id = 99;
  assert_refused (&chat, 8192, IMP_ERROR_WRONG_SENDER);
  chat.sender_id = -1;
  assert_refused (&chat, 8192, IMP_ERROR_WRONG_SENDER);
}

static void
test_bad_request (void)
{
  Implus__ChatUp chat = valid_chat ();
  const char *bad_ids[] = {
    "", "not-a-uuid", "0b8f3c2e5d4a4e6b9a1c2f3e4d5c6b7a",
    "0b8f3c2e-5d4a-4e6b-9a1c-2f3e4d5c6b7", "0b8f3c2e-5d4a-4e6b-9a1c-2f3e4d5c6b7a0",
    "0b8f3c2e-5d4a-4e6b-9a1c_2f3e4d5c6b7a", "zb8f3c2e-5d4a-4e6b-9a1c-2f3e4d5c6b7a",
  };

  assert_refused (NULL, 8192, IMP_ERROR_BAD_REQUEST);
  chat.client_msg_id = NULL;
  assert_refused (&chat, 8192, IMP_ERROR_BAD_REQUEST);
  for (guint i = 0; i < G_N_ELEMENTS (bad_ids); i++)
    {
      chat.client_msg_id = (char *) bad_ids[i];
      assert_refused (&chat, 8192, IMP_ERROR_BAD_REQUEST);
    }
  chat = valid_chat ();
  chat.to_user_id = 0;
  assert_refused (&chat, 8192, IMP_ERROR_BAD_REQUEST);
  chat.to_user_id = -5;
  assert_refused (&chat, 8192, IMP_ERROR_BAD_REQUEST);
  /* Clients cannot write system messages or unknown types. */
  chat = valid_chat ();
  chat.content_type = IMPLUS__CONTENT_TYPE__CONTENT_TYPE_SYSTEM;
  assert_refused (&chat, 8192, IMP_ERROR_BAD_REQUEST);
  chat.content_type = 42;
  assert_refused (&chat, 8192, IMP_ERROR_BAD_REQUEST);
}

static void
test_content (void)
{
  Implus__ChatUp chat = valid_chat ();
  g_autofree char *big = g_strnfill (8193, 'a');

  chat.content = (char *) "";
  assert_refused (&chat, 8192, IMP_ERROR_CONTENT_EMPTY);
  chat.content = NULL;
  assert_refused (&chat, 8192, IMP_ERROR_CONTENT_EMPTY);
  chat.content = big;
  assert_refused (&chat, 8192, IMP_ERROR_CONTENT_TOO_LARGE);
  big[8192] = '\0';
  g_assert_true (imp_chat_check (&chat, 1, 8192, NULL));
  /* Multi-byte characters count in bytes: 3 × 3 bytes > 8. */
  chat.content = (char *) "世界好";
  assert_refused (&chat, 8, IMP_ERROR_CONTENT_TOO_LARGE);
  chat.content = (char *) "ab\xff" "cd";
  assert_refused (&chat, 8192, IMP_ERROR_INVALID_UTF8);
  chat.content = (char *) "\xe4\xb8";        /* truncated sequence */
  assert_refused (&chat, 8192, IMP_ERROR_INVALID_UTF8);
  chat.content = (char *) "\xed\xa0\x80";    /* a UTF-16 surrogate */
  assert_refused (&chat, 8192, IMP_ERROR_INVALID_UTF8);
  chat.content = (char *) "\xc0\xaf";        /* overlong */
  assert_refused (&chat, 8192, IMP_ERROR_INVALID_UTF8);
}

/* The checks come in a fixed order: the sender first, then the envelope, then the content. */
static void
test_order (void)
{
  Implus__ChatUp chat = valid_chat ();

  chat.sender_id = 99;
  chat.client_msg_id = (char *) "x";
  chat.content = (char *) "";
  assert_refused (&chat, 8192, IMP_ERROR_WRONG_SENDER);
  chat.sender_id = 0;
  assert_refused (&chat, 8192, IMP_ERROR_BAD_REQUEST);
  chat.client_msg_id = (char *) UUID;
  assert_refused (&chat, 8192, IMP_ERROR_CONTENT_EMPTY);
}

/* Exactly one addressee: a user or a group. */
static void
test_group (void)
{
  Implus__ChatUp chat = valid_chat ();

  chat.to_user_id = 0;
  chat.group_id = 7;
  g_assert_true (imp_chat_check (&chat, 1, 8192, NULL));
  chat.to_user_id = 2;   /* both */
  assert_refused (&chat, 8192, IMP_ERROR_BAD_REQUEST);
  chat.to_user_id = 0;
  chat.group_id = -7;
  assert_refused (&chat, 8192, IMP_ERROR_BAD_REQUEST);
  chat.group_id = 0;     /* neither */
  assert_refused (&chat, 8192, IMP_ERROR_BAD_REQUEST);
  /* The content rules are the same for groups. */
  chat.group_id = 7;
  chat.content = (char *) "";
  assert_refused (&chat, 8192, IMP_ERROR_CONTENT_EMPTY);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/chat-check/valid", test_valid);
  g_test_add_func ("/chat-check/wrong-sender", test_wrong_sender);
  g_test_add_func ("/chat-check/bad-request", test_bad_request);
  g_test_add_func ("/chat-check/content", test_content);
  g_test_add_func ("/chat-check/order", test_order);
  g_test_add_func ("/chat-check/group", test_group);
  return g_test_run ();
}

/* imp-chat-check.c: one validation of a ChatUp for the gateway and the message worker, so both
 * refuse exactly the same frames with the same codes. */
#include "message/imp-chat-check.h"
#include "imp-error.h"
#include "imp-id.h"

#include <string.h>

gboolean
imp_chat_check (const Implus__ChatUp *chat, gint64 auth_user_id, gsize max_content, GError **error)
{
  gsize len;

  if (chat == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "missing chat message");
      return FALSE;
    }
  /* The token decides who sends; a frame that claims someone else is refused, not corrected. */
  if (chat->sender_id != 0 && chat->sender_id != auth_user_id)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_WRONG_SENDER,
                   "sender_id does not match the authenticated user");
      return FALSE;
    }
  if (chat->client_msg_id == NULL || !imp_uuid_is_valid (chat->client_msg_id))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "client_msg_id must be a UUID");
      return FALSE;
    }
  /* Exactly one addressee: a user, or a group (membership is the store's to check). */
  if (chat->group_id != 0)
    {
      if (chat->group_id < 0 || chat->to_user_id != 0)
        {
          g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                       "set either to_user_id or a positive group_id, not both");
          return FALSE;
        }
    }
  else if (chat->to_user_id <= 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "to_user_id must be a user id");
      return FALSE;
    }
  /* System messages are the server's to write, never a client's. */
  if (chat->content_type != IMPLUS__CONTENT_TYPE__CONTENT_TYPE_UNSPECIFIED &&
      chat->content_type != IMPLUS__CONTENT_TYPE__CONTENT_TYPE_TEXT)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "unsupported content_type");
      return FALSE;
    }
  /* protobuf-c hands strings over NUL-terminated: the length up to the first NUL is all the
   * content there is, so a body can never smuggle bytes past a NUL. */
  len = chat->content != NULL ? strlen (chat->content) : 0;
  if (len == 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_CONTENT_EMPTY, "content is empty");
      return FALSE;
    }
  if (len > max_content)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_CONTENT_TOO_LARGE,
                   "content is %" G_GSIZE_FORMAT " bytes, at most %" G_GSIZE_FORMAT " allowed",
                   len, max_content);
      return FALSE;
    }
  if (!g_utf8_validate (chat->content, (gssize) len, NULL))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INVALID_UTF8, "content is not valid UTF-8");
      return FALSE;
    }
  return TRUE;
}

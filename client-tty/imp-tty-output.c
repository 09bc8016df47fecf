/* imp-tty-output.c: the exact output lines of docs/tty.md and the engine's events as EVT lines. */
#define G_LOG_DOMAIN "implus-tty"

#include <stdio.h>
#include "imp-tty.h"
#include "imp-error.h"

static const char *event_names[IMP_TTY_N_EVT] = {
  "connected", "disconnected", "reconnecting", "message", "sent", "failed", "kicked", "error",
  "group_message", "read", "delivered", "typing",
};

const char *
imp_tty_event_name (ImpTtyEvent kind)
{
  return kind < IMP_TTY_N_EVT ? event_names[kind] : "unknown";
}

gboolean
imp_tty_event_from_name (const char *name, ImpTtyEvent *out)
{
  for (guint i = 0; i < IMP_TTY_N_EVT; i++)
    if (g_strcmp0 (name, event_names[i]) == 0)
      {
        *out = i;
        return TRUE;
      }
  return FALSE;
}

void
imp_tty_print_line (const char *line)
{
  fputs (line, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}

static char *
encode (const char *value, gboolean keep_spaces)
{
  GString *out = g_string_new (NULL);

  for (const unsigned char *p = (const unsigned char *) (value ? value : ""); *p; p++)
    {
      if (*p == '%' || *p < 0x20 || *p == 0x7f || (*p == ' ' && !keep_spaces))
        g_string_append_printf (out, "%%%02X", *p);
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

char *imp_tty_enc (const char *value) { return encode (value, FALSE); }
char *imp_tty_enc_text (const char *value) { return encode (value, TRUE); }

void
imp_tty_ok (const char *command, const char *fmt, ...)
{
  g_autofree char *rest = NULL;
  g_autofree char *line = NULL;
  va_list args;

  if (fmt != NULL)
    {
      va_start (args, fmt);
      rest = g_strdup_vprintf (fmt, args);
      va_end (args);
    }
  line = rest && rest[0] ? g_strdup_printf ("OK %s %s", command, rest) : g_strdup_printf ("OK %s", command);
  imp_tty_print_line (line);
}

void
imp_tty_err_code (const char *command, int code, const char *name, const char *message)
{
  g_autofree char *cmd = imp_tty_enc (command);
  g_autofree char *msg = imp_tty_enc (message);
  g_autofree char *line = g_strdup_printf ("ERR %s code=%d error=%s message=%s", cmd, code, name, msg);

  imp_tty_print_line (line);
}

void
imp_tty_err (const char *command, const GError *error)
{
  int code = imp_error_wire_code (error);

  imp_tty_err_code (command, code, imp_error_code_name (code), error->message);
}

void
imp_tty_print_message (const char *key, const ImpMessage *m, gboolean with_state)
{
  g_autofree char *conv = imp_tty_enc (m->conversation_id);
  g_autofree char *text = imp_tty_enc_text (m->content);
  g_autofree char *line = NULL;

  /* Group messages name their group instead of a recipient; seq is the conversation seq. */
  line = g_strdup_printf ("%s seq=%" G_GINT64_FORMAT " msg_id=%" G_GINT64_FORMAT " conv=%s from=%" G_GINT64_FORMAT
                          " %s=%" G_GINT64_FORMAT " time_ms=%" G_GINT64_FORMAT "%s%s%s text=%s",
                          key, m->seq, m->msg_id, conv, m->sender_id, m->group_id ? "group" : "to",
                          m->group_id ? m->group_id : m->to_user_id, m->send_time_ms,
                          with_state ? " state=" : "", with_state ? imp_message_state_name (m->state) : "",
                          m->content_type == IMPLUS__CONTENT_TYPE__CONTENT_TYPE_SYSTEM ? " type=system" : "",
                          text);
  imp_tty_print_line (line);
}

static void
evt (ImpTty *tty, ImpTtyEvent kind, const char *line)
{
  imp_tty_print_line (line);
  imp_tty_event_seen (tty, kind);
}

static void
state_changed_cb (ImpClient *client, guint state, gpointer user_data)
{
  g_autofree char *dev = NULL, *line = NULL;

  if (state != IMP_CLIENT_ONLINE)
    return;
  dev = imp_tty_enc (imp_client_get_device_id (client));
  line = g_strdup_printf ("EVT connected user_id=%" G_GINT64_FORMAT " device_id=%s",
                          imp_client_get_user_id (client), dev);
  evt (user_data, IMP_TTY_EVT_CONNECTED, line);
}

static void
disconnected_cb (ImpClient *client, const char *reason, gpointer user_data)
{
  g_autofree char *r = imp_tty_enc (reason);
  g_autofree char *line = g_strdup_printf ("EVT disconnected reason=%s", r);

  evt (user_data, IMP_TTY_EVT_DISCONNECTED, line);
}

static void
reconnecting_cb (ImpClient *client, guint delay_ms, gpointer user_data)
{
  g_autofree char *line = g_strdup_printf ("EVT reconnecting in_ms=%u", delay_ms);

  evt (user_data, IMP_TTY_EVT_RECONNECTING, line);
}

static void
message_cb (ImpClient *client, ImpMessage *m, gpointer user_data)
{
  if (m->group_id > 0)
    {
      imp_tty_print_message ("EVT group_message", m, FALSE);
      imp_tty_event_seen (user_data, IMP_TTY_EVT_GROUP_MESSAGE);
      return;
    }
  imp_tty_print_message ("EVT message", m, FALSE);
  imp_tty_event_seen (user_data, IMP_TTY_EVT_MESSAGE);
}

static void
sent_cb (ImpClient *client, const char *cmid, gint64 msg_id, gint64 seq, gpointer user_data)
{
  g_autofree char *line = g_strdup_printf ("EVT sent client_msg_id=%s msg_id=%" G_GINT64_FORMAT
                                           " seq=%" G_GINT64_FORMAT, cmid, msg_id, seq);

  evt (user_data, IMP_TTY_EVT_SENT, line);
}

static void
failed_cb (ImpClient *client, const char *cmid, int code, const char *reason, gpointer user_data)
{
  g_autofree char *r = imp_tty_enc (reason);
  g_autofree char *line = g_strdup_printf ("EVT failed client_msg_id=%s code=%d error=%s reason=%s",
                                           cmid, code, imp_error_code_name (code), r);

  evt (user_data, IMP_TTY_EVT_FAILED, line);
}

static const char *
kick_name (int reason)
{
  switch (reason)
    {
    case IMPLUS__KICK_REASON__KICK_REASON_REPLACED: return "replaced";
    case IMPLUS__KICK_REASON__KICK_REASON_TOKEN_REVOKED: return "token_revoked";
    case IMPLUS__KICK_REASON__KICK_REASON_BANNED: return "banned";
    case IMPLUS__KICK_REASON__KICK_REASON_SHUTDOWN: return "shutdown";
    default: return "unspecified";
    }
}

static void
kicked_cb (ImpClient *client, int reason, const char *message, gpointer user_data)
{
  g_autofree char *line = g_strdup_printf ("EVT kicked reason=%s", kick_name (reason));

  evt (user_data, IMP_TTY_EVT_KICKED, line);
}

static void
error_cb (ImpClient *client, GError *error, gpointer user_data)
{
  int code = imp_error_wire_code (error);
  g_autofree char *msg = imp_tty_enc (error->message);
  g_autofree char *line = g_strdup_printf ("EVT error code=%d error=%s message=%s", code,
                                           imp_error_code_name (code), msg);

  evt (user_data, IMP_TTY_EVT_ERROR, line);
}

static void
state_cb (ImpClient *client, const char *conv, gint64 up_to_seq, guint state, gpointer user_data)
{
  g_autofree char *c = imp_tty_enc (conv);
  g_autofree char *line = NULL;

  if (state == IMP_MESSAGE_READ)
    {
      line = g_strdup_printf ("EVT read conv=%s seq=%" G_GINT64_FORMAT " by=peer", c, up_to_seq);
      evt (user_data, IMP_TTY_EVT_READ, line);
    }
  else
    {
      line = g_strdup_printf ("EVT delivered conv=%s seq=%" G_GINT64_FORMAT, c, up_to_seq);
      evt (user_data, IMP_TTY_EVT_DELIVERED, line);
    }
}

static void
conversation_cb (ImpClient *client, const char *conv, gpointer user_data)
{
  g_autofree char *c = imp_tty_enc (conv);
  ImpMirror *mirror = imp_client_get_mirror (client);
  g_autofree char *line = g_strdup_printf ("EVT read conv=%s seq=%" G_GINT64_FORMAT " by=me", c,
                                           mirror ? imp_mirror_get_read (mirror, conv) : 0);

  evt (user_data, IMP_TTY_EVT_READ, line);
}

static void
typing_cb (ImpClient *client, gint64 from, gpointer user_data)
{
  g_autofree char *line = g_strdup_printf ("EVT typing from=%" G_GINT64_FORMAT, from);

  evt (user_data, IMP_TTY_EVT_TYPING, line);
}

void
imp_tty_connect_events (ImpTty *tty)
{
  g_signal_connect (tty->client, "message-state-changed", G_CALLBACK (state_cb), tty);
  g_signal_connect (tty->client, "conversation-updated", G_CALLBACK (conversation_cb), tty);
  g_signal_connect (tty->client, "typing", G_CALLBACK (typing_cb), tty);
  g_signal_connect (tty->client, "state-changed", G_CALLBACK (state_changed_cb), tty);
  g_signal_connect (tty->client, "disconnected", G_CALLBACK (disconnected_cb), tty);
  g_signal_connect (tty->client, "reconnecting", G_CALLBACK (reconnecting_cb), tty);
  g_signal_connect (tty->client, "message-received", G_CALLBACK (message_cb), tty);
  g_signal_connect (tty->client, "message-sent", G_CALLBACK (sent_cb), tty);
  g_signal_connect (tty->client, "message-failed", G_CALLBACK (failed_cb), tty);
  g_signal_connect (tty->client, "kicked", G_CALLBACK (kicked_cb), tty);
  g_signal_connect (tty->client, "error", G_CALLBACK (error_cb), tty);
}

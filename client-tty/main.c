/* implus-tty: a scriptable terminal client over the client engine (docs/tty.md).
 *
 * Lines are read asynchronously (GDataInputStream) so the main loop keeps running; one command
 * runs at a time, in input order. At end of input the client lingers until the outbox is empty
 * (or --linger-s passes), so `echo "/msg bob hi" | implus-tty` delivers.
 */
#define G_LOG_DOMAIN "implus-tty"

#include <stdio.h>
#include <gio/gunixinputstream.h>
#include "imp-tty.h"
#include "imp-error.h"

#define MAX_LINE (256 * 1024)

static GDataInputStream *input;
static gboolean input_eof;
static guint linger_timer;
static gint linger_s = 10;

static void read_next_line (ImpTty *tty);

void
imp_tty_quit (ImpTty *tty, int exit_code)
{
  tty->quitting = TRUE;
  tty->exit_code = exit_code;
  g_main_loop_quit (tty->loop);
}

static gboolean
linger_timeout_cb (gpointer user_data)
{
  ImpTty *tty = user_data;

  linger_timer = 0;
  imp_tty_quit (tty, 0);
  return G_SOURCE_REMOVE;
}

/* At end of input: exit once the outbox is empty, or when the linger time is over. */
static void
check_linger (ImpTty *tty)
{
  if (!input_eof || tty->busy || tty->quitting)
    return;
  if (imp_client_get_outbox_pending (tty->client) == 0
      || imp_client_get_user_id (tty->client) == 0)
    {
      imp_tty_quit (tty, 0);
      return;
    }
  if (linger_timer == 0)
    linger_timer = g_timeout_add_seconds (MAX (linger_s, 0), linger_timeout_cb, tty);
}

static void
outbox_sent_cb (ImpClient *client, const char *cmid, gint64 msg_id, gint64 seq, gpointer user_data)
{
  check_linger (user_data);
}

static void
outbox_failed_cb (ImpClient *client, const char *cmid, int code, const char *reason, gpointer user_data)
{
  check_linger (user_data);
}

void
imp_tty_command_done (ImpTty *tty)
{
  tty->busy = FALSE;
  if (tty->quitting)
    return;
  if (input_eof)
    check_linger (tty);
  else
    read_next_line (tty);
}

static void
finish_wait (ImpTty *tty, gboolean ok)
{
  tty->waiting = FALSE;
  g_clear_handle_id (&tty->wait_timer, g_source_remove);
  if (ok)
    {
      tty->evt_consumed[tty->wait_kind] = tty->wait_target;
      imp_tty_ok ("wait", NULL);
    }
  else
    {
      g_autofree char *msg = g_strdup_printf ("timed out waiting for %s", imp_tty_event_name (tty->wait_kind));
      imp_tty_err_code ("wait", 0, "timeout", msg);
    }
  imp_tty_command_done (tty);
}

void
imp_tty_event_seen (ImpTty *tty, ImpTtyEvent kind)
{
  tty->evt_count[kind]++;
  if (tty->waiting && kind == tty->wait_kind && tty->evt_count[kind] >= tty->wait_target)
    finish_wait (tty, TRUE);
}

static gboolean
wait_timeout_cb (gpointer user_data)
{
  ImpTty *tty = user_data;

  tty->wait_timer = 0;
  finish_wait (tty, FALSE);
  return G_SOURCE_REMOVE;
}

void
imp_tty_arm_wait (ImpTty *tty, guint timeout_s)
{
  if (tty->evt_count[tty->wait_kind] >= tty->wait_target)
    {
      finish_wait (tty, TRUE);
      return;
    }
  tty->wait_timer = g_timeout_add_seconds (timeout_s, wait_timeout_cb, tty);
}

static void
handle_line (ImpTty *tty, char *line)
{
  g_strstrip (line);
  if (line[0] == '\0' || line[0] == '#')
    {
      imp_tty_command_done (tty);
      return;
    }
  if (line[0] != '/')
    {
      imp_tty_err_code ("input", IMP_ERROR_BAD_REQUEST, "bad_request", "commands start with / (see /help)");
      imp_tty_command_done (tty);
      return;
    }
  imp_tty_dispatch (tty, line);
}

static void
line_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  ImpTty *tty = user_data;
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), res, &len, &error);

  if (tty->quitting)
    return;
  if (line == NULL)
    {
      if (error != NULL)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            return;
          g_printerr ("implus-tty: input: %s\n", error->message);
        }
      input_eof = TRUE;
      tty->busy = FALSE;
      check_linger (tty);
      return;
    }
  if (len > MAX_LINE)
    {
      imp_tty_err_code ("input", IMP_ERROR_PAYLOAD_TOO_LARGE, "payload_too_large", "line too long");
      imp_tty_command_done (tty);
      return;
    }
  handle_line (tty, line);
}

static void
read_next_line (ImpTty *tty)
{
  tty->busy = TRUE;
  g_data_input_stream_read_line_async (input, G_PRIORITY_DEFAULT, tty->cancellable, line_cb, tty);
}

int
main (int argc, char **argv)
{
  g_autofree char *server = NULL, *transport = NULL, *data_dir = NULL, *device_id = NULL, *script = NULL;
  gint user_port = 0, message_port = 0, tcp_port = 0, ws_port = 0;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_STRING, &server, "Server host (127.0.0.1)", "HOST" },
    { "user-port", 0, 0, G_OPTION_ARG_INT, &user_port, "User service HTTP port (8090)", "PORT" },
    { "message-port", 0, 0, G_OPTION_ARG_INT, &message_port, "Message service HTTP port (8100)", "PORT" },
    { "tcp-port", 0, 0, G_OPTION_ARG_INT, &tcp_port, "Gateway TCP port (default: from login, else 8900)", "PORT" },
    { "ws-port", 0, 0, G_OPTION_ARG_INT, &ws_port, "Gateway WebSocket port (default: from login, else 8902)", "PORT" },
    { "transport", 0, 0, G_OPTION_ARG_STRING, &transport, "tcp or ws (tcp)", "tcp|ws" },
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "State directory ($XDG_DATA_HOME/implus-tty)", "DIR" },
    { "device-id", 0, 0, G_OPTION_ARG_STRING, &device_id, "Device id (default: generated once per data dir)", "ID" },
    { "script", 0, 0, G_OPTION_ARG_FILENAME, &script, "Read commands from FILE instead of stdin", "FILE" },
    { "linger-s", 0, 0, G_OPTION_ARG_INT, &linger_s, "At end of input, wait this long for the outbox (10)", "S" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- IM Plus terminal client");
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) base = NULL;
  ImpClientOptions options = { 0 };
  ImpTty tty = { 0 };

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("implus-tty: %s\n", error->message);
      return 2;
    }
  if ((user_port | message_port | tcp_port | ws_port) < 0 || MAX (MAX (user_port, message_port), MAX (tcp_port, ws_port)) > 65535
      || (transport && g_strcmp0 (transport, "tcp") != 0 && g_strcmp0 (transport, "ws") != 0))
    {
      g_printerr ("implus-tty: bad port or transport\n");
      return 2;
    }
  setvbuf (stdout, NULL, _IOLBF, 0);

  if (data_dir == NULL)
    data_dir = g_build_filename (g_get_user_data_dir (), "implus-tty", NULL);
  options.host = server;
  options.user_port = user_port;
  options.message_port = message_port;
  options.tcp_port = tcp_port;
  options.ws_port = ws_port;
  options.transport = g_strcmp0 (transport, "ws") == 0 ? IMP_TRANSPORT_WS : IMP_TRANSPORT_TCP;
  options.data_dir = data_dir;
  options.device_id = device_id;
  tty.client = imp_client_new (&options, &error);
  if (tty.client == NULL)
    {
      g_printerr ("implus-tty: %s\n", error->message);
      return 1;
    }

  if (script != NULL)
    {
      g_autoptr(GFile) file = g_file_new_for_path (script);

      base = G_INPUT_STREAM (g_file_read (file, NULL, &error));
      if (base == NULL)
        {
          g_printerr ("implus-tty: %s\n", error->message);
          g_object_unref (tty.client);
          return 1;
        }
    }
  else
    base = g_unix_input_stream_new (0, FALSE);
  input = g_data_input_stream_new (base);
  g_data_input_stream_set_newline_type (input, G_DATA_STREAM_NEWLINE_TYPE_ANY);

  tty.loop = g_main_loop_new (NULL, FALSE);
  tty.cancellable = g_cancellable_new ();
  imp_tty_connect_events (&tty);
  g_signal_connect (tty.client, "message-sent", G_CALLBACK (outbox_sent_cb), &tty);
  g_signal_connect (tty.client, "message-failed", G_CALLBACK (outbox_failed_cb), &tty);
  imp_client_restore (tty.client);
  read_next_line (&tty);
  g_main_loop_run (tty.loop);

  g_cancellable_cancel (tty.cancellable);
  g_clear_handle_id (&linger_timer, g_source_remove);
  g_clear_handle_id (&tty.wait_timer, g_source_remove);
  imp_client_shutdown (tty.client);
  g_signal_handlers_disconnect_by_data (tty.client, &tty);
  g_clear_object (&tty.client);
  g_clear_object (&input);
  g_clear_object (&tty.cancellable);
  g_main_loop_unref (tty.loop);
  return tty.exit_code;
}

/* imp-tty-commands.c: the command table; /help is generated from it (docs/tty.md). */
#define G_LOG_DOMAIN "implus-tty"

#include "imp-tty.h"
#include "imp-convid.h"
#include "imp-error.h"

typedef ImpTtyCall Call;

typedef void (*ImpTtyHandler) (Call *call);

typedef struct {
  const char   *name;
  const char   *synopsis;
  const char   *help;
  guint         min_args;
  guint         max_args;  /* counting the "rest" argument as one */
  gboolean      takes_rest;
  ImpTtyHandler handler;
} ImpTtyCommand;

static void
call_free (Call *call)
{
  g_free (call->command);
  g_strfreev (call->args);
  g_free (call->rest);
  if (call->data_free)
    call->data_free (call->data);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

/* Ends a command: the next input line may run. */
static void
call_done (Call *call)
{
  ImpTty *tty = call->tty;

  call_free (call);
  imp_tty_command_done (tty);
}

static void
call_error (Call *call, const GError *error)
{
  imp_tty_err (call->command, error);
  call_done (call);
}

gboolean
imp_tty_parse_int (const char *s, gint64 min, gint64 max, gint64 *out)
{
  return s && g_ascii_string_to_signed (s, 10, min, max, out, NULL);
}
#define parse_int imp_tty_parse_int

void imp_tty_call_done (ImpTtyCall *call) { call_done (call); }
void imp_tty_call_error (ImpTtyCall *call, const GError *error) { call_error (call, error); }

void
imp_tty_call_fail (ImpTtyCall *call, int code, const char *name, const char *message)
{
  imp_tty_err_code (call->command, code, name, message);
  call_done (call);
}

/* ---- handlers ---- */

static void cmd_help (Call *call) { imp_tty_print_help (); imp_tty_ok ("help", NULL); call_done (call); }

static void
register_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  gint64 id = imp_client_register_finish (IMP_CLIENT (source), res, &error);

  if (error)
    return call_error (call, error);
  imp_tty_ok ("register", "user_id=%" G_GINT64_FORMAT, id);
  call_done (call);
}

static void
cmd_register (Call *call)
{
  imp_client_register_async (call->tty->client, call->args[0], call->args[1],
                             call->rest && call->rest[0] ? call->rest : NULL, NULL, register_cb, call);
}

static void
login_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  gint64 id = imp_client_login_finish (IMP_CLIENT (source), res, &error);

  if (error)
    return call_error (call, error);
  imp_tty_ok ("login", "user_id=%" G_GINT64_FORMAT, id);
  call_done (call);
}

static void
cmd_login (Call *call)
{
  imp_client_login_async (call->tty->client, call->args[0], call->args[1], NULL, login_cb, call);
}

static void
logout_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;

  if (!imp_client_logout_finish (IMP_CLIENT (source), res, &error))
    return call_error (call, error);
  imp_tty_ok ("logout", NULL);
  call_done (call);
}

static void cmd_logout (Call *call) { imp_client_logout_async (call->tty->client, NULL, logout_cb, call); }

/* Every command naming a user resolves it first; then runs `then`. */
typedef ImpTtyUserThen UserThen;

typedef struct { Call *call; UserThen then; } Lookup;

static void
lookup_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Lookup *l = user_data;
  Call *call = l->call;
  UserThen then = l->then;
  g_autoptr(GError) error = NULL;
  gint64 id = imp_client_lookup_finish (IMP_CLIENT (source), res, &error);

  g_free (l);
  if (error)
    return call_error (call, error);
  then (call, id);
}

static void
with_user (Call *call, const char *username, UserThen then)
{
  Lookup *l = g_new0 (Lookup, 1);

  l->call = call;
  l->then = then;
  imp_client_lookup_async (call->tty->client, username, NULL, lookup_cb, l);
}

void
imp_tty_with_user (ImpTtyCall *call, const char *username, ImpTtyUserThen then)
{
  with_user (call, username, then);
}

static void
lookup_then (Call *call, gint64 id)
{
  imp_tty_ok ("lookup", "user_id=%" G_GINT64_FORMAT, id);
  call_done (call);
}

static void cmd_lookup (Call *call) { with_user (call, call->args[0], lookup_then); }

static void
msg_then (Call *call, gint64 id)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cmid = imp_client_send (call->tty->client, id, call->rest, &error);

  if (cmid == NULL)
    return call_error (call, error);
  imp_tty_ok ("msg", "client_msg_id=%s", cmid);
  call_done (call);
}

static void
cmd_msg (Call *call)
{
  if (call->rest == NULL || call->rest[0] == '\0')
    {
      imp_tty_err_code (call->command, IMP_ERROR_CONTENT_EMPTY, "content_empty", "empty message");
      call_done (call);
      return;
    }
  with_user (call, call->args[0], msg_then);
}

static void
history_then (Call *call, gint64 peer)
{
  ImpClient *client = call->tty->client;
  g_autofree char *conv = imp_convid_private (imp_client_get_user_id (client), peer);
  gint64 n = 20;
  g_autoptr(GPtrArray) list = NULL;

  if (call->args[1] && !parse_int (call->args[1], 1, 100000, &n))
    {
      imp_tty_err_code (call->command, IMP_ERROR_BAD_REQUEST, "bad_request", "n must be 1..100000");
      return call_done (call);
    }
  list = imp_mirror_list_messages (imp_client_get_mirror (client), conv, (guint) n);
  for (guint i = 0; i < list->len; i++)
    imp_tty_print_message ("MSG", list->pdata[i], TRUE);
  imp_tty_ok ("history", "count=%u", list->len);
  call_done (call);
}

static void cmd_history (Call *call) { with_user (call, call->args[0], history_then); }

static gboolean
need_login (Call *call)
{
  if (imp_client_get_mirror (call->tty->client) != NULL && imp_client_get_user_id (call->tty->client) > 0)
    return FALSE;
  imp_tty_err_code (call->command, IMP_ERROR_NOT_AUTHENTICATED, "not_authenticated", "not logged in");
  call_done (call);
  return TRUE;
}

static void
cmd_dump (Call *call)
{
  ImpMirror *mirror;
  g_autoptr(GPtrArray) list = NULL, groups = NULL;
  guint count;

  if (need_login (call))
    return;
  mirror = imp_client_get_mirror (call->tty->client);
  list = imp_mirror_list_messages (mirror, NULL, 0);
  for (guint i = 0; i < list->len; i++)
    imp_tty_print_message ("MSG", list->pdata[i], TRUE);
  count = list->len;
  /* Then each group conversation's stream (GMSG lines, seq = conversation seq), then its watermark. */
  groups = imp_mirror_group_list (mirror);
  for (guint g = 0; g < groups->len; g++)
    {
      g_autoptr(GPtrArray) gl = imp_mirror_group_list_messages (mirror, groups->pdata[g], 0);
      g_autofree char *conv = imp_tty_enc (groups->pdata[g]);
      g_autofree char *line = NULL;

      for (guint i = 0; i < gl->len; i++)
        imp_tty_print_message ("GMSG", gl->pdata[i], TRUE);
      line = g_strdup_printf ("GSTREAM conv=%s count=%u watermark=%" G_GINT64_FORMAT, conv, gl->len,
                              imp_mirror_group_watermark (mirror, groups->pdata[g]));
      imp_tty_print_line (line);
      count += gl->len;
    }
  imp_tty_ok ("dump", "count=%u watermark=%" G_GINT64_FORMAT " groups=%u", count,
              imp_mirror_get_watermark (mirror), groups->len);
  call_done (call);
}

static void
conversations_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) arr = imp_client_conversations_finish (IMP_CLIENT (source), res, &error);
  guint n;

  if (arr == NULL)
    return call_error (call, error);
  n = json_array_get_length (arr);
  for (guint i = 0; i < n; i++)
    {
      JsonObject *c = json_array_get_object_element (arr, i);
      g_autofree char *conv = NULL, *peer = NULL, *line = NULL;
      const char *peer_name;

      if (c == NULL)
        continue;
      conv = imp_tty_enc (json_object_get_string_member_with_default (c, "conversation_id", ""));
      peer_name = json_object_get_string_member_with_default (c, "peer_username", NULL);
      peer = peer_name ? imp_tty_enc (peer_name)
                       : g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member_with_default (c, "peer_id", 0));
      line = g_strdup_printf ("CONV conversation_id=%s peer=%s unread=%" G_GINT64_FORMAT " read_seq=%" G_GINT64_FORMAT
                              " last_seq=%" G_GINT64_FORMAT, conv, peer,
                              json_object_get_int_member_with_default (c, "unread", 0),
                              json_object_get_int_member_with_default (c, "read_seq", 0),
                              json_object_get_int_member_with_default (c, "last_seq", 0));
      imp_tty_print_line (line);
    }
  imp_tty_ok ("conversations", "count=%u", n);
  call_done (call);
}

static void
cmd_conversations (Call *call)
{
  imp_client_conversations_async (call->tty->client, NULL, conversations_cb, call);
}

static void
read_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) obj = imp_client_mark_read_finish (IMP_CLIENT (source), res, &error);
  g_autofree char *conv = NULL;

  if (obj == NULL)
    return call_error (call, error);
  /* The server's answer is the truth; the mirror's read position follows it. */
  imp_mirror_set_read (imp_client_get_mirror (IMP_CLIENT (source)),
                       json_object_get_string_member_with_default (obj, "conversation_id", ""),
                       json_object_get_int_member_with_default (obj, "read_seq", 0));
  conv = imp_tty_enc (json_object_get_string_member_with_default (obj, "conversation_id", ""));
  imp_tty_ok ("read", "conversation_id=%s read_seq=%" G_GINT64_FORMAT " unread=%" G_GINT64_FORMAT, conv,
              json_object_get_int_member_with_default (obj, "read_seq", 0),
              json_object_get_int_member_with_default (obj, "unread", 0));
  call_done (call);
}

static void
read_conv (Call *call, const char *conv)
{
  ImpClient *client = call->tty->client;
  gint64 seq = 0;

  if (call->args[1])
    {
      if (!parse_int (call->args[1], 1, G_MAXINT64, &seq))
        {
          imp_tty_err_code (call->command, IMP_ERROR_BAD_REQUEST, "bad_request", "seq must be a positive number");
          return call_done (call);
        }
    }
  else
    {
      /* Default: everything this device has of the conversation. */
      g_autoptr(GPtrArray) last = g_str_has_prefix (conv, "group_")
        ? imp_mirror_group_list_messages (imp_client_get_mirror (client), conv, 1)
        : imp_mirror_list_messages (imp_client_get_mirror (client), conv, 1);
      seq = last->len ? ((ImpMessage *) last->pdata[0])->seq : 0;
    }
  imp_client_mark_read_async (client, conv, seq, NULL, read_cb, call);
}

static void
read_then (Call *call, gint64 peer)
{
  g_autofree char *conv = imp_convid_private (imp_client_get_user_id (call->tty->client), peer);

  read_conv (call, conv);
}

static void
cmd_read (Call *call)
{
  gint64 group_id = g_str_has_prefix (call->args[0], "group_") ? imp_tty_parse_group (call->args[0]) : 0;

  if (group_id > 0)
    {
      g_autofree char *conv = g_strdup_printf ("group_%" G_GINT64_FORMAT, group_id);
      read_conv (call, conv);
      return;
    }
  with_user (call, call->args[0], read_then);
}

static void
sync_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  gint64 wm = imp_client_sync_finish (IMP_CLIENT (source), res, &error);

  if (error)
    return call_error (call, error);
  imp_tty_ok ("sync", "watermark=%" G_GINT64_FORMAT, wm);
  call_done (call);
}

static void cmd_sync (Call *call) { imp_client_sync_async (call->tty->client, NULL, sync_cb, call); }

static void
cmd_status (Call *call)
{
  ImpClient *client = call->tty->client;

  imp_tty_ok ("status", "state=%s watermark=%" G_GINT64_FORMAT " outbox=%" G_GINT64_FORMAT,
              imp_client_state_name (imp_client_get_state (client)), imp_client_get_watermark (client),
              imp_client_get_outbox_pending (client));
  call_done (call);
}

static void
cmd_wait (Call *call)
{
  ImpTty *tty = call->tty;
  ImpTtyEvent kind;
  gint64 n = 1, timeout_s = 30;

  if (!imp_tty_event_from_name (call->args[0], &kind)
      || (call->args[1] && !parse_int (call->args[1], 1, 1000000000, &n))
      || (call->args[1] && call->args[2] && !parse_int (call->args[2], 1, 86400, &timeout_s)))
    {
      imp_tty_err_code (call->command, IMP_ERROR_BAD_REQUEST, "bad_request",
                        "usage: /wait connected|disconnected|reconnecting|message|sent|failed|kicked|error"
                        "|group_message|read|delivered|typing [n] [timeout_s]");
      return call_done (call);
    }
  tty->wait_kind = kind;
  tty->wait_target = tty->evt_consumed[kind] + (guint64) n;
  tty->waiting = TRUE;
  call_free (call);
  imp_tty_arm_wait (tty, (guint) timeout_s);
}

static void
cmd_quit (Call *call)
{
  ImpTty *tty = call->tty;

  imp_tty_ok ("quit", NULL);
  call_free (call);
  imp_tty_quit (tty, 0);
}

static const ImpTtyCommand commands[] = {
  { "help", "", "list the commands", 0, 0, FALSE, cmd_help },
  { "register", "<user> <password> [nickname]", "create an account", 2, 3, TRUE, cmd_register },
  { "login", "<user> <password>", "log in, keep the session, and connect", 2, 2, FALSE, cmd_login },
  { "logout", "", "revoke the token and forget the session", 0, 0, FALSE, cmd_logout },
  { "lookup", "<user>", "print a user's id", 1, 1, FALSE, cmd_lookup },
  { "msg", "<user> <text>", "queue a message in the outbox; EVT sent follows", 2, 2, TRUE, cmd_msg },
  { "history", "<user> [n]", "the last n (20) messages with a user, from the local mirror", 1, 2, FALSE, cmd_history },
  { "dump", "", "the whole local stream, in seq order", 0, 0, FALSE, cmd_dump },
  { "conversations", "", "the conversation list with unread counts (server)", 0, 0, FALSE, cmd_conversations },
  { "read", "<user|group_N> [seq]", "mark a conversation read up to seq (default: the newest local)", 1, 2, FALSE, cmd_read },
  { "gmsg", "<group> <text>", "queue a group message (group: N or group_N); EVT sent follows", 2, 2, TRUE, imp_tty_cmd_gmsg },
  { "friend", "request|accept|decline|remove|list [user]", "friend requests and the friend list", 1, 2, FALSE, imp_tty_cmd_friend },
  { "block", "<user>", "blacklist a user: their messages to you are refused", 1, 1, FALSE, imp_tty_cmd_block },
  { "unblock", "<user>", "take a user off the blacklist", 1, 1, FALSE, imp_tty_cmd_unblock },
  { "blocked", "", "the blacklist", 0, 0, FALSE, imp_tty_cmd_blocked },
  { "group", "create <name> [user...] | add|remove <group> <user> | leave|info|members|dissolve <group> | "
             "role <group> <user> <role> | transfer <group> <user> | mute <group> <user> <until>",
    "manage groups (group: N or group_N; until: unix ms, +30m style, or 0 to unmute)", 2, 2, TRUE, imp_tty_cmd_group },
  { "typing", "<user>", "tell a user you are typing (at most once per 3 s)", 1, 1, FALSE, imp_tty_cmd_typing },
  { "sync", "", "pull the stream up to date now", 0, 0, FALSE, cmd_sync },
  { "status", "", "connection state, watermark, unsent outbox rows", 0, 0, FALSE, cmd_status },
  { "wait", "<event> [n] [timeout_s]", "wait for n (1) events of a kind not yet waited for (30 s)", 1, 3, FALSE, cmd_wait },
  { "quit", "", "exit now (everything is already saved)", 0, 0, FALSE, cmd_quit },
};

void
imp_tty_print_help (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *line = g_strdup_printf ("HELP /%s%s%s — %s", commands[i].name,
                                               commands[i].synopsis[0] ? " " : "", commands[i].synopsis,
                                               commands[i].help);
      imp_tty_print_line (line);
    }
}

/* Splits off up to n words; *rest gets what follows them (leading spaces skipped). */
static char **
split_words (const char *s, guint n, const char **rest)
{
  GPtrArray *words = g_ptr_array_new ();

  while (words->len < n)
    {
      const char *start;

      while (*s == ' ' || *s == '\t')
        s++;
      if (*s == '\0')
        break;
      start = s;
      while (*s && *s != ' ' && *s != '\t')
        s++;
      g_ptr_array_add (words, g_strndup (start, s - start));
    }
  while (*s == ' ' || *s == '\t')
    s++;
  *rest = s;
  g_ptr_array_add (words, NULL);
  return (char **) g_ptr_array_free (words, FALSE);
}

void
imp_tty_dispatch (ImpTty *tty, const char *line)
{
  g_autoptr(Call) call = g_new0 (Call, 1);
  const ImpTtyCommand *cmd = NULL;
  const char *rest = NULL;
  g_auto(GStrv) head = NULL;
  guint fixed;

  call->tty = tty;
  head = split_words (line + 1, 1, &rest);
  call->command = g_strdup (head[0] ? head[0] : "");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_strcmp0 (commands[i].name, call->command) == 0)
      cmd = &commands[i];
  if (cmd == NULL)
    {
      imp_tty_err_code (call->command[0] ? call->command : "/", IMP_ERROR_BAD_REQUEST, "bad_request",
                        "unknown command (see /help)");
      call_done (g_steal_pointer (&call));
      return;
    }
  fixed = cmd->takes_rest ? cmd->max_args - 1 : cmd->max_args;
  call->args = split_words (rest, fixed, &rest);
  if (cmd->takes_rest && rest[0])
    {
      call->rest = g_strdup (rest);
      g_strchomp (call->rest);
    }
  if (g_strv_length (call->args) + (call->rest ? 1 : 0) < cmd->min_args || (!cmd->takes_rest && rest[0]))
    {
      g_autofree char *usage = g_strdup_printf ("usage: /%s %s", cmd->name, cmd->synopsis);
      imp_tty_err_code (call->command, IMP_ERROR_BAD_REQUEST, "bad_request", usage);
      call_done (g_steal_pointer (&call));
      return;
    }
  /* Per-user commands need a session (register and login make one). */
  if (cmd->handler != cmd_help && cmd->handler != cmd_register && cmd->handler != cmd_login
      && cmd->handler != cmd_status && cmd->handler != cmd_wait && cmd->handler != cmd_quit)
    {
      Call *c = g_steal_pointer (&call);

      if (!need_login (c))
        cmd->handler (c);
      return;
    }
  cmd->handler (g_steal_pointer (&call));
}

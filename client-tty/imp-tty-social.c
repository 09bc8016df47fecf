/* imp-tty-social.c: /friend, /block, /unblock, /blocked, /group, /gmsg, /typing (docs/tty.md).
 * Every command prints exactly one OK or ERR line; lists print their rows before it. */
#define G_LOG_DOMAIN "implus-tty"

#include "imp-tty.h"
#include "imp-error.h"
#include "imp-time.h"
#include "imp-client-api.h"

gint64
imp_tty_parse_group (const char *s)
{
  gint64 id = 0;

  if (s && g_str_has_prefix (s, "group_"))
    s += 6;
  return imp_tty_parse_int (s, 1, G_MAXINT64, &id) ? id : 0;
}

static void
usage (ImpTtyCall *call, const char *text)
{
  imp_tty_call_fail (call, IMP_ERROR_BAD_REQUEST, "bad_request", text);
}

/* "1767225600000" (unix ms), "0", or "+90s" / "+30m" / "+2h" / "+7d" from now; -1 if bad. */
static gint64
parse_until (const char *s)
{
  gint64 n;
  gsize len = s ? strlen (s) : 0;
  gint64 unit;

  if (len >= 3 && s[0] == '+')
    {
      g_autofree char *num = g_strndup (s + 1, len - 2);

      switch (s[len - 1])
        {
        case 's': unit = 1000; break;
        case 'm': unit = 60 * 1000; break;
        case 'h': unit = 3600 * 1000; break;
        case 'd': unit = 86400 * 1000; break;
        default: return -1;
        }
      if (!imp_tty_parse_int (num, 0, G_MAXINT32, &n))
        return -1;
      return imp_now_ms () + n * unit;
    }
  return imp_tty_parse_int (s, 0, G_MAXINT64, &n) ? n : -1;
}

/* ---- the answers ---- */

typedef void (*Printer) (ImpTtyCall *call, JsonObject *answer);

typedef struct {
  ImpTtyCall *call;
  Printer     print;
} Pending;

static void
social_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Pending *p = user_data;
  ImpTtyCall *call = p->call;
  Printer print = p->print;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) obj = imp_client_social_finish (IMP_CLIENT (source), res, &error);

  g_free (p);
  if (obj == NULL)
    return imp_tty_call_error (call, error);
  print (call, obj);
  imp_tty_call_done (call);
}

/* Takes args (may be NULL). */
static void
run (ImpTtyCall *call, ImpSocialCall which, JsonObject *args, Printer print)
{
  Pending *p = g_new0 (Pending, 1);

  p->call = call;
  p->print = print;
  imp_client_social_async (call->tty->client, which, args, NULL, social_cb, p);
  if (args)
    json_object_unref (args);
}

static JsonObject *
args_user (gint64 user_id)
{
  JsonObject *o = json_object_new ();

  json_object_set_int_member (o, "user_id", user_id);
  return o;
}

static JsonObject *
args_group (gint64 group_id)
{
  JsonObject *o = json_object_new ();

  json_object_set_int_member (o, "group_id", group_id);
  return o;
}

static char *
enc_member (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return g_strdup ("-");
  if (json_node_get_value_type (n) == G_TYPE_STRING)
    return imp_tty_enc (json_node_get_string (n));
  if (json_node_get_value_type (n) == G_TYPE_BOOLEAN)
    return g_strdup (json_node_get_boolean (n) ? "1" : "0");
  if (json_node_get_value_type (n) == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (n));
  return g_strdup ("-");
}

/* One KEY line per element of answer[member], fields in order; OK <command> count=N. */
static void
print_rows (ImpTtyCall *call, JsonObject *answer, const char *member, const char *key, const char *const *fields)
{
  JsonArray *arr = imp_json_array_member (answer, member);
  guint n = arr ? json_array_get_length (arr) : 0;

  for (guint i = 0; i < n; i++)
    {
      JsonObject *o = json_array_get_object_element (arr, i);
      g_autoptr(GString) line = g_string_new (key);

      if (o == NULL)
        continue;
      for (guint f = 0; fields[f]; f++)
        {
          g_autofree char *v = enc_member (o, fields[f]);
          g_string_append_printf (line, " %s=%s", fields[f], v);
        }
      imp_tty_print_line (line->str);
    }
  imp_tty_ok (call->command, "count=%u", n);
}

static void
print_user_state (ImpTtyCall *call, JsonObject *a)
{
  g_autofree char *state = enc_member (a, "state");

  imp_tty_ok (call->command, "action=%s user_id=%" G_GINT64_FORMAT " state=%s", call->args[0],
              json_object_get_int_member_with_default (a, "user_id", 0), state);
}

static void print_done (ImpTtyCall *call, JsonObject *a) { imp_tty_ok (call->command, "action=%s", call->args[0]); }

static void
print_friends (ImpTtyCall *call, JsonObject *a)
{
  static const char *const fields[] = { "user_id", "username", "state", "online", "last_seen_ms", NULL };
  print_rows (call, a, "friends", "FRIEND", fields);
}

static void
print_blocked (ImpTtyCall *call, JsonObject *a)
{
  static const char *const fields[] = { "user_id", "username", "since_ms", NULL };
  print_rows (call, a, "blocked", "BLOCKED", fields);
}

static void
print_members (ImpTtyCall *call, JsonObject *a)
{
  static const char *const fields[] = { "user_id", "username", "role", "muted_until_ms", NULL };
  print_rows (call, a, "members", "MEMBER", fields);
}

static void
print_group (ImpTtyCall *call, JsonObject *a)
{
  static const char *const fields[] = { "group_id", "name", "owner_id", "status", "member_count",
                                        "role", "muted_until_ms", "last_seq", NULL };
  g_autoptr(GString) line = g_string_new ("OK group action=");

  g_string_append (line, call->args[0]);
  for (guint f = 0; fields[f]; f++)
    {
      g_autofree char *v = enc_member (a, fields[f]);
      g_string_append_printf (line, " %s=%s", fields[f], v);
    }
  imp_tty_print_line (line->str);
}

static void
print_change (ImpTtyCall *call, JsonObject *a)
{
  imp_tty_ok (call->command, "action=%s group_id=%" G_GINT64_FORMAT " last_seq=%" G_GINT64_FORMAT,
              call->args[0], json_object_get_int_member_with_default (a, "group_id", 0),
              json_object_get_int_member_with_default (a, "last_seq", 0));
}

/* ---- /friend, /block, /unblock, /blocked ---- */

static void
friend_then (ImpTtyCall *call, gint64 user_id)
{
  const char *action = call->args[0];
  JsonObject *args = args_user (user_id);

  if (g_str_equal (action, "request"))
    run (call, IMP_SOCIAL_FRIEND_REQUEST, args, print_user_state);
  else if (g_str_equal (action, "remove"))
    run (call, IMP_SOCIAL_FRIEND_REMOVE, args, print_done);
  else
    {
      json_object_set_boolean_member (args, "accept", g_str_equal (action, "accept"));
      run (call, IMP_SOCIAL_FRIEND_RESPOND, args, print_user_state);
    }
}

void
imp_tty_cmd_friend (ImpTtyCall *call)
{
  const char *action = call->args[0];

  if (g_str_equal (action, "list") && call->args[1] == NULL)
    return run (call, IMP_SOCIAL_FRIENDS, NULL, print_friends);
  if (call->args[1] == NULL
      || !(g_str_equal (action, "request") || g_str_equal (action, "accept")
           || g_str_equal (action, "decline") || g_str_equal (action, "remove")))
    return usage (call, "usage: /friend request|accept|decline|remove <user> | /friend list");
  imp_tty_with_user (call, call->args[1], friend_then);
}

static void
print_blocked_user (ImpTtyCall *call, JsonObject *a)
{
  imp_tty_ok (call->command, "user_id=%s", call->rest ? call->rest : "0");
}

/* The user id rides in call->rest (unused by these commands) for the answer line. */
static void
block_then (ImpTtyCall *call, gint64 user_id)
{
  g_free (call->rest);
  call->rest = g_strdup_printf ("%" G_GINT64_FORMAT, user_id);
  run (call, g_str_equal (call->command, "block") ? IMP_SOCIAL_BLOCK : IMP_SOCIAL_UNBLOCK,
       args_user (user_id), print_blocked_user);
}

void imp_tty_cmd_block (ImpTtyCall *call) { imp_tty_with_user (call, call->args[0], block_then); }
void imp_tty_cmd_unblock (ImpTtyCall *call) { imp_tty_with_user (call, call->args[0], block_then); }
void imp_tty_cmd_blocked (ImpTtyCall *call) { run (call, IMP_SOCIAL_BLACKLIST, NULL, print_blocked); }

/* ---- /typing, /gmsg ---- */

static void
typing_then (ImpTtyCall *call, gint64 user_id)
{
  gboolean sent = imp_client_send_typing (call->tty->client, user_id);

  imp_tty_ok (call->command, "user_id=%" G_GINT64_FORMAT " sent=%d", user_id, sent ? 1 : 0);
  imp_tty_call_done (call);
}

void imp_tty_cmd_typing (ImpTtyCall *call) { imp_tty_with_user (call, call->args[0], typing_then); }

void
imp_tty_cmd_gmsg (ImpTtyCall *call)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cmid = NULL;
  gint64 group_id = imp_tty_parse_group (call->args[0]);

  if (group_id <= 0)
    return usage (call, "usage: /gmsg <group> <text> (group: N or group_N)");
  if (call->rest == NULL || call->rest[0] == '\0')
    return imp_tty_call_fail (call, IMP_ERROR_CONTENT_EMPTY, "content_empty", "empty message");
  cmid = imp_client_send_group (call->tty->client, group_id, call->rest, &error);
  if (cmid == NULL)
    return imp_tty_call_error (call, error);
  imp_tty_ok ("gmsg", "client_msg_id=%s group_id=%" G_GINT64_FORMAT, cmid, group_id);
  imp_tty_call_done (call);
}

/* ---- /group ---- */

/* The words of /group after the action, parsed from call->rest. */
typedef struct {
  ImpTtyCall *call;
  char      **words;
  gint64      group_id;
  GArray     *ids;      /* resolved user ids for create */
  guint       next;     /* next word to resolve */
} GroupCmd;

static void
group_cmd_free (GroupCmd *g)
{
  g_strfreev (g->words);
  if (g->ids)
    g_array_unref (g->ids);
  g_free (g);
}

static void create_next (ImpTtyCall *call, gint64 user_id);

static void
create_resolve (GroupCmd *g)
{
  ImpTtyCall *call = g->call;
  g_autoptr(JsonObject) body = NULL;
  JsonArray *members;

  if (g->words[g->next] != NULL)
    {
      imp_tty_with_user (call, g->words[g->next++], create_next);
      return;
    }
  body = json_object_new ();
  members = json_array_new ();
  for (guint i = 0; i < g->ids->len; i++)
    json_array_add_int_element (members, g_array_index (g->ids, gint64, i));
  json_object_set_string_member (body, "name", g->words[0]);
  json_object_set_array_member (body, "members", members);
  run (call, IMP_SOCIAL_GROUP_CREATE, json_object_ref (body), print_change);
}

static void
create_next (ImpTtyCall *call, gint64 user_id)
{
  GroupCmd *g = call->data;

  g_array_append_val (g->ids, user_id);
  create_resolve (g);
}

static void
group_user_then (ImpTtyCall *call, gint64 user_id)
{
  GroupCmd *g = call->data;
  const char *action = call->args[0];
  JsonObject *args = args_group (g->group_id);
  ImpSocialCall which;

  if (g_str_equal (action, "add"))
    {
      JsonArray *ids = json_array_new ();

      json_array_add_int_element (ids, user_id);
      json_object_set_array_member (args, "user_ids", ids);
      which = IMP_SOCIAL_GROUP_ADD;
    }
  else
    {
      json_object_set_int_member (args, "user_id", user_id);
      if (g_str_equal (action, "remove"))
        which = IMP_SOCIAL_GROUP_REMOVE;
      else if (g_str_equal (action, "transfer"))
        which = IMP_SOCIAL_GROUP_TRANSFER;
      else if (g_str_equal (action, "role"))
        {
          json_object_set_string_member (args, "role", g->words[2]);
          which = IMP_SOCIAL_GROUP_ROLE;
        }
      else
        {
          json_object_set_int_member (args, "until_ms", parse_until (g->words[2]));
          which = IMP_SOCIAL_GROUP_MUTE;
        }
    }
  run (call, which, args, print_change);
}

#define GROUP_USAGE "usage: /group create <name> [user...] | add|remove|transfer <group> <user> | " \
                    "leave|info|members|dissolve <group> | role <group> <user> <role> | mute <group> <user> <until>"

void
imp_tty_cmd_group (ImpTtyCall *call)
{
  const char *action = call->args[0];
  g_auto(GStrv) words = g_strsplit_set (call->rest ? call->rest : "", " \t", -1);
  g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func (g_free);
  GroupCmd *g;
  guint n;

  for (guint i = 0; words[i]; i++)
    if (words[i][0])
      g_ptr_array_add (w, g_strdup (words[i]));
  n = w->len;
  g_ptr_array_add (w, NULL);
  g = g_new0 (GroupCmd, 1);
  g->call = call;
  g->words = (char **) g_ptr_array_free (g_steal_pointer (&w), FALSE);
  /* Freed with the call, whether the command succeeds or a lookup fails. */
  call->data = g;
  call->data_free = (GDestroyNotify) group_cmd_free;

  if (g_str_equal (action, "create"))
    {
      g->ids = g_array_new (FALSE, FALSE, sizeof (gint64));
      g->next = 1;
      if (n == 0)
        return usage (call, GROUP_USAGE);
      create_resolve (g);
      return;
    }
  g->group_id = n >= 1 ? imp_tty_parse_group (g->words[0]) : 0;
  if (g->group_id > 0 && n == 1
      && (g_str_equal (action, "leave") || g_str_equal (action, "info")
          || g_str_equal (action, "members") || g_str_equal (action, "dissolve")))
    {
      gint64 gid = g->group_id;

      if (g_str_equal (action, "leave"))
        return run (call, IMP_SOCIAL_GROUP_LEAVE, args_group (gid), print_change);
      if (g_str_equal (action, "dissolve"))
        return run (call, IMP_SOCIAL_GROUP_DISSOLVE, args_group (gid), print_change);
      if (g_str_equal (action, "info"))
        return run (call, IMP_SOCIAL_GROUP_INFO, args_group (gid), print_group);
      return run (call, IMP_SOCIAL_GROUP_MEMBERS, args_group (gid), print_members);
    }
  if (g->group_id > 0
      && ((n == 2 && (g_str_equal (action, "add") || g_str_equal (action, "remove")
                      || g_str_equal (action, "transfer")))
          || (n == 3 && g_str_equal (action, "role"))
          || (n == 3 && g_str_equal (action, "mute") && parse_until (g->words[2]) >= 0)))
    {
      imp_tty_with_user (call, g->words[1], group_user_then);
      return;
    }
  usage (call, GROUP_USAGE);
}

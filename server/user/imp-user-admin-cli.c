/* imp-user-admin-cli.c: `implus-server admin ban USER [--reason TEXT] | unban USER |
 * mute USER UNTIL | unmute USER`, run on the server host with the server's config.
 *
 * With [user] admin_token set, the command calls the running user service's admin API
 * (POST /admin/... on [server] bind : [user] http_port), which changes the store AND kicks the
 * user's live connections through the bus. Without a token, or when no user service answers,
 * it changes the store directly (the same file or database the server uses): logins and sends
 * are refused from then on, but connections already open are only kicked through the HTTP path,
 * which the command says. USER is a numeric id or a login name (looked up in the store). */
#include "user/imp-user-admin-cli.h"
#include "core/imp-server-config.h"
#include "store/imp-store.h"
#include "imp-error.h"
#include "imp-time.h"

#include <libsoup/soup.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#define SYSTEM_CONFIG "/etc/implus/server.conf"

gboolean
imp_user_admin_cli_wanted (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    {
      if (argv[i][0] == '-')
        {
          /* Options of implus-server that take a separate value. */
          if (strchr (argv[i], '=') == NULL
              && (strcmp (argv[i], "--config") == 0 || strcmp (argv[i], "--data-dir") == 0
                  || strcmp (argv[i], "--role") == 0))
            i++;
          continue;
        }
      return strcmp (argv[i], "admin") == 0;
    }
  return FALSE;
}

gint64
imp_user_admin_parse_until (const char *text, gint64 now_ms)
{
  g_autoptr(GDateTime) dt = NULL;
  g_autoptr(GTimeZone) utc = NULL;

  if (text == NULL || *text == '\0')
    return -1;
  if (text[0] == '+')
    {
      char *end = NULL;
      guint64 n = g_ascii_strtoull (text + 1, &end, 10);
      gint64 unit;

      if (end == text + 1 || end[0] == '\0' || end[1] != '\0' || n > G_GINT64_CONSTANT (1) << 40)
        return -1;
      switch (end[0])
        {
        case 's': unit = 1000; break;
        case 'm': unit = 60 * 1000; break;
        case 'h': unit = 3600 * 1000; break;
        case 'd': unit = 24 * 3600 * 1000; break;
        default: return -1;
        }
      return now_ms + (gint64) n * unit;
    }
  utc = g_time_zone_new_utc ();
  dt = g_date_time_new_from_iso8601 (text, utc);
  if (dt == NULL)
    return -1;
  return g_date_time_to_unix (dt) * 1000 + g_date_time_get_microsecond (dt) / 1000;
}

static ImpStore *
open_store (const ImpServerConfig *c, GError **error)
{
  if (g_strcmp0 (c->store_backend, "sqlite") == 0)
    return imp_store_sqlite_open (c->store_path, error);
#ifdef IMPLUS_HAVE_MYSQL
  if (g_strcmp0 (c->store_backend, "mysql") == 0)
    return imp_store_mysql_open (c->mysql_host, (guint) c->mysql_port, c->mysql_user,
                                 c->mysql_password, c->mysql_database, 1, error);
#endif
  g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "store backend %s is not built in",
               c->store_backend);
  return NULL;
}

static gint64
resolve_user (ImpStore *store, const char *text, GError **error)
{
  g_autoptr(ImpUserRecord) rec = NULL;
  gint64 id = 0;

  if (g_ascii_string_to_signed (text, 10, 1, G_MAXINT64, &id, NULL))
    rec = imp_store_user_get (store, id, error);
  else
    rec = imp_store_user_find (store, text, error);
  return rec != NULL ? rec->id : 0;
}

/* POST /admin/<what> to the running user service. FALSE with UNAVAILABLE if none answers. */
static gboolean
call_http (const ImpServerConfig *c, const char *what, const char *body, GError **error)
{
  const char *host = (g_strcmp0 (c->bind, "0.0.0.0") == 0 || g_strcmp0 (c->bind, "::") == 0)
                     ? "127.0.0.1" : c->bind;
  g_autofree char *uri = g_strdup_printf (strchr (host, ':') != NULL ? "http://[%s]:%" G_GINT64_FORMAT
                                                                      "/admin/%s"
                                                                    : "http://%s:%" G_GINT64_FORMAT
                                                                      "/admin/%s",
                                          host, c->user_http_port, what);
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 10, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("POST", uri);
  g_autoptr(GBytes) req = g_bytes_new (body, strlen (body));
  g_autoptr(GBytes) reply = NULL;
  g_autofree char *auth = NULL;
  g_autoptr(GError) local = NULL;
  guint status;

  if (msg == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "bad user service address %s", uri);
      return FALSE;
    }
  auth = g_strdup_printf ("Bearer %s", c->admin_token);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  soup_message_set_request_body_from_bytes (msg, "application/json", req);
  reply = soup_session_send_and_read (session, msg, NULL, &local);
  memset (auth, 0, strlen (auth));
  if (reply == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE, "no user service at %s: %s", uri,
                   local->message);
      return FALSE;
    }
  status = soup_message_get_status (msg);
  if (status != SOUP_STATUS_OK)
    {
      gsize len = 0;
      const char *data = g_bytes_get_data (reply, &len);
      g_set_error (error, IMP_ERROR, IMP_ERROR_FORBIDDEN, "the server answered %u: %.*s", status,
                   (int) MIN (len, 512), data != NULL ? data : "");
      return FALSE;
    }
  return TRUE;
}

static gboolean
apply_store (ImpStore *store, const char *what, gint64 user_id, gint64 until, GError **error)
{
  if (strcmp (what, "ban") == 0)
    return imp_store_user_set_status (store, user_id, IMP_USER_STATUS_BANNED, error);
  if (strcmp (what, "unban") == 0)
    return imp_store_user_set_status (store, user_id, IMP_USER_STATUS_NORMAL, error);
  return imp_store_user_set_muted (store, user_id, until, error);
}

static int
usage (GOptionContext *ctx)
{
  g_autofree char *help = g_option_context_get_help (ctx, TRUE, NULL);
  g_printerr ("%s", help);
  return 2;
}

int
imp_user_admin_cli_run (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *role = NULL;
  const GOptionEntry entries[] = {
    { "config", 0, 0, G_OPTION_ARG_FILENAME, &config_path, "Config file (default " SYSTEM_CONFIG
      " if it exists)", "FILE" },
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Data directory", "DIR" },
    { "role", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &role, NULL, NULL },
    { "reason", 0, 0, G_OPTION_ARG_STRING, &reason, "Why (ban: shown to the kicked user)", "TEXT" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx =
    g_option_context_new ("admin ban USER [--reason TEXT] | unban USER | mute USER UNTIL | "
                          "unmute USER");
  g_autoptr(GError) error = NULL;
  g_autoptr(ImpStore) store = NULL;
  g_autofree char *body = NULL;
  ImpServerConfig config;
  const char *what, *user_text;
  gint64 user_id, until = 0;
  gboolean live = FALSE;
  int rc = 0;

  g_option_context_set_summary (ctx, "UNTIL: ISO 8601 (2026-12-01T10:00:00Z) or +N[smhd] "
                                     "(+2h). USER: a user id or login name.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("implus-server admin: %s\n", error->message);
      return 2;
    }
  /* argv: implus-server admin WHAT USER [UNTIL] */
  if (argc < 4 || strcmp (argv[1], "admin") != 0)
    return usage (ctx);
  what = argv[2];
  user_text = argv[3];
  if (strcmp (what, "mute") == 0)
    {
      if (argc != 5 || (until = imp_user_admin_parse_until (argv[4], imp_now_ms ())) < 0)
        {
          g_printerr ("implus-server admin mute: UNTIL must be ISO 8601 or +N[smhd]\n");
          return 2;
        }
    }
  else if ((strcmp (what, "ban") != 0 && strcmp (what, "unban") != 0
            && strcmp (what, "unmute") != 0) || argc != 4)
    return usage (ctx);
  if (strcmp (what, "unmute") == 0)
    what = "mute";

  if (data_dir != NULL)
    g_setenv ("IMPLUS_SERVER_DATA_DIR", data_dir, TRUE);
  if (config_path == NULL && g_file_test (SYSTEM_CONFIG, G_FILE_TEST_EXISTS))
    config_path = g_strdup (SYSTEM_CONFIG);
  if (!imp_server_config_load (&config, config_path, &error))
    {
      g_printerr ("implus-server admin: %s\n", error->message);
      return 1;
    }

  if ((store = open_store (&config, &error)) == NULL
      || (user_id = resolve_user (store, user_text, &error)) == 0)
    {
      g_printerr ("implus-server admin: %s\n", error->message);
      imp_server_config_clear (&config);
      return 1;
    }

  if (strcmp (what, "ban") == 0)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "user_id");
      json_builder_add_int_value (b, user_id);
      if (reason != NULL)
        {
          json_builder_set_member_name (b, "reason");
          json_builder_add_string_value (b, reason);
        }
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      body = json_to_string (root, FALSE);
    }
  else if (strcmp (what, "mute") == 0)
    body = g_strdup_printf ("{\"user_id\": %" G_GINT64_FORMAT ", \"until_ms\": %" G_GINT64_FORMAT
                            "}", user_id, until);
  else
    body = g_strdup_printf ("{\"user_id\": %" G_GINT64_FORMAT "}", user_id);

  if (config.admin_token != NULL && config.admin_token[0] != '\0')
    {
      live = call_http (&config, what, body, &error);
      if (!live && !g_error_matches (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE))
        {
          g_printerr ("implus-server admin: %s\n", error->message);
          imp_server_config_clear (&config);
          return 1;
        }
      if (!live)
        g_printerr ("implus-server admin: %s; changing the store directly\n", error->message);
      g_clear_error (&error);
    }
  if (!live && !apply_store (store, what, user_id, until, &error))
    {
      g_printerr ("implus-server admin: %s\n", error->message);
      rc = 1;
    }
  else
    {
      printf ("user %" G_GINT64_FORMAT ": %s%s done\n", user_id, argv[2],
              live ? "" : " (store only)");
      if (!live && strcmp (what, "ban") == 0)
        printf ("note: live connections are kicked only through the running server's admin API "
                "(set [user] admin_token); new logins and sends are refused now\n");
    }
  imp_server_config_clear (&config);
  return rc;
}

/* main.c: implus-server's command line, config, main loop and clean shutdown on signals. */
#include "core/imp-server.h"
#include "core/imp-server-config.h"
#include "user/imp-user-admin-cli.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#define SYSTEM_CONFIG "/etc/implus/server.conf"

static gboolean
on_signal (gpointer user_data)
{
  GMainLoop *loop = user_data;
  g_message ("signal received: shutting down");
  g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *role = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *data_dir = NULL;
  gboolean print_config = FALSE;
  const GOptionEntry entries[] = {
    { "role", 0, 0, G_OPTION_ARG_STRING, &role, "Roles to run: all, gateway, user, message", "ROLE" },
    { "config", 0, 0, G_OPTION_ARG_FILENAME, &config_path, "Config file (default " SYSTEM_CONFIG
      " if it exists)", "FILE" },
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Data directory", "DIR" },
    { "print-config", 0, 0, G_OPTION_ARG_NONE, &print_config,
      "Print an example config file with every key and its default, then exit", NULL },
    { NULL }
  };
  g_autoptr(GError) error = NULL;

  setlocale (LC_ALL, "");
  /* `implus-server admin ...`: moderation from the server host, then exit. */
  if (imp_user_admin_cli_wanted (argc, argv))
    return imp_user_admin_cli_run (argc, argv);
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- IM Plus server");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("implus-server: %s\n", error->message);
      return 2;
    }

  if (print_config)
    {
      g_autofree char *text = imp_config_describe (imp_server_config_keys,
                                                   imp_server_config_n_keys);
      fputs (text, stdout);
      return 0;
    }

  /* Command-line options win over the environment, which wins over the file: applying them as
   * the environment keeps one precedence rule and one validation path. */
  if (role != NULL)
    g_setenv ("IMPLUS_SERVER_ROLE", role, TRUE);
  if (data_dir != NULL)
    g_setenv ("IMPLUS_SERVER_DATA_DIR", data_dir, TRUE);
  if (config_path == NULL && g_file_test (SYSTEM_CONFIG, G_FILE_TEST_EXISTS))
    config_path = g_strdup (SYSTEM_CONFIG);

  ImpServerConfig config;
  if (!imp_server_config_load (&config, config_path, &error))
    {
      g_printerr ("implus-server: %s\n", error->message);
      return 1;
    }
  g_message ("config: %s", config_path ? config_path : "(none: defaults and environment)");

  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  guint sigint = g_unix_signal_add (SIGINT, on_signal, loop);
  guint sigterm = g_unix_signal_add (SIGTERM, on_signal, loop);

  ImpServer *server = imp_server_new (&config, &error);
  if (server == NULL)
    {
      g_printerr ("implus-server: %s\n", error->message);
      imp_server_config_clear (&config);
      return 1;
    }
  imp_server_print_ready (server);

  g_main_loop_run (loop);

  imp_server_free (server);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  imp_server_config_clear (&config);
  return 0;
}

/* implus: the IM Plus desktop client (GTK 4 + libadwaita) over the client engine. */
#include "config.h"
#include <locale.h>
#include <glib/gi18n.h>
#include "imp-ui-application.h"

int
main (int argc, char **argv)
{
  g_autoptr(ImpUiApplication) app = NULL;
  const char *localedir = g_getenv ("IMPLUS_LOCALEDIR");

  /* IMPLUS_LOCALEDIR: the build tree's catalogues, for running uninstalled (tests). */
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, localedir ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = imp_ui_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}

/* imp-validate-ui.c: builds every template of the desktop client from its .ui resource with
 * criticals fatal, so a wrong property, signal handler, child id or type fails the test.
 * (gtk4-builder-tool of GTK 4.8 cannot load libadwaita parents, so it validates only the .ui
 * files without them; this covers all of them with the real classes.) */
#include <adwaita.h>
#include "imp-ui-application.h"
#include "imp-ui-window.h"
#include "imp-ui-login-page.h"
#include "imp-ui-chat-view.h"
#include "imp-ui-conversation-row.h"
#include "imp-ui-message-row.h"
#include "imp-ui-preferences-window.h"

static void
test_templates (void)
{
  GType types[] = {
    IMP_TYPE_UI_LOGIN_PAGE, IMP_TYPE_UI_CHAT_VIEW, IMP_TYPE_UI_CONVERSATION_ROW,
    IMP_TYPE_UI_MESSAGE_ROW, IMP_TYPE_UI_PREFERENCES_WINDOW, IMP_TYPE_UI_WINDOW,
  };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      GtkWidget *w = g_object_new (types[i], NULL);

      g_assert_true (GTK_IS_WIDGET (w));
      g_object_ref_sink (w);
      if (GTK_IS_WINDOW (w))
        gtk_window_destroy (GTK_WINDOW (w));
      g_object_unref (w);
    }
}

int
main (int argc, char **argv)
{
  g_setenv ("GTK_A11Y", "none", TRUE);
  g_test_init (&argc, &argv, NULL);
  if (!gtk_init_check ())
    {
      g_test_skip ("no display");
      return g_test_run ();
    }
  adw_init ();
  g_test_add_func ("/gtk/templates", test_templates);
  return g_test_run ();
}

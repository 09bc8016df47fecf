/* imp-ui-preferences-window.c: server address, notifications, style, all in GSettings. */
#define G_LOG_DOMAIN "implus-gtk"

#include <glib/gi18n.h>
#include "imp-ui-preferences-window.h"

struct _ImpUiPreferencesWindow
{
  AdwPreferencesWindow  parent_instance;

  /* Template */
  AdwEntryRow          *server_row;
  GtkSwitch            *notifications_switch;
  AdwComboRow          *style_row;

  /* Borrowed */
  ImpUiApplication     *app;
};

G_DEFINE_FINAL_TYPE (ImpUiPreferencesWindow, imp_ui_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static const char *schemes[] = { "system", "light", "dark" };

static void
style_selected_cb (ImpUiPreferencesWindow *self)
{
  guint i = adw_combo_row_get_selected (self->style_row);

  if (i < G_N_ELEMENTS (schemes))
    g_settings_set_string (imp_ui_application_get_settings (self->app), "color-scheme", schemes[i]);
}

static void
server_changed_cb (ImpUiPreferencesWindow *self)
{
  /* An address that does not parse is kept out of the settings. */
  imp_ui_application_set_server (self->app, gtk_editable_get_text (GTK_EDITABLE (self->server_row)), NULL);
}

ImpUiPreferencesWindow *
imp_ui_preferences_window_new (ImpUiApplication *app)
{
  ImpUiPreferencesWindow *self = g_object_new (IMP_TYPE_UI_PREFERENCES_WINDOW, NULL);
  GSettings *settings = imp_ui_application_get_settings (app);
  g_autofree char *server = g_settings_get_string (settings, "server-address");
  g_autofree char *scheme = g_settings_get_string (settings, "color-scheme");

  self->app = app;
  g_settings_bind (settings, "notifications", self->notifications_switch, "active", G_SETTINGS_BIND_DEFAULT);
  gtk_editable_set_text (GTK_EDITABLE (self->server_row), server);
  for (guint i = 0; i < G_N_ELEMENTS (schemes); i++)
    if (g_str_equal (scheme, schemes[i]))
      adw_combo_row_set_selected (self->style_row, i);
  g_signal_connect_swapped (self->style_row, "notify::selected", G_CALLBACK (style_selected_cb), self);
  g_signal_connect_swapped (self->server_row, "apply", G_CALLBACK (server_changed_cb), self);
  g_signal_connect_swapped (self->server_row, "entry-activated", G_CALLBACK (server_changed_cb), self);
  return self;
}

static void
imp_ui_preferences_window_class_init (ImpUiPreferencesWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/implus/ImPlus/imp-ui-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, ImpUiPreferencesWindow, server_row);
  gtk_widget_class_bind_template_child (widget_class, ImpUiPreferencesWindow, notifications_switch);
  gtk_widget_class_bind_template_child (widget_class, ImpUiPreferencesWindow, style_row);
}

static void
imp_ui_preferences_window_init (ImpUiPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

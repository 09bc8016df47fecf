/* imp-ui-login-page.c: server address, register and sign in. */
#define G_LOG_DOMAIN "implus-gtk"

#include <glib/gi18n.h>
#include "imp-ui-login-page.h"
#include "imp-error.h"

struct _ImpUiLoginPage
{
  AdwBin            parent_instance;

  /* Template */
  AdwEntryRow      *server_entry;
  AdwEntryRow      *username_entry;
  AdwEntryRow      *password_entry;
  GtkLabel         *error_label;
  GtkButton        *register_button;
  GtkButton        *login_button;
  GtkSpinner       *spinner;

  /* Borrowed */
  ImpUiApplication *app;
};

G_DEFINE_FINAL_TYPE (ImpUiLoginPage, imp_ui_login_page, ADW_TYPE_BIN)

static void
set_busy (ImpUiLoginPage *self, gboolean busy)
{
  gtk_widget_set_sensitive (GTK_WIDGET (self->register_button), !busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->login_button), !busy);
  gtk_spinner_set_spinning (self->spinner, busy);
}

static void
show_error (ImpUiLoginPage *self, const char *text)
{
  gtk_label_set_text (self->error_label, text ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), text != NULL);
}

/* Messages for the user, not the engine's technical text. */
static const char *
error_text (const GError *error)
{
  if (error->domain == IMP_ERROR)
    switch (error->code)
      {
      case IMP_ERROR_AUTH_FAILED:
        return _("Wrong username or password");
      case IMP_ERROR_CONFLICT:
        return _("This username is already taken");
      case IMP_ERROR_BAD_REQUEST:
        return _("Check the username (3 to 32 letters, digits, “_”, “.” or “-”) and the password (at least 8 characters)");
      case IMP_ERROR_UNAVAILABLE:
        return _("The server cannot be reached");
      case IMP_ERROR_RATE_LIMITED:
        return _("Too many attempts, try again later");
      default:
        break;
      }
  return _("Signing in failed");
}

static void
sign_in_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiLoginPage) self = user_data;
  g_autoptr(GError) error = NULL;

  set_busy (self, FALSE);
  if (!imp_ui_application_sign_in_finish (IMP_UI_APPLICATION (source), result, &error))
    {
      show_error (self, error_text (error));
      return;
    }
  imp_ui_login_page_reset (self);
}

static void
start (ImpUiLoginPage *self, gboolean register_first)
{
  const char *server = gtk_editable_get_text (GTK_EDITABLE (self->server_entry));
  const char *username = gtk_editable_get_text (GTK_EDITABLE (self->username_entry));
  const char *password = gtk_editable_get_text (GTK_EDITABLE (self->password_entry));
  g_autoptr(GError) error = NULL;

  if (self->app == NULL)
    return;
  if (!imp_ui_application_set_server (self->app, server, &error))
    {
      show_error (self, error->message);
      return;
    }
  if (*username == '\0' || *password == '\0')
    {
      show_error (self, _("Enter a username and a password"));
      return;
    }
  show_error (self, NULL);
  set_busy (self, TRUE);
  imp_ui_application_sign_in_async (self->app, username, password, register_first, sign_in_cb,
                                    g_object_ref (self));
}

static void
register_clicked_cb (ImpUiLoginPage *self)
{
  start (self, TRUE);
}

static void
login_clicked_cb (ImpUiLoginPage *self)
{
  start (self, FALSE);
}

void
imp_ui_login_page_set_application (ImpUiLoginPage *self, ImpUiApplication *app)
{
  g_autofree char *server = NULL;

  self->app = app;
  server = g_settings_get_string (imp_ui_application_get_settings (app), "server-address");
  gtk_editable_set_text (GTK_EDITABLE (self->server_entry), server);
}

void
imp_ui_login_page_reset (ImpUiLoginPage *self)
{
  gtk_editable_set_text (GTK_EDITABLE (self->password_entry), "");
  show_error (self, NULL);
  set_busy (self, FALSE);
}

static void
imp_ui_login_page_class_init (ImpUiLoginPageClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/implus/ImPlus/imp-ui-login-page.ui");
  gtk_widget_class_bind_template_child (widget_class, ImpUiLoginPage, server_entry);
  gtk_widget_class_bind_template_child (widget_class, ImpUiLoginPage, username_entry);
  gtk_widget_class_bind_template_child (widget_class, ImpUiLoginPage, password_entry);
  gtk_widget_class_bind_template_child (widget_class, ImpUiLoginPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, ImpUiLoginPage, register_button);
  gtk_widget_class_bind_template_child (widget_class, ImpUiLoginPage, login_button);
  gtk_widget_class_bind_template_child (widget_class, ImpUiLoginPage, spinner);
  gtk_widget_class_bind_template_callback (widget_class, register_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, login_clicked_cb);
}

static void
imp_ui_login_page_init (ImpUiLoginPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

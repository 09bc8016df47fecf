/* imp-ui-application.c: settings, the client engine, notifications and the app actions. */
#define G_LOG_DOMAIN "implus-gtk"

#include "config.h"
#include <string.h>
#include <glib/gi18n.h>
#include "imp-ui-application.h"
#include "imp-ui-secret.h"
#include "imp-ui-window.h"
#include "imp-ui-preferences-window.h"
#include "imp-ui-group-window.h"
#include "imp-ui-people-window.h"
#include "imp-ui-test-driver.h"
#include "imp-error.h"

struct _ImpUiApplication
{
  AdwApplication  parent_instance;

  /* Owned */
  GSettings      *settings;
  ImpClient      *client;
  ImpMirrorIndex *index;
  char           *server;      /* the address the client was made for */
  GCancellable   *cancellable;
  guint           changed_idle;
  GHashTable     *members_loaded;  /* gint64 group ids whose member names were fetched */
  guint           launcher_count;  /* the unread count last sent to the launcher */
};

G_DEFINE_FINAL_TYPE (ImpUiApplication, imp_ui_application, ADW_TYPE_APPLICATION)

enum { SESSION_CHANGED, CONVERSATIONS_CHANGED, CONNECTION_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* The unread total on the launcher icon (com.canonical.Unity.LauncherEntry: the GNOME dock
 * extensions, KDE and Plank read it); nothing happens without a session bus. */
static void
update_launcher (ImpUiApplication *self)
{
  GDBusConnection *bus = g_application_get_dbus_connection (G_APPLICATION (self));
  guint unread = self->index ? imp_mirror_index_total_unread (self->index) : 0;
  GVariantBuilder props;

  if (bus == NULL || unread == self->launcher_count)
    return;
  self->launcher_count = unread;
  g_variant_builder_init (&props, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&props, "{sv}", "count", g_variant_new_int64 (unread));
  g_variant_builder_add (&props, "{sv}", "count-visible", g_variant_new_boolean (unread > 0));
  g_dbus_connection_emit_signal (bus, NULL, "/io/github/implus/ImPlus/LauncherEntry",
                                 "com.canonical.Unity.LauncherEntry", "Update",
                                 g_variant_new ("(sa{sv})", "application://" IMP_UI_APP_ID ".desktop", &props),
                                 NULL);
}

static gboolean
changed_idle_cb (gpointer user_data)
{
  ImpUiApplication *self = user_data;

  self->changed_idle = 0;
  g_signal_emit (self, signals[CONVERSATIONS_CHANGED], 0);
  update_launcher (self);
  return G_SOURCE_REMOVE;
}

/* Coalesced into one idle: a burst of pulled messages redraws once, and the engine has
 * finished its own bookkeeping (it signals message-sent before it stores our copy). */
static void
emit_changed (ImpUiApplication *self)
{
  if (self->changed_idle == 0)
    self->changed_idle = g_idle_add (changed_idle_cb, self);
}

ImpUiApplication *
imp_ui_application_new (void)
{
  GApplicationFlags flags = G_APPLICATION_DEFAULT_FLAGS;

  /* Test instances run side by side without a session bus. */
  if (g_getenv ("IMPLUS_TEST_DRIVER") != NULL)
    flags |= G_APPLICATION_NON_UNIQUE;
  return g_object_new (IMP_TYPE_UI_APPLICATION,
                       "application-id", IMP_UI_APP_ID,
                       "flags", flags,
                       "resource-base-path", "/io/github/implus/ImPlus",
                       NULL);
}

GSettings *
imp_ui_application_get_settings (ImpUiApplication *self)
{
  return self->settings;
}

ImpMirrorIndex *
imp_ui_application_get_index (ImpUiApplication *self)
{
  return self->index;
}

gboolean
imp_ui_application_is_signed_in (ImpUiApplication *self)
{
  return self->client != NULL && imp_client_get_user_id (self->client) != 0 && self->index != NULL;
}

static GtkWindow *
main_window (ImpUiApplication *self)
{
  return gtk_application_get_active_window (GTK_APPLICATION (self));
}

char *
imp_ui_application_user_name (ImpUiApplication *self, gint64 user_id)
{
  ImpMirror *mirror = self->client ? imp_client_get_mirror (self->client) : NULL;
  char *name = mirror ? imp_mirror_user_name (mirror, user_id) : NULL;

  return name ? name : g_strdup_printf ("#%" G_GINT64_FORMAT, user_id);
}

/* ---- group member names ---- */

static void
members_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImpUiApplication *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = imp_client_social_finish (IMP_CLIENT (source), result, &error);
  ImpMirror *mirror = imp_client_get_mirror (IMP_CLIENT (source));
  JsonArray *members;

  if (answer == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("group members: %s", error->message);
      return;
    }
  if (mirror == NULL || !json_object_has_member (answer, "members")
      || (members = json_object_get_array_member (answer, "members")) == NULL)
    return;
  for (guint i = 0; i < json_array_get_length (members); i++)
    {
      JsonObject *m = json_array_get_object_element (members, i);
      const char *name = m ? json_object_get_string_member_with_default (m, "username", NULL) : NULL;
      gint64 id = m ? json_object_get_int_member_with_default (m, "user_id", 0) : 0;

      if (name != NULL && id > 0)
        imp_mirror_user_put (mirror, id, name, NULL);
    }
  emit_changed (self);
}

void
imp_ui_application_load_members (ImpUiApplication *self, gint64 group_id, gboolean force)
{
  g_autoptr(JsonObject) args = NULL;
  gint64 *key;

  if (!imp_ui_application_is_signed_in (self) || group_id <= 0)
    return;
  if (!force && g_hash_table_contains (self->members_loaded, &group_id))
    return;
  key = g_new (gint64, 1);
  *key = group_id;
  g_hash_table_add (self->members_loaded, key);
  args = json_object_new ();
  json_object_set_int_member (args, "group_id", group_id);
  imp_client_social_async (self->client, IMP_SOCIAL_GROUP_MEMBERS, args, self->cancellable, members_cb, self);
}

char *
imp_ui_application_describe_event (ImpUiApplication *self, const char *content)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *who = NULL, *by = NULL;
  JsonObject *o;
  const char *event;

  if (content == NULL || !json_parser_load_from_data (parser, content, -1, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return g_strdup (_("Group changed"));
  o = json_node_get_object (json_parser_get_root (parser));
  event = json_object_get_string_member_with_default (o, "event", "");
  who = imp_ui_application_user_name (self, json_object_get_int_member_with_default (o, "user_id", 0));
  by = imp_ui_application_user_name (self, json_object_get_int_member_with_default (o, "by", 0));
  if (g_str_equal (event, "group_created"))
    /* TRANSLATORS: a group event; %s is who created it */
    return g_strdup_printf (_("%s created the group"), by);
  if (g_str_equal (event, "member_added"))
    /* TRANSLATORS: a group event: first %s was added by second %s */
    return g_strdup_printf (_("%s was added by %s"), who, by);
  if (g_str_equal (event, "member_removed"))
    /* TRANSLATORS: a group event: first %s was removed by second %s */
    return g_strdup_printf (_("%s was removed by %s"), who, by);
  if (g_str_equal (event, "member_left"))
    return g_strdup_printf (_("%s left the group"), who);
  if (g_str_equal (event, "role_changed"))
    {
      const char *role = json_object_get_string_member_with_default (o, "role", "");
      return g_strdup_printf (g_str_equal (role, "admin") ? _("%s is now an admin") : _("%s is now a member"), who);
    }
  if (g_str_equal (event, "owner_transferred"))
    return g_strdup_printf (_("%s is now the owner"), who);
  if (g_str_equal (event, "member_muted"))
    return g_strdup_printf (_("%s was muted"), who);
  if (g_str_equal (event, "member_unmuted"))
    return g_strdup_printf (_("%s can write again"), who);
  if (g_str_equal (event, "group_dissolved"))
    return g_strdup (_("The group was dissolved"));
  return g_strdup (_("Group changed"));
}

/* ---- read positions ---- */

static void
mark_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = imp_client_mark_read_finish (IMP_CLIENT (source), result, &error);

  /* Offline: the local position is kept and pushed again on the next connect. */
  if (answer == NULL)
    g_debug ("mark read: %s", error->message);
}

void
imp_ui_application_mark_read (ImpUiApplication *self, const char *conversation_id, gint64 seq)
{
  if (!imp_ui_application_is_signed_in (self) || seq <= 0)
    return;
  if (!imp_mirror_index_set_read (self->index, conversation_id, seq))
    return;
  if (imp_client_get_state (self->client) == IMP_CLIENT_ONLINE)
    imp_client_mark_read_async (self->client, conversation_id, seq, self->cancellable, mark_read_cb, self);
  emit_changed (self);
}

/* Server read positions (other devices) in; local ones the server missed out. */
static void
conversations_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ImpUiApplication *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) convs = imp_client_conversations_finish (IMP_CLIENT (source), result, &error);

  if (convs == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("conversations: %s", error->message);
      return;
    }
  if (self->index == NULL)
    return;
  for (guint i = 0; i < json_array_get_length (convs); i++)
    {
      JsonObject *c = json_array_get_object_element (convs, i);
      const char *id = c ? json_object_get_string_member_with_default (c, "conversation_id", NULL) : NULL;
      gint64 server_read = c ? json_object_get_int_member_with_default (c, "read_seq", 0) : 0;
      const char *peer = c ? json_object_get_string_member_with_default (c, "peer_username", NULL) : NULL;
      gint64 peer_id = c ? json_object_get_int_member_with_default (c, "peer_id", 0) : 0;
      gint64 local_read;

      if (id == NULL)
        continue;
      if (peer != NULL && peer_id > 0)
        imp_mirror_user_put (imp_client_get_mirror (self->client), peer_id, peer, NULL);
      imp_mirror_index_set_read (self->index, id, server_read);
      local_read = imp_mirror_index_get_read (self->index, id);
      if (local_read > server_read)
        imp_client_mark_read_async (self->client, id, local_read, self->cancellable, mark_read_cb, self);
    }
  emit_changed (self);
}

static void
refresh_conversations (ImpUiApplication *self)
{
  if (imp_ui_application_is_signed_in (self))
    imp_client_conversations_async (self->client, self->cancellable, conversations_cb, self);
}

/* ---- engine signals ---- */

static void
notify_message (ImpUiApplication *self, ImpMessage *msg)
{
  g_autoptr(GNotification) n = NULL;
  g_autofree char *name = NULL;
  GtkWindow *win = main_window (self);

  if (!g_settings_get_boolean (self->settings, "notifications") || msg->content_type == IMP_CONTENT_TYPE_SYSTEM)
    return;
  if (win != NULL && gtk_window_is_active (win))
    return;
  name = imp_ui_application_user_name (self, msg->sender_id);
  if (msg->group_id != 0)
    {
      ImpMirror *mirror = imp_client_get_mirror (self->client);
      g_autofree char *group = mirror ? imp_mirror_group_name (mirror, msg->conversation_id) : NULL;
      g_autofree char *body = g_strdup_printf ("%s: %s", name, msg->content);

      n = g_notification_new (group ? group : name);
      g_notification_set_body (n, body);
    }
  else
    {
      n = g_notification_new (name);
      g_notification_set_body (n, msg->content);
    }
  g_notification_set_default_action_and_target (n, "app.open-conversation", "s", msg->conversation_id);
  g_application_send_notification (G_APPLICATION (self), msg->conversation_id, n);
}

static void
message_received_cb (ImpClient *client, ImpMessage *msg, gpointer user_data)
{
  ImpUiApplication *self = user_data;

  if (msg->sender_id != imp_client_get_user_id (client))
    notify_message (self, msg);
  /* Names of group members come from the member list: fetch it when a stranger writes, and
   * again when the membership changed. */
  if (msg->group_id != 0)
    {
      g_autofree char *known = imp_mirror_user_name (imp_client_get_mirror (client), msg->sender_id);
      imp_ui_application_load_members (self, msg->group_id,
                                       known == NULL || msg->content_type == IMP_CONTENT_TYPE_SYSTEM);
    }
  emit_changed (self);
}

static void
message_sent_cb (ImpClient *client, const char *cmid, gint64 msg_id, gint64 seq, gpointer user_data)
{
  emit_changed (user_data);
}

static void
message_failed_cb (ImpClient *client, const char *cmid, int code, const char *reason, gpointer user_data)
{
  emit_changed (user_data);
}

static void
state_changed_cb (ImpClient *client, guint state, gpointer user_data)
{
  ImpUiApplication *self = user_data;

  if (state == IMP_CLIENT_ONLINE)
    refresh_conversations (self);
  g_signal_emit (self, signals[CONNECTION_CHANGED], 0);
}

static void
engine_error_cb (ImpClient *client, GError *error, gpointer user_data)
{
  g_message ("engine: %s", error->message);
}

static void
disconnected_cb (ImpClient *client, const char *reason, gpointer user_data)
{
  g_message ("disconnected: %s", reason);
}

static void
open_index (ImpUiApplication *self)
{
  g_autoptr(GError) error = NULL;
  ImpMirror *mirror = imp_client_get_mirror (self->client);

  g_clear_object (&self->index);
  if (mirror == NULL)
    return;
  self->index = imp_mirror_index_open (imp_mirror_get_path (mirror), imp_client_get_user_id (self->client), &error);
  if (self->index == NULL)
    g_warning ("cannot open the local index: %s", error->message);
}

static void
drop_client (ImpUiApplication *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_clear_object (&self->index);
  g_hash_table_remove_all (self->members_loaded);
  if (self->client != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->client, self);
      imp_client_shutdown (self->client);
      g_clear_object (&self->client);
    }
}

static gboolean
parse_server (const char *address, char **host, guint16 *user_port, guint16 *message_port)
{
  g_auto(GStrv) parts = g_strsplit (address ? address : "", ":", 4);
  guint n = g_strv_length (parts);
  guint64 v;

  if (n == 0 || n > 3 || *g_strstrip (parts[0]) == '\0')
    return FALSE;
  *user_port = *message_port = 0;
  if (n >= 2 && (!g_ascii_string_to_unsigned (parts[1], 10, 1, 65535, &v, NULL)))
    return FALSE;
  if (n >= 2)
    *user_port = (guint16) v;
  if (n == 3 && (!g_ascii_string_to_unsigned (parts[2], 10, 1, 65535, &v, NULL)))
    return FALSE;
  if (n == 3)
    *message_port = (guint16) v;
  *host = g_strdup (parts[0]);
  return TRUE;
}

ImpClient *
imp_ui_application_get_client (ImpUiApplication *self)
{
  g_autofree char *address = g_settings_get_string (self->settings, "server-address");
  g_autofree char *host = NULL;
  g_autofree char *data_dir = NULL;
  g_autoptr(GError) error = NULL;
  ImpClientOptions options = { 0 };

  if (self->client != NULL)
    return self->client;
  if (!parse_server (address, &host, &options.user_port, &options.message_port))
    host = g_strdup ("127.0.0.1");
  data_dir = g_build_filename (g_get_user_data_dir (), "implus", NULL);
  g_mkdir_with_parents (data_dir, 0700);
  options.host = host;
  options.transport = IMP_TRANSPORT_TCP;
  options.data_dir = data_dir;
  self->client = imp_client_new (&options, &error);
  if (self->client == NULL)
    {
      g_critical ("cannot start the client engine: %s", error->message);
      return NULL;
    }
  imp_ui_secret_attach (self->client, address);
  g_free (self->server);
  self->server = g_steal_pointer (&address);
  g_signal_connect (self->client, "message-received", G_CALLBACK (message_received_cb), self);
  g_signal_connect (self->client, "message-sent", G_CALLBACK (message_sent_cb), self);
  g_signal_connect (self->client, "message-failed", G_CALLBACK (message_failed_cb), self);
  /* Delivered/read ticks and read positions from other devices redraw the lists. */
  g_signal_connect_swapped (self->client, "message-state-changed", G_CALLBACK (emit_changed), self);
  g_signal_connect_swapped (self->client, "conversation-updated", G_CALLBACK (emit_changed), self);
  g_signal_connect (self->client, "state-changed", G_CALLBACK (state_changed_cb), self);
  g_signal_connect (self->client, "error", G_CALLBACK (engine_error_cb), self);
  g_signal_connect (self->client, "disconnected", G_CALLBACK (disconnected_cb), self);
  return self->client;
}

gboolean
imp_ui_application_set_server (ImpUiApplication *self, const char *address, GError **error)
{
  g_autofree char *host = NULL;
  guint16 up, mp;

  if (!parse_server (address, &host, &up, &mp))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   _("The server address must look like host, host:port or host:port:port"));
      return FALSE;
    }
  g_settings_set_string (self->settings, "server-address", address);
  if (self->client != NULL && g_strcmp0 (self->server, address) != 0 && !imp_ui_application_is_signed_in (self))
    drop_client (self);
  return TRUE;
}

/* ---- sign in / out ---- */

typedef struct {
  char     *username;
  char     *password;
} SignIn;

static void
sign_in_free (SignIn *s)
{
  g_free (s->username);
  if (s->password)
    memset (s->password, 0, strlen (s->password));
  g_free (s->password);
  g_free (s);
}

static void
login_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ImpUiApplication *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (imp_client_login_finish (IMP_CLIENT (source), result, &error) == 0)
    {
      g_task_return_error (task, error);
      return;
    }
  open_index (self);
  g_signal_emit (self, signals[SESSION_CHANGED], 0);
  refresh_conversations (self);
  g_task_return_boolean (task, TRUE);
}

static void
register_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  SignIn *s = g_task_get_task_data (task);
  GError *error = NULL;

  if (imp_client_register_finish (IMP_CLIENT (source), result, &error) == 0)
    {
      g_task_return_error (task, error);
      return;
    }
  imp_client_login_async (IMP_CLIENT (source), s->username, s->password, NULL, login_cb,
                          g_steal_pointer (&task));
}

void
imp_ui_application_sign_in_async (ImpUiApplication *self, const char *username, const char *password,
                                  gboolean register_first, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  ImpClient *client = imp_ui_application_get_client (self);
  SignIn *s = g_new0 (SignIn, 1);

  s->username = g_strdup (username);
  s->password = g_strdup (password);
  g_task_set_task_data (task, s, (GDestroyNotify) sign_in_free);
  if (client == NULL)
    {
      g_task_return_new_error (task, IMP_ERROR, IMP_ERROR_INTERNAL, _("The client could not start"));
      return;
    }
  if (register_first)
    imp_client_register_async (client, username, password, NULL, NULL, register_cb, g_steal_pointer (&task));
  else
    imp_client_login_async (client, username, password, NULL, login_cb, g_steal_pointer (&task));
}

gboolean
imp_ui_application_sign_in_finish (ImpUiApplication *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
logout_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiApplication) self = user_data;

  /* The local half always happens; a server that cannot be reached only loses the revocation. */
  imp_client_logout_finish (IMP_CLIENT (source), result, NULL);
  drop_client (self);
  g_signal_emit (self, signals[SESSION_CHANGED], 0);
}

static void
logout_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  ImpUiApplication *self = user_data;

  if (self->client == NULL)
    return;
  g_clear_object (&self->index);
  imp_client_logout_async (self->client, NULL, logout_cb, g_object_ref (self));
}

/* ---- actions ---- */

static void
quit_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GtkWindow *win = main_window (user_data);

  /* Closing the window saves the draft; the outbox is already on disk. */
  if (win != NULL)
    gtk_window_close (win);
  g_application_quit (G_APPLICATION (user_data));
}

static void
preferences_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  ImpUiApplication *self = user_data;
  GtkWindow *prefs = GTK_WINDOW (imp_ui_preferences_window_new (self));

  gtk_window_set_transient_for (prefs, main_window (self));
  gtk_window_present (prefs);
}

static void
about_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  ImpUiApplication *self = user_data;
  const char *developers[] = { "The IM Plus authors", NULL };

  adw_show_about_window (main_window (self),
                         "application-name", _("IM Plus"),
                         "application-icon", IMP_UI_APP_ID,
                         "version", PACKAGE_VERSION,
                         "developers", developers,
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "translator-credits", _("translator-credits"),
                         NULL);
}

static void
open_conversation_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  ImpUiApplication *self = user_data;

  g_application_activate (G_APPLICATION (self));
  imp_ui_window_open_conversation (IMP_UI_WINDOW (main_window (self)), g_variant_get_string (param, NULL));
}

static void
new_group_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  ImpUiApplication *self = user_data;
  GtkWindow *win = main_window (self);

  if (!imp_ui_application_is_signed_in (self))
    return;
  if (win != NULL && IMP_IS_UI_WINDOW (win))
    imp_ui_window_close_popovers (IMP_UI_WINDOW (win));
  gtk_window_present (GTK_WINDOW (imp_ui_group_window_new (self, win, 0)));
}

static void
people_action (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  ImpUiApplication *self = user_data;
  GtkWindow *win = main_window (self);

  if (!imp_ui_application_is_signed_in (self))
    return;
  if (win != NULL && IMP_IS_UI_WINDOW (win))
    imp_ui_window_close_popovers (IMP_UI_WINDOW (win));
  gtk_window_present (GTK_WINDOW (imp_ui_people_window_new (self, win)));
}

static const GActionEntry app_actions[] = {
  { "new-group", new_group_action },
  { "people", people_action },
  { "quit", quit_action },
  { "preferences", preferences_action },
  { "about", about_action },
  { "logout", logout_action },
  { "open-conversation", open_conversation_action, "s" },
};

static void
apply_color_scheme (ImpUiApplication *self)
{
  g_autofree char *scheme = g_settings_get_string (self->settings, "color-scheme");
  AdwColorScheme s = ADW_COLOR_SCHEME_DEFAULT;

  if (g_str_equal (scheme, "dark"))
    s = ADW_COLOR_SCHEME_FORCE_DARK;
  else if (g_str_equal (scheme, "light"))
    s = ADW_COLOR_SCHEME_FORCE_LIGHT;
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (), s);
}

static void
color_scheme_changed_cb (GSettings *settings, const char *key, gpointer user_data)
{
  apply_color_scheme (user_data);
}

static void
imp_ui_application_startup (GApplication *app)
{
  ImpUiApplication *self = IMP_UI_APPLICATION (app);
  static const char *quit_accels[] = { "<Control>q", NULL };
  static const char *prefs_accels[] = { "<Control>comma", NULL };

  G_APPLICATION_CLASS (imp_ui_application_parent_class)->startup (app);
  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions), self);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.preferences", prefs_accels);
  self->settings = g_settings_new (IMP_UI_APP_ID);
  g_signal_connect (self->settings, "changed::color-scheme", G_CALLBACK (color_scheme_changed_cb), self);
  apply_color_scheme (self);

  /* Stay signed in across restarts: the engine restores the last session and connects. */
  if (imp_ui_application_get_client (self) != NULL && imp_client_restore (self->client))
    open_index (self);
}

static void
imp_ui_application_activate (GApplication *app)
{
  ImpUiApplication *self = IMP_UI_APPLICATION (app);
  GtkWindow *win = main_window (self);

  if (win == NULL)
    {
      win = GTK_WINDOW (imp_ui_window_new (self));
      if (g_getenv ("IMPLUS_TEST_DRIVER") != NULL)
        imp_ui_test_driver_start (self, win);
    }
  gtk_window_present (win);
  refresh_conversations (self);
}

static void
imp_ui_application_shutdown (GApplication *app)
{
  ImpUiApplication *self = IMP_UI_APPLICATION (app);

  /* Pending sends are in the outbox on disk: nothing is lost by stopping here. */
  drop_client (self);
  G_APPLICATION_CLASS (imp_ui_application_parent_class)->shutdown (app);
}

static void
imp_ui_application_finalize (GObject *object)
{
  ImpUiApplication *self = IMP_UI_APPLICATION (object);

  drop_client (self);
  g_clear_handle_id (&self->changed_idle, g_source_remove);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->settings);
  g_free (self->server);
  g_clear_pointer (&self->members_loaded, g_hash_table_unref);
  G_OBJECT_CLASS (imp_ui_application_parent_class)->finalize (object);
}

static void
imp_ui_application_class_init (ImpUiApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = imp_ui_application_finalize;
  app_class->startup = imp_ui_application_startup;
  app_class->activate = imp_ui_application_activate;
  app_class->shutdown = imp_ui_application_shutdown;

  signals[SESSION_CHANGED] = g_signal_new ("session-changed", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[CONVERSATIONS_CHANGED] = g_signal_new ("conversations-changed", G_TYPE_FROM_CLASS (klass),
                                                 G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[CONNECTION_CHANGED] = g_signal_new ("connection-changed", G_TYPE_FROM_CLASS (klass),
                                              G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
imp_ui_application_init (ImpUiApplication *self)
{
  self->cancellable = g_cancellable_new ();
  self->members_loaded = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
}

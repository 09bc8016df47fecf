/* imp-ui-group-window.c: the "New Group" form and a group's info page.
 *
 * Built in code (rows change with the member list). Usernames are resolved one at a time with
 * imp_client_lookup_async (the engine caches them), then one social call does the change.
 */
#define G_LOG_DOMAIN "implus-gtk"

#include <glib/gi18n.h>
#include "imp-ui-group-window.h"
#include "imp-ui-conversation-row.h"
#include "imp-mirror-index.h"

#define MEMBERS_PAGE 500

typedef enum { RESOLVE_CREATE, RESOLVE_ADD } ResolveFor;

struct _ImpUiGroupWindow
{
  AdwPreferencesWindow  parent_instance;

  /* Borrowed */
  ImpUiApplication     *app;
  AdwPreferencesPage   *page;
  AdwEntryRow          *name_row;       /* create */
  AdwEntryRow          *members_row;    /* create */
  AdwEntryRow          *add_row;        /* info, owner/admin */
  AdwPreferencesGroup  *members_group;  /* info: rebuilt on every load */
  GtkWidget            *add_group;
  GtkWidget            *leave_button;
  GtkWidget            *dissolve_button;   /* owner */
  GtkWidget            *dissolve_confirm;  /* shown after dissolve_button */
  GtkLabel             *error_label;
  GtkWidget            *busy_widget;    /* made insensitive while a call runs */

  /* Owned */
  GCancellable         *cancellable;
  gint64                group_id;
  char                 *role;           /* ours */
  GStrv                 names;          /* being resolved */
  guint                 next_name;
  GArray               *ids;            /* resolved ids (gint64) */
  ResolveFor            resolve_for;
  GPtrArray            *members;        /* JsonObject, being loaded */
  guint                 reload_idle;    /* a membership event of this group arrived */
  gboolean              dissolving;     /* our own dissolve: close when it is done */
  char                 *shown;          /* what the member list shows (role, members) */
};

G_DEFINE_FINAL_TYPE (ImpUiGroupWindow, imp_ui_group_window, ADW_TYPE_PREFERENCES_WINDOW)

static void load_members (ImpUiGroupWindow *self, gint64 after);
static void reload (ImpUiGroupWindow *self);

GStrv
imp_ui_split_usernames (const char *text)
{
  g_autoptr(GStrvBuilder) b = g_strv_builder_new ();
  g_auto(GStrv) parts = g_regex_split_simple ("[\\s,;]+", text ? text : "", 0, 0);

  for (guint i = 0; parts[i] != NULL; i++)
    if (*parts[i] != '\0')
      g_strv_builder_add (b, parts[i]);
  return g_strv_builder_end (b);
}

static ImpClient *
client (ImpUiGroupWindow *self)
{
  return imp_ui_application_get_client (self->app);
}

static void
set_busy (ImpUiGroupWindow *self, gboolean busy)
{
  if (self->busy_widget != NULL)
    gtk_widget_set_sensitive (self->busy_widget, !busy);
}

static void
show_error (ImpUiGroupWindow *self, const char *text)
{
  set_busy (self, FALSE);
  gtk_label_set_text (self->error_label, text ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), text != NULL);
}

static const char *
role_label (const char *role)
{
  if (g_strcmp0 (role, "owner") == 0)
    return _("Owner");
  if (g_strcmp0 (role, "admin") == 0)
    return _("Admin");
  return _("Member");
}

static int
role_rank (const char *role)
{
  return g_strcmp0 (role, "owner") == 0 ? 2 : g_strcmp0 (role, "admin") == 0 ? 1 : 0;
}

/* ---- creating ---- */

static void
create_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiGroupWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = imp_client_social_finish (IMP_CLIENT (source), result, &error);
  g_autofree char *conv = NULL;

  if (answer == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error->message);
      return;
    }
  conv = g_strdup_printf ("group_%" G_GINT64_FORMAT, json_object_get_int_member_with_default (answer, "group_id", 0));
  g_signal_emit_by_name (self->app, "conversations-changed");
  g_action_group_activate_action (G_ACTION_GROUP (self->app), "open-conversation", g_variant_new_string (conv));
  gtk_window_close (GTK_WINDOW (self));
}

static JsonArray *
ids_array (ImpUiGroupWindow *self)
{
  JsonArray *a = json_array_new ();

  for (guint i = 0; i < self->ids->len; i++)
    json_array_add_int_element (a, g_array_index (self->ids, gint64, i));
  return a;
}

static void members_changed_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
resolved (ImpUiGroupWindow *self)
{
  g_autoptr(JsonObject) args = json_object_new ();

  if (self->resolve_for == RESOLVE_CREATE)
    {
      json_object_set_string_member (args, "name", gtk_editable_get_text (GTK_EDITABLE (self->name_row)));
      json_object_set_array_member (args, "members", ids_array (self));
      imp_client_social_async (client (self), IMP_SOCIAL_GROUP_CREATE, args, self->cancellable,
                               create_cb, g_object_ref (self));
    }
  else
    {
      json_object_set_int_member (args, "group_id", self->group_id);
      json_object_set_array_member (args, "user_ids", ids_array (self));
      imp_client_social_async (client (self), IMP_SOCIAL_GROUP_ADD, args, self->cancellable,
                               members_changed_cb, g_object_ref (self));
    }
}

static void resolve_next (ImpUiGroupWindow *self);

static void
lookup_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiGroupWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  gint64 id = imp_client_lookup_finish (IMP_CLIENT (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (id <= 0)
    {
      /* TRANSLATORS: %s is a username that does not exist */
      g_autofree char *text = g_strdup_printf (_("No such user: %s"), self->names[self->next_name]);
      show_error (self, text);
      return;
    }
  if (id != imp_client_get_user_id (IMP_CLIENT (source)))
    g_array_append_val (self->ids, id);
  self->next_name++;
  resolve_next (self);
}

static void
resolve_next (ImpUiGroupWindow *self)
{
  if (self->names[self->next_name] == NULL)
    {
      resolved (self);
      return;
    }
  imp_client_lookup_async (client (self), self->names[self->next_name], self->cancellable,
                           lookup_cb, g_object_ref (self));
}

static void
start_resolve (ImpUiGroupWindow *self, const char *text, ResolveFor what)
{
  g_strfreev (self->names);
  self->names = imp_ui_split_usernames (text);
  self->next_name = 0;
  g_array_set_size (self->ids, 0);
  self->resolve_for = what;
  show_error (self, NULL);
  set_busy (self, TRUE);
  resolve_next (self);
}

static void
create_clicked_cb (ImpUiGroupWindow *self)
{
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->name_row))));
  g_auto(GStrv) members = imp_ui_split_usernames (gtk_editable_get_text (GTK_EDITABLE (self->members_row)));

  if (*name == '\0')
    {
      show_error (self, _("The group needs a name"));
      return;
    }
  if (members[0] == NULL)
    {
      show_error (self, _("Add at least one member"));
      return;
    }
  start_resolve (self, gtk_editable_get_text (GTK_EDITABLE (self->members_row)), RESOLVE_CREATE);
}

/* ---- group info ---- */

static void
members_changed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiGroupWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = imp_client_social_finish (IMP_CLIENT (source), result, &error);

  if (answer == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error->message);
      return;
    }
  show_error (self, NULL);
  if (self->add_row != NULL)
    gtk_editable_set_text (GTK_EDITABLE (self->add_row), "");
  imp_ui_application_load_members (self->app, self->group_id, TRUE);
  if (self->dissolving)
    {
      /* The history stays readable; the stream's last system message says it is over. */
      g_signal_emit_by_name (self->app, "conversations-changed");
      gtk_window_close (GTK_WINDOW (self));
      return;
    }
  reload (self);
}

static void
remove_clicked_cb (GtkButton *button, ImpUiGroupWindow *self)
{
  g_autoptr(JsonObject) args = json_object_new ();

  json_object_set_int_member (args, "group_id", self->group_id);
  json_object_set_int_member (args, "user_id",
                              GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (button), "user-id")));
  set_busy (self, TRUE);
  imp_client_social_async (client (self), IMP_SOCIAL_GROUP_REMOVE, args, self->cancellable,
                           members_changed_cb, g_object_ref (self));
}

/* Role, transfer and mute go through a member's menu; every action is one social call. */
static void
member_action_cb (GtkButton *button, ImpUiGroupWindow *self)
{
  g_autoptr(JsonObject) args = json_object_new ();
  ImpSocialCall call = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "call"));
  const char *role = g_object_get_data (G_OBJECT (button), "role");
  gint64 until_s = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (button), "mute-seconds"));
  GtkWidget *popover = gtk_widget_get_ancestor (GTK_WIDGET (button), GTK_TYPE_POPOVER);

  if (popover != NULL)
    gtk_popover_popdown (GTK_POPOVER (popover));
  json_object_set_int_member (args, "group_id", self->group_id);
  json_object_set_int_member (args, "user_id",
                              GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (button), "user-id")));
  if (call == IMP_SOCIAL_GROUP_ROLE)
    json_object_set_string_member (args, "role", role);
  if (call == IMP_SOCIAL_GROUP_MUTE)
    json_object_set_int_member (args, "until_ms",
                                until_s > 0 ? g_get_real_time () / 1000 + until_s * 1000 : 0);
  set_busy (self, TRUE);
  imp_client_social_async (client (self), call, args, self->cancellable,
                           members_changed_cb, g_object_ref (self));
}

static void
menu_item (ImpUiGroupWindow *self, GtkBox *box, const char *label, const char *name,
           ImpSocialCall call, gint64 user_id, const char *role, gint64 mute_seconds)
{
  GtkWidget *b = gtk_button_new_with_label (label);

  gtk_widget_set_name (b, name);
  gtk_widget_add_css_class (b, "flat");
  gtk_label_set_xalign (GTK_LABEL (gtk_button_get_child (GTK_BUTTON (b))), 0);
  g_object_set_data (G_OBJECT (b), "call", GINT_TO_POINTER (call));
  g_object_set_data (G_OBJECT (b), "user-id", GSIZE_TO_POINTER ((gsize) user_id));
  g_object_set_data (G_OBJECT (b), "role", (gpointer) role);
  g_object_set_data (G_OBJECT (b), "mute-seconds", GSIZE_TO_POINTER ((gsize) mute_seconds));
  g_signal_connect (b, "clicked", G_CALLBACK (member_action_cb), self);
  gtk_box_append (box, b);
}

/* NULL when the caller can do nothing to this member (server rules: role and transfer are the
 * owner's; mute is for the owner or an admin on a lower role). */
static GtkWidget *
member_menu (ImpUiGroupWindow *self, gint64 id, const char *role, gboolean muted)
{
  GtkWidget *button, *popover;
  GtkBox *box;

  if (role_rank (self->role) < 1 || role_rank (self->role) <= role_rank (role))
    return NULL;
  box = GTK_BOX (gtk_box_new (GTK_ORIENTATION_VERTICAL, 0));
  if (role_rank (self->role) == 2)
    {
      if (role_rank (role) == 0)
        menu_item (self, box, _("Make Admin"), "role-button", IMP_SOCIAL_GROUP_ROLE, id, "admin", 0);
      else
        menu_item (self, box, _("Make Plain Member"), "role-button", IMP_SOCIAL_GROUP_ROLE, id, "member", 0);
      menu_item (self, box, _("Transfer Ownership"), "transfer-button", IMP_SOCIAL_GROUP_TRANSFER, id, NULL, 0);
    }
  if (muted)
    menu_item (self, box, _("Unmute"), "unmute-button", IMP_SOCIAL_GROUP_MUTE, id, NULL, 0);
  else
    {
      menu_item (self, box, _("Mute for 1 Hour"), "mute-hour-button", IMP_SOCIAL_GROUP_MUTE, id, NULL, 3600);
      menu_item (self, box, _("Mute for 1 Day"), "mute-day-button", IMP_SOCIAL_GROUP_MUTE, id, NULL, 86400);
    }
  popover = gtk_popover_new ();
  gtk_popover_set_child (GTK_POPOVER (popover), GTK_WIDGET (box));
  button = gtk_menu_button_new ();
  gtk_menu_button_set_icon_name (GTK_MENU_BUTTON (button), "view-more-symbolic");
  gtk_menu_button_set_popover (GTK_MENU_BUTTON (button), popover);
  gtk_widget_set_name (button, "member-menu-button");
  gtk_widget_set_tooltip_text (button, _("Member Actions"));
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "flat");
  return button;
}

static char *
member_subtitle (const char *role, gint64 muted_until_ms)
{
  g_autofree char *when = NULL;

  if (muted_until_ms <= g_get_real_time () / 1000)
    return g_strdup (role_label (role));
  when = imp_ui_format_time (muted_until_ms);
  /* TRANSLATORS: a group member's line: the role, then until when they may not send */
  return g_strdup_printf (_("%s · muted until %s"), role_label (role), when);
}

/* Our own change comes back as a live event too: an unchanged list is not rebuilt, so an open
 * member menu stays open. */
static char *
members_signature (ImpUiGroupWindow *self)
{
  GString *sig = g_string_new (self->role);
  gint64 now_ms = g_get_real_time () / 1000;

  for (guint i = 0; i < self->members->len; i++)
    {
      JsonObject *m = self->members->pdata[i];
      gint64 muted = json_object_get_int_member_with_default (m, "muted_until_ms", 0);

      g_string_append_printf (sig, "|%" G_GINT64_FORMAT ":%s:%s:%" G_GINT64_FORMAT,
                              json_object_get_int_member_with_default (m, "user_id", 0),
                              json_object_get_string_member_with_default (m, "username", ""),
                              json_object_get_string_member_with_default (m, "role", ""),
                              muted > now_ms ? muted : 0);
    }
  return g_string_free (sig, FALSE);
}

static void
rebuild_members (ImpUiGroupWindow *self)
{
  gint64 me = imp_client_get_user_id (client (self));
  ImpMirror *mirror = imp_client_get_mirror (client (self));
  g_autofree char *title = NULL;
  g_autofree char *sig = members_signature (self);

  if (self->members_group != NULL && g_strcmp0 (sig, self->shown) == 0)
    {
      set_busy (self, FALSE);
      return;
    }
  g_free (self->shown);
  self->shown = g_steal_pointer (&sig);

  if (self->members_group != NULL)
    adw_preferences_page_remove (self->page, self->members_group);
  self->members_group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  gtk_widget_set_name (GTK_WIDGET (self->members_group), "group-members");
  /* TRANSLATORS: heading of the member list; %u is how many */
  title = g_strdup_printf (g_dngettext (NULL, "%u Member", "%u Members", self->members->len), self->members->len);
  adw_preferences_group_set_title (self->members_group, title);
  for (guint i = 0; i < self->members->len; i++)
    {
      JsonObject *m = self->members->pdata[i];
      const char *name = json_object_get_string_member_with_default (m, "username", "?");
      const char *role = json_object_get_string_member_with_default (m, "role", "member");
      gint64 id = json_object_get_int_member_with_default (m, "user_id", 0);
      g_autofree char *row_name = g_strdup_printf ("member:%s", name);
      GtkWidget *row = adw_action_row_new ();
      gint64 muted_until = json_object_get_int_member_with_default (m, "muted_until_ms", 0);
      g_autofree char *subtitle = member_subtitle (role, muted_until);
      GtkWidget *menu = id != me ? member_menu (self, id, role, muted_until > g_get_real_time () / 1000) : NULL;
      gboolean removable;

      if (mirror != NULL && id > 0)
        imp_mirror_user_put (mirror, id, name, NULL);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      if (menu != NULL)
        adw_action_row_add_suffix (ADW_ACTION_ROW (row), menu);
      gtk_widget_set_name (row, row_name);
      /* The owner removes anyone but themselves, an admin plain members. */
      removable = id != me && role_rank (self->role) >= 1 && role_rank (self->role) > role_rank (role);
      if (removable)
        {
          GtkWidget *remove = gtk_button_new_from_icon_name ("user-trash-symbolic");

          gtk_widget_set_name (remove, "remove-button");
          gtk_widget_set_tooltip_text (remove, _("Remove From Group"));
          gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
          gtk_widget_add_css_class (remove, "flat");
          g_object_set_data (G_OBJECT (remove), "user-id", GSIZE_TO_POINTER ((gsize) id));
          g_signal_connect (remove, "clicked", G_CALLBACK (remove_clicked_cb), self);
          adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);
        }
      adw_preferences_group_add (self->members_group, row);
    }
  adw_preferences_page_add (self->page, self->members_group);
  gtk_widget_set_visible (self->add_group, role_rank (self->role) >= 1);
  gtk_widget_set_visible (self->leave_button, role_rank (self->role) < 2);
  gtk_widget_set_visible (self->dissolve_button, role_rank (self->role) == 2);
  if (role_rank (self->role) < 2)
    gtk_widget_set_visible (self->dissolve_confirm, FALSE);
  set_busy (self, FALSE);
}

static void
members_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiGroupWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = imp_client_social_finish (IMP_CLIENT (source), result, &error);
  JsonArray *list;
  gint64 last = 0;

  if (answer == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error->message);
      return;
    }
  list = json_object_has_member (answer, "members") ? json_object_get_array_member (answer, "members") : NULL;
  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    {
      JsonObject *m = json_array_get_object_element (list, i);

      if (m == NULL)
        continue;
      g_ptr_array_add (self->members, json_object_ref (m));
      last = json_object_get_int_member_with_default (m, "user_id", last);
    }
  if (json_object_get_boolean_member_with_default (answer, "has_more", FALSE) && last > 0)
    load_members (self, last);
  else
    rebuild_members (self);
}

static void
load_members (ImpUiGroupWindow *self, gint64 after)
{
  g_autoptr(JsonObject) args = json_object_new ();

  if (after == 0)
    g_ptr_array_set_size (self->members, 0);
  json_object_set_int_member (args, "group_id", self->group_id);
  json_object_set_int_member (args, "after", after);
  json_object_set_int_member (args, "limit", MEMBERS_PAGE);
  imp_client_social_async (client (self), IMP_SOCIAL_GROUP_MEMBERS, args, self->cancellable,
                           members_cb, g_object_ref (self));
}

static void
info_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiGroupWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = imp_client_social_finish (IMP_CLIENT (source), result, &error);

  if (answer == NULL)
    {
      if (g_error_matches (error, IMP_ERROR, IMP_ERROR_NOT_FOUND))
        {
          gtk_widget_set_visible (self->add_group, FALSE);
          gtk_widget_set_visible (self->dissolve_button, FALSE);
          gtk_widget_set_visible (self->dissolve_confirm, FALSE);
          show_error (self, _("This group was dissolved"));
        }
      else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error->message);
      return;
    }
  g_free (self->role);
  self->role = g_strdup (json_object_get_string_member_with_default (answer, "role", "member"));
  gtk_window_set_title (GTK_WINDOW (self), json_object_get_string_member_with_default (answer, "name", ""));
  load_members (self, 0);
}

static void
reload (ImpUiGroupWindow *self)
{
  g_autoptr(JsonObject) args = json_object_new ();

  json_object_set_int_member (args, "group_id", self->group_id);
  imp_client_social_async (client (self), IMP_SOCIAL_GROUP_INFO, args, self->cancellable,
                           info_cb, g_object_ref (self));
}

static gboolean
reload_idle_cb (gpointer user_data)
{
  ImpUiGroupWindow *self = user_data;

  self->reload_idle = 0;
  reload (self);
  return G_SOURCE_REMOVE;
}

/* Live updates: every membership change writes a system message into the group's stream, so a
 * change made elsewhere (another admin, another device) reaches the open window with it. */
static void
message_received_cb (ImpClient *client, ImpMessage *m, ImpUiGroupWindow *self)
{
  if (m->group_id != self->group_id || m->content_type != IMP_CONTENT_TYPE_SYSTEM
      || g_cancellable_is_cancelled (self->cancellable))
    return;
  if (self->reload_idle == 0)
    self->reload_idle = g_idle_add (reload_idle_cb, self);
}

static void
dissolve_clicked_cb (ImpUiGroupWindow *self)
{
  gtk_widget_set_visible (self->dissolve_confirm, TRUE);
}

static void
dissolve_confirm_cb (ImpUiGroupWindow *self)
{
  g_autoptr(JsonObject) args = json_object_new ();

  json_object_set_int_member (args, "group_id", self->group_id);
  self->dissolving = TRUE;
  set_busy (self, TRUE);
  imp_client_social_async (client (self), IMP_SOCIAL_GROUP_DISSOLVE, args, self->cancellable,
                           members_changed_cb, g_object_ref (self));
}

static void
add_clicked_cb (ImpUiGroupWindow *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->add_row));
  g_auto(GStrv) names = imp_ui_split_usernames (text);

  if (names[0] != NULL)
    start_resolve (self, text, RESOLVE_ADD);
}

static void
leave_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiGroupWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = imp_client_social_finish (IMP_CLIENT (source), result, &error);

  if (answer == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error->message);
      return;
    }
  /* The history stays readable; the stream's last system message says we left. */
  g_signal_emit_by_name (self->app, "conversations-changed");
  gtk_window_close (GTK_WINDOW (self));
}

static void
leave_clicked_cb (ImpUiGroupWindow *self)
{
  g_autoptr(JsonObject) args = json_object_new ();

  json_object_set_int_member (args, "group_id", self->group_id);
  set_busy (self, TRUE);
  imp_client_social_async (client (self), IMP_SOCIAL_GROUP_LEAVE, args, self->cancellable,
                           leave_cb, g_object_ref (self));
}

/* ---- building ---- */

static GtkWidget *
pill_button (const char *label, const char *name, const char *css)
{
  GtkWidget *b = gtk_button_new_with_mnemonic (label);

  gtk_widget_set_name (b, name);
  gtk_widget_set_halign (b, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (b, "pill");
  gtk_widget_add_css_class (b, css);
  return b;
}

static AdwEntryRow *
entry_row (AdwPreferencesGroup *group, const char *title, const char *name)
{
  GtkWidget *row = adw_entry_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  gtk_widget_set_name (row, name);
  adw_preferences_group_add (group, row);
  return ADW_ENTRY_ROW (row);
}

static void
build_create (ImpUiGroupWindow *self)
{
  AdwPreferencesGroup *form = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  AdwPreferencesGroup *actions = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  GtkWidget *create = pill_button (_("C_reate Group"), "group-create-button", "suggested-action");

  gtk_window_set_title (GTK_WINDOW (self), _("New Group"));
  adw_preferences_group_set_description (form, _("Members are usernames, separated by spaces or commas"));
  self->name_row = entry_row (form, _("Group Name"), "group-name-entry");
  self->members_row = entry_row (form, _("Members"), "group-members-entry");
  g_signal_connect_swapped (self->members_row, "entry-activated", G_CALLBACK (create_clicked_cb), self);
  g_signal_connect_swapped (create, "clicked", G_CALLBACK (create_clicked_cb), self);
  adw_preferences_group_add (actions, GTK_WIDGET (self->error_label));
  adw_preferences_group_add (actions, create);
  adw_preferences_page_add (self->page, form);
  adw_preferences_page_add (self->page, actions);
  self->busy_widget = GTK_WIDGET (self->page);
}

static void
build_info (ImpUiGroupWindow *self)
{
  AdwPreferencesGroup *add = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  AdwPreferencesGroup *actions = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  GtkWidget *add_button = gtk_button_new_from_icon_name ("list-add-symbolic");

  gtk_window_set_title (GTK_WINDOW (self), _("Group Info"));
  adw_preferences_group_set_title (add, _("Add Members"));
  self->add_row = entry_row (add, _("Usernames"), "group-add-entry");
  gtk_widget_set_name (add_button, "group-add-button");
  gtk_widget_set_valign (add_button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (add_button, "flat");
  gtk_widget_set_tooltip_text (add_button, _("Add"));
  adw_entry_row_add_suffix (self->add_row, add_button);
  g_signal_connect_swapped (add_button, "clicked", G_CALLBACK (add_clicked_cb), self);
  g_signal_connect_swapped (self->add_row, "entry-activated", G_CALLBACK (add_clicked_cb), self);
  self->add_group = GTK_WIDGET (add);
  gtk_widget_set_visible (self->add_group, FALSE);
  self->leave_button = pill_button (_("_Leave Group"), "leave-button", "destructive-action");
  gtk_widget_set_visible (self->leave_button, FALSE);
  g_signal_connect_swapped (self->leave_button, "clicked", G_CALLBACK (leave_clicked_cb), self);
  self->dissolve_button = pill_button (_("_Dissolve Group"), "dissolve-button", "destructive-action");
  gtk_widget_set_visible (self->dissolve_button, FALSE);
  g_signal_connect_swapped (self->dissolve_button, "clicked", G_CALLBACK (dissolve_clicked_cb), self);
  self->dissolve_confirm = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  {
    GtkWidget *warn = gtk_label_new (_("Nobody can send to a dissolved group; members keep its history."));
    GtkWidget *confirm = pill_button (_("Dissolve for Everyone"), "dissolve-confirm-button", "destructive-action");

    gtk_label_set_wrap (GTK_LABEL (warn), TRUE);
    g_signal_connect_swapped (confirm, "clicked", G_CALLBACK (dissolve_confirm_cb), self);
    gtk_box_append (GTK_BOX (self->dissolve_confirm), warn);
    gtk_box_append (GTK_BOX (self->dissolve_confirm), confirm);
    gtk_widget_set_margin_top (self->dissolve_confirm, 12);
  }
  gtk_widget_set_visible (self->dissolve_confirm, FALSE);
  adw_preferences_group_add (actions, GTK_WIDGET (self->error_label));
  adw_preferences_group_add (actions, self->leave_button);
  adw_preferences_group_add (actions, self->dissolve_button);
  adw_preferences_group_add (actions, self->dissolve_confirm);
  adw_preferences_page_add (self->page, add);
  adw_preferences_page_add (self->page, actions);
  self->busy_widget = GTK_WIDGET (self->page);
}

ImpUiGroupWindow *
imp_ui_group_window_new (ImpUiApplication *app, GtkWindow *parent, gint64 group_id)
{
  ImpUiGroupWindow *self = g_object_new (IMP_TYPE_UI_GROUP_WINDOW,
                                         "transient-for", parent,
                                         "modal", TRUE,
                                         "search-enabled", FALSE,
                                         "default-width", 480,
                                         "default-height", 560,
                                         NULL);

  self->app = app;
  self->group_id = group_id;
  gtk_widget_set_name (GTK_WIDGET (self), group_id ? "group-window" : "new-group-window");
  if (group_id == 0)
    build_create (self);
  else
    {
      g_autoptr(JsonObject) args = json_object_new ();

      build_info (self);
      g_signal_connect_object (client (self), "message-received", G_CALLBACK (message_received_cb),
                               self, 0);
      json_object_set_int_member (args, "group_id", group_id);
      imp_client_social_async (client (self), IMP_SOCIAL_GROUP_INFO, args, self->cancellable,
                               info_cb, g_object_ref (self));
    }
  return self;
}

static gboolean
close_request_cb (ImpUiGroupWindow *self)
{
  /* Late answers must not touch a closed window. */
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->reload_idle, g_source_remove);
  return FALSE;
}

static void
imp_ui_group_window_finalize (GObject *object)
{
  ImpUiGroupWindow *self = IMP_UI_GROUP_WINDOW (object);

  g_clear_handle_id (&self->reload_idle, g_source_remove);
  g_clear_object (&self->cancellable);
  g_free (self->shown);
  g_free (self->role);
  g_strfreev (self->names);
  g_array_unref (self->ids);
  g_ptr_array_unref (self->members);
  G_OBJECT_CLASS (imp_ui_group_window_parent_class)->finalize (object);
}

static void
imp_ui_group_window_class_init (ImpUiGroupWindowClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = imp_ui_group_window_finalize;
}

static void
imp_ui_group_window_init (ImpUiGroupWindow *self)
{
  self->cancellable = g_cancellable_new ();
  self->ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->members = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  self->page = ADW_PREFERENCES_PAGE (adw_preferences_page_new ());
  self->error_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_widget_set_name (GTK_WIDGET (self->error_label), "group-error");
  gtk_widget_add_css_class (GTK_WIDGET (self->error_label), "error");
  gtk_label_set_wrap (self->error_label, TRUE);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);
  gtk_widget_set_margin_bottom (GTK_WIDGET (self->error_label), 12);
  adw_preferences_window_add (ADW_PREFERENCES_WINDOW (self), self->page);
  g_signal_connect (self, "close-request", G_CALLBACK (close_request_cb), NULL);
}

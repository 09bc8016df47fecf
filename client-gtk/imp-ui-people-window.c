/* imp-ui-people-window.c: friends and the blacklist.
 *
 * Built in code: the lists are rebuilt from GET /friends and GET /blacklist after every change.
 * Each change is one social call by user id (a typed username is looked up first). The server
 * pushes no friend events, so changes made elsewhere (a request accepted on the other side,
 * another device) show when the engine comes back online and whenever the window is focused.
 */
#define G_LOG_DOMAIN "implus-gtk"

#include <glib/gi18n.h>
#include "imp-ui-people-window.h"
#include "imp-ui-conversation-row.h"
#include "imp-convid.h"

/* What a button does: the call, and "accept" for /friends/respond. */
typedef enum {
  OP_REQUEST, OP_ACCEPT, OP_DECLINE, OP_REMOVE, OP_BLOCK, OP_UNBLOCK,
} PeopleOp;

struct _ImpUiPeopleWindow
{
  AdwPreferencesWindow  parent_instance;

  /* Borrowed */
  ImpUiApplication     *app;
  AdwPreferencesPage   *friends_page;
  AdwPreferencesPage   *blocked_page;
  AdwEntryRow          *friend_entry;
  AdwEntryRow          *block_entry;
  GtkLabel             *friends_error;
  GtkLabel             *blocked_error;
  AdwPreferencesGroup  *requests_group;   /* rebuilt */
  AdwPreferencesGroup  *friends_group;    /* rebuilt */
  AdwPreferencesGroup  *blocked_group;    /* rebuilt */

  /* Owned */
  GCancellable         *cancellable;
  guint                 refresh_idle;
};

G_DEFINE_FINAL_TYPE (ImpUiPeopleWindow, imp_ui_people_window, ADW_TYPE_PREFERENCES_WINDOW)

static void refresh (ImpUiPeopleWindow *self);

static ImpClient *
client (ImpUiPeopleWindow *self)
{
  return imp_ui_application_get_client (self->app);
}

static void
show_error (GtkLabel *label, const char *text)
{
  gtk_label_set_text (label, text ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (label), text != NULL);
}

static GtkLabel *
error_label_for (ImpUiPeopleWindow *self, PeopleOp op)
{
  return op == OP_BLOCK || op == OP_UNBLOCK ? self->blocked_error : self->friends_error;
}

/* ---- changes ---- */

typedef struct {
  ImpUiPeopleWindow *self;   /* a reference */
  PeopleOp           op;
} Op;

static void
op_free (Op *op)
{
  g_object_unref (op->self);
  g_free (op);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Op, op_free)

static void
op_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = imp_client_social_finish (IMP_CLIENT (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  show_error (error_label_for (op->self, op->op), answer ? NULL : error->message);
  if (answer != NULL && op->op == OP_REQUEST)
    gtk_editable_set_text (GTK_EDITABLE (op->self->friend_entry), "");
  if (answer != NULL && op->op == OP_BLOCK)
    gtk_editable_set_text (GTK_EDITABLE (op->self->block_entry), "");
  refresh (op->self);
}

static void
run_op (ImpUiPeopleWindow *self, PeopleOp op, gint64 user_id)
{
  static const ImpSocialCall calls[] = {
    [OP_REQUEST] = IMP_SOCIAL_FRIEND_REQUEST, [OP_ACCEPT] = IMP_SOCIAL_FRIEND_RESPOND,
    [OP_DECLINE] = IMP_SOCIAL_FRIEND_RESPOND, [OP_REMOVE] = IMP_SOCIAL_FRIEND_REMOVE,
    [OP_BLOCK] = IMP_SOCIAL_BLOCK, [OP_UNBLOCK] = IMP_SOCIAL_UNBLOCK,
  };
  g_autoptr(JsonObject) args = json_object_new ();
  Op *data = g_new0 (Op, 1);

  data->self = g_object_ref (self);
  data->op = op;
  json_object_set_int_member (args, "user_id", user_id);
  if (op == OP_ACCEPT || op == OP_DECLINE)
    json_object_set_boolean_member (args, "accept", op == OP_ACCEPT);
  imp_client_social_async (client (self), calls[op], args, self->cancellable, op_done_cb, data);
}

static void
lookup_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Op) op = user_data;
  g_autoptr(GError) error = NULL;
  gint64 id = imp_client_lookup_finish (IMP_CLIENT (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (id <= 0 || id == imp_client_get_user_id (IMP_CLIENT (source)))
    {
      show_error (error_label_for (op->self, op->op), id > 0 ? _("That is you") : _("No such user"));
      return;
    }
  run_op (op->self, op->op, id);
}

static void
by_name (ImpUiPeopleWindow *self, AdwEntryRow *entry, PeopleOp op)
{
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (entry))));
  Op *data;

  if (*name == '\0')
    return;
  data = g_new0 (Op, 1);
  data->self = g_object_ref (self);
  data->op = op;
  imp_client_lookup_async (client (self), name, self->cancellable, lookup_cb, data);
}

static void
request_clicked_cb (ImpUiPeopleWindow *self)
{
  by_name (self, self->friend_entry, OP_REQUEST);
}

static void
block_clicked_cb (ImpUiPeopleWindow *self)
{
  by_name (self, self->block_entry, OP_BLOCK);
}

static void
row_button_cb (GtkButton *button, ImpUiPeopleWindow *self)
{
  gint64 id = (gint64) GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (button), "user-id"));
  PeopleOp op = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "op"));

  run_op (self, op, id);
}

static void
message_clicked_cb (GtkButton *button, ImpUiPeopleWindow *self)
{
  gint64 id = (gint64) GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (button), "user-id"));
  g_autofree char *conv = imp_convid_private (imp_client_get_user_id (client (self)), id);

  if (conv == NULL)
    return;
  g_action_group_activate_action (G_ACTION_GROUP (self->app), "open-conversation", g_variant_new_string (conv));
  gtk_window_close (GTK_WINDOW (self));
}

/* ---- lists ---- */

static GtkWidget *
row_button (ImpUiPeopleWindow *self, GtkWidget *row, const char *icon, const char *name,
            const char *tooltip, PeopleOp op, gint64 user_id, GCallback handler)
{
  GtkWidget *b = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_name (b, name);
  gtk_widget_set_tooltip_text (b, tooltip);
  gtk_widget_set_valign (b, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (b, "flat");
  g_object_set_data (G_OBJECT (b), "user-id", GSIZE_TO_POINTER ((gsize) user_id));
  g_object_set_data (G_OBJECT (b), "op", GINT_TO_POINTER (op));
  g_signal_connect (b, "clicked", handler ? handler : G_CALLBACK (row_button_cb), self);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), b);
  return b;
}

static GtkWidget *
person_row (ImpUiPeopleWindow *self, const char *prefix, JsonObject *p)
{
  const char *name = json_object_get_string_member_with_default (p, "username", "?");
  gint64 id = json_object_get_int_member_with_default (p, "user_id", 0);
  g_autofree char *row_name = g_strdup_printf ("%s:%s", prefix, name);
  GtkWidget *row = adw_action_row_new ();
  ImpMirror *mirror = imp_client_get_mirror (client (self));

  if (mirror != NULL && id > 0)
    imp_mirror_user_put (mirror, id, name, json_object_get_string_member_with_default (p, "nickname", NULL));
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
  gtk_widget_set_name (row, row_name);
  return row;
}

static AdwPreferencesGroup *
replace_group (AdwPreferencesPage *page, AdwPreferencesGroup *old, const char *title, const char *name)
{
  AdwPreferencesGroup *group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());

  if (old != NULL)
    adw_preferences_page_remove (page, old);
  adw_preferences_group_set_title (group, title);
  gtk_widget_set_name (GTK_WIDGET (group), name);
  adw_preferences_page_add (page, group);
  return group;
}

static char *
presence_text (JsonObject *p)
{
  JsonNode *seen = json_object_get_member (p, "last_seen_ms");
  g_autofree char *when = NULL;

  if (json_object_get_boolean_member_with_default (p, "online", FALSE))
    return g_strdup (_("Online"));
  if (seen == NULL || JSON_NODE_HOLDS_NULL (seen) || json_node_get_int (seen) <= 0)
    return g_strdup (_("Offline"));
  when = imp_ui_format_time (json_node_get_int (seen));
  /* TRANSLATORS: a friend's presence; %s is a time or a day */
  return g_strdup_printf (_("Last seen %s"), when);
}

static void
friends_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiPeopleWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = imp_client_social_finish (IMP_CLIENT (source), result, &error);
  JsonArray *list;
  guint n_requests = 0, n_friends = 0;

  if (answer == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self->friends_error, error->message);
      return;
    }
  self->requests_group = replace_group (self->friends_page, self->requests_group, _("Requests"), "friend-requests");
  self->friends_group = replace_group (self->friends_page, self->friends_group, _("Friends"), "friends");
  list = json_object_has_member (answer, "friends") ? json_object_get_array_member (answer, "friends") : NULL;
  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    {
      JsonObject *p = json_array_get_object_element (list, i);
      const char *state = p ? json_object_get_string_member_with_default (p, "state", "") : "";
      gint64 id = p ? json_object_get_int_member_with_default (p, "user_id", 0) : 0;
      GtkWidget *row;

      if (g_str_equal (state, "incoming"))
        {
          row = person_row (self, "request", p);
          adw_action_row_set_subtitle (ADW_ACTION_ROW (row), _("Wants to be your friend"));
          row_button (self, row, "object-select-symbolic", "accept-button", _("Accept"), OP_ACCEPT, id, NULL);
          row_button (self, row, "window-close-symbolic", "decline-button", _("Decline"), OP_DECLINE, id, NULL);
          adw_preferences_group_add (self->requests_group, row);
          n_requests++;
        }
      else if (g_str_equal (state, "outgoing"))
        {
          row = person_row (self, "request", p);
          adw_action_row_set_subtitle (ADW_ACTION_ROW (row), _("Request sent"));
          /* POST /friends/remove drops a pending request too. */
          row_button (self, row, "window-close-symbolic", "cancel-button", _("Cancel Request"), OP_REMOVE, id, NULL);
          adw_preferences_group_add (self->requests_group, row);
          n_requests++;
        }
      else if (g_str_equal (state, "friend"))
        {
          g_autofree char *presence = presence_text (p);

          row = person_row (self, "friend", p);
          adw_action_row_set_subtitle (ADW_ACTION_ROW (row), presence);
          row_button (self, row, "mail-send-symbolic", "message-button", _("Send a Message"), OP_REQUEST, id,
                      G_CALLBACK (message_clicked_cb));
          row_button (self, row, "user-trash-symbolic", "remove-button", _("Remove Friend"), OP_REMOVE, id, NULL);
          adw_preferences_group_add (self->friends_group, row);
          n_friends++;
        }
    }
  gtk_widget_set_visible (GTK_WIDGET (self->requests_group), n_requests > 0);
  if (n_friends == 0)
    adw_preferences_group_set_description (self->friends_group, _("No friends yet"));
}

static void
blacklist_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiPeopleWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) answer = imp_client_social_finish (IMP_CLIENT (source), result, &error);
  JsonArray *list;

  if (answer == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self->blocked_error, error->message);
      return;
    }
  self->blocked_group = replace_group (self->blocked_page, self->blocked_group, _("Blocked People"), "blocked");
  list = json_object_has_member (answer, "blocked") ? json_object_get_array_member (answer, "blocked") : NULL;
  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    {
      JsonObject *p = json_array_get_object_element (list, i);
      GtkWidget *row;

      if (p == NULL)
        continue;
      row = person_row (self, "blocked", p);
      row_button (self, row, "edit-undo-symbolic", "unblock-button", _("Unblock"), OP_UNBLOCK,
                  json_object_get_int_member_with_default (p, "user_id", 0), NULL);
      adw_preferences_group_add (self->blocked_group, row);
    }
  if (list == NULL || json_array_get_length (list) == 0)
    adw_preferences_group_set_description (self->blocked_group, _("Nobody is blocked"));
}

static void
refresh (ImpUiPeopleWindow *self)
{
  imp_client_social_async (client (self), IMP_SOCIAL_FRIENDS, NULL, self->cancellable, friends_cb, g_object_ref (self));
  imp_client_social_async (client (self), IMP_SOCIAL_BLACKLIST, NULL, self->cancellable, blacklist_cb, g_object_ref (self));
}

static gboolean
refresh_idle_cb (gpointer user_data)
{
  ImpUiPeopleWindow *self = user_data;

  self->refresh_idle = 0;
  refresh (self);
  return G_SOURCE_REMOVE;
}

static void
queue_refresh (ImpUiPeopleWindow *self)
{
  if (self->refresh_idle == 0 && !g_cancellable_is_cancelled (self->cancellable))
    self->refresh_idle = g_idle_add (refresh_idle_cb, self);
}

static void
state_changed_cb (ImpClient *c, guint state, ImpUiPeopleWindow *self)
{
  if (state == IMP_CLIENT_ONLINE)
    queue_refresh (self);
}

static void
active_cb (ImpUiPeopleWindow *self)
{
  if (gtk_window_is_active (GTK_WINDOW (self)))
    queue_refresh (self);
}

/* ---- building ---- */

static AdwEntryRow *
add_entry (ImpUiPeopleWindow *self, AdwPreferencesPage *page, const char *title, const char *description,
           const char *entry_name, const char *button_name, const char *tooltip, GCallback handler,
           GtkLabel **error_out, const char *error_name)
{
  AdwPreferencesGroup *group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  GtkWidget *row = adw_entry_row_new ();
  GtkWidget *button = gtk_button_new_from_icon_name ("list-add-symbolic");
  GtkWidget *error = gtk_label_new (NULL);

  adw_preferences_group_set_title (group, title);
  adw_preferences_group_set_description (group, description);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Username"));
  gtk_widget_set_name (row, entry_name);
  gtk_widget_set_name (button, button_name);
  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "flat");
  adw_entry_row_add_suffix (ADW_ENTRY_ROW (row), button);
  g_signal_connect_swapped (button, "clicked", handler, self);
  g_signal_connect_swapped (row, "entry-activated", handler, self);
  adw_preferences_group_add (group, row);
  gtk_widget_set_name (error, error_name);
  gtk_widget_add_css_class (error, "error");
  gtk_label_set_wrap (GTK_LABEL (error), TRUE);
  gtk_widget_set_margin_top (error, 6);
  gtk_widget_set_visible (error, FALSE);
  adw_preferences_group_add (group, error);
  adw_preferences_page_add (page, group);
  *error_out = GTK_LABEL (error);
  return ADW_ENTRY_ROW (row);
}

ImpUiPeopleWindow *
imp_ui_people_window_new (ImpUiApplication *app, GtkWindow *parent)
{
  ImpUiPeopleWindow *self = g_object_new (IMP_TYPE_UI_PEOPLE_WINDOW,
                                          "transient-for", parent,
                                          "modal", TRUE,
                                          "search-enabled", FALSE,
                                          "default-width", 480,
                                          "default-height", 600,
                                          "title", _("People"),
                                          NULL);

  self->app = app;
  self->friends_page = ADW_PREFERENCES_PAGE (adw_preferences_page_new ());
  adw_preferences_page_set_title (self->friends_page, _("Friends"));
  adw_preferences_page_set_icon_name (self->friends_page, "system-users-symbolic");
  gtk_widget_set_name (GTK_WIDGET (self->friends_page), "friends-page");
  self->blocked_page = ADW_PREFERENCES_PAGE (adw_preferences_page_new ());
  adw_preferences_page_set_title (self->blocked_page, _("Blocked"));
  adw_preferences_page_set_icon_name (self->blocked_page, "action-unavailable-symbolic");
  gtk_widget_set_name (GTK_WIDGET (self->blocked_page), "blocked-page");
  self->friend_entry = add_entry (self, self->friends_page, _("Add a Friend"),
                                  _("They see your request and can accept it"),
                                  "friend-entry", "friend-add-button", _("Send Friend Request"),
                                  G_CALLBACK (request_clicked_cb), &self->friends_error, "friends-error");
  self->block_entry = add_entry (self, self->blocked_page, _("Block Someone"),
                                 _("Their messages and friend requests are refused"),
                                 "block-entry", "block-add-button", _("Block"),
                                 G_CALLBACK (block_clicked_cb), &self->blocked_error, "blocked-error");
  adw_preferences_window_add (ADW_PREFERENCES_WINDOW (self), self->friends_page);
  adw_preferences_window_add (ADW_PREFERENCES_WINDOW (self), self->blocked_page);
  gtk_widget_set_name (GTK_WIDGET (self), "people-window");
  g_signal_connect_object (client (self), "state-changed", G_CALLBACK (state_changed_cb), self, 0);
  g_signal_connect (self, "notify::is-active", G_CALLBACK (active_cb), NULL);
  refresh (self);
  return self;
}

static gboolean
close_request_cb (ImpUiPeopleWindow *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->refresh_idle, g_source_remove);
  return FALSE;
}

static void
imp_ui_people_window_finalize (GObject *object)
{
  g_clear_handle_id (&IMP_UI_PEOPLE_WINDOW (object)->refresh_idle, g_source_remove);
  g_clear_object (&IMP_UI_PEOPLE_WINDOW (object)->cancellable);
  G_OBJECT_CLASS (imp_ui_people_window_parent_class)->finalize (object);
}

static void
imp_ui_people_window_class_init (ImpUiPeopleWindowClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = imp_ui_people_window_finalize;
}

static void
imp_ui_people_window_init (ImpUiPeopleWindow *self)
{
  self->cancellable = g_cancellable_new ();
  g_signal_connect (self, "close-request", G_CALLBACK (close_request_cb), NULL);
}

/* imp-ui-window.c: the main window.
 *
 * Shows the sign-in page while signed out; else an AdwLeaflet with the conversation list (or
 * search results) beside the chat view. The title carries the total unread count; a banner
 * shows when the engine is offline or reconnecting.
 */
#define G_LOG_DOMAIN "implus-gtk"

#include <glib/gi18n.h>
#include "imp-ui-window.h"
#include "imp-ui-login-page.h"
#include "imp-ui-chat-view.h"
#include "imp-ui-conversation-row.h"
#include "imp-ui-group-window.h"
#include "imp-convid.h"

#define SEARCH_LIMIT 100

struct _ImpUiWindow
{
  AdwApplicationWindow  parent_instance;

  /* Template */
  GtkStack             *main_stack;
  ImpUiLoginPage       *login_page;
  AdwLeaflet           *leaflet;
  GtkWidget            *sidebar;
  GtkWidget            *content;
  AdwWindowTitle       *sidebar_title;
  GtkMenuButton        *new_chat_button;
  GtkEntry             *new_chat_entry;
  GtkLabel             *new_chat_error;
  GtkRevealer          *connection_banner;
  GtkLabel             *connection_label;
  GtkSearchBar         *search_bar;
  GtkSearchEntry       *search_entry;
  GtkStack             *sidebar_stack;
  GtkListBox           *conversation_list;
  GtkListBox           *search_results;
  AdwWindowTitle       *chat_title;
  GtkWidget            *group_info_button;
  GtkStack             *content_stack;
  ImpUiChatView        *chat_view;

  /* Borrowed */
  ImpUiApplication     *app;

  /* Owned */
  char                 *current_title;
};

G_DEFINE_FINAL_TYPE (ImpUiWindow, imp_ui_window, ADW_TYPE_APPLICATION_WINDOW)

static char *
conversation_title (ImpUiWindow *self, const ImpConversationInfo *info)
{
  if (info->peer_name != NULL)
    return g_strdup (info->peer_name);
  if (info->group_name != NULL)
    return g_strdup (info->group_name);
  if (info->peer_id != 0)
    return imp_ui_application_user_name (self->app, info->peer_id);
  /* TRANSLATORS: a conversation whose name is not known yet */
  return g_strdup_printf (_("Conversation %s"), info->conversation_id);
}

static void
update_title (ImpUiWindow *self, guint unread)
{
  g_autofree char *title = NULL;
  g_autofree char *subtitle = NULL;

  if (unread > 0)
    {
      /* TRANSLATORS: window title with the number of unread messages */
      title = g_strdup_printf (_("(%u) IM Plus"), unread);
      subtitle = g_strdup_printf (g_dngettext (NULL, "%u unread message", "%u unread messages", unread), unread);
    }
  gtk_window_set_title (GTK_WINDOW (self), title ? title : _("IM Plus"));
  adw_window_title_set_subtitle (self->sidebar_title, subtitle ? subtitle : "");
}

static void
rebuild_conversations (ImpUiWindow *self)
{
  ImpMirrorIndex *index = imp_ui_application_get_index (self->app);
  const char *current = imp_ui_chat_view_get_conversation (self->chat_view);
  g_autoptr(GPtrArray) convs = NULL;
  GtkWidget *child;
  gint64 me;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->conversation_list))) != NULL)
    gtk_list_box_remove (self->conversation_list, child);
  if (index == NULL)
    {
      update_title (self, 0);
      return;
    }
  me = imp_client_get_user_id (imp_ui_application_get_client (self->app));
  convs = imp_mirror_index_list_conversations (index);
  for (guint i = 0; i < convs->len; i++)
    {
      ImpConversationInfo *info = convs->pdata[i];
      g_autofree char *title = conversation_title (self, info);

      /* Groups: events as sentences, others' messages with the sender's name. */
      if (info->last_content_type == IMP_CONTENT_TYPE_SYSTEM)
        {
          g_autofree char *text = imp_ui_application_describe_event (self->app, info->last_content);
          g_free (info->last_content);
          info->last_content = g_steal_pointer (&text);
          info->last_sender_id = 0;
        }
      else if (info->group_id != 0 && info->last_sender_id != me && info->last_sender_id != 0
               && info->last_content != NULL)
        {
          g_autofree char *who = imp_ui_application_user_name (self->app, info->last_sender_id);
          g_autofree char *text = g_strdup_printf ("%s: %s", who, info->last_content);
          g_free (info->last_content);
          info->last_content = g_steal_pointer (&text);
        }
      GtkWidget *row = imp_ui_conversation_row_new (info, title, me);

      gtk_list_box_append (self->conversation_list, row);
      if (g_strcmp0 (current, info->conversation_id) == 0)
        gtk_list_box_select_row (self->conversation_list, GTK_LIST_BOX_ROW (row));
    }
  update_title (self, imp_mirror_index_total_unread (index));
}

static void
show_conversation (ImpUiWindow *self, const char *conversation_id, gint64 peer_id, const char *title)
{
  g_free (self->current_title);
  self->current_title = g_strdup (title);
  adw_window_title_set_title (self->chat_title, title);
  gtk_widget_set_visible (self->group_info_button, g_str_has_prefix (conversation_id, "group_"));
  gtk_stack_set_visible_child_name (self->content_stack, "chat");
  adw_leaflet_set_visible_child (self->leaflet, self->content);
  imp_ui_chat_view_set_conversation (self->chat_view, conversation_id, peer_id);
  rebuild_conversations (self);
}

void
imp_ui_window_open_conversation (ImpUiWindow *self, const char *conversation_id)
{
  ImpMirrorIndex *index = imp_ui_application_get_index (self->app);
  g_autoptr(ImpConversationInfo) info = NULL;
  g_autofree char *title = NULL;
  gint64 me;

  if (index == NULL || conversation_id == NULL)
    return;
  me = imp_client_get_user_id (imp_ui_application_get_client (self->app));
  info = imp_mirror_index_get_conversation (index, conversation_id);
  if (info == NULL)
    {
      info = g_new0 (ImpConversationInfo, 1);
      info->conversation_id = g_strdup (conversation_id);
      info->peer_id = imp_convid_private_peer (conversation_id, me);
    }
  title = conversation_title (self, info);
  show_conversation (self, conversation_id, info->peer_id, title);
}

static void
conversation_activated_cb (ImpUiWindow *self, GtkListBoxRow *row)
{
  ImpUiConversationRow *crow = IMP_UI_CONVERSATION_ROW (row);

  show_conversation (self, imp_ui_conversation_row_get_conversation_id (crow),
                     imp_ui_conversation_row_get_peer_id (crow), imp_ui_conversation_row_get_title (crow));
}

static void
back_clicked_cb (ImpUiWindow *self)
{
  imp_ui_chat_view_save_draft (self->chat_view);
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

static void
group_info_clicked_cb (ImpUiWindow *self)
{
  const char *conv = imp_ui_chat_view_get_conversation (self->chat_view);
  ImpConvKind kind = IMP_CONV_PRIVATE;
  gint64 group_id = 0;
  ImpUiGroupWindow *win;

  if (conv == NULL || !imp_convid_parse (conv, &kind, &group_id, NULL, NULL) || kind != IMP_CONV_GROUP)
    return;
  win = imp_ui_group_window_new (self->app, GTK_WINDOW (self), group_id);
  gtk_window_present (GTK_WINDOW (win));
}

/* ---- new chat ---- */

static void
lookup_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  gint64 peer = imp_client_lookup_finish (IMP_CLIENT (source), result, &error);
  g_autofree char *conv = NULL;
  gint64 me = imp_client_get_user_id (IMP_CLIENT (source));

  gtk_widget_set_sensitive (GTK_WIDGET (self->new_chat_entry), TRUE);
  if (peer == 0 || peer == me)
    {
      gtk_label_set_text (self->new_chat_error, peer == me ? _("That is you") : _("No such user"));
      gtk_widget_set_visible (GTK_WIDGET (self->new_chat_error), TRUE);
      return;
    }
  gtk_widget_set_visible (GTK_WIDGET (self->new_chat_error), FALSE);
  gtk_popover_popdown (gtk_menu_button_get_popover (self->new_chat_button));
  conv = imp_convid_private (me, peer);
  show_conversation (self, conv, peer, gtk_editable_get_text (GTK_EDITABLE (self->new_chat_entry)));
  gtk_editable_set_text (GTK_EDITABLE (self->new_chat_entry), "");
}

static void
new_chat_cb (ImpUiWindow *self)
{
  const char *name = gtk_editable_get_text (GTK_EDITABLE (self->new_chat_entry));
  ImpClient *client = imp_ui_application_get_client (self->app);

  if (client == NULL || *name == '\0')
    return;
  gtk_widget_set_sensitive (GTK_WIDGET (self->new_chat_entry), FALSE);
  imp_client_lookup_async (client, name, NULL, lookup_cb, g_object_ref (self));
}

/* ---- search ---- */

static void
search_changed_cb (ImpUiWindow *self)
{
  ImpMirrorIndex *index = imp_ui_application_get_index (self->app);
  const char *query = gtk_editable_get_text (GTK_EDITABLE (self->search_entry));
  g_autoptr(GPtrArray) hits = NULL;
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->search_results))) != NULL)
    gtk_list_box_remove (self->search_results, child);
  if (index == NULL || *query == '\0')
    {
      gtk_stack_set_visible_child_name (self->sidebar_stack, "list");
      return;
    }
  gtk_stack_set_visible_child_name (self->sidebar_stack, "search");
  hits = imp_mirror_index_search (index, query, SEARCH_LIMIT);
  for (guint i = 0; i < hits->len; i++)
    {
      ImpMessage *m = hits->pdata[i];
      gint64 me = imp_client_get_user_id (imp_ui_application_get_client (self->app));
      gint64 peer = imp_convid_private_peer (m->conversation_id, me);
      g_autofree char *group = NULL;
      g_autofree char *who = NULL;

      if (m->group_id != 0)
        {
          ImpMirror *mirror = imp_client_get_mirror (imp_ui_application_get_client (self->app));
          g_autofree char *sender = imp_ui_application_user_name (self->app, m->sender_id);

          group = mirror ? imp_mirror_group_name (mirror, m->conversation_id) : NULL;
          if (group == NULL)
            group = g_strdup (m->conversation_id);
          who = g_strdup_printf ("%s · %s", group, sender);
        }
      else
        who = imp_ui_application_user_name (self->app, peer ? peer : m->sender_id);
      g_autofree char *when = imp_ui_format_time (m->send_time_ms);
      g_autofree char *heading = g_strdup_printf ("%s · %s", who, when);
      GtkWidget *row = gtk_list_box_row_new ();
      GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 3);
      GtkWidget *title = gtk_label_new (heading);
      GtkWidget *body = gtk_label_new (m->content);

      gtk_widget_add_css_class (title, "caption-heading");
      gtk_label_set_xalign (GTK_LABEL (title), 0);
      gtk_label_set_xalign (GTK_LABEL (body), 0);
      gtk_label_set_ellipsize (GTK_LABEL (body), PANGO_ELLIPSIZE_END);
      gtk_widget_set_name (body, "body");
      gtk_box_append (GTK_BOX (box), title);
      gtk_box_append (GTK_BOX (box), body);
      gtk_widget_set_margin_top (box, 6);
      gtk_widget_set_margin_bottom (box, 6);
      gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
      gtk_widget_set_name (row, "search-result");
      g_object_set_data_full (G_OBJECT (row), "conversation-id", g_strdup (m->conversation_id), g_free);
      gtk_list_box_append (self->search_results, row);
    }
  if (hits->len == 0)
    {
      GtkWidget *none = gtk_label_new (_("No messages found"));

      gtk_widget_add_css_class (none, "dim-label");
      gtk_widget_set_margin_top (none, 24);
      gtk_widget_set_name (none, "search-empty");
      gtk_list_box_append (self->search_results, none);
    }
}

static void
search_activated_cb (ImpUiWindow *self, GtkListBoxRow *row)
{
  const char *conv = g_object_get_data (G_OBJECT (row), "conversation-id");

  if (conv != NULL)
    imp_ui_window_open_conversation (self, conv);
}

/* ---- application state ---- */

static void
update_connection (ImpUiWindow *self)
{
  ImpClient *client = imp_ui_application_get_client (self->app);
  ImpClientState state = client ? imp_client_get_state (client) : IMP_CLIENT_OFFLINE;
  gint64 pending = client && imp_ui_application_is_signed_in (self->app) ? imp_client_get_outbox_pending (client) : 0;
  g_autofree char *text = NULL;

  if (!imp_ui_application_is_signed_in (self->app) || state == IMP_CLIENT_ONLINE)
    {
      gtk_revealer_set_reveal_child (self->connection_banner, FALSE);
      gtk_label_set_text (self->connection_label, "");
      return;
    }
  if (state == IMP_CLIENT_CONNECTING)
    text = g_strdup (_("Connecting…"));
  else
    text = g_strdup (_("Offline"));
  if (pending > 0)
    {
      /* TRANSLATORS: appended to the connection banner */
      g_autofree char *more = g_strdup_printf (g_dngettext (NULL, "%s %d message waits to be sent",
                                                            "%s %d messages wait to be sent", pending),
                                               text, (int) pending);
      g_free (text);
      text = g_steal_pointer (&more);
    }
  gtk_label_set_text (self->connection_label, text);
  gtk_revealer_set_reveal_child (self->connection_banner, TRUE);
}

static void
session_changed_cb (ImpUiWindow *self)
{
  gboolean signed_in = imp_ui_application_is_signed_in (self->app);

  gtk_stack_set_visible_child_name (self->main_stack, signed_in ? "chats" : "login");
  if (!signed_in)
    {
      imp_ui_chat_view_set_conversation (self->chat_view, NULL, 0);
      gtk_stack_set_visible_child_name (self->content_stack, "empty");
      adw_window_title_set_title (self->chat_title, "");
      imp_ui_login_page_reset (self->login_page);
    }
  rebuild_conversations (self);
  update_connection (self);
}

static void
conversations_changed_cb (ImpUiWindow *self)
{
  rebuild_conversations (self);
  update_connection (self);
  if (gtk_search_bar_get_search_mode (self->search_bar))
    search_changed_cb (self);
}

static gboolean
close_request_cb (ImpUiWindow *self)
{
  imp_ui_chat_view_save_draft (self->chat_view);
  return FALSE;
}

ImpUiWindow *
imp_ui_window_new (ImpUiApplication *app)
{
  ImpUiWindow *self = g_object_new (IMP_TYPE_UI_WINDOW, "application", app, NULL);

  self->app = app;
  imp_ui_login_page_set_application (self->login_page, app);
  imp_ui_chat_view_set_application (self->chat_view, app);
  g_signal_connect_object (app, "session-changed", G_CALLBACK (session_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (app, "conversations-changed", G_CALLBACK (conversations_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (app, "connection-changed", G_CALLBACK (update_connection), self, G_CONNECT_SWAPPED);
  g_signal_connect (self, "close-request", G_CALLBACK (close_request_cb), NULL);
  session_changed_cb (self);
  return self;
}

void
imp_ui_window_close_popovers (ImpUiWindow *self)
{
  gtk_popover_popdown (gtk_menu_button_get_popover (self->new_chat_button));
}

static void
imp_ui_window_finalize (GObject *object)
{
  g_free (IMP_UI_WINDOW (object)->current_title);
  G_OBJECT_CLASS (imp_ui_window_parent_class)->finalize (object);
}

static void
imp_ui_window_class_init (ImpUiWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = imp_ui_window_finalize;
  g_type_ensure (IMP_TYPE_UI_LOGIN_PAGE);
  g_type_ensure (IMP_TYPE_UI_CHAT_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/implus/ImPlus/imp-ui-window.ui");
#define BIND(x) gtk_widget_class_bind_template_child (widget_class, ImpUiWindow, x)
  BIND (main_stack);
  BIND (login_page);
  BIND (leaflet);
  BIND (sidebar);
  BIND (content);
  BIND (sidebar_title);
  BIND (new_chat_button);
  BIND (new_chat_entry);
  BIND (new_chat_error);
  BIND (connection_banner);
  BIND (connection_label);
  BIND (search_bar);
  BIND (search_entry);
  BIND (sidebar_stack);
  BIND (conversation_list);
  BIND (search_results);
  BIND (chat_title);
  BIND (group_info_button);
  BIND (content_stack);
  BIND (chat_view);
#undef BIND
  gtk_widget_class_bind_template_callback (widget_class, conversation_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, back_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, group_info_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, new_chat_cb);
  gtk_widget_class_bind_template_callback (widget_class, search_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, search_activated_cb);
}

static void
imp_ui_window_init (ImpUiWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_search_bar_connect_entry (self->search_bar, GTK_EDITABLE (self->search_entry));
}

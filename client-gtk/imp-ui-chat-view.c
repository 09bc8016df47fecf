/* imp-ui-chat-view.c: the messages of one conversation (from the mirror) and the composer.
 *
 * Everything shown comes from the mirror index: applied messages in seq order, then the
 * outbox rows still sending or failed. The view loads the newest page and older pages when
 * scrolled to the top; it marks the conversation read while it is on screen.
 */
#define G_LOG_DOMAIN "implus-gtk"

#include <glib/gi18n.h>
#include "imp-ui-chat-view.h"
#include "imp-ui-message-row.h"
#include "imp-convid.h"

#define PAGE 50

struct _ImpUiChatView
{
  AdwBin             parent_instance;

  /* Template */
  GtkScrolledWindow *scroller;
  GtkListBox        *message_list;
  GtkTextView       *composer;
  GtkButton         *send_button;
  GtkLabel          *typing_label;

  /* Borrowed */
  ImpUiApplication  *app;

  /* Owned */
  char              *conversation_id;
  gint64             peer_id;
  gint64             group_id;       /* a group conversation, else 0 */
  gint64             oldest_seq;     /* oldest loaded message, 0 = none */
  GCancellable      *history_call;   /* a server history page being fetched */
  gboolean           server_done;    /* the server had nothing the mirror lacks */
  gboolean           loading_draft;
  guint              scroll_idle;
  guint              typing_timer;   /* hides the typing line again */
};

#define TYPING_SHOWN_MS 5000

G_DEFINE_FINAL_TYPE (ImpUiChatView, imp_ui_chat_view, ADW_TYPE_BIN)

const char *
imp_ui_chat_view_get_conversation (ImpUiChatView *self)
{
  return self->conversation_id;
}

static gboolean
scroll_to_end_idle (gpointer user_data)
{
  ImpUiChatView *self = user_data;
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->scroller);

  self->scroll_idle = 0;
  gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj));
  return G_SOURCE_REMOVE;
}

static void
scroll_to_end (ImpUiChatView *self)
{
  if (self->scroll_idle == 0)
    self->scroll_idle = g_timeout_add_full (G_PRIORITY_LOW, 50, scroll_to_end_idle, self, NULL);
}

static gboolean
at_end (ImpUiChatView *self)
{
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->scroller);

  return gtk_adjustment_get_value (adj) + gtk_adjustment_get_page_size (adj)
         >= gtk_adjustment_get_upper (adj) - 32;
}

static void
clear_list (ImpUiChatView *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->message_list))) != NULL)
    gtk_list_box_remove (self->message_list, child);
}

/* A group system event, centred like a separator. */
static void
add_event_row (ImpUiChatView *self, const ImpMessage *m)
{
  g_autofree char *text = imp_ui_application_describe_event (self->app, m->content);
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *label = gtk_label_new (text);

  gtk_widget_add_css_class (label, "dim-label");
  gtk_widget_add_css_class (label, "caption");
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_widget_set_margin_top (label, 3);
  gtk_widget_set_margin_bottom (label, 3);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), label);
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), FALSE);
  gtk_list_box_row_set_selectable (GTK_LIST_BOX_ROW (row), FALSE);
  gtk_widget_set_name (row, "group-event");
  gtk_list_box_append (self->message_list, row);
}

/* Queues text for this conversation (one-to-one or group) in the outbox. */
static char *
queue_send (ImpUiChatView *self, ImpClient *client, const char *text, GError **error)
{
  if (self->group_id != 0)
    return imp_client_send_group (client, self->group_id, text, error);
  return imp_client_send (client, self->peer_id, text, error);
}

static void
add_day_separator (ImpUiChatView *self, GDateTime *day)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *text = NULL;
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *label;

  if (g_date_time_get_year (now) == g_date_time_get_year (day)
      && g_date_time_get_day_of_year (now) == g_date_time_get_day_of_year (day))
    text = g_strdup (_("Today"));
  else
    text = g_date_time_format (day, "%x");
  label = gtk_label_new (text);
  gtk_widget_add_css_class (label, "day-separator");
  gtk_widget_add_css_class (label, "dim-label");
  gtk_widget_add_css_class (label, "caption");
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), label);
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), FALSE);
  gtk_list_box_row_set_selectable (GTK_LIST_BOX_ROW (row), FALSE);
  gtk_widget_set_name (row, "day-separator");
  gtk_list_box_append (self->message_list, row);
}

/* A separator whenever the local calendar day changes. */
static void
maybe_separator (ImpUiChatView *self, gint64 time_ms, int *last_day)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_local (MAX (time_ms, 0) / 1000);
  int day;

  if (t == NULL)
    return;
  day = g_date_time_get_year (t) * 400 + g_date_time_get_day_of_year (t);
  if (day != *last_day)
    add_day_separator (self, t);
  *last_day = day;
}

static void
retry_cb (ImpUiMessageRow *row, gpointer user_data)
{
  ImpUiChatView *self = user_data;
  ImpClient *client = imp_ui_application_get_client (self->app);
  ImpMirrorIndex *index = imp_ui_application_get_index (self->app);
  g_autoptr(GError) error = NULL;
  g_autofree char *cmid = NULL;

  if (client == NULL || index == NULL || (self->peer_id == 0 && self->group_id == 0))
    return;
  /* A failed row is never resent by the engine: queue a new message, drop the failed one. */
  cmid = queue_send (self, client, imp_ui_message_row_get_content (row), &error);
  if (cmid == NULL)
    {
      g_warning ("retry: %s", error->message);
      return;
    }
  imp_mirror_index_outbox_forget (index, imp_ui_message_row_get_client_msg_id (row));
  imp_ui_chat_view_reload (self);
}

static void
mark_read (ImpUiChatView *self)
{
  ImpMirrorIndex *index = imp_ui_application_get_index (self->app);

  if (index == NULL || self->conversation_id == NULL || !gtk_widget_get_mapped (GTK_WIDGET (self)))
    return;
  imp_ui_application_mark_read (self->app, self->conversation_id,
                                imp_mirror_index_last_seq (index, self->conversation_id));
}

void
imp_ui_chat_view_reload (ImpUiChatView *self)
{
  ImpMirrorIndex *index = self->app ? imp_ui_application_get_index (self->app) : NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GPtrArray) unsent = NULL;
  ImpConvKind kind = IMP_CONV_PRIVATE;
  gboolean follow = at_end (self);
  gint64 me;
  int last_day = -1;

  clear_list (self);
  if (index == NULL || self->conversation_id == NULL)
    return;
  me = imp_client_get_user_id (imp_ui_application_get_client (self->app));
  imp_convid_parse (self->conversation_id, &kind, NULL, NULL, NULL);
  if (self->oldest_seq > 0)
    messages = imp_mirror_index_list_after (index, self->conversation_id, self->oldest_seq - 1);
  else
    messages = imp_mirror_index_list_before (index, self->conversation_id, 0, PAGE);
  if (messages->len > 0)
    self->oldest_seq = ((ImpMessage *) messages->pdata[0])->seq;
  for (guint i = 0; i < messages->len; i++)
    {
      ImpMessage *m = messages->pdata[i];
      gboolean own = m->sender_id == me;
      g_autofree char *sender = NULL;
      GtkWidget *row;

      maybe_separator (self, m->send_time_ms, &last_day);
      if (m->content_type == IMP_CONTENT_TYPE_SYSTEM)
        {
          add_event_row (self, m);
          continue;
        }
      if (!own && kind == IMP_CONV_GROUP)
        sender = imp_ui_application_user_name (self->app, m->sender_id);
      row = imp_ui_message_row_new (m, own, sender);
      gtk_list_box_append (self->message_list, row);
    }
  if (self->group_id != 0)
    unsent = imp_mirror_index_outbox_unsent_group (index, self->group_id);
  else
    unsent = self->peer_id ? imp_mirror_index_outbox_unsent (index, self->peer_id) : g_ptr_array_new ();
  for (guint i = 0; i < unsent->len; i++)
    {
      ImpOutboxItem *item = unsent->pdata[i];
      GtkWidget *row = imp_ui_message_row_new_unsent (item);

      maybe_separator (self, item->created_ms, &last_day);
      g_signal_connect (row, "retry", G_CALLBACK (retry_cb), self);
      gtk_list_box_append (self->message_list, row);
    }
  if (follow)
    scroll_to_end (self);
  mark_read (self);
}

static gboolean
load_older_from_mirror (ImpUiChatView *self, ImpMirrorIndex *index, guint *n)
{
  g_autoptr(GPtrArray) older = NULL;

  *n = 0;
  if (self->oldest_seq == 1)
    return FALSE;
  older = imp_mirror_index_list_before (index, self->conversation_id, self->oldest_seq, PAGE);
  if ((*n = older->len) == 0)
    return FALSE;
  self->oldest_seq = ((ImpMessage *) older->pdata[0])->seq;
  imp_ui_chat_view_reload (self);
  return TRUE;
}

static void
history_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(ImpUiChatView) self = user_data;
  g_autoptr(GError) error = NULL;
  ImpMirrorIndex *index = self->app ? imp_ui_application_get_index (self->app) : NULL;
  gint64 added = imp_client_history_finish (IMP_CLIENT (source), result, &error);
  guint n;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->history_call);
  if (error != NULL)
    {
      g_debug ("older history from the server: %s", error->message);   /* offline: try again later */
      return;
    }
  if (added == 0 || index == NULL)
    {
      self->server_done = TRUE;
      return;
    }
  if (self->oldest_seq == 0)
    imp_ui_chat_view_reload (self);
  else
    load_older_from_mirror (self, index, &n);
}

/* Older pages come from the mirror, which normally holds the whole stream (the engine pulls it
 * from seq 0). Past the mirror's start of this conversation the server is asked once for the
 * page below it, in case the mirror was trimmed; what it adds is stored and shown. */
static void
edge_reached_cb (ImpUiChatView *self, GtkPositionType pos)
{
  ImpMirrorIndex *index = self->app ? imp_ui_application_get_index (self->app) : NULL;
  ImpClient *client = self->app ? imp_ui_application_get_client (self->app) : NULL;
  guint n = 0;

  if (pos != GTK_POS_TOP || index == NULL || self->conversation_id == NULL || self->oldest_seq == 1)
    return;
  if (self->oldest_seq > 1)
    load_older_from_mirror (self, index, &n);
  if (n >= PAGE || self->server_done || self->history_call != NULL || client == NULL)
    return;
  self->history_call = g_cancellable_new ();
  imp_client_history_async (client, self->conversation_id, self->oldest_seq, PAGE,
                            self->history_call, history_cb, g_object_ref (self));
}

static char *
composer_text (ImpUiChatView *self)
{
  GtkTextBuffer *buf = gtk_text_view_get_buffer (self->composer);
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buf, &start, &end);
  return gtk_text_buffer_get_text (buf, &start, &end, FALSE);
}

void
imp_ui_chat_view_save_draft (ImpUiChatView *self)
{
  ImpMirrorIndex *index = self->app ? imp_ui_application_get_index (self->app) : NULL;
  g_autofree char *text = NULL;

  if (index == NULL || self->conversation_id == NULL || self->loading_draft)
    return;
  text = composer_text (self);
  imp_mirror_index_set_draft (index, self->conversation_id, text);
}

static void
send_clicked_cb (ImpUiChatView *self)
{
  ImpClient *client = self->app ? imp_ui_application_get_client (self->app) : NULL;
  g_autofree char *text = composer_text (self);
  g_autoptr(GError) error = NULL;
  g_autofree char *cmid = NULL;

  if (client == NULL || (self->peer_id == 0 && self->group_id == 0) || *g_strstrip (text) == '\0')
    return;
  /* Queued in the outbox on disk first: offline or closed, it goes out on the next connect. */
  cmid = queue_send (self, client, text, &error);
  if (cmid == NULL)
    {
      g_warning ("send: %s", error->message);
      return;
    }
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->composer), "", -1);
  imp_ui_chat_view_save_draft (self);
  imp_ui_chat_view_reload (self);
  scroll_to_end (self);
  g_signal_emit_by_name (self->app, "conversations-changed");
}

/* Enter sends, Shift+Enter is a newline. */
static gboolean
composer_key_pressed_cb (GtkEventControllerKey *controller, guint keyval, guint keycode,
                         GdkModifierType state, gpointer user_data)
{
  ImpUiChatView *self = user_data;

  if ((keyval == GDK_KEY_Return || keyval == GDK_KEY_KP_Enter) && !(state & GDK_SHIFT_MASK))
    {
      send_clicked_cb (self);
      return GDK_EVENT_STOP;
    }
  return GDK_EVENT_PROPAGATE;
}

static void
composer_changed_cb (GtkTextBuffer *buffer, gpointer user_data)
{
  ImpUiChatView *self = user_data;
  ImpClient *client = self->app ? imp_ui_application_get_client (self->app) : NULL;

  imp_ui_chat_view_save_draft (self);
  /* The engine sends at most one Typing per 3 s per peer. */
  if (client && self->peer_id && !self->loading_draft && gtk_text_buffer_get_char_count (buffer) > 0)
    imp_client_send_typing (client, self->peer_id);
}

static gboolean
typing_timeout_cb (gpointer user_data)
{
  ImpUiChatView *self = user_data;

  self->typing_timer = 0;
  gtk_widget_set_visible (GTK_WIDGET (self->typing_label), FALSE);
  return G_SOURCE_REMOVE;
}

static void
typing_cb (ImpClient *client, gint64 from_user_id, gpointer user_data)
{
  ImpUiChatView *self = user_data;
  g_autofree char *name = NULL, *text = NULL;

  if (from_user_id == 0 || from_user_id != self->peer_id || self->conversation_id == NULL)
    return;
  name = imp_ui_application_user_name (self->app, from_user_id);
  /* TRANSLATORS: shown under the messages while the peer types; %s is their name */
  text = g_strdup_printf (_("%s is typing…"), name);
  gtk_label_set_text (self->typing_label, text);
  gtk_widget_set_visible (GTK_WIDGET (self->typing_label), TRUE);
  g_clear_handle_id (&self->typing_timer, g_source_remove);
  self->typing_timer = g_timeout_add (TYPING_SHOWN_MS, typing_timeout_cb, self);
}

void
imp_ui_chat_view_set_conversation (ImpUiChatView *self, const char *conversation_id, gint64 peer_id)
{
  ImpMirrorIndex *index = self->app ? imp_ui_application_get_index (self->app) : NULL;
  g_autofree char *draft = NULL;

  if (g_strcmp0 (conversation_id, self->conversation_id) == 0)
    {
      imp_ui_chat_view_reload (self);
      return;
    }
  imp_ui_chat_view_save_draft (self);
  g_free (self->conversation_id);
  self->conversation_id = g_strdup (conversation_id);
  self->peer_id = peer_id;
  self->group_id = 0;
  if (conversation_id != NULL)
    {
      ImpConvKind kind = IMP_CONV_PRIVATE;
      gint64 a = 0;

      if (imp_convid_parse (conversation_id, &kind, &a, NULL, NULL) && kind == IMP_CONV_GROUP)
        self->group_id = a;
    }
  self->oldest_seq = 0;
  self->server_done = FALSE;
  if (self->history_call != NULL)
    g_cancellable_cancel (self->history_call);
  g_clear_object (&self->history_call);
  g_clear_handle_id (&self->typing_timer, g_source_remove);
  gtk_widget_set_visible (GTK_WIDGET (self->typing_label), FALSE);
  self->loading_draft = TRUE;
  draft = index && conversation_id ? imp_mirror_index_get_draft (index, conversation_id) : NULL;
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->composer), draft ? draft : "", -1);
  self->loading_draft = FALSE;
  gtk_widget_set_sensitive (GTK_WIDGET (self->composer), peer_id != 0 || self->group_id != 0);
  gtk_widget_set_sensitive (GTK_WIDGET (self->send_button), peer_id != 0 || self->group_id != 0);
  if (self->group_id != 0 && self->app != NULL)
    imp_ui_application_load_members (self->app, self->group_id, FALSE);
  imp_ui_chat_view_reload (self);
  scroll_to_end (self);
  if (conversation_id != NULL)
    gtk_widget_grab_focus (GTK_WIDGET (self->composer));
}

static void
conversations_changed_cb (ImpUiApplication *app, gpointer user_data)
{
  ImpUiChatView *self = user_data;

  if (imp_ui_application_get_index (app) == NULL)
    {
      g_clear_pointer (&self->conversation_id, g_free);
      clear_list (self);
      return;
    }
  imp_ui_chat_view_reload (self);
}

void
imp_ui_chat_view_set_application (ImpUiChatView *self, ImpUiApplication *app)
{
  self->app = app;
  g_signal_connect_object (app, "conversations-changed", G_CALLBACK (conversations_changed_cb), self, 0);
  g_signal_connect_object (imp_ui_application_get_client (app), "typing", G_CALLBACK (typing_cb), self, 0);
}

static void
map_cb (ImpUiChatView *self)
{
  mark_read (self);
}

static void
imp_ui_chat_view_dispose (GObject *object)
{
  ImpUiChatView *self = IMP_UI_CHAT_VIEW (object);

  g_clear_handle_id (&self->scroll_idle, g_source_remove);
  g_clear_handle_id (&self->typing_timer, g_source_remove);
  if (self->history_call != NULL)
    g_cancellable_cancel (self->history_call);
  g_clear_object (&self->history_call);
  G_OBJECT_CLASS (imp_ui_chat_view_parent_class)->dispose (object);
}

static void
imp_ui_chat_view_finalize (GObject *object)
{
  ImpUiChatView *self = IMP_UI_CHAT_VIEW (object);

  g_free (self->conversation_id);
  G_OBJECT_CLASS (imp_ui_chat_view_parent_class)->finalize (object);
}

static void
imp_ui_chat_view_class_init (ImpUiChatViewClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = imp_ui_chat_view_dispose;
  G_OBJECT_CLASS (klass)->finalize = imp_ui_chat_view_finalize;
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/implus/ImPlus/imp-ui-chat-view.ui");
  gtk_widget_class_bind_template_child (widget_class, ImpUiChatView, scroller);
  gtk_widget_class_bind_template_child (widget_class, ImpUiChatView, message_list);
  gtk_widget_class_bind_template_child (widget_class, ImpUiChatView, composer);
  gtk_widget_class_bind_template_child (widget_class, ImpUiChatView, send_button);
  gtk_widget_class_bind_template_child (widget_class, ImpUiChatView, typing_label);
  gtk_widget_class_bind_template_callback (widget_class, edge_reached_cb);
  gtk_widget_class_bind_template_callback (widget_class, send_clicked_cb);
}

static void
imp_ui_chat_view_init (ImpUiChatView *self)
{
  GtkEventController *keys = gtk_event_controller_key_new ();

  gtk_widget_init_template (GTK_WIDGET (self));
  /* Capture phase: before the text view turns Enter into a newline. */
  gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
  g_signal_connect (keys, "key-pressed", G_CALLBACK (composer_key_pressed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self->composer), keys);
  g_signal_connect (gtk_text_view_get_buffer (self->composer), "changed", G_CALLBACK (composer_changed_cb), self);
  g_signal_connect_swapped (self, "map", G_CALLBACK (map_cb), self);
}

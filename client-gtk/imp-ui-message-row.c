/* imp-ui-message-row.c: one message bubble. */
#define G_LOG_DOMAIN "implus-gtk"

#include <glib/gi18n.h>
#include "imp-ui-message-row.h"

struct _ImpUiMessageRow
{
  GtkListBoxRow  parent_instance;

  /* Template */
  GtkBox        *bubble;
  GtkLabel      *sender_label;
  GtkLabel      *body_label;
  GtkLabel      *meta_label;
  GtkButton     *retry_button;

  /* Owned */
  char          *client_msg_id;
  char          *content;
  gint64         seq;
};

G_DEFINE_FINAL_TYPE (ImpUiMessageRow, imp_ui_message_row, GTK_TYPE_LIST_BOX_ROW)

enum { RETRY, N_SIGNALS };
static guint signals[N_SIGNALS];

static const char *
state_text (ImpMessageState state)
{
  switch (state)
    {
    case IMP_MESSAGE_SENDING:
      return _("Sending…");
    case IMP_MESSAGE_SENT:
      return _("Sent");
    case IMP_MESSAGE_DELIVERED:
      return _("Delivered");
    case IMP_MESSAGE_FAILED:
      return _("Failed");
    case IMP_MESSAGE_READ:
      return _("Read");
    default:
      return "";
    }
}

static void
fill (ImpUiMessageRow *self, const char *content, gint64 time_ms, gboolean own, ImpMessageState state)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_local (MAX (time_ms, 0) / 1000);
  g_autofree char *time = t ? g_date_time_format (t, "%H:%M") : g_strdup ("");
  g_autofree char *meta = NULL;

  self->content = g_strdup (content);
  gtk_label_set_text (self->body_label, content);
  if (own)
    {
      /* TRANSLATORS: time and state of an own message, e.g. "14:05 · Sent" */
      meta = g_strdup_printf (_("%s · %s"), time, state_text (state));
      gtk_widget_set_halign (GTK_WIDGET (self->bubble), GTK_ALIGN_END);
      gtk_widget_add_css_class (GTK_WIDGET (self->bubble), "own");
    }
  gtk_label_set_text (self->meta_label, meta ? meta : time);
  gtk_widget_set_visible (GTK_WIDGET (self->retry_button), own && state == IMP_MESSAGE_FAILED);
  if (state == IMP_MESSAGE_FAILED)
    gtk_widget_add_css_class (GTK_WIDGET (self->bubble), "failed");
}

GtkWidget *
imp_ui_message_row_new (const ImpMessage *msg, gboolean own, const char *sender_name)
{
  ImpUiMessageRow *self = g_object_new (IMP_TYPE_UI_MESSAGE_ROW, NULL);

  self->seq = msg->seq;
  self->client_msg_id = g_strdup (msg->client_msg_id);
  fill (self, msg->content, msg->send_time_ms, own, msg->state);
  if (!own && sender_name != NULL)
    {
      gtk_label_set_text (self->sender_label, sender_name);
      gtk_widget_set_visible (GTK_WIDGET (self->sender_label), TRUE);
    }
  return GTK_WIDGET (self);
}

/* Why the server refused a send, in words (the wire codes of proto/implus.proto). */
static const char *
failure_text (int code)
{
  switch (code)
    {
    case IMPLUS__ERROR_CODE__ERROR_CODE_BLOCKED:
      return _("Not delivered: you are blocked by this person");
    case IMPLUS__ERROR_CODE__ERROR_CODE_BANNED:
      return _("Not delivered: your account is banned");
    case IMPLUS__ERROR_CODE__ERROR_CODE_MUTED:
      return _("Not delivered: you are muted");
    case IMPLUS__ERROR_CODE__ERROR_CODE_NOT_MEMBER:
      return _("Not delivered: you are not a member of this group");
    case IMPLUS__ERROR_CODE__ERROR_CODE_FORBIDDEN:
      return _("Not delivered: not allowed");
    case IMPLUS__ERROR_CODE__ERROR_CODE_NOT_FOUND:
      return _("Not delivered: the group no longer exists");
    default:
      return NULL;
    }
}

GtkWidget *
imp_ui_message_row_new_unsent (const ImpOutboxItem *item)
{
  ImpUiMessageRow *self = g_object_new (IMP_TYPE_UI_MESSAGE_ROW, NULL);
  const char *why = item->state == IMP_MESSAGE_FAILED ? failure_text (item->error_code) : NULL;

  self->client_msg_id = g_strdup (item->client_msg_id);
  fill (self, item->content, item->created_ms, TRUE, item->state);
  if (why != NULL)
    {
      gtk_label_set_text (self->meta_label, why);
      gtk_widget_add_css_class (GTK_WIDGET (self->meta_label), "error");
    }
  return GTK_WIDGET (self);
}

const char *
imp_ui_message_row_get_client_msg_id (ImpUiMessageRow *self)
{
  return self->client_msg_id;
}

const char *
imp_ui_message_row_get_content (ImpUiMessageRow *self)
{
  return self->content;
}

gint64
imp_ui_message_row_get_seq (ImpUiMessageRow *self)
{
  return self->seq;
}

static void
retry_clicked_cb (ImpUiMessageRow *self)
{
  g_signal_emit (self, signals[RETRY], 0);
}

static void
imp_ui_message_row_finalize (GObject *object)
{
  ImpUiMessageRow *self = IMP_UI_MESSAGE_ROW (object);

  g_free (self->client_msg_id);
  g_free (self->content);
  G_OBJECT_CLASS (imp_ui_message_row_parent_class)->finalize (object);
}

static void
imp_ui_message_row_class_init (ImpUiMessageRowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = imp_ui_message_row_finalize;
  signals[RETRY] = g_signal_new ("retry", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                 NULL, NULL, NULL, G_TYPE_NONE, 0);
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/implus/ImPlus/imp-ui-message-row.ui");
  gtk_widget_class_bind_template_child (widget_class, ImpUiMessageRow, bubble);
  gtk_widget_class_bind_template_child (widget_class, ImpUiMessageRow, sender_label);
  gtk_widget_class_bind_template_child (widget_class, ImpUiMessageRow, body_label);
  gtk_widget_class_bind_template_child (widget_class, ImpUiMessageRow, meta_label);
  gtk_widget_class_bind_template_child (widget_class, ImpUiMessageRow, retry_button);
  gtk_widget_class_bind_template_callback (widget_class, retry_clicked_cb);
}

static void
imp_ui_message_row_init (ImpUiMessageRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

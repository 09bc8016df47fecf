/* imp-ui-conversation-row.c: one conversation in the sidebar. */
#define G_LOG_DOMAIN "implus-gtk"

#include <glib/gi18n.h>
#include <adwaita.h>
#include "imp-ui-conversation-row.h"

struct _ImpUiConversationRow
{
  GtkListBoxRow  parent_instance;

  /* Template */
  AdwAvatar     *avatar;
  GtkLabel      *name_label;
  GtkLabel      *time_label;
  GtkLabel      *preview_label;
  GtkLabel      *unread_label;

  /* Owned */
  char          *conversation_id;
  char          *title;
  gint64         peer_id;
};

G_DEFINE_FINAL_TYPE (ImpUiConversationRow, imp_ui_conversation_row, GTK_TYPE_LIST_BOX_ROW)

char *
imp_ui_format_time (gint64 time_ms)
{
  g_autoptr(GDateTime) t = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  gint days;

  if (time_ms <= 0)
    return g_strdup ("");
  t = g_date_time_new_from_unix_local (time_ms / 1000);
  if (t == NULL)
    return g_strdup ("");
  days = g_date_time_get_day_of_year (now) - g_date_time_get_day_of_year (t)
         + 366 * (g_date_time_get_year (now) - g_date_time_get_year (t));
  if (days == 0)
    return g_date_time_format (t, "%H:%M");
  if (days == 1)
    return g_strdup (_("Yesterday"));
  if (days < 7)
    return g_date_time_format (t, "%a");
  return g_date_time_format (t, "%x");
}

GtkWidget *
imp_ui_conversation_row_new (const ImpConversationInfo *info, const char *title, gint64 self_id)
{
  ImpUiConversationRow *self = g_object_new (IMP_TYPE_UI_CONVERSATION_ROW, NULL);
  g_autofree char *name = g_strdup_printf ("conv:%s", title);
  g_autofree char *time = imp_ui_format_time (info->last_time_ms);
  g_autofree char *preview = NULL;
  g_autofree char *one_line = g_strdup (info->last_content ? info->last_content : "");

  self->conversation_id = g_strdup (info->conversation_id);
  self->title = g_strdup (title);
  self->peer_id = info->peer_id;
  /* Named after the peer so tests and accessibility tools can find it. */
  gtk_widget_set_name (GTK_WIDGET (self), name);
  adw_avatar_set_text (self->avatar, title);
  gtk_label_set_text (self->name_label, title);
  gtk_label_set_text (self->time_label, time);
  g_strdelimit (one_line, "\r\n", ' ');
  if (info->last_sender_id == self_id && *one_line != '\0')
    {
      /* TRANSLATORS: preview of the user's own last message in the conversation list */
      preview = g_strdup_printf (_("You: %s"), one_line);
      gtk_label_set_text (self->preview_label, preview);
    }
  else
    gtk_label_set_text (self->preview_label, one_line);
  if (info->unread > 0)
    {
      g_autofree char *count = g_strdup_printf ("%u", info->unread);
      gtk_label_set_text (self->unread_label, count);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->unread_label), info->unread > 0);
  return GTK_WIDGET (self);
}

const char *
imp_ui_conversation_row_get_conversation_id (ImpUiConversationRow *self)
{
  return self->conversation_id;
}

gint64
imp_ui_conversation_row_get_peer_id (ImpUiConversationRow *self)
{
  return self->peer_id;
}

const char *
imp_ui_conversation_row_get_title (ImpUiConversationRow *self)
{
  return self->title;
}

static void
imp_ui_conversation_row_finalize (GObject *object)
{
  ImpUiConversationRow *self = IMP_UI_CONVERSATION_ROW (object);

  g_free (self->conversation_id);
  g_free (self->title);
  G_OBJECT_CLASS (imp_ui_conversation_row_parent_class)->finalize (object);
}

static void
imp_ui_conversation_row_class_init (ImpUiConversationRowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = imp_ui_conversation_row_finalize;
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/implus/ImPlus/imp-ui-conversation-row.ui");
  gtk_widget_class_bind_template_child (widget_class, ImpUiConversationRow, avatar);
  gtk_widget_class_bind_template_child (widget_class, ImpUiConversationRow, name_label);
  gtk_widget_class_bind_template_child (widget_class, ImpUiConversationRow, time_label);
  gtk_widget_class_bind_template_child (widget_class, ImpUiConversationRow, preview_label);
  gtk_widget_class_bind_template_child (widget_class, ImpUiConversationRow, unread_label);
}

static void
imp_ui_conversation_row_init (ImpUiConversationRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

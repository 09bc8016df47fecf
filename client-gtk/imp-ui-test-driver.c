/* imp-ui-test-driver.c: drives the app's widgets for the GUI scenario tests.
 *
 * Commands (one per line; PATH is a widget name, or names joined by '/' to look inside a named
 * widget, e.g. "conv:bob/unread"; TEXT takes the rest of the line, with C escapes like \n):
 *   click PATH                   button "clicked", list row "activate", else widget activate
 *   activate PATH                entry "activate" (AdwEntryRow: "entry-activated")
 *   type PATH TEXT               replaces the text of an editable or a text view
 *   press PATH KEY [shift]       sends a key press (e.g. Return) to the widget's key controllers
 *   action NAME [STRING]         activates app.NAME / win.NAME with an optional string target
 *   wait MS PATH OP [TEXT]       OP: is, contains, lacks, count, shown, hidden, absent; answers when it
 *                                holds, or ERR with what was seen when MS milliseconds pass
 *   close PATH                   closes the window that holds the widget (a dialog)
 *   text PATH                    answers the widget's text
 *   shot FILE                    saves the window as PNG
 *   quit                         closes the window (the draft is saved) and quits
 * Conditions are checked at once and then on every 50 ms tick until the deadline.
 */
#define G_LOG_DOMAIN "implus-gtk-driver"

#include <stdio.h>
#include <string.h>
#include <gio/gunixinputstream.h>
#include <adwaita.h>
#include "imp-ui-test-driver.h"

#define TICK_MS 50

typedef struct {
  ImpUiApplication *app;
  GtkWindow        *window;
  GDataInputStream *input;
  /* the pending wait */
  char             *path;
  char             *op;
  char             *arg;
  gint64            deadline;
  guint             tick;
  /* the pending screenshot */
  char             *shot_file;
  gulong            paint_handler;
  GdkFrameClock    *paint_clock;   /* the clock paint_handler is on */
  guint             shot_timeout;
} Driver;

static void read_next (Driver *d);

static void
reply (const char *status, const char *fmt, ...)
{
  g_autofree char *text = NULL;
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_strdelimit (text, "\r\n", ' ');
  printf ("DRIVER %s %s\n", status, text);
  fflush (stdout);
}

/* ---- widget lookup ---- */

static GtkWidget *
find_in (GtkWidget *root, const char *name, gboolean want_mapped)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *hit;

      if (g_strcmp0 (gtk_widget_get_name (c), name) == 0 && (!want_mapped || gtk_widget_get_mapped (c)))
        return c;
      if ((hit = find_in (c, name, want_mapped)) != NULL)
        return hit;
    }
  return NULL;
}

/* Mapped widgets first, so a name shown on screen wins over a hidden one. */
static GtkWidget *
lookup (Driver *d, const char *path)
{
  g_auto(GStrv) parts = g_strsplit (path, "/", -1);
  g_autoptr(GList) tops = gtk_window_list_toplevels ();
  GtkWidget *w = NULL;

  for (int pass = 0; pass < 2 && w == NULL; pass++)
    for (GList *l = tops; l != NULL && w == NULL; l = l->next)
      {
        GtkWidget *cur = l->data;

        if (g_strcmp0 (gtk_widget_get_name (cur), parts[0]) == 0)
          w = cur;
        else
          w = find_in (cur, parts[0], pass == 0);
        for (int i = 1; w != NULL && parts[i] != NULL; i++)
          {
            GtkWidget *inner = find_in (w, parts[i], pass == 0);
            w = inner;
          }
      }
  return w;
}

static void
collect_text (GtkWidget *w, GString *out)
{
  const char *t = NULL;

  if (GTK_IS_LABEL (w))
    t = gtk_label_get_text (GTK_LABEL (w));
  else if (GTK_IS_EDITABLE (w) && !GTK_IS_TEXT (w))
    t = gtk_editable_get_text (GTK_EDITABLE (w));
  else if (GTK_IS_TEXT_VIEW (w))
    {
      GtkTextBuffer *buf = gtk_text_view_get_buffer (GTK_TEXT_VIEW (w));
      GtkTextIter a, b;
      g_autofree char *s = NULL;

      gtk_text_buffer_get_bounds (buf, &a, &b);
      s = gtk_text_buffer_get_text (buf, &a, &b, FALSE);
      g_string_append (out, s);
      return;
    }
  else if (GTK_IS_WINDOW (w))
    t = gtk_window_get_title (GTK_WINDOW (w));
  else if (ADW_IS_WINDOW_TITLE (w))
    t = adw_window_title_get_title (ADW_WINDOW_TITLE (w));
  if (t != NULL)
    {
      g_string_append (out, t);
      return;
    }
  for (GtkWidget *c = gtk_widget_get_first_child (w); c != NULL; c = gtk_widget_get_next_sibling (c))
    if (gtk_widget_get_visible (c))
      {
        gsize before = out->len;
        collect_text (c, out);
        if (out->len > before)
          g_string_append_c (out, '\n');
      }
}

static char *
widget_text (GtkWidget *w)
{
  GString *s = g_string_new (NULL);

  collect_text (w, s);
  while (s->len > 0 && s->str[s->len - 1] == '\n')
    g_string_truncate (s, s->len - 1);
  return g_string_free (s, FALSE);
}

static guint
visible_children (GtkWidget *w)
{
  guint n = 0;

  for (GtkWidget *c = gtk_widget_get_first_child (w); c != NULL; c = gtk_widget_get_next_sibling (c))
    if (gtk_widget_get_visible (c))
      n++;
  return n;
}

/* ---- conditions ---- */

static gboolean
check (Driver *d, char **seen)
{
  GtkWidget *w = lookup (d, d->path);
  g_autofree char *text = NULL;

  if (g_str_equal (d->op, "absent"))
    {
      *seen = g_strdup (w ? "present" : "absent");
      return w == NULL || !gtk_widget_get_mapped (w);
    }
  if (w == NULL)
    {
      *seen = g_strdup ("no such widget");
      return FALSE;
    }
  if (g_str_equal (d->op, "shown") || g_str_equal (d->op, "hidden"))
    {
      gboolean mapped = gtk_widget_get_mapped (w) && gtk_widget_get_child_visible (w);

      if (GTK_IS_REVEALER (w))
        mapped = gtk_revealer_get_reveal_child (GTK_REVEALER (w)) && gtk_widget_get_mapped (w);
      *seen = g_strdup (mapped ? "shown" : "hidden");
      return mapped == g_str_equal (d->op, "shown");
    }
  /* Text and counts are what the user sees: a widget off screen does not count. */
  if (!gtk_widget_get_mapped (w))
    {
      *seen = g_strdup ("not shown");
      return FALSE;
    }
  if (g_str_equal (d->op, "count"))
    {
      guint n = visible_children (w);
      *seen = g_strdup_printf ("%u", n);
      return g_strcmp0 (*seen, d->arg) == 0;
    }
  text = widget_text (w);
  *seen = g_strdup (text);
  if (g_str_equal (d->op, "is"))
    return g_strcmp0 (text, d->arg) == 0;
  if (g_str_equal (d->op, "contains"))
    return strstr (text, d->arg ? d->arg : "") != NULL;
  if (g_str_equal (d->op, "lacks"))
    return strstr (text, d->arg ? d->arg : "") == NULL;
  return FALSE;
}

static void
end_wait (Driver *d)
{
  g_clear_handle_id (&d->tick, g_source_remove);
  g_clear_pointer (&d->path, g_free);
  g_clear_pointer (&d->op, g_free);
  g_clear_pointer (&d->arg, g_free);
}

static gboolean
tick_cb (gpointer user_data)
{
  Driver *d = user_data;
  g_autofree char *seen = NULL;

  if (check (d, &seen))
    {
      reply ("OK", "wait %s %s", d->path, seen);
      d->tick = 0;
      end_wait (d);
      read_next (d);
      return G_SOURCE_REMOVE;
    }
  if (g_get_monotonic_time () >= d->deadline)
    {
      reply ("ERR", "wait %s %s %s: timed out, seen: %s", d->path, d->op, d->arg ? d->arg : "", seen);
      d->tick = 0;
      end_wait (d);
      read_next (d);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/* ---- commands ---- */

/* The window a screenshot shows: an open dialog of the main window (people, groups), else the
 * main window. */
static GtkWidget *
shot_window (Driver *d)
{
  g_autoptr(GList) tops = gtk_window_list_toplevels ();

  for (GList *l = tops; l != NULL; l = l->next)
    if (l->data != (gpointer) d->window && gtk_widget_get_mapped (l->data)
        && gtk_window_get_transient_for (l->data) == d->window)
      return l->data;
  return GTK_WIDGET (d->window);
}

static gboolean
save_png (Driver *d, const char *file, GError **error)
{
  GtkWidget *w = shot_window (d);
  int width = gtk_widget_get_width (w), height = gtk_widget_get_height (w);
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  GtkSnapshot *snapshot;
  GskRenderNode *node;
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (w));

  if (width <= 0 || height <= 0 || renderer == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "window not drawn yet");
      return FALSE;
    }
  paintable = gtk_widget_paintable_new (w);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  if (node == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "nothing to draw");
      return FALSE;
    }
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  gsk_render_node_unref (node);
  if (!gdk_texture_save_to_png (texture, file))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot write %s", file);
      return FALSE;
    }
  return TRUE;
}

static gboolean
press (GtkWidget *w, guint keyval, GdkModifierType state)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (w);
  gboolean handled = FALSE;

  for (guint i = 0; i < g_list_model_get_n_items (controllers) && !handled; i++)
    {
      g_autoptr(GObject) c = g_list_model_get_item (controllers, i);

      if (GTK_IS_EVENT_CONTROLLER_KEY (c))
        g_signal_emit_by_name (c, "key-pressed", keyval, 0, state, &handled);
    }
  return handled;
}

static void
click (GtkWidget *w)
{
  if (GTK_IS_BUTTON (w) || GTK_IS_MENU_BUTTON (w))
    {
      if (GTK_IS_MENU_BUTTON (w))
        gtk_menu_button_popup (GTK_MENU_BUTTON (w));
      else
        g_signal_emit_by_name (w, "clicked");
    }
  else if (GTK_IS_LIST_BOX_ROW (w))
    g_signal_emit_by_name (w, "activate");
  else if (GTK_IS_SWITCH (w))
    gtk_switch_set_active (GTK_SWITCH (w), !gtk_switch_get_active (GTK_SWITCH (w)));
  else if (ADW_IS_PREFERENCES_PAGE (w) && ADW_IS_PREFERENCES_WINDOW (gtk_widget_get_root (w)))
    adw_preferences_window_set_visible_page (ADW_PREFERENCES_WINDOW (gtk_widget_get_root (w)),
                                             ADW_PREFERENCES_PAGE (w));
  else
    gtk_widget_activate (w);
}

static void
finish_shot (Driver *d)
{
  g_autoptr(GError) error = NULL;

  if (d->paint_clock != NULL && d->paint_handler != 0)
    g_signal_handler_disconnect (d->paint_clock, d->paint_handler);
  d->paint_handler = 0;
  g_clear_object (&d->paint_clock);
  g_clear_handle_id (&d->shot_timeout, g_source_remove);
  if (save_png (d, d->shot_file, &error))
    reply ("OK", "shot %s", d->shot_file);
  else
    reply ("ERR", "shot %s", error->message);
  g_clear_pointer (&d->shot_file, g_free);
  read_next (d);
}

static void
after_paint_cb (GdkFrameClock *clock, gpointer user_data)
{
  finish_shot (user_data);
}

static gboolean
shot_timeout_cb (gpointer user_data)
{
  Driver *d = user_data;

  d->shot_timeout = 0;
  finish_shot (d);
  return G_SOURCE_REMOVE;
}

/* The window's render nodes exist only once drawn: shoot after the next frame is painted. */
static void
start_shot (Driver *d, const char *file)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (shot_window (d));

  d->shot_file = g_strdup (file);
  d->shot_timeout = g_timeout_add (3000, shot_timeout_cb, d);
  if (clock != NULL)
    {
      d->paint_clock = g_object_ref (clock);
      d->paint_handler = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), d);
    }
  gtk_widget_queue_draw (shot_window (d));
}

/* Returns FALSE when the command answers later (wait, shot). */
static gboolean
run (Driver *d, char *line)
{
  g_auto(GStrv) argv = g_strsplit (line, " ", 2);
  const char *cmd = argv[0];
  char *rest = argv[1] ? argv[1] : (char *) "";
  g_auto(GStrv) words = g_strsplit (rest, " ", 2);
  const char *path = words[0] ? words[0] : "";
  g_autofree char *text = words[0] && words[1] ? g_strcompress (words[1]) : g_strdup ("");
  GtkWidget *w = NULL;
  g_autoptr(GError) error = NULL;

  if (g_str_equal (cmd, "quit"))
    {
      reply ("OK", "quit");
      g_action_group_activate_action (G_ACTION_GROUP (d->app), "quit", NULL);
      return TRUE;
    }
  if (g_str_equal (cmd, "shot"))
    {
      start_shot (d, rest);
      return FALSE;
    }
  if (g_str_equal (cmd, "action"))
    {
      GActionGroup *group = G_ACTION_GROUP (d->app);
      const char *name = path;

      if (g_str_has_prefix (name, "win."))
        group = G_ACTION_GROUP (d->window), name += 4;
      else if (g_str_has_prefix (name, "app."))
        name += 4;
      if (!g_action_group_has_action (group, name))
        reply ("ERR", "action %s: no such action", path);
      else
        {
          g_action_group_activate_action (group, name, words[1] ? g_variant_new_string (text) : NULL);
          reply ("OK", "action %s", path);
        }
      return TRUE;
    }
  if (g_str_equal (cmd, "wait"))
    {
      /* wait MS PATH OP [TEXT] */
      g_auto(GStrv) wargs = g_strsplit (rest, " ", 4);
      guint64 ms = 0;

      if (g_strv_length (wargs) < 3 || !g_ascii_string_to_unsigned (wargs[0], 10, 1, 600000, &ms, NULL))
        {
          reply ("ERR", "wait: usage: wait MS PATH OP [TEXT]");
          return TRUE;
        }
      d->path = g_strdup (wargs[1]);
      d->op = g_strdup (wargs[2]);
      d->arg = g_strcompress (wargs[3] ? wargs[3] : "");
      d->deadline = g_get_monotonic_time () + (gint64) ms * 1000;
      if (tick_cb (d) == G_SOURCE_CONTINUE)
        d->tick = g_timeout_add (TICK_MS, tick_cb, d);
      return FALSE;
    }

  w = lookup (d, path);
  if (w == NULL)
    {
      reply ("ERR", "%s %s: no such widget", cmd, path);
      return TRUE;
    }
  if (g_str_equal (cmd, "click"))
    click (w);
  else if (g_str_equal (cmd, "activate"))
    {
      if (ADW_IS_ENTRY_ROW (w))
        g_signal_emit_by_name (w, "entry-activated");
      else if (GTK_IS_ENTRY (w) || GTK_IS_SEARCH_ENTRY (w))
        g_signal_emit_by_name (w, "activate");
      else
        click (w);
    }
  else if (g_str_equal (cmd, "close"))
    {
      GtkRoot *root = gtk_widget_get_root (w);

      /* Like the window's close button (dialogs: people, groups). */
      if (GTK_IS_WINDOW (root))
        gtk_window_close (GTK_WINDOW (root));
    }
  else if (g_str_equal (cmd, "type"))
    {
      if (GTK_IS_TEXT_VIEW (w))
        gtk_text_buffer_set_text (gtk_text_view_get_buffer (GTK_TEXT_VIEW (w)), text, -1);
      else if (GTK_IS_EDITABLE (w))
        gtk_editable_set_text (GTK_EDITABLE (w), text);
      else
        {
          reply ("ERR", "type %s: not editable", path);
          return TRUE;
        }
    }
  else if (g_str_equal (cmd, "press"))
    {
      guint keyval = gdk_keyval_from_name (words[1] ? words[1] : "Return");
      GdkModifierType state = 0;

      if (words[1] && strstr (words[1], " shift"))
        {
          g_autofree char *k = g_strndup (words[1], strstr (words[1], " shift") - words[1]);
          keyval = gdk_keyval_from_name (k);
          state = GDK_SHIFT_MASK;
        }
      if (keyval == GDK_KEY_VoidSymbol)
        {
          reply ("ERR", "press %s: unknown key", path);
          return TRUE;
        }
      if (!press (w, keyval, state) && GTK_IS_TEXT_VIEW (w) && keyval == GDK_KEY_Return)
        {
          /* Not handled: what the text view itself does with Enter. */
          gtk_text_buffer_insert_at_cursor (gtk_text_view_get_buffer (GTK_TEXT_VIEW (w)), "\n", 1);
        }
    }
  else if (g_str_equal (cmd, "text"))
    {
      g_autofree char *t = widget_text (w);
      reply ("OK", "text %s", t);
      return TRUE;
    }
  else
    {
      reply ("ERR", "%s: unknown command", cmd);
      return TRUE;
    }
  reply ("OK", "%s %s", cmd, path);
  return TRUE;
}

static void
line_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Driver *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, &error);

  if (line == NULL)
    {
      /* The runner went away: behave like a user quitting. */
      g_action_group_activate_action (G_ACTION_GROUP (d->app), "quit", NULL);
      return;
    }
  g_strchomp (line);
  if (*line == '\0' || run (d, line))
    read_next (d);
}

static void
read_next (Driver *d)
{
  g_data_input_stream_read_line_async (d->input, G_PRIORITY_DEFAULT, NULL, line_cb, d);
}

void
imp_ui_test_driver_start (ImpUiApplication *app, GtkWindow *window)
{
  Driver *d = g_new0 (Driver, 1);
  g_autoptr(GInputStream) in = g_unix_input_stream_new (0, FALSE);

  d->app = app;
  d->window = window;
  d->input = g_data_input_stream_new (in);
  /* Lives as long as the process: the driver is a test hook, never freed mid-run. */
  g_object_set_data_full (G_OBJECT (app), "imp-test-driver", d, NULL);
  reply ("OK", "ready");
  read_next (d);
}

/* test-http-util.h: a tiny async HTTP client for the server tests (one main context). */
#pragma once

#include <libsoup/soup.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <glib/gstdio.h>

typedef struct {
  gboolean done;
  GBytes  *body;
  GError  *error;
} TestReply;

G_GNUC_UNUSED static void
test_http_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  TestReply *r = user_data;
  r->body = soup_session_send_and_read_finish (SOUP_SESSION (source), res, &r->error);
  r->done = TRUE;
}

static gboolean
test_http_timeout (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main context until *flag is set; fails after 10 s. */
G_GNUC_UNUSED static void
test_wait (gboolean *flag)
{
  gboolean timed_out = FALSE;
  guint timer = g_timeout_add_seconds (10, test_http_timeout, &timed_out);
  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (timer);
}

/* Sends one request (with one extra header if header != NULL) and runs the main context until
 * the answer is in. Returns the parsed JSON reply (NULL if none) and the status. */
G_GNUC_UNUSED static JsonNode *
test_http_full (SoupSession *session, guint port, const char *method, const char *path,
                const char *body, gssize body_len, const char *header, const char *value,
                guint *out_status)
{
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u%s", port, path);
  g_autoptr(SoupMessage) msg = soup_message_new (method, uri);
  g_assert_nonnull (msg);
  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, body_len < 0 ? strlen (body) : (gsize) body_len);
      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }
  if (header != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), header, value);

  TestReply r = { 0 };
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, test_http_done, &r);
  test_wait (&r.done);
  g_assert_no_error (r.error);

  *out_status = soup_message_get_status (msg);
  gsize len = 0;
  const char *data = g_bytes_get_data (r.body, &len);
  JsonNode *root = NULL;
  if (len > 0)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;
      g_assert_true (json_parser_load_from_data (parser, data, (gssize) len, &error));
      g_assert_no_error (error);
      root = json_node_ref (json_parser_get_root (parser));
    }
  g_bytes_unref (r.body);
  return root;
}

G_GNUC_UNUSED static const char *
test_json_error_name (JsonNode *node)
{
  g_assert_nonnull (node);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  JsonObject *o = json_node_get_object (node);
  g_assert_true (json_object_has_member (o, "code"));
  g_assert_true (json_object_has_member (o, "message"));
  return json_object_get_string_member (o, "error");
}

/* Removes a temp dir with its files (one level). */
G_GNUC_UNUSED static void
test_rm_dir (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      g_unlink (p);
    }
  g_rmdir (dir);
}

G_GNUC_UNUSED static JsonNode *
test_http (SoupSession *session, guint port, const char *method, const char *path,
           const char *body, gssize body_len, const char *token, guint *out_status)
{
  g_autofree char *auth = token != NULL ? g_strdup_printf ("Bearer %s", token) : NULL;
  return test_http_full (session, port, method, path, body, body_len,
                         token != NULL ? "Authorization" : NULL, auth, out_status);
}

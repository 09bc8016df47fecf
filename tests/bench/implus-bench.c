/* implus-bench: load generator for a running implus-server (see tests/bench/README.md).
 *
 * Registers 2 × --pairs users over the user HTTP API, opens a sender and a receiver TCP
 * connection per pair spread over --threads threads (one GMainContext each), sends ChatUp from
 * each sender to its receiver, and reports message rates and latency percentiles for
 * send → receipt and send → push. With --spawn it starts its own server on free ports.
 */
#include "imp-bench.h"

#include <json-glib/json-glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READY_TIMEOUT_S 60
#define STOP_TIMEOUT_S  10

typedef struct {
  ImpBenchOptions  opt;
  GMainLoop       *loop;
  GPtrArray       *workers;
  guint            n_ready;
  guint            n_done;
  GError          *error;
  /* --spawn */
  GSubprocess     *server;
  GDataInputStream *server_out;
  char            *data_dir;
  gboolean         server_ready;
} Bench;

/* ---- spawning a server ---- */

static void read_server_line (Bench *b);

static void
on_server_line (GObject *source, GAsyncResult *result, gpointer data)
{
  Bench *b = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result,
                                                                NULL, &error);

  if (line == NULL)
    {
      if (!b->server_ready && b->error == NULL)
        {
          b->error = g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "server exited before it was ready%s%s",
                                  error ? ": " : "", error ? error->message : "");
          g_main_loop_quit (b->loop);
        }
      return;
    }
  if (!b->server_ready && g_str_has_prefix (line, "IMPLUS-READY "))
    {
      g_auto(GStrv) fields = g_strsplit (line + strlen ("IMPLUS-READY "), " ", -1);
      for (guint i = 0; fields[i] != NULL; i++)
        {
          guint64 v = 0;
          if (g_str_has_prefix (fields[i], "tcp=") &&
              g_ascii_string_to_unsigned (fields[i] + 4, 10, 1, 65535, &v, NULL))
            b->opt.tcp_port = (gint) v;
          else if (g_str_has_prefix (fields[i], "user_http=") &&
                   g_ascii_string_to_unsigned (fields[i] + 10, 10, 1, 65535, &v, NULL))
            b->opt.user_port = (gint) v;
        }
      b->server_ready = TRUE;
      g_main_loop_quit (b->loop);
    }
  /* Keep draining stdout so the server never blocks on a full pipe. */
  read_server_line (b);
}

static void
read_server_line (Bench *b)
{
  g_data_input_stream_read_line_async (b->server_out, G_PRIORITY_DEFAULT, NULL, on_server_line, b);
}

static gboolean
on_timeout_quit (gpointer data)
{
  Bench *b = data;

  if (b->error == NULL)
    b->error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "timed out");
  g_main_loop_quit (b->loop);
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until something quits it or secs pass (then b->error is set). */
static void
run_loop_with_timeout (Bench *b, guint secs)
{
  GSource *timeout = g_timeout_source_new_seconds (secs);

  g_source_set_callback (timeout, on_timeout_quit, b, NULL);
  g_source_attach (timeout, NULL);
  g_main_loop_run (b->loop);
  g_source_destroy (timeout);
  g_source_unref (timeout);
}

static gboolean
spawn_server (Bench *b, GError **error)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  b->data_dir = g_dir_make_tmp ("implus-bench-XXXXXX", error);
  if (b->data_dir == NULL)
    return FALSE;
  g_subprocess_launcher_setenv (launcher, "IMPLUS_GATEWAY_TCP_PORT", "0", TRUE);
  g_subprocess_launcher_setenv (launcher, "IMPLUS_GATEWAY_WS_PORT", "0", TRUE);
  g_subprocess_launcher_setenv (launcher, "IMPLUS_USER_HTTP_PORT", "0", TRUE);
  g_subprocess_launcher_setenv (launcher, "IMPLUS_MESSAGE_HTTP_PORT", "0", TRUE);
  /* Registration speed, not argon2, is what a bench run should not wait on. */
  g_subprocess_launcher_setenv (launcher, "IMPLUS_USER_PASSWORD_COST", "min", TRUE);
  b->server = g_subprocess_launcher_spawn (launcher, error, b->opt.spawn, "--role", "all",
                                           "--data-dir", b->data_dir, NULL);
  if (b->server == NULL)
    return FALSE;
  b->server_out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (b->server));
  read_server_line (b);

  run_loop_with_timeout (b, READY_TIMEOUT_S);
  if (!b->server_ready)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&b->error), "%s: ", b->opt.spawn);
      return FALSE;
    }
  g_free (b->opt.server);
  b->opt.server = g_strdup ("127.0.0.1");
  return TRUE;
}

static void
on_server_exit (GObject *source, GAsyncResult *result, gpointer data)
{
  g_main_loop_quit (data);
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
stop_server (Bench *b)
{
  g_autoptr(GMainLoop) loop = NULL;
  GSource *timeout;

  if (b->server == NULL)
    return;
  loop = g_main_loop_new (NULL, FALSE);
  g_subprocess_send_signal (b->server, SIGTERM);
  g_subprocess_wait_async (b->server, NULL, on_server_exit, loop);
  timeout = g_timeout_source_new_seconds (STOP_TIMEOUT_S);
  g_source_set_callback (timeout, quit_loop, loop, NULL);
  g_source_attach (timeout, NULL);
  g_main_loop_run (loop);
  g_source_destroy (timeout);
  g_source_unref (timeout);
  if (!g_subprocess_get_if_exited (b->server) && !g_subprocess_get_if_signaled (b->server))
    {
      g_printerr ("implus-bench: server did not stop in %d s, killing it\n", STOP_TIMEOUT_S);
      g_subprocess_force_exit (b->server);
      g_subprocess_wait (b->server, NULL, NULL);
    }
  g_clear_object (&b->server_out);
  g_clear_object (&b->server);
  if (b->data_dir != NULL)
    rm_rf (b->data_dir);
}

/* ---- workers ---- */

static void
on_worker_ready (ImpBenchWorker *w, const GError *error, gpointer data)
{
  Bench *b = data;

  if (error != NULL && b->error == NULL)
    b->error = g_error_copy (error);
  if (++b->n_ready == b->workers->len || b->error != NULL)
    g_main_loop_quit (b->loop);
}

static void
on_worker_done_main (ImpBenchWorker *w, gpointer data)
{
  Bench *b = data;

  if (++b->n_done == b->workers->len)
    g_main_loop_quit (b->loop);
}

static gboolean
worker_done_cb (gpointer data)
{
  Bench *b = data;

  on_worker_done_main (NULL, b);
  return G_SOURCE_REMOVE;
}

/* Called on the worker thread: hop to the main context. */
static void
on_worker_done (ImpBenchWorker *w, gpointer data)
{
  g_main_context_invoke (NULL, worker_done_cb, data);
}

/* ---- report ---- */

static int
cmp_u32 (const void *a, const void *b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;

  return x < y ? -1 : x > y;
}

static double
percentile_ms (GArray *sorted, double p)
{
  gsize idx;

  if (sorted->len == 0)
    return 0;
  idx = (gsize) (p / 100.0 * (sorted->len - 1) + 0.5);
  return g_array_index (sorted, guint32, MIN (idx, sorted->len - 1)) / 1000.0;
}

static void
add_latency (JsonBuilder *jb, GString *text, const char *name, GArray *lat)
{
  static const double ps[] = { 50, 90, 99, 100 };
  static const char *const names[] = { "p50_ms", "p90_ms", "p99_ms", "max_ms" };

  qsort (lat->data, lat->len, sizeof (guint32), cmp_u32);
  json_builder_set_member_name (jb, name);
  json_builder_begin_object (jb);
  json_builder_set_member_name (jb, "samples");
  json_builder_add_int_value (jb, lat->len);
  g_string_append_printf (text, "%-16s", name);
  for (gsize i = 0; i < G_N_ELEMENTS (ps); i++)
    {
      double v = percentile_ms (lat, ps[i]);
      json_builder_set_member_name (jb, names[i]);
      json_builder_add_double_value (jb, v);
      g_string_append_printf (text, " %s %.3f", names[i], v);
    }
  g_string_append_printf (text, "  (%u samples)\n", lat->len);
  json_builder_end_object (jb);
}

static gboolean
report (Bench *b)
{
  ImpBenchStats total = { 0 };
  g_autoptr(JsonBuilder) jb = json_builder_new ();
  g_autoptr(GString) text = g_string_new (NULL);
  double secs = b->opt.duration_s;
  gboolean ok;
  g_autofree char *mode = b->opt.rate > 0 ? g_strdup_printf ("rate %d msg/s", b->opt.rate)
                                          : g_strdup_printf ("window %d per pair", b->opt.window);

  total.receipt_lat_us = g_array_new (FALSE, FALSE, sizeof (guint32));
  total.push_lat_us = g_array_new (FALSE, FALSE, sizeof (guint32));
  for (guint i = 0; i < b->workers->len; i++)
    {
      const ImpBenchStats *s = imp_bench_worker_join (b->workers->pdata[i]);
      total.sent += s->sent;
      total.receipted += s->receipted;
      total.receipt_errors += s->receipt_errors;
      total.pushed += s->pushed;
      total.duplicate_pushes += s->duplicate_pushes;
      total.conn_errors += s->conn_errors;
      g_array_append_vals (total.receipt_lat_us, s->receipt_lat_us->data, s->receipt_lat_us->len);
      g_array_append_vals (total.push_lat_us, s->push_lat_us->data, s->push_lat_us->len);
    }

  json_builder_begin_object (jb);
#define NUM(k, v) (json_builder_set_member_name (jb, k), json_builder_add_int_value (jb, v))
#define DBL(k, v) (json_builder_set_member_name (jb, k), json_builder_add_double_value (jb, v))
  NUM ("pairs", b->opt.pairs);
  NUM ("threads", b->opt.threads);
  NUM ("duration_s", b->opt.duration_s);
  NUM ("warmup_s", b->opt.warmup_s);
  NUM ("rate", b->opt.rate);
  NUM ("window", b->opt.window);
  NUM ("size", b->opt.size);
  NUM ("sent", (gint64) total.sent);
  NUM ("receipted", (gint64) total.receipted);
  NUM ("receipt_errors", (gint64) total.receipt_errors);
  NUM ("pushed", (gint64) total.pushed);
  NUM ("duplicate_pushes", (gint64) total.duplicate_pushes);
  NUM ("connection_errors", (gint64) total.conn_errors);
  DBL ("sent_per_s", total.sent / secs);
  DBL ("receipted_per_s", total.receipted / secs);
  DBL ("pushed_per_s", total.pushed / secs);
  g_string_append_printf (text,
                          "pairs %d, threads %d, %d s (+%d s warm-up), %s\n"
                          "sent       %10" G_GUINT64_FORMAT "  %10.0f msg/s\n"
                          "receipted  %10" G_GUINT64_FORMAT "  %10.0f msg/s  (%" G_GUINT64_FORMAT " refused)\n"
                          "pushed     %10" G_GUINT64_FORMAT "  %10.0f msg/s  (%" G_GUINT64_FORMAT " duplicates)\n"
                          "connection errors %" G_GUINT64_FORMAT "\n",
                          b->opt.pairs, b->opt.threads, b->opt.duration_s, b->opt.warmup_s,
                          mode,
                          total.sent, total.sent / secs, total.receipted, total.receipted / secs,
                          total.receipt_errors, total.pushed, total.pushed / secs, total.duplicate_pushes, total.conn_errors);
  add_latency (jb, text, "send_to_receipt", total.receipt_lat_us);
  add_latency (jb, text, "send_to_push", total.push_lat_us);
#undef NUM
#undef DBL
  json_builder_end_object (jb);

  if (b->opt.json)
    {
      g_autoptr(JsonGenerator) gen = json_generator_new ();
      g_autoptr(JsonNode) root = json_builder_get_root (jb);
      g_autofree char *out = NULL;

      json_generator_set_pretty (gen, TRUE);
      json_generator_set_root (gen, root);
      out = json_generator_to_data (gen, NULL);
      printf ("%s\n", out);
    }
  else
    printf ("%s", text->str);

  ok = total.receipted > 0 && total.pushed > 0 && total.receipt_errors == 0 && total.conn_errors == 0;
  g_array_unref (total.receipt_lat_us);
  g_array_unref (total.push_lat_us);
  return ok;
}

/* ---- main ---- */

static gboolean
parse_options (Bench *b, int *argc, char ***argv, GError **error)
{
  ImpBenchOptions *o = &b->opt;
  GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_STRING, &o->server, "Server address (default 127.0.0.1)", "HOST" },
    { "user-port", 0, 0, G_OPTION_ARG_INT, &o->user_port, "User HTTP port (default 8090)", "PORT" },
    { "tcp-port", 0, 0, G_OPTION_ARG_INT, &o->tcp_port, "Gateway TCP port (default: as advertised at login, else 8900)", "PORT" },
    { "pairs", 'n', 0, G_OPTION_ARG_INT, &o->pairs, "Sender/receiver pairs (default 100)", "N" },
    { "duration", 'd', 0, G_OPTION_ARG_INT, &o->duration_s, "Measured seconds (default 10)", "S" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &o->warmup_s, "Unmeasured seconds before (default 1)", "S" },
    { "rate", 'r', 0, G_OPTION_ARG_INT, &o->rate, "Total msgs/s; 0 = as fast as the window allows", "R" },
    { "window", 'w', 0, G_OPTION_ARG_INT, &o->window, "In-flight messages per pair when --rate 0 (default 16)", "W" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &o->threads, "Client threads (default 2)", "T" },
    { "size", 0, 0, G_OPTION_ARG_INT, &o->size, "Message content bytes (default 64)", "BYTES" },
    { "http-parallel", 0, 0, G_OPTION_ARG_INT, &o->http_parallel, "Concurrent register/login requests (default 8)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &o->json, "Print the results as JSON", NULL },
    { "check", 0, 0, G_OPTION_ARG_NONE, &o->check, "Exit 1 unless messages were receipted and pushed without errors", NULL },
    { "spawn", 0, 0, G_OPTION_ARG_FILENAME, &o->spawn, "Start this implus-server on free ports with a temporary data dir", "PATH" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- load generator for implus-server");

  o->user_port = 8090;
  o->pairs = 100;
  o->duration_s = 10;
  o->warmup_s = 1;
  o->window = 16;
  o->threads = 2;
  o->size = 64;
  o->http_parallel = 8;
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, error))
    return FALSE;
  if (o->server == NULL)
    o->server = g_strdup ("127.0.0.1");
  if (o->pairs < 1 || o->pairs > 65535 || o->duration_s < 1 || o->warmup_s < 0 || o->rate < 0 ||
      o->window < 1 || o->threads < 1 || o->threads > 256 || o->size < 1 || o->size > 65536 ||
      o->http_parallel < 1 || o->user_port < 0 || o->user_port > 65535 || o->tcp_port < 0 ||
      o->tcp_port > 65535)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "option out of range");
      return FALSE;
    }
  o->threads = MIN (o->threads, o->pairs);
  return TRUE;
}

static GSocketAddress *
resolve (const char *host, gint port, GError **error)
{
  g_autoptr(GResolver) resolver = g_resolver_get_default ();
  GList *addrs = g_resolver_lookup_by_name (resolver, host, NULL, error);
  GSocketAddress *addr;

  if (addrs == NULL)
    return NULL;
  addr = g_inet_socket_address_new (addrs->data, (guint16) port);
  g_resolver_free_addresses (addrs);
  return addr;
}

static int
run (Bench *b)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) tcp_addr = NULL;
  guint n_users = (guint) b->opt.pairs * 2;
  ImpBenchUser *users = g_new0 (ImpBenchUser, n_users);
  guint32 run_id = g_random_int ();
  gint advertised_port = 0;
  gint64 t0, measure_us, end_us;
  gboolean ok;
  int status = 1;

  if (b->opt.spawn != NULL && !spawn_server (b, &error))
    goto out;

  /* Unique per run (time + random), so reruns against the same data dir work. */
  for (guint i = 0; i < n_users; i++)
    users[i].username = g_strdup_printf ("b%08x%04x_%c%u", (guint) time (NULL), run_id & 0xffff,
                                         i % 2 == 0 ? 's' : 'r', i / 2);
  t0 = g_get_monotonic_time ();
  if (!imp_bench_http_setup_users (&b->opt, users, n_users, &advertised_port, &error))
    goto out;
  if (!b->opt.json)
    g_printerr ("implus-bench: %u users ready in %.1f s\n", n_users,
                (g_get_monotonic_time () - t0) / 1e6);
  if (b->opt.tcp_port == 0)
    b->opt.tcp_port = advertised_port != 0 ? advertised_port : 8900;
  tcp_addr = resolve (b->opt.server, b->opt.tcp_port, &error);
  if (tcp_addr == NULL)
    goto out;

  {
    ImpBenchWorkerConfig cfg = { &b->opt, tcp_addr, g_main_context_default (),
                                 on_worker_ready, on_worker_done, b };
    guint per = (guint) b->opt.threads;

    for (guint t = 0; t < per; t++)
      {
        g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (guint));
        for (guint p = t; p < (guint) b->opt.pairs; p += per)
          g_array_append_val (ids, p);
        g_ptr_array_add (b->workers, imp_bench_worker_start (&cfg, t, users, (guint *) ids->data,
                                                             ids->len, run_id));
      }
  }

  run_loop_with_timeout (b, READY_TIMEOUT_S);
  if (b->error != NULL)
    {
      g_propagate_prefixed_error (&error, g_steal_pointer (&b->error), "connecting: ");
      for (guint i = 0; i < b->workers->len; i++)
        imp_bench_worker_stop (b->workers->pdata[i]);
      goto out;
    }

  measure_us = g_get_monotonic_time () + (gint64) b->opt.warmup_s * G_USEC_PER_SEC;
  end_us = measure_us + (gint64) b->opt.duration_s * G_USEC_PER_SEC;
  for (guint i = 0; i < b->workers->len; i++)
    imp_bench_worker_go (b->workers->pdata[i], measure_us, end_us);
  /* Workers end on their own timers and report through on_worker_done. */
  g_main_loop_run (b->loop);

  ok = report (b);
  status = (b->opt.check && !ok) ? 1 : 0;
  if (b->opt.check && !ok)
    g_printerr ("implus-bench: check failed: nothing receipted or pushed, or errors\n");

out:
  if (error != NULL)
    g_printerr ("implus-bench: %s\n", error->message);
  g_clear_pointer (&b->workers, g_ptr_array_unref);  /* joins the threads */
  stop_server (b);
  for (guint i = 0; i < n_users; i++)
    {
      g_free (users[i].username);
      g_free (users[i].token);
    }
  g_free (users);
  return status;
}

int
main (int argc, char **argv)
{
  Bench b = { 0 };
  g_autoptr(GError) error = NULL;
  int status;

  if (!parse_options (&b, &argc, &argv, &error))
    {
      g_printerr ("implus-bench: %s\n", error->message);
      return 2;
    }
  b.loop = g_main_loop_new (NULL, FALSE);
  b.workers = g_ptr_array_new_with_free_func ((GDestroyNotify) imp_bench_worker_free);
  status = run (&b);
  g_main_loop_unref (b.loop);
  g_clear_error (&b.error);
  g_free (b.opt.server);
  g_free (b.opt.spawn);
  g_free (b.data_dir);
  return status;
}

/* imp-bench.h: shared types of implus-bench (load generator against a running server). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  char   *server;
  gint    user_port;
  gint    tcp_port;
  gint    pairs;
  gint    duration_s;
  gint    warmup_s;
  gint    rate;          /* msgs/s over all pairs; 0 = closed loop with window */
  gint    window;        /* in-flight sends per pair in closed loop */
  gint    threads;
  gint    size;          /* content bytes */
  gint    http_parallel; /* concurrent register/login requests */
  gboolean json;
  gboolean check;        /* exit non-zero unless messages were receipted and pushed, error-free */
  char   *spawn;         /* path of implus-server to start with port 0 */
} ImpBenchOptions;

typedef struct {
  char   *username;
  gint64  user_id;
  char   *token;
} ImpBenchUser;

/* Everything a worker thread measured inside the window. */
typedef struct {
  guint64 sent;
  guint64 receipted;
  guint64 receipt_errors;
  guint64 pushed;
  guint64 duplicate_pushes; /* seq at or below one already seen (retransmits) */
  guint64 conn_errors;
  GArray *receipt_lat_us;  /* guint32 */
  GArray *push_lat_us;     /* guint32 */
} ImpBenchStats;

/* Registers and logs in users[0..n) (register conflicts are fine: then only login).
 * On login, *out_tcp_port gets the gateway port the server advertises (0 if none). */
gboolean imp_bench_http_setup_users (const ImpBenchOptions *opt, ImpBenchUser *users, guint n,
                                     gint *out_tcp_port, GError **error);

typedef struct _ImpBenchWorker ImpBenchWorker;

typedef struct {
  const ImpBenchOptions *opt;
  GSocketAddress *tcp_addr;
  GMainContext   *main_context;
  /* Called on main_context: once every connection of the worker authenticated (or failed,
   * error set), and once the worker finished. */
  void (*ready) (ImpBenchWorker *w, const GError *error, gpointer data);
  void (*done) (ImpBenchWorker *w, gpointer data);
  gpointer data;
} ImpBenchWorkerConfig;

/* pairs: indexes into users, sender = users[2i], receiver = users[2i+1]. */
ImpBenchWorker *imp_bench_worker_start (const ImpBenchWorkerConfig *config, guint thread_index,
                                        const ImpBenchUser *users, const guint *pair_ids,
                                        guint n_pairs, guint32 run_id);
/* Starts sending: window opens at start_us (monotonic), measurement from measure_us to end_us. */
void            imp_bench_worker_go (ImpBenchWorker *w, gint64 measure_us, gint64 end_us);
/* Makes the worker quit as soon as possible (an abort). */
void            imp_bench_worker_stop (ImpBenchWorker *w);
/* Joins the thread; the stats stay owned by the worker. */
const ImpBenchStats *imp_bench_worker_join (ImpBenchWorker *w);
void            imp_bench_worker_free (ImpBenchWorker *w);

G_END_DECLS

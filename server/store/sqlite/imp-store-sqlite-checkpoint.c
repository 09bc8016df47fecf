/* imp-store-sqlite-checkpoint.c: WAL checkpoints off the commit path (docs/store.md
 * "Durability"). SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold,
 * with its fsyncs, on the writer's thread: the message worker's latency tail. Instead, the pool's
 * connections have no automatic checkpoint and a WAL hook that wakes this thread, which
 * checkpoints on a connection of its own:
 * - when the WAL has grown past CKPT_FRAMES: a PASSIVE checkpoint while writers go on appending
 *   (the bulk of the copy and its fsyncs), then a second one under the store's write lock for
 *   the frames committed meanwhile (a short wait for the writer). Without that second step a
 *   steady stream of commits would never let the checkpoint catch up, and the WAL, which a
 *   writer starts over only once every frame is copied, would grow without bound;
 * - TRUNCATE (under the write lock) once no commit came for QUIET_US, so an idle store's WAL
 *   shrinks to nothing;
 * - TRUNCATE at close, after the thread has stopped. */
#include "imp-store-sqlite-private.h"

#define CKPT_FRAMES 1000        /* SQLite's default automatic checkpoint threshold */
#define HARD_FRAMES (8 * CKPT_FRAMES) /* the thread fell behind: the writer checkpoints itself */
#define QUIET_US (500 * G_TIME_SPAN_MILLISECOND)
#define BUSY_TIMEOUT_MS 100     /* TRUNCATE's wait for readers */

struct _ImpSqliteCheckpointer {
  sqlite3 *db;         /* the thread's connection */
  GMutex  *write_lock; /* the store's: held while the writer must not append */
  GThread *thread;
  GMutex   lock;       /* guards what follows */
  GCond    cond;
  gboolean wanted;     /* the WAL passed CKPT_FRAMES */
  gboolean dirty;      /* committed since the last TRUNCATE */
  gint64   last_commit_us;
  int      frames;     /* the WAL's end after the last commit */
  gboolean stop;
};

/* The WAL's end when the checkpoint started (frames committed while it ran are not counted),
 * or -1 if frames before it remain (a reader kept them, or an error). */
static int
checkpoint (ImpSqliteCheckpointer *self, int mode)
{
  int log_frames = 0, done_frames = 0;
  int rc = sqlite3_wal_checkpoint_v2 (self->db, NULL, mode, &log_frames, &done_frames);

  /* BUSY: another connection (or process) was checkpointing, or readers kept a TRUNCATE from
   * finishing; the next commit asks again. */
  if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
    g_warning ("store: WAL checkpoint: %s", sqlite3_errmsg (self->db));
  return rc == SQLITE_OK && done_frames >= log_frames ? log_frames : -1;
}

/* The bulk without blocking anyone, the rest with the writer held back (see the top). */
static void
checkpoint_locked (ImpSqliteCheckpointer *self, int mode)
{
  g_mutex_lock (self->write_lock);
  checkpoint (self, mode);
  g_mutex_unlock (self->write_lock);
}

static gpointer
checkpointer_run (gpointer data)
{
  ImpSqliteCheckpointer *self = data;

  g_mutex_lock (&self->lock);
  while (!self->stop)
    {
      if (self->wanted)
        {
          int end;

          self->wanted = FALSE;
          g_mutex_unlock (&self->lock);
          end = checkpoint (self, SQLITE_CHECKPOINT_PASSIVE);

          /* The second pass copies what was committed during the first (a few batches): the
           * WAL is then fully copied with no writer in between, and the next commit starts
           * it over. Not needed if no commit came since the first pass started. */
          g_mutex_lock (&self->lock);
          if (end < 0 || self->frames != end)
            {
              g_mutex_unlock (&self->lock);
              checkpoint_locked (self, SQLITE_CHECKPOINT_PASSIVE);
              g_mutex_lock (&self->lock);
            }
        }
      else if (self->dirty && g_get_monotonic_time () >= self->last_commit_us + QUIET_US)
        {
          self->dirty = FALSE;
          g_mutex_unlock (&self->lock);
          checkpoint_locked (self, SQLITE_CHECKPOINT_TRUNCATE);
          g_mutex_lock (&self->lock);
        }
      else if (self->dirty)
        g_cond_wait_until (&self->cond, &self->lock, self->last_commit_us + QUIET_US);
      else
        g_cond_wait (&self->cond, &self->lock);
    }
  g_mutex_unlock (&self->lock);
  return NULL;
}

/* Runs on the committing thread after each write transaction, the write lock released. */
static int
wal_hook (void *data, sqlite3 *db, const char *name, int n_frames)
{
  ImpSqliteCheckpointer *self = data;

  g_mutex_lock (&self->lock);
  if (!self->dirty || (n_frames >= CKPT_FRAMES && !self->wanted))
    g_cond_signal (&self->cond);  /* starts the quiet timer, or a checkpoint */
  self->dirty = TRUE;
  self->last_commit_us = g_get_monotonic_time ();
  self->frames = n_frames;
  if (n_frames >= CKPT_FRAMES)
    self->wanted = TRUE;
  g_mutex_unlock (&self->lock);
  /* Backpressure: when the checkpointer thread gets no CPU (a loaded machine, a sanitizer build)
   * the WAL would keep growing; past HARD_FRAMES the committing thread copies it back itself,
   * as SQLite's own automatic checkpoint would, so the WAL stays bounded (~32 MB). */
  if (n_frames >= HARD_FRAMES)
    sqlite3_wal_checkpoint_v2 (db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  return SQLITE_OK;
}

ImpSqliteCheckpointer *
imp_store_sqlite_checkpointer_new (const char *path, GMutex *write_lock, GError **error)
{
  ImpSqliteCheckpointer *self = g_new0 (ImpSqliteCheckpointer, 1);
  int rc;

  self->write_lock = write_lock;
  rc = sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_busy_timeout (self->db, BUSY_TIMEOUT_MS);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec (self->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_wal_autocheckpoint (self->db, 0);
  if (rc != SQLITE_OK)
    {
      imp_store_sqlite_set_error (self->db, rc, "checkpoint connection", error);
      sqlite3_close_v2 (self->db);
      g_free (self);
      return NULL;
    }
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->thread = g_thread_try_new ("store-checkpoint", checkpointer_run, self, error);
  if (self->thread == NULL)
    {
      g_prefix_error (error, "store: ");
      imp_store_sqlite_checkpointer_free (self);
      return NULL;
    }
  return self;
}

void
imp_store_sqlite_checkpointer_attach (ImpSqliteCheckpointer *self, sqlite3 *db)
{
  /* The hook replaces the automatic checkpoint (sqlite3_wal_autocheckpoint is itself a hook). */
  sqlite3_wal_autocheckpoint (db, 0);
  sqlite3_wal_hook (db, wal_hook, self);
}

void
imp_store_sqlite_checkpointer_free (ImpSqliteCheckpointer *self)
{
  if (self == NULL)
    return;
  if (self->thread != NULL)
    {
      g_mutex_lock (&self->lock);
      self->stop = TRUE;
      g_cond_signal (&self->cond);
      g_mutex_unlock (&self->lock);
      g_thread_join (self->thread);
      /* The pool's connections are closed by now: nothing else writes. */
      checkpoint (self, SQLITE_CHECKPOINT_TRUNCATE);
    }
  sqlite3_close_v2 (self->db);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self);
}

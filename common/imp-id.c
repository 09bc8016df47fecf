/* imp-id.c: snowflake message ids and UUIDs. */
#include "imp-id.h"
#include "imp-time.h"

#define ID_EPOCH_MS   G_GINT64_CONSTANT (1704067200000) /* 2024-01-01T00:00:00Z */
#define WORKER_BITS   10
#define SEQ_BITS      12
#define SEQ_MASK      ((1 << SEQ_BITS) - 1)
#define WORKER_MASK   ((1 << WORKER_BITS) - 1)
#define TS_SHIFT      (WORKER_BITS + SEQ_BITS)
#define TS_MAX        ((G_GINT64_CONSTANT (1) << 41) - 1)

struct _ImpIdGen {
  GMutex mutex;
  guint  worker_id;
  gint64 last_ts;  /* ms since ID_EPOCH_MS of the last id; -1 before the first */
  gint64 seq;
};

ImpIdGen *
imp_id_gen_new (guint worker_id)
{
  ImpIdGen *self;

  g_return_val_if_fail (worker_id <= WORKER_MASK, NULL);

  self = g_new0 (ImpIdGen, 1);
  g_mutex_init (&self->mutex);
  self->worker_id = worker_id;
  self->last_ts = -1;
  return self;
}

void
imp_id_gen_free (ImpIdGen *self)
{
  if (self == NULL)
    return;
  g_mutex_clear (&self->mutex);
  g_free (self);
}

gint64
imp_id_gen_next_at (ImpIdGen *self, gint64 now_ms)
{
  g_autoptr(GMutexLocker) locker = NULL;
  gint64 ts;

  g_return_val_if_fail (self != NULL, 0);

  locker = g_mutex_locker_new (&self->mutex);
  ts = CLAMP (now_ms - ID_EPOCH_MS, 0, TS_MAX);
  /* A clock that went backwards (NTP step) must not repeat ids: keep the last timestamp. */
  if (ts <= self->last_ts)
    {
      ts = self->last_ts;
      self->seq++;
      if (self->seq > SEQ_MASK)
        {
          /* 4096 ids in one millisecond: borrow the next one rather than block. */
          ts++;
          self->seq = 0;
        }
    }
  else
    self->seq = 0;

  if (ts == 0 && self->worker_id == 0 && self->seq == 0)
    self->seq = 1; /* never 0 */
  self->last_ts = ts;
  return (ts << TS_SHIFT) | ((gint64) self->worker_id << SEQ_BITS) | self->seq;
}

gint64
imp_id_gen_next (ImpIdGen *self)
{
  return imp_id_gen_next_at (self, imp_now_ms ());
}

gint64
imp_id_timestamp_ms (gint64 id)
{
  return (id >> TS_SHIFT) + ID_EPOCH_MS;
}

guint
imp_id_worker (gint64 id)
{
  return (guint) ((id >> SEQ_BITS) & WORKER_MASK);
}

char *
imp_uuid_new (void)
{
  return g_uuid_string_random ();
}

gboolean
imp_uuid_is_valid (const char *s)
{
  return s != NULL && g_uuid_string_is_valid (s);
}

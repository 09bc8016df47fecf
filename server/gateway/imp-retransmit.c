/* imp-retransmit.c: hashed timing wheel (Varghese & Lauck, scheme 6). */
#include "imp-retransmit.h"

#define N_SLOTS 256
#define FIRING  N_SLOTS  /* the extra queue of entries whose callback is about to run */

struct _ImpRetransmit {
  guint             tick_ms;
  gint64            start_us;     /* tick 0 */
  guint64           done_tick;    /* every slot up to this tick has been processed */
  guint             n_entries;
  GQueue            slots[N_SLOTS + 1];
  GSource          *timer;        /* Owned; armed while n_entries > 0 */
  ImpRetransmitFunc func;
  gpointer          user_data;
};

static guint64
current_tick (ImpRetransmit *self)
{
  return (guint64) (g_get_monotonic_time () - self->start_us) / ((guint64) self->tick_ms * 1000);
}

static gboolean on_tick (gpointer data);

static void
arm (ImpRetransmit *self)
{
  if (self->timer != NULL || self->n_entries == 0)
    return;
  self->timer = g_timeout_source_new (self->tick_ms);
  g_source_set_callback (self->timer, on_tick, self, NULL);
  g_source_set_static_name (self->timer, "imp-retransmit");
  g_source_attach (self->timer, g_main_context_get_thread_default ());
}

static void
disarm (ImpRetransmit *self)
{
  if (self->timer == NULL)
    return;
  g_source_destroy (self->timer);
  g_clear_pointer (&self->timer, g_source_unref);
}

static gboolean
on_tick (gpointer data)
{
  ImpRetransmit *self = data;
  guint64 now = current_tick (self);

  /* Never walk more than one revolution: later entries of a slot wait for their round. */
  if (now - self->done_tick > N_SLOTS)
    self->done_tick = now - N_SLOTS;

  while (self->done_tick < now)
    {
      guint64 tick = ++self->done_tick;
      GQueue *slot = &self->slots[tick % N_SLOTS];
      GQueue *firing = &self->slots[FIRING];
      GList *l = slot->head;

      /* Move the due entries aside first: a callback may remove (free) any other entry,
       * including one due in this same tick, which then simply leaves the firing queue. */
      while (l != NULL)
        {
          ImpRetransmitEntry *entry = l->data;
          GList *next = l->next;

          if (entry->expire_tick <= tick)
            {
              g_queue_unlink (slot, l);
              g_queue_push_tail_link (firing, l);
              entry->slot = FIRING;
            }
          l = next;
        }
      while (firing->head != NULL)
        {
          ImpRetransmitEntry *entry = firing->head->data;

          g_queue_unlink (firing, &entry->link);
          entry->queued = FALSE;
          self->n_entries--;
          self->func (entry, self->user_data);
        }
    }

  if (self->n_entries == 0)
    {
      g_clear_pointer (&self->timer, g_source_unref);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

ImpRetransmit *
imp_retransmit_new (guint tick_ms, ImpRetransmitFunc func, gpointer user_data)
{
  ImpRetransmit *self = g_new0 (ImpRetransmit, 1);

  self->tick_ms = MAX (tick_ms, 1);
  self->start_us = g_get_monotonic_time ();
  self->func = func;
  self->user_data = user_data;
  for (guint i = 0; i <= N_SLOTS; i++)
    g_queue_init (&self->slots[i]);
  return self;
}

void
imp_retransmit_free (ImpRetransmit *self)
{
  if (self == NULL)
    return;
  /* Entries belong to their owners; just forget them. */
  for (guint i = 0; i <= N_SLOTS; i++)
    while (self->slots[i].head != NULL)
      {
        ImpRetransmitEntry *entry = self->slots[i].head->data;
        g_queue_unlink (&self->slots[i], &entry->link);
        entry->queued = FALSE;
      }
  disarm (self);
  g_free (self);
}

void
imp_retransmit_add (ImpRetransmit *self, ImpRetransmitEntry *entry, guint delay_ms)
{
  guint64 ticks;

  g_return_if_fail (!entry->queued);

  /* Round up, plus one for the partly elapsed current tick: never early. */
  ticks = (delay_ms + self->tick_ms - 1) / self->tick_ms + 1;
  entry->expire_tick = current_tick (self) + ticks;
  if (entry->expire_tick <= self->done_tick)
    entry->expire_tick = self->done_tick + 1;
  entry->slot = entry->expire_tick % N_SLOTS;
  entry->link.data = entry;
  entry->link.prev = entry->link.next = NULL;
  g_queue_push_tail_link (&self->slots[entry->slot], &entry->link);
  entry->queued = TRUE;
  self->n_entries++;
  arm (self);
}

void
imp_retransmit_remove (ImpRetransmit *self, ImpRetransmitEntry *entry)
{
  if (!entry->queued)
    return;
  g_queue_unlink (&self->slots[entry->slot], &entry->link);
  entry->queued = FALSE;
  self->n_entries--;
  if (self->n_entries == 0)
    disarm (self);
}

guint
imp_retransmit_get_n_entries (ImpRetransmit *self)
{
  return self->n_entries;
}

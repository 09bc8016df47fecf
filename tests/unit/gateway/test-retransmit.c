/* test-retransmit.c: the timing wheel never fires early, fires each entry once per add, and
 * survives a callback that removes another due entry. */
#include "gateway/imp-retransmit.h"

typedef struct {
  ImpRetransmitEntry entry;
  gint64 added_us;
  guint delay_ms;
  guint fired;
  gint64 fired_us;
} Item;

typedef struct {
  ImpRetransmit *wheel;
  Item *victim;     /* removed by the first callback */
  guint n_fired;
} Ctx;

static void
on_fire (ImpRetransmitEntry *entry, gpointer data)
{
  Ctx *ctx = data;
  Item *item = (Item *) entry;

  item->fired++;
  item->fired_us = g_get_monotonic_time ();
  ctx->n_fired++;
  if (ctx->victim != NULL && ctx->victim != item)
    {
      imp_retransmit_remove (ctx->wheel, &ctx->victim->entry);
      ctx->victim = NULL;
    }
}

static gboolean
on_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
wait_for (guint *counter, guint want, guint timeout_ms)
{
  gboolean timeout = FALSE;
  guint id = g_timeout_add (timeout_ms, on_deadline, &timeout);

  while (*counter < want && !timeout)
    g_main_context_iteration (NULL, TRUE);
  if (!timeout)
    g_source_remove (id);
}

static void
test_order_and_deadlines (void)
{
  Ctx ctx = { 0 };
  Item items[20] = { 0 };

  ctx.wheel = imp_retransmit_new (5, on_fire, &ctx);
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    {
      items[i].delay_ms = 10 + 7 * i;
      items[i].added_us = g_get_monotonic_time ();
      imp_retransmit_add (ctx.wheel, &items[i].entry, items[i].delay_ms);
    }
  g_assert_cmpuint (imp_retransmit_get_n_entries (ctx.wheel), ==, 20);
  wait_for (&ctx.n_fired, 20, 5000);
  g_assert_cmpuint (ctx.n_fired, ==, 20);
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    {
      g_assert_cmpuint (items[i].fired, ==, 1);
      g_assert_cmpint (items[i].fired_us - items[i].added_us, >=, (gint64) items[i].delay_ms * 1000);
    }
  g_assert_cmpuint (imp_retransmit_get_n_entries (ctx.wheel), ==, 0);
  imp_retransmit_free (ctx.wheel);
}

static void
test_remove_during_fire (void)
{
  Ctx ctx = { 0 };
  Item a = { 0 }, b = { 0 }, c = { 0 };

  ctx.wheel = imp_retransmit_new (5, on_fire, &ctx);
  /* Same delay: same slot, same tick. Whichever fires first removes b (or, if b is first, a). */
  imp_retransmit_add (ctx.wheel, &a.entry, 20);
  imp_retransmit_add (ctx.wheel, &b.entry, 20);
  imp_retransmit_add (ctx.wheel, &c.entry, 2000);
  ctx.victim = &b;
  imp_retransmit_remove (ctx.wheel, &c.entry);
  wait_for (&ctx.n_fired, 2, 300);
  g_assert_cmpuint (ctx.n_fired, ==, 1);
  g_assert_cmpuint (a.fired + b.fired, ==, 1);
  g_assert_cmpuint (c.fired, ==, 0);
  g_assert_cmpuint (imp_retransmit_get_n_entries (ctx.wheel), ==, 0);
  imp_retransmit_free (ctx.wheel);
}

static void
test_long_delay_wraps (void)
{
  Ctx ctx = { 0 };
  Item a = { 0 };

  /* 2 ms ticks, 256 slots: 700 ms is more than two revolutions. */
  ctx.wheel = imp_retransmit_new (2, on_fire, &ctx);
  a.added_us = g_get_monotonic_time ();
  imp_retransmit_add (ctx.wheel, &a.entry, 700);
  wait_for (&ctx.n_fired, 1, 5000);
  g_assert_cmpuint (a.fired, ==, 1);
  g_assert_cmpint (a.fired_us - a.added_us, >=, 700 * 1000);
  imp_retransmit_free (ctx.wheel);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/retransmit/deadlines", test_order_and_deadlines);
  g_test_add_func ("/retransmit/remove-during-fire", test_remove_during_fire);
  g_test_add_func ("/retransmit/long-delay", test_long_delay_wraps);
  return g_test_run ();
}

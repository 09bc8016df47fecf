/* imp-ui-test-driver.h: the GUI test hook (tests/gui/README.md).
 *
 * Only started when IMPLUS_TEST_DRIVER is set: reads one command per line on stdin, drives the
 * real widgets (found by their widget names), and answers one "DRIVER OK ..." or
 * "DRIVER ERR ..." line per command on stdout.
 */
#pragma once

#include <gtk/gtk.h>
#include "imp-ui-application.h"

G_BEGIN_DECLS

void imp_ui_test_driver_start (ImpUiApplication *app, GtkWindow *window);

G_END_DECLS

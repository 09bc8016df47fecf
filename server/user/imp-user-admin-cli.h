/* imp-user-admin-cli.h: `implus-server admin ...`, the moderation command line (docs/server.md). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TRUE if argv asks for the admin command (its first non-option word is "admin"). */
gboolean imp_user_admin_cli_wanted (int argc, char **argv);
/* Runs it; the process exit status. */
int      imp_user_admin_cli_run (int argc, char **argv);

/* "2026-12-01T10:00:00Z" (ISO 8601) or "+90s", "+30m", "+2h", "+7d" from now_ms; -1 if neither. */
gint64   imp_user_admin_parse_until (const char *text, gint64 now_ms);

G_END_DECLS

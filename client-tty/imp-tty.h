/* imp-tty.h: the implus-tty front end over ImpClient (docs/tty.md). */
#pragma once

#include <gio/gio.h>
#include "imp-client.h"

G_BEGIN_DECLS

/* EVT kinds, counted for /wait. */
typedef enum {
  IMP_TTY_EVT_CONNECTED,
  IMP_TTY_EVT_DISCONNECTED,
  IMP_TTY_EVT_RECONNECTING,
  IMP_TTY_EVT_MESSAGE,
  IMP_TTY_EVT_SENT,
  IMP_TTY_EVT_FAILED,
  IMP_TTY_EVT_KICKED,
  IMP_TTY_EVT_ERROR,
  IMP_TTY_EVT_GROUP_MESSAGE,
  IMP_TTY_EVT_READ,
  IMP_TTY_EVT_DELIVERED,
  IMP_TTY_EVT_TYPING,
  IMP_TTY_N_EVT
} ImpTtyEvent;

typedef struct _ImpTty ImpTty;

struct _ImpTty
{
  /* Owned */
  ImpClient  *client;
  GMainLoop  *loop;
  GCancellable *cancellable;

  /* /wait in progress */
  gboolean    waiting;
  ImpTtyEvent wait_kind;
  guint64     wait_target;
  guint       wait_timer;

  guint64     evt_count[IMP_TTY_N_EVT];
  guint64     evt_consumed[IMP_TTY_N_EVT];
  gboolean    busy;        /* a command is running; the next line waits */
  gboolean    quitting;
  int         exit_code;
};

/* imp-tty-output.c: every printed line goes through these (line-buffered, flushed). */
void        imp_tty_print_line (const char *line);
/* Percent-encodes %, space, control characters: a value that stays one field. */
char       *imp_tty_enc (const char *value);
/* For the last field (text=): spaces stay, %, CR, LF and control characters are encoded. */
char       *imp_tty_enc_text (const char *value);
void        imp_tty_ok (const char *command, const char *fmt, ...) G_GNUC_PRINTF (2, 3);
void        imp_tty_err (const char *command, const GError *error);
void        imp_tty_err_code (const char *command, int code, const char *name, const char *message);
void        imp_tty_print_message (const char *key, const ImpMessage *m, gboolean with_state);
void        imp_tty_connect_events (ImpTty *tty);
const char *imp_tty_event_name (ImpTtyEvent kind);
gboolean    imp_tty_event_from_name (const char *name, ImpTtyEvent *out);

/* One running command: its name, fixed arguments and the rest of the line. */
typedef struct {
  ImpTty *tty;
  char   *command;
  char  **args;
  char   *rest;    /* the line after the fixed arguments (message text, nickname, user list) */
  gpointer       data;       /* a handler's own state, freed with the call */
  GDestroyNotify data_free;
} ImpTtyCall;

typedef void (*ImpTtyUserThen) (ImpTtyCall *call, gint64 user_id);

/* imp-tty-commands.c */
/* Ends a command (frees call): the next input line may run. */
void        imp_tty_call_done (ImpTtyCall *call);
/* Prints the ERR line for error and ends the command. */
void        imp_tty_call_error (ImpTtyCall *call, const GError *error);
void        imp_tty_call_fail (ImpTtyCall *call, int code, const char *name, const char *message);
/* Resolves a username (mirror cache or GET /users/lookup), then runs then; ERR on failure. */
void        imp_tty_with_user (ImpTtyCall *call, const char *username, ImpTtyUserThen then);
gboolean    imp_tty_parse_int (const char *s, gint64 min, gint64 max, gint64 *out);
/* imp-tty-social.c: friends, blacklist, groups, group messages, typing */
void        imp_tty_cmd_friend (ImpTtyCall *call);
void        imp_tty_cmd_block (ImpTtyCall *call);
void        imp_tty_cmd_unblock (ImpTtyCall *call);
void        imp_tty_cmd_blocked (ImpTtyCall *call);
void        imp_tty_cmd_group (ImpTtyCall *call);
void        imp_tty_cmd_gmsg (ImpTtyCall *call);
void        imp_tty_cmd_typing (ImpTtyCall *call);
/* "7" or "group_7" -> 7; 0 if neither. */
gint64      imp_tty_parse_group (const char *s);
/* imp-tty-commands.c */
/* Runs one input line; calls imp_tty_command_done() when its result line is printed. */
void        imp_tty_dispatch (ImpTty *tty, const char *line);
void        imp_tty_print_help (void);
/* main.c */
void        imp_tty_command_done (ImpTty *tty);
void        imp_tty_quit (ImpTty *tty, int exit_code);
/* Starts the /wait set up in tty (wait_kind, wait_target) with a timeout. */
void        imp_tty_arm_wait (ImpTty *tty, guint timeout_s);
/* Called by the output side after every EVT line. */
void        imp_tty_event_seen (ImpTty *tty, ImpTtyEvent kind);

G_END_DECLS

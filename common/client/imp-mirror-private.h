/* imp-mirror-private.h: ImpMirror's instance and SQLite helpers, shared by imp-mirror.c (user
 * stream, outbox, users, kv) and imp-mirror-group.c (group streams, read positions, states).
 * Not for the faces. */
#pragma once

#include <sqlite3.h>
#include "imp-mirror.h"

struct _ImpMirror
{
  GObject     parent_instance;

  /* Owned */
  sqlite3    *db;
  char       *path;
  GHashTable *stmts;      /* const char *sql (static) -> sqlite3_stmt * */
  gint64      watermark;  /* cached copy of kv 'watermark' */
};

/* A cached, reset statement for a static SQL string; NULL (logged) on a prepare error. */
sqlite3_stmt *imp_mirror_stmt (ImpMirror *self, const char *sql);
gboolean      imp_mirror_exec (ImpMirror *self, const char *sql, GError **error);
gboolean      imp_mirror_set_db_error (ImpMirror *self, GError **error);  /* always FALSE */
char         *imp_mirror_col_strdup (sqlite3_stmt *st, int col);
/* One-value reads; the reset ends the statement's read transaction at once. */
char         *imp_mirror_step_string (sqlite3_stmt *st);
gint64        imp_mirror_step_int64 (sqlite3_stmt *st);

/* imp-sqlite-db.h: the SQLite plumbing ImpMirror and ImpMirrorIndex share (two connections to
 * one mirror file): open, a cache of prepared statements, errors and one-value reads.
 *
 * Plain functions over the owner's own `sqlite3 *` and statement cache rather than a struct,
 * so ImpMirror's instance (imp-mirror-private.h, also read by imp-mirror-group.c) keeps its
 * fields. `who` ("mirror", "mirror index") prefixes warnings and GError messages; warnings go
 * to the owner's log_domain.
 */
#pragma once

#include <sqlite3.h>
#include <glib.h>

G_BEGIN_DECLS

/* sqlite3_open_v2 (path, flags) with a 5 s busy timeout; NULL and IMP_ERROR_INTERNAL on failure. */
sqlite3      *imp_sqlite_db_open (const char *path, int flags, const char *who, GError **error);
/* An empty statement cache: const char *sql (static, keyed by pointer) -> sqlite3_stmt *. */
GHashTable   *imp_sqlite_db_stmts_new (void);
/* Finalizes the cached statements, then closes the connection (both may be NULL already). */
void          imp_sqlite_db_clear (sqlite3 **db, GHashTable **stmts);

/* A cached, reset statement with no bindings for a static SQL string; NULL (warned) on a
 * prepare error. */
sqlite3_stmt *imp_sqlite_db_stmt (sqlite3    *db,
                                  GHashTable *stmts,
                                  const char *sql,
                                  const char *log_domain,
                                  const char *who);
gboolean      imp_sqlite_db_exec (sqlite3 *db, const char *sql, const char *who, GError **error);
/* Sets IMP_ERROR_INTERNAL from the connection's last error; always FALSE. */
gboolean      imp_sqlite_db_set_error (sqlite3 *db, const char *who, GError **error);

char         *imp_sqlite_db_col_strdup (sqlite3_stmt *st, int col);
/* One-value reads (st may be NULL); the reset ends the statement's read transaction at once. */
char         *imp_sqlite_db_step_string (sqlite3_stmt *st);
gint64        imp_sqlite_db_step_int64 (sqlite3_stmt *st);

G_END_DECLS

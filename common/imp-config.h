/* imp-config.h: a table-driven GKeyFile loader. Every key can be overridden by the environment
 * variable IMPLUS_<GROUP>_<KEY> (upper case, '-' → '_'), which wins over the file. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  IMP_CONFIG_STRING,  /* char * (owned by the struct; free with imp_config_clear) */
  IMP_CONFIG_INT,     /* gint64 */
  IMP_CONFIG_BOOL,    /* gboolean */
} ImpConfigType;

typedef struct {
  const char   *group;
  const char   *key;
  ImpConfigType type;
  gsize         offset;        /* G_STRUCT_OFFSET into the target struct */
  const char   *default_value; /* as text, parsed like file values; NULL string = NULL */
  gint64        min;           /* ints: inclusive range, checked */
  gint64        max;
  const char   *help;          /* one line; printed by --help-config and used by the docs */
} ImpConfigKey;

/* Fills target from defaults, then path (may be NULL, or missing when !must_exist), then the
 * environment. Unknown keys in the file are an error (typos must not pass silently). */
gboolean imp_config_load (const ImpConfigKey *table, gsize n_keys, gpointer target,
                          const char *path, gboolean must_exist, GError **error);
void     imp_config_clear (const ImpConfigKey *table, gsize n_keys, gpointer target);
/* "IMPLUS_GATEWAY_TCP_PORT" for ("gateway", "tcp_port"). */
char    *imp_config_env_name (const char *group, const char *key);
/* Prints an example config file documenting every key with its default. */
char    *imp_config_describe (const ImpConfigKey *table, gsize n_keys);

G_END_DECLS

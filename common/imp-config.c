/* imp-config.c: table-driven GKeyFile loader with IMPLUS_<GROUP>_<KEY> environment overrides. */
#include "imp-config.h"
#include "imp-error.h"

#include <string.h>

#define FIELD(target, k, type) ((type *) (gpointer) ((guint8 *) (target) + (k)->offset))

char *
imp_config_env_name (const char *group, const char *key)
{
  GString *s;

  g_return_val_if_fail (group != NULL && key != NULL, NULL);

  s = g_string_new ("IMPLUS_");
  g_string_append (s, group);
  g_string_append_c (s, '_');
  g_string_append (s, key);
  for (gsize i = 0; i < s->len; i++)
    {
      char c = s->str[i];
      s->str[i] = g_ascii_isalnum (c) ? g_ascii_toupper (c) : '_';
    }
  return g_string_free (s, FALSE);
}

static gboolean
parse_bool (const char *text, gboolean *out)
{
  static const char *const yes[] = { "true", "yes", "on", "1" };
  static const char *const no[] = { "false", "no", "off", "0" };
  g_autofree char *t = g_strstrip (g_ascii_strdown (text, -1));

  for (gsize i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      if (strcmp (t, yes[i]) == 0)
        return *out = TRUE, TRUE;
      if (strcmp (t, no[i]) == 0)
        return *out = FALSE, TRUE;
    }
  return FALSE;
}

/* Parses text (NULL only for a NULL string default) into the key's field; source names where
 * the value came from, for the error message. */
static gboolean
set_value (const ImpConfigKey *k, gpointer target, const char *text, const char *source,
           gboolean free_old, GError **error)
{
  switch (k->type)
    {
    case IMP_CONFIG_STRING:
      {
        char **field = FIELD (target, k, char *);
        if (free_old)
          g_free (*field);
        *field = g_strdup (text);
        return TRUE;
      }
    case IMP_CONFIG_INT:
      {
        gint64 v = 0;
        g_autoptr(GError) local = NULL;
        g_autofree char *t = g_strstrip (g_strdup (text != NULL ? text : ""));

        if (!g_ascii_string_to_signed (t, 10, G_MININT64, G_MAXINT64, &v, &local))
          {
            g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "%s: [%s] %s: not an integer: %s",
                         source, k->group, k->key, local->message);
            return FALSE;
          }
        if (v < k->min || v > k->max)
          {
            g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                         "%s: [%s] %s = %" G_GINT64_FORMAT " is out of range %" G_GINT64_FORMAT
                         "..%" G_GINT64_FORMAT, source, k->group, k->key, v, k->min, k->max);
            return FALSE;
          }
        *FIELD (target, k, gint64) = v;
        return TRUE;
      }
    case IMP_CONFIG_BOOL:
      {
        gboolean b = FALSE;
        if (text == NULL || !parse_bool (text, &b))
          {
            g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "%s: [%s] %s: not a boolean",
                         source, k->group, k->key);
            return FALSE;
          }
        *FIELD (target, k, gboolean) = b;
        return TRUE;
      }
    default:
      g_assert_not_reached ();
    }
}

static const ImpConfigKey *
find_key (const ImpConfigKey *table, gsize n_keys, const char *group, const char *key)
{
  for (gsize i = 0; i < n_keys; i++)
    if (strcmp (table[i].group, group) == 0 && strcmp (table[i].key, key) == 0)
      return &table[i];
  return NULL;
}

static gboolean
group_known (const ImpConfigKey *table, gsize n_keys, const char *group)
{
  for (gsize i = 0; i < n_keys; i++)
    if (strcmp (table[i].group, group) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
load_file (const ImpConfigKey *table, gsize n_keys, gpointer target, const char *path,
           gboolean must_exist, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) local = NULL;
  g_auto(GStrv) groups = NULL;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local))
    {
      if (!must_exist && g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "%s: %s", path, local->message);
      return FALSE;
    }

  groups = g_key_file_get_groups (kf, NULL);
  for (gsize g = 0; groups[g] != NULL; g++)
    {
      g_auto(GStrv) keys = NULL;

      if (!group_known (table, n_keys, groups[g]))
        {
          g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "%s: unknown group [%s]",
                       path, groups[g]);
          return FALSE;
        }
      keys = g_key_file_get_keys (kf, groups[g], NULL, NULL);
      for (gsize i = 0; keys != NULL && keys[i] != NULL; i++)
        {
          const ImpConfigKey *k = find_key (table, n_keys, groups[g], keys[i]);
          g_autofree char *value = NULL;

          if (k == NULL)
            {
              g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "%s: unknown key [%s] %s",
                           path, groups[g], keys[i]);
              return FALSE;
            }
          /* Strings get GKeyFile's unescaping; numbers and booleans are parsed by us. */
          if (k->type == IMP_CONFIG_STRING)
            value = g_key_file_get_string (kf, groups[g], keys[i], &local);
          else
            value = g_key_file_get_value (kf, groups[g], keys[i], &local);
          if (value == NULL)
            {
              g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "%s: [%s] %s: %s",
                           path, groups[g], keys[i], local->message);
              return FALSE;
            }
          if (!set_value (k, target, value, path, TRUE, error))
            return FALSE;
        }
    }
  return TRUE;
}

gboolean
imp_config_load (const ImpConfigKey *table, gsize n_keys, gpointer target, const char *path,
                 gboolean must_exist, GError **error)
{
  g_return_val_if_fail (table != NULL && target != NULL, FALSE);

  /* Defaults overwrite without freeing: target is treated as fresh (zeroed or cleared). */
  for (gsize i = 0; i < n_keys; i++)
    if (!set_value (&table[i], target, table[i].default_value, "default", FALSE, error))
      return FALSE;

  if (path != NULL && !load_file (table, n_keys, target, path, must_exist, error))
    return FALSE;

  for (gsize i = 0; i < n_keys; i++)
    {
      g_autofree char *name = imp_config_env_name (table[i].group, table[i].key);
      const char *value = g_getenv (name);

      if (value != NULL && !set_value (&table[i], target, value, name, TRUE, error))
        return FALSE;
    }
  return TRUE;
}

void
imp_config_clear (const ImpConfigKey *table, gsize n_keys, gpointer target)
{
  g_return_if_fail (table != NULL);

  if (target == NULL)
    return;
  for (gsize i = 0; i < n_keys; i++)
    if (table[i].type == IMP_CONFIG_STRING)
      g_clear_pointer (FIELD (target, &table[i], char *), g_free);
}

char *
imp_config_describe (const ImpConfigKey *table, gsize n_keys)
{
  GString *s = g_string_new ("# IM Plus configuration. Every key is shown with its default value,\n"
                             "# commented out. Environment variables override the file.\n");
  g_autoptr(GPtrArray) groups = g_ptr_array_new ();

  g_return_val_if_fail (table != NULL, NULL);

  for (gsize i = 0; i < n_keys; i++)
    {
      gboolean seen = FALSE;
      for (guint g = 0; g < groups->len && !seen; g++)
        seen = strcmp (groups->pdata[g], table[i].group) == 0;
      if (!seen)
        g_ptr_array_add (groups, (gpointer) table[i].group);
    }

  for (guint g = 0; g < groups->len; g++)
    {
      g_string_append_printf (s, "\n[%s]\n", (const char *) groups->pdata[g]);
      for (gsize i = 0; i < n_keys; i++)
        {
          const ImpConfigKey *k = &table[i];
          g_autofree char *env = NULL;

          if (strcmp (k->group, groups->pdata[g]) != 0)
            continue;
          env = imp_config_env_name (k->group, k->key);
          g_string_append_printf (s, "\n# %s\n", k->help != NULL ? k->help : "");
          switch (k->type)
            {
            case IMP_CONFIG_STRING:
              g_string_append (s, "# Type: string");
              break;
            case IMP_CONFIG_INT:
              g_string_append_printf (s, "# Type: integer, %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
                                      k->min, k->max);
              break;
            case IMP_CONFIG_BOOL:
              g_string_append (s, "# Type: boolean (true/false)");
              break;
            default:
              g_assert_not_reached ();
            }
          g_string_append_printf (s, "; environment: %s\n#%s=%s\n", env, k->key,
                                  k->default_value != NULL ? k->default_value : "");
        }
    }
  return g_string_free (s, FALSE);
}

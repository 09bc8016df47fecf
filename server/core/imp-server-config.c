/* imp-server-config.c: the server's settings table and its validation. */
#include "core/imp-server-config.h"
#include "imp-error.h"

#include <string.h>

#define OFF(field) G_STRUCT_OFFSET (ImpServerConfig, field)
#define PORT(group, key, field, def, help) \
  { group, key, IMP_CONFIG_INT, OFF (field), def, 0, 65535, help }

/* Key names drop the group's own prefix ([store] backend, not [store] store_backend), so the
 * environment names read naturally: IMPLUS_STORE_BACKEND, IMPLUS_USER_HTTP_PORT. */
const ImpConfigKey imp_server_config_keys[] = {
  { "server", "role", IMP_CONFIG_STRING, OFF (role), "all", 0, 0,
    "roles this process runs: all, gateway, user or message" },
  { "server", "data_dir", IMP_CONFIG_STRING, OFF (data_dir), NULL, 0, 0,
    "directory for the SQLite file and the token secret (default $XDG_DATA_HOME/implus-server)" },
  { "server", "bind", IMP_CONFIG_STRING, OFF (bind), "127.0.0.1", 0, 0,
    "address every listener binds (0.0.0.0 or :: for all interfaces)" },

  { "gateway", "id", IMP_CONFIG_STRING, OFF (gateway_id), "gw1", 0, 0,
    "gateway id, unique per gateway process (its push topic is push.<id>)" },
  PORT ("gateway", "tcp_port", tcp_port, "8900", "TCP client port (0 = pick a free one)"),
  PORT ("gateway", "ws_port", ws_port, "8902", "WebSocket client port (0 = pick a free one)"),
  { "gateway", "ws_path", IMP_CONFIG_STRING, OFF (ws_path), "/websocket", 0, 0,
    "WebSocket path" },
  { "gateway", "max_frame", IMP_CONFIG_INT, OFF (max_frame), "65536", 64, 16 * 1024 * 1024,
    "largest client frame in bytes" },
  { "gateway", "heartbeat_interval_ms", IMP_CONFIG_INT, OFF (heartbeat_interval_ms), "30000",
    100, 3600 * 1000, "heartbeat interval told to clients (ms)" },
  { "gateway", "idle_timeout_ms", IMP_CONFIG_INT, OFF (idle_timeout_ms), "90000", 100,
    24 * 3600 * 1000, "a connection silent for this long is closed (ms)" },
  { "gateway", "retransmit_ms", IMP_CONFIG_INT, OFF (retransmit_ms), "2000", 10, 600 * 1000,
    "first retransmission of an unacknowledged push after (ms); doubles each try" },
  { "gateway", "retransmit_max", IMP_CONFIG_INT, OFF (retransmit_max), "3", 0, 100,
    "retransmissions before giving up (the client's pull covers the rest)" },
  { "gateway", "max_unacked", IMP_CONFIG_INT, OFF (max_unacked), "4096", 1, 1 << 20,
    "pushes in flight per connection before it counts as a slow reader" },
  { "gateway", "max_outbuf", IMP_CONFIG_INT, OFF (max_outbuf), "4194304", 4096,
    G_GINT64_CONSTANT (1) << 32, "queued output bytes per connection before it is disconnected" },
  { "gateway", "max_connections_per_ip", IMP_CONFIG_INT, OFF (max_connections_per_ip), "0", 0,
    G_MAXINT32, "connections per client address (0 = unlimited)" },

  PORT ("user", "http_port", user_http_port, "8090", "user HTTP API port (0 = pick a free one)"),
  { "user", "token_ttl_s", IMP_CONFIG_INT, OFF (token_ttl_s), "604800", 60,
    G_GINT64_CONSTANT (10) * 365 * 24 * 3600, "session token lifetime (s)" },
  { "user", "token_secret_file", IMP_CONFIG_STRING, OFF (token_secret_file), NULL, 0, 0,
    "HMAC secret of the tokens, created 0600 if missing (default <data_dir>/token.key)" },
  { "user", "password_cost", IMP_CONFIG_STRING, OFF (password_cost), "interactive", 0, 0,
    "argon2id cost: interactive (the product), or min (tests and benchmarks only)" },
  { "user", "friends_only", IMP_CONFIG_BOOL, OFF (friends_only), "false", 0, 0,
    "one-to-one messages only between friends (else anyone the recipient has not blocked)" },
  { "user", "admin_token", IMP_CONFIG_STRING, OFF (admin_token), "", 0, 0,
    "bearer token of the admin API (/admin/...) and `implus-server admin`; empty = disabled" },
  { "user", "max_group_size", IMP_CONFIG_INT, OFF (max_group_size), "10000", 2, 1000000,
    "most members of a group" },

  PORT ("message", "http_port", message_http_port, "8100",
        "message HTTP API port (0 = pick a free one)"),
  { "message", "max_content", IMP_CONFIG_INT, OFF (max_content), "8192", 1, 1024 * 1024,
    "largest message body in bytes" },
  { "message", "pull_page_max", IMP_CONFIG_INT, OFF (pull_page_max), "500", 1, 10000,
    "most messages per pull page" },
  { "message", "worker_batch", IMP_CONFIG_INT, OFF (worker_batch), "256", 1, 65536,
    "sends per store transaction" },
  { "message", "worker_id", IMP_CONFIG_INT, OFF (worker_id), "1", 0, 1023,
    "message worker id, unique per message process (it seeds the message ids)" },
  { "message", "max_http_body", IMP_CONFIG_INT, OFF (max_http_body), "65536", 256,
    16 * 1024 * 1024, "largest HTTP request body in bytes, for every HTTP API" },

  { "store", "backend", IMP_CONFIG_STRING, OFF (store_backend), "sqlite", 0, 0,
    "store backend: sqlite (mysql: distributed build)" },
  { "store", "path", IMP_CONFIG_STRING, OFF (store_path), NULL, 0, 0,
    "SQLite database file (default <data_dir>/implus.db)" },
  { "bus", "backend", IMP_CONFIG_STRING, OFF (bus_backend), "local", 0, 0,
    "bus backend: local (kafka: distributed build)" },
  { "cache", "backend", IMP_CONFIG_STRING, OFF (cache_backend), "memory", 0, 0,
    "cache backend: memory (redis: distributed build)" },

  { "store", "mysql_host", IMP_CONFIG_STRING, OFF (mysql_host), "127.0.0.1", 0, 0,
    "MySQL/MariaDB host (store backend mysql)" },
  PORT ("store", "mysql_port", mysql_port, "3306", "MySQL/MariaDB port"),
  { "store", "mysql_user", IMP_CONFIG_STRING, OFF (mysql_user), "implus", 0, 0, "MySQL user" },
  { "store", "mysql_password", IMP_CONFIG_STRING, OFF (mysql_password), "implus", 0, 0,
    "MySQL password (prefer IMPLUS_STORE_MYSQL_PASSWORD in the environment)" },
  { "store", "mysql_database", IMP_CONFIG_STRING, OFF (mysql_database), "implus", 0, 0,
    "MySQL database" },
  { "store", "mysql_pool", IMP_CONFIG_INT, OFF (mysql_pool), "4", 1, 256,
    "MySQL connections per process" },
  { "bus", "kafka_brokers", IMP_CONFIG_STRING, OFF (kafka_brokers), "127.0.0.1:9092", 0, 0,
    "Kafka bootstrap servers, comma-separated (bus backend kafka)" },
  { "bus", "kafka_partitions", IMP_CONFIG_INT, OFF (kafka_partitions), "8", 1, 1024,
    "partitions of the conversation-messages topic when it is created" },
  { "bus", "kafka_topic_prefix", IMP_CONFIG_STRING, OFF (kafka_topic_prefix), "", 0, 0,
    "prefix of every Kafka topic name (one deployment per prefix on a shared cluster)" },
  { "cache", "redis_host", IMP_CONFIG_STRING, OFF (redis_host), "127.0.0.1", 0, 0,
    "Redis host (cache backend redis)" },
  PORT ("cache", "redis_port", redis_port, "6379", "Redis port"),
  { "cache", "redis_prefix", IMP_CONFIG_STRING, OFF (redis_prefix), "implus:", 0, 0,
    "prefix of every Redis key" },
  { "cache", "redis_password_file", IMP_CONFIG_STRING, OFF (redis_password_file), "", 0, 0,
    "file whose first line is the Redis password (AUTH), read at start; empty = no AUTH" },
};

const gsize imp_server_config_n_keys = G_N_ELEMENTS (imp_server_config_keys);

static gboolean
check_choice (const char *group, const char *key, const char *value,
              const char *const *choices, GError **error)
{
  if (value != NULL && g_strv_contains (choices, value))
    return TRUE;
  g_autofree char *list = g_strjoinv (", ", (char **) choices);
  g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
               "config [%s] %s: \"%s\" is not one of %s", group, key,
               value ? value : "(none)", list);
  return FALSE;
}

static gboolean
validate (ImpServerConfig *config, GError **error)
{
  static const char *const roles[] = { "all", "gateway", "user", "message", NULL };
  static const char *const costs[] = { "interactive", "min", NULL };
  static const char *const stores[] = { "sqlite", "mysql", NULL };
  static const char *const buses[] = { "local", "kafka", NULL };
  static const char *const caches[] = { "memory", "redis", NULL };

  if (!check_choice ("server", "role", config->role, roles, error) ||
      !check_choice ("user", "password_cost", config->password_cost, costs, error) ||
      !check_choice ("store", "backend", config->store_backend, stores, error) ||
      !check_choice ("bus", "backend", config->bus_backend, buses, error) ||
      !check_choice ("cache", "backend", config->cache_backend, caches, error))
    return FALSE;

  if (config->bind == NULL || *config->bind == '\0')
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "config [server] bind is empty");
      return FALSE;
    }
  /* The gateway id names a bus topic: keep it to safe characters. */
  if (config->gateway_id == NULL || *config->gateway_id == '\0' ||
      strlen (config->gateway_id) > 64 ||
      strspn (config->gateway_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
        != strlen (config->gateway_id))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "config [gateway] id must be 1..64 characters of [A-Za-z0-9_.-]");
      return FALSE;
    }
  if (config->ws_path == NULL || config->ws_path[0] != '/')
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "config [gateway] ws_path must start with '/'");
      return FALSE;
    }
  return TRUE;
}

/* Empty strings count as "not set" so IMPLUS_STORE_PATH= falls back to the default. */
static void
default_path (char **field, const char *dir, const char *name)
{
  if (*field != NULL && **field != '\0')
    return;
  g_free (*field);
  *field = g_build_filename (dir, name, NULL);
}

gboolean
imp_server_config_load (ImpServerConfig *config, const char *path, GError **error)
{
  memset (config, 0, sizeof *config);
  if (!imp_config_load (imp_server_config_keys, imp_server_config_n_keys, config, path,
                        path != NULL, error))
    {
      imp_server_config_clear (config);
      return FALSE;
    }

  default_path (&config->data_dir, g_get_user_data_dir (), "implus-server");
  default_path (&config->store_path, config->data_dir, "implus.db");
  default_path (&config->token_secret_file, config->data_dir, "token.key");

  if (!validate (config, error))
    {
      imp_server_config_clear (config);
      return FALSE;
    }
  return TRUE;
}

gboolean
imp_server_config_read_redis_password (const ImpServerConfig *config, char **out_password,
                                       GError **error)
{
  const char *path = config->redis_password_file;
  g_autoptr(GError) local = NULL;
  char *contents = NULL;
  gsize length = 0;
  gsize line;

  *out_password = NULL;
  if (path == NULL || path[0] == '\0')
    return TRUE;
  /* GLib's message names the file and the reason, never its content. */
  if (!g_file_get_contents (path, &contents, &length, &local))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "config [cache] redis_password_file: %s", local->message);
      return FALSE;
    }
  line = strcspn (contents, "\r\n");
  if (line > 0)
    *out_password = g_strndup (contents, line);
  explicit_bzero (contents, length);
  g_free (contents);
  if (*out_password == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "config [cache] redis_password_file %s: the first line is empty", path);
      return FALSE;
    }
  return TRUE;
}

void
imp_server_config_secret_free (char *secret)
{
  if (secret == NULL)
    return;
  explicit_bzero (secret, strlen (secret));
  g_free (secret);
}

void
imp_server_config_clear (ImpServerConfig *config)
{
  if (config == NULL)
    return;
  imp_config_clear (imp_server_config_keys, imp_server_config_n_keys, config);
  memset (config, 0, sizeof *config);
}

/* imp-server-config.h: every server setting, loaded by the table-driven loader (common/imp-config.h)
 * from /etc/implus/server.conf or --config FILE, each key overridable by IMPLUS_<GROUP>_<KEY>. */
#pragma once

#include <glib.h>
#include "imp-config.h"

G_BEGIN_DECLS

typedef struct {
  /* [server] */
  char    *role;              /* all | gateway | user | message */
  char    *data_dir;          /* SQLite file, token secret; default $XDG_DATA_HOME/implus-server */
  char    *bind;              /* listen address; default 127.0.0.1 */
  /* [gateway] */
  char    *gateway_id;        /* unique per gateway process; default "gw1" */
  gint64   tcp_port;          /* 8900; 0 = pick one and print it */
  gint64   ws_port;           /* 8902 */
  char    *ws_path;           /* /websocket */
  gint64   max_frame;         /* bytes, 65536 */
  gint64   heartbeat_interval_ms; /* told to clients, 30000 */
  gint64   idle_timeout_ms;   /* 90000 */
  gint64   retransmit_ms;     /* first retransmit after, 2000; doubles */
  gint64   retransmit_max;    /* tries before giving up (the client's pull covers the rest), 3 */
  gint64   max_unacked;       /* pushes in flight per connection before it is a slow reader, 4096 */
  gint64   max_outbuf;        /* queued output bytes per connection before disconnect, 4 MiB */
  gint64   max_connections_per_ip; /* 0 = unlimited */
  /* [user] */
  gint64   user_http_port;    /* 8090 */
  gint64   token_ttl_s;       /* 7 days */
  char    *token_secret_file; /* default <data_dir>/token.key (created 0600 on first start) */
  char    *password_cost;     /* interactive | min (tests only) */
  gboolean friends_only;      /* one-to-one chats only between friends; default false */
  char    *admin_token;       /* bearer token of the admin HTTP API; empty = disabled */
  gint64   max_group_size;    /* members per group, 10000 */
  /* [message] */
  gint64   message_http_port; /* 8100 */
  gint64   max_content;       /* bytes per message body, 8192 */
  gint64   pull_page_max;     /* rows per pull page, 500 */
  gint64   worker_batch;      /* sends per store transaction, 256 */
  gint64   worker_id;         /* 0..1023, unique per message worker process: seeds message ids, 1 */
  gint64   max_http_body;     /* bytes, 65536 */
  /* [store] [bus] [cache] */
  char    *store_backend;     /* sqlite (mysql in the distributed issue) */
  char    *store_path;        /* default <data_dir>/implus.db */
  char    *bus_backend;       /* local */
  char    *cache_backend;     /* memory */
  /* [store] mysql: the distributed deployment's store */
  char    *mysql_host;        /* 127.0.0.1 */
  gint64   mysql_port;        /* 3306 */
  char    *mysql_user;        /* implus */
  char    *mysql_password;    /* implus */
  char    *mysql_database;    /* implus */
  gint64   mysql_pool;        /* connections, 4 */
  /* [bus] kafka */
  char    *kafka_brokers;     /* 127.0.0.1:9092 */
  gint64   kafka_partitions;  /* partitions of conversation-messages, 8 */
  char    *kafka_topic_prefix; /* prepended to every topic name, "" (tests use one per run) */
  /* [cache] redis */
  char    *redis_host;        /* 127.0.0.1 */
  gint64   redis_port;        /* 6379 */
  char    *redis_prefix;      /* implus: */
  char    *redis_password_file; /* first line = the AUTH password; "" = no AUTH */
} ImpServerConfig;

extern const ImpConfigKey imp_server_config_keys[];
extern const gsize imp_server_config_n_keys;

gboolean imp_server_config_load (ImpServerConfig *config, const char *path, GError **error);
void     imp_server_config_clear (ImpServerConfig *config);
/* Reads [cache] redis_password_file once, at start: its first line, without the line end, in
 * *out_password (NULL when the key is empty; free it with imp_server_config_secret_free ()).
 * Fails for an unreadable file or an empty first line; the error names the path, never the
 * content. */
gboolean imp_server_config_read_redis_password (const ImpServerConfig *config,
                                                char **out_password, GError **error);
/* Zeroes a secret, then frees it. NULL is fine. */
void     imp_server_config_secret_free (char *secret);

G_END_DECLS

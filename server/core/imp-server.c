/* imp-server.c: builds the backends the config names and starts the roles it asks for. */
#include "core/imp-server.h"
#include "core/imp-auth.h"
#include "core/imp-http.h"
#include "imp-error.h"
#include "store/imp-store.h"
#include "bus/imp-bus.h"
#include "cache/imp-cache.h"
#ifdef IMPLUS_HAVE_REDIS
#include "cache/redis/imp-cache-redis.h"
#endif
#include "gateway/imp-gateway.h"
#include "message/imp-message-worker.h"
#include "message/imp-message-http.h"
#include "user/imp-user-http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>


struct _ImpServer {
  /* Borrowed */
  ImpServerConfig  *config;
  /* Owned, in the order they are built (freed in reverse) */
  ImpStore         *store;
  ImpBus           *bus;
  ImpCache         *cache;
  ImpAuth          *auth;
  ImpMessageWorker *worker;
  SoupServer       *message_server;
  ImpMessageHttp   *message_http;
  SoupServer       *user_server;
  ImpUserHttp      *user_http;
  ImpGateway       *gateway;
  guint             message_port;
  guint             user_port;
  gboolean          started;
};

static gboolean
role_runs (const ImpServerConfig *config, const char *role)
{
  return g_strcmp0 (config->role, "all") == 0 || g_strcmp0 (config->role, role) == 0;
}

static gboolean
not_built (const char *what, const char *name, GError **error)
{
  g_set_error (error, IMP_ERROR, IMP_ERROR_UNAVAILABLE,
               "%s backend \"%s\" is not built in this binary (meson -Ddistributed=enabled needs "
               "libmariadb, hiredis and librdkafka)", what, name);
  return FALSE;
}

static ImpStore *
open_store (const ImpServerConfig *c, GError **error)
{
  if (g_strcmp0 (c->store_backend, "sqlite") == 0)
    return imp_store_sqlite_open (c->store_path, error);
#ifdef IMPLUS_HAVE_MYSQL
  if (g_strcmp0 (c->store_backend, "mysql") == 0)
    return imp_store_mysql_open (c->mysql_host, (guint) c->mysql_port, c->mysql_user,
                                 c->mysql_password, c->mysql_database, (guint) c->mysql_pool, error);
#endif
  not_built ("store", c->store_backend, error);
  return NULL;
}

static ImpBus *
open_bus (const ImpServerConfig *c, GError **error)
{
  if (g_strcmp0 (c->bus_backend, "local") == 0)
    return imp_bus_local_new ();
#ifdef IMPLUS_HAVE_KAFKA
  if (g_strcmp0 (c->bus_backend, "kafka") == 0)
    {
      /* Unique per process: role, gateway id and worker id tell the processes apart. */
      g_autofree char *client_id = g_strdup_printf ("implus-%s-%s-w%" G_GINT64_FORMAT, c->role,
                                                    c->gateway_id, c->worker_id);
      return imp_bus_kafka_new (c->kafka_brokers, client_id, c->kafka_topic_prefix, (guint) c->kafka_partitions, error);
    }
#endif
  not_built ("bus", c->bus_backend, error);
  return NULL;
}

#ifdef IMPLUS_HAVE_REDIS
/* The password is read here, once: it never sits in the config or the environment. */
static ImpCache *
open_redis (const ImpServerConfig *c, GError **error)
{
  char *password = NULL;
  ImpCache *cache;

  if (!imp_server_config_read_redis_password (c, &password, error))
    return NULL;
  cache = imp_cache_redis_new_full (c->redis_host, (guint) c->redis_port, c->redis_prefix,
                                    password, error);
  imp_server_config_secret_free (password);
  return cache;
}
#endif

static ImpCache *
open_cache (const ImpServerConfig *c, GError **error)
{
  if (g_strcmp0 (c->cache_backend, "memory") == 0)
    return imp_cache_memory_new ();
#ifdef IMPLUS_HAVE_REDIS
  if (g_strcmp0 (c->cache_backend, "redis") == 0)
    return open_redis (c, error);
#endif
  not_built ("cache", c->cache_backend, error);
  return NULL;
}

static gboolean
open_backends (ImpServer *self, GError **error)
{
  const ImpServerConfig *c = self->config;

  /* The data dir holds the token secret and the database: nobody else may read it. */
  if (g_mkdir_with_parents (c->data_dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "cannot create data dir %s: %s",
                   c->data_dir, g_strerror (saved));
      return FALSE;
    }

  self->store = open_store (c, error);
  if (self->store == NULL)
    return FALSE;
  imp_store_set_friends_only (self->store, c->friends_only);
  self->bus = open_bus (c, error);
  if (self->bus == NULL)
    return FALSE;
  self->cache = open_cache (c, error);
  if (self->cache == NULL)
    return FALSE;
  self->auth = imp_auth_new (c->token_secret_file, c->token_ttl_s, self->store, self->cache, error);
  return self->auth != NULL;
}

/* The host clients should dial: a wildcard bind is reachable on loopback at least. */
static char *
dial_host (const char *bind)
{
  if (g_strcmp0 (bind, "0.0.0.0") == 0 || g_strcmp0 (bind, "*") == 0)
    return g_strdup ("127.0.0.1");
  if (g_strcmp0 (bind, "::") == 0)
    return g_strdup ("[::1]");
  if (strchr (bind, ':') != NULL)
    return g_strdup_printf ("[%s]", bind);
  return g_strdup (bind);
}

static gboolean
start_http (ImpServer *self, SoupServer **server, gint64 port, guint *out_port, GError **error)
{
  *server = soup_server_new ("server-header", "implus-server", NULL);
  return imp_http_listen (*server, self->config->bind, (guint) port, out_port, error);
}

static gboolean
start_roles (ImpServer *self, GError **error)
{
  ImpServerConfig *c = self->config;

  if (role_runs (c, "message"))
    {
      self->worker = imp_message_worker_new (c, (guint) c->worker_id, self->store, self->bus,
                                             self->cache, error);
      if (self->worker == NULL)
        return FALSE;
      if (!start_http (self, &self->message_server, c->message_http_port, &self->message_port,
                       error))
        return FALSE;
      self->message_http = imp_message_http_new (self->message_server, c, self->store, self->auth);
      imp_message_http_set_bus (self->message_http, self->bus, self->cache);
    }

  if (role_runs (c, "user"))
    {
      if (!start_http (self, &self->user_server, c->user_http_port, &self->user_port, error))
        return FALSE;
      self->user_http = imp_user_http_new (self->user_server, c, self->store, self->auth,
                                           self->bus, self->cache);
    }

  if (role_runs (c, "gateway"))
    {
      self->gateway = imp_gateway_new (c, self->auth, self->bus, self->cache, error);
      if (self->gateway == NULL)
        return FALSE;
      imp_gateway_set_store (self->gateway, self->store);
      if (self->user_http != NULL)
        {
          g_autofree char *host = dial_host (c->bind);
          g_autofree char *tcp = g_strdup_printf ("%s:%u", host,
                                                  imp_gateway_get_tcp_port (self->gateway));
          g_autofree char *ws = g_strdup_printf ("ws://%s:%u%s", host,
                                                 imp_gateway_get_ws_port (self->gateway),
                                                 c->ws_path);
          imp_user_http_set_gateway (self->user_http, tcp, ws);
        }
    }
  return TRUE;
}

ImpServer *
imp_server_new (ImpServerConfig *config, GError **error)
{
  g_autoptr(ImpServer) self = g_new0 (ImpServer, 1);
  self->config = config;

  if (!open_backends (self, error) || !start_roles (self, error))
    return NULL;

  g_message ("implus-server started: role=%s gateway=%s tcp=%u ws=%u user_http=%u "
             "message_http=%u data_dir=%s store=%s bus=%s cache=%s",
             config->role, config->gateway_id,
             self->gateway ? imp_gateway_get_tcp_port (self->gateway) : 0,
             self->gateway ? imp_gateway_get_ws_port (self->gateway) : 0,
             self->user_port, self->message_port, config->data_dir,
             config->store_backend, config->bus_backend, config->cache_backend);
  self->started = TRUE;
  return g_steal_pointer (&self);
}

void
imp_server_print_ready (ImpServer *self)
{
  printf ("IMPLUS-READY role=%s tcp=%u ws=%u user_http=%u message_http=%u\n",
          self->config->role,
          self->gateway ? imp_gateway_get_tcp_port (self->gateway) : 0,
          self->gateway ? imp_gateway_get_ws_port (self->gateway) : 0,
          self->user_port, self->message_port);
  fflush (stdout);
}

static void
stop_http (SoupServer **server)
{
  if (*server == NULL)
    return;
  soup_server_disconnect (*server);
}

/* Shutdown order: no new clients or requests first, then the consumers, then the backends. */
void
imp_server_free (ImpServer *self)
{
  if (self == NULL)
    return;

  if (self->gateway != NULL)
    imp_gateway_shutdown (self->gateway);
  stop_http (&self->user_server);
  stop_http (&self->message_server);
  /* These wait for the handlers in flight. */
  g_clear_pointer (&self->user_http, imp_user_http_free);
  g_clear_pointer (&self->message_http, imp_message_http_free);
  g_clear_object (&self->user_server);
  g_clear_object (&self->message_server);
  g_clear_pointer (&self->gateway, imp_gateway_free);
  g_clear_pointer (&self->worker, imp_message_worker_free);
  g_clear_pointer (&self->auth, imp_auth_free);
  g_clear_pointer (&self->cache, imp_cache_free);
  g_clear_pointer (&self->bus, imp_bus_free);
  g_clear_pointer (&self->store, imp_store_free);
  if (self->started)
    g_message ("implus-server stopped");
  g_free (self);
}

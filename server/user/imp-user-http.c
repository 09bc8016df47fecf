/* imp-user-http.c: register, login, logout, lookup, me (docs/http-api.md, "User service"); the
 * service object, which also serves the routes of imp-user-social-http.c (friends, blacklist,
 * admin) and imp-user-group-http.c (groups). */
#include "user/imp-user-private.h"
#include "imp-error.h"
#include "imp-password.h"
#include "imp-time.h"
#include "implus-bus.pb-c.h"

#include <string.h>

#define USERNAME_MIN 3
#define USERNAME_MAX 32
#define NICKNAME_MAX 64
/* Login accepts anything up to these sizes and answers auth_failed; beyond: bad_request. */
#define LOGIN_USERNAME_MAX 256
#define LOGIN_PASSWORD_MAX 1024

static gboolean
username_valid (const char *s)
{
  gsize len = strlen (s);
  return len >= USERNAME_MIN && len <= USERNAME_MAX &&
         strspn (s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len;
}

static JsonNode *
user_reply (const ImpUserRecord *rec)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "user_id");
  json_builder_add_int_value (b, rec->id);
  json_builder_set_member_name (b, "username");
  json_builder_add_string_value (b, rec->username);
  json_builder_set_member_name (b, "nickname");
  json_builder_add_string_value (b, rec->nickname);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static gboolean
handle_register (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;

  const char *username = imp_http_body_string (job, "username", LOGIN_USERNAME_MAX, error);
  if (username == NULL)
    return FALSE;
  if (!username_valid (username))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST,
                   "\"username\" must be %d..%d characters of [A-Za-z0-9_.-]",
                   USERNAME_MIN, USERNAME_MAX);
      return FALSE;
    }
  const char *password = imp_http_body_string (job, "password", LOGIN_PASSWORD_MAX, error);
  if (password == NULL || !imp_password_check_policy (password, error))
    return FALSE;

  const char *nickname = username;
  JsonNode *nick_node = json_object_get_member (job->body, "nickname");
  if (nick_node != NULL && !JSON_NODE_HOLDS_NULL (nick_node))
    {
      nickname = imp_http_body_string (job, "nickname", NICKNAME_MAX, error);
      if (nickname == NULL)
        return FALSE;
      if (*nickname == '\0')
        nickname = username;
    }

  g_autofree char *hash = imp_password_hash (password, self->cost, error);
  if (hash == NULL)
    return FALSE;

  gint64 id = 0;
  if (!imp_store_user_create (self->store, username, nickname, hash, imp_now_ms (), &id, error))
    return FALSE;

  g_message ("registered user %" G_GINT64_FORMAT, id);
  ImpUserRecord rec = { .id = id, .username = (char *) username, .nickname = (char *) nickname };
  job->reply = user_reply (&rec);
  job->status = SOUP_STATUS_CREATED;
  return TRUE;
}

/* A hash of the configured cost, made once, so an unknown username costs as much as a
 * wrong password (no user enumeration by timing). */
static const char *
dummy_hash (ImpUserHttp *self)
{
  g_mutex_lock (&self->lock);
  if (self->dummy_hash == NULL)
    self->dummy_hash = imp_password_hash ("implus-not-a-password", self->cost, NULL);
  const char *hash = self->dummy_hash;
  g_mutex_unlock (&self->lock);
  return hash;
}

/* The least loaded live gateway of the registry; the configured one when the registry is empty
 * (a lone user process, or the cache down). exclude (NULL: none) names a gateway the client
 * could not reach (its TCP address or WebSocket URL): another one is preferred while any is
 * listed, since a dead gateway stays in the registry until its entry lapses. */
static void
add_gateway_object (ImpUserHttp *self, JsonBuilder *b, const char *exclude)
{
  g_autoptr(GPtrArray) live = imp_cache_gateways_live (self->cache);
  const ImpGatewayInfo *best = NULL;

  for (guint i = 0; i < live->len; i++)
    {
      const ImpGatewayInfo *gw = live->pdata[i];

      if (gw->tcp_address == NULL || gw->tcp_address[0] == '\0')
        continue;
      if (exclude != NULL && live->len > 1 &&
          (g_strcmp0 (gw->tcp_address, exclude) == 0 || g_strcmp0 (gw->ws_url, exclude) == 0))
        continue;
      if (best == NULL || gw->n_connections < best->n_connections)
        best = gw;
    }
  json_builder_begin_object (b);
  g_mutex_lock (&self->lock);
  json_builder_set_member_name (b, "tcp");
  json_builder_add_string_value (b, best ? best->tcp_address : self->gateway_tcp);
  json_builder_set_member_name (b, "ws");
  json_builder_add_string_value (b, best && best->ws_url ? best->ws_url : self->gateway_ws);
  if (best != NULL)
    {
      json_builder_set_member_name (b, "id");
      json_builder_add_string_value (b, best->gateway_id);
    }
  g_mutex_unlock (&self->lock);
  json_builder_end_object (b);
}

static gboolean
handle_login (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;

  const char *username = imp_http_body_string (job, "username", LOGIN_USERNAME_MAX, error);
  if (username == NULL)
    return FALSE;
  const char *password = imp_http_body_string (job, "password", LOGIN_PASSWORD_MAX, error);
  if (password == NULL)
    return FALSE;

  g_autoptr(GError) find_error = NULL;
  g_autoptr(ImpUserRecord) rec = NULL;
  if (username_valid (username))
    rec = imp_store_user_find (self->store, username, &find_error);
  if (rec == NULL && find_error != NULL && !g_error_matches (find_error, IMP_ERROR,
                                                              IMP_ERROR_UNKNOWN_USER))
    {
      g_propagate_error (error, g_steal_pointer (&find_error));
      return FALSE;
    }

  gboolean ok;
  if (rec != NULL)
    ok = imp_password_verify (rec->password_hash, password);
  else
    {
      const char *hash = dummy_hash (self);
      if (hash != NULL)
        imp_password_verify (hash, password);
      ok = FALSE;
    }
  if (!ok)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_AUTH_FAILED, "wrong username or password");
      return FALSE;
    }
  if (rec->status == IMP_USER_STATUS_BANNED)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BANNED, "this account is banned");
      return FALSE;
    }
  if (!imp_store_user_touch_login (self->store, rec->id, imp_now_ms (), error))
    return FALSE;

  ImpTokenClaims claims = { 0 };
  g_autofree char *token = imp_auth_issue (self->auth, rec->id, &claims);

  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "user_id");
  json_builder_add_int_value (b, rec->id);
  json_builder_set_member_name (b, "username");
  json_builder_add_string_value (b, rec->username);
  json_builder_set_member_name (b, "nickname");
  json_builder_add_string_value (b, rec->nickname);
  json_builder_set_member_name (b, "token");
  json_builder_add_string_value (b, token);
  json_builder_set_member_name (b, "expires_at");
  json_builder_add_int_value (b, claims.expires_at);
  json_builder_set_member_name (b, "gateway");
  add_gateway_object (self, b, NULL);
  json_builder_end_object (b);
  job->reply = json_builder_get_root (b);
  memset (token, 0, strlen (token));

  g_message ("user %" G_GINT64_FORMAT " logged in", rec->id);
  return TRUE;
}

/* Tells every gateway where the user is connected to drop the connections of this token. */
static void
publish_kicks (ImpUserHttp *self, const ImpTokenClaims *claims)
{
  Implus__Bus__GatewayKick kick = IMPLUS__BUS__GATEWAY_KICK__INIT;
  kick.user_id = claims->user_id;
  kick.token_id = (char *) claims->token_id;
  kick.reason = IMPLUS__KICK_REASON__KICK_REASON_TOKEN_REVOKED;
  kick.message = (char *) "logged out";
  Implus__Bus__GatewayRecord record = IMPLUS__BUS__GATEWAY_RECORD__INIT;
  record.body_case = IMPLUS__BUS__GATEWAY_RECORD__BODY_KICK;
  record.kick = &kick;
  /* The revocation is durable already; a lost kick only leaves a connection that
   * authenticated earlier until it reconnects. */
  imp_user_publish_to_user (self, claims->user_id, &record);
}

static gboolean
handle_logout (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;

  if (!imp_auth_revoke (self->auth, &job->claims, error))
    return FALSE;
  publish_kicks (self, &job->claims);
  g_message ("user %" G_GINT64_FORMAT " logged out", job->claims.user_id);
  return TRUE;
}

static gboolean
handle_lookup (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  const char *username = job->query != NULL ? g_hash_table_lookup (job->query, "username") : NULL;

  if (username == NULL || *username == '\0')
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "query parameter \"username\" required");
      return FALSE;
    }
  if (!username_valid (username))
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_UNKNOWN_USER, "no such user");
      return FALSE;
    }
  g_autoptr(ImpUserRecord) rec = imp_store_user_find (self->store, username, error);
  if (rec == NULL)
    return FALSE;
  job->reply = user_reply (rec);
  return TRUE;
}

static gboolean
handle_me (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  g_autoptr(ImpUserRecord) rec = imp_store_user_get (self->store, job->claims.user_id, error);
  if (rec == NULL)
    return FALSE;
  job->reply = user_reply (rec);
  return TRUE;
}

/* GET /users/gateway[?exclude=<address>]: a gateway for a client that has a token but cannot
 * reach its gateway (failover, docs/http-api.md), chosen as login does. */
static gboolean
handle_gateway (ImpHttpJob *job, GError **error)
{
  ImpUserHttp *self = job->route_data;
  const char *exclude = job->query != NULL ? g_hash_table_lookup (job->query, "exclude") : NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();

  if (exclude != NULL && strlen (exclude) > 512)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_BAD_REQUEST, "\"exclude\" too long");
      return FALSE;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "gateway");
  add_gateway_object (self, b, exclude != NULL && exclude[0] != '\0' ? exclude : NULL);
  json_builder_end_object (b);
  job->reply = json_builder_get_root (b);
  return TRUE;
}

static const ImpHttpRoute routes[] = {
  { "POST", "/users/register", FALSE, TRUE, handle_register },
  { "POST", "/users/login", FALSE, TRUE, handle_login },
  { "POST", "/users/logout", TRUE, FALSE, handle_logout },
  { "GET", "/users/lookup", TRUE, FALSE, handle_lookup },
  { "GET", "/users/me", TRUE, FALSE, handle_me },
  { "GET", "/users/gateway", TRUE, FALSE, handle_gateway },
};

ImpUserHttp *
imp_user_http_new (SoupServer *server, const ImpServerConfig *config, ImpStore *store,
                   ImpAuth *auth, ImpBus *bus, ImpCache *cache)
{
  ImpUserHttp *self = g_new0 (ImpUserHttp, 1);
  g_mutex_init (&self->lock);
  self->config = config;
  self->store = store;
  self->auth = auth;
  self->bus = bus;
  self->cache = cache;
  self->cost = g_strcmp0 (config->password_cost, "min") == 0 ? IMP_PASSWORD_COST_MIN
                                                              : IMP_PASSWORD_COST_INTERACTIVE;
  /* Message workers number their generators from 1; user services take 512..1023 (a random
   * one, so two user processes rarely share it; a clash would only fail one change). */
  self->ids = imp_id_gen_new (512 + g_random_int_range (0, 512));
  /* Until told otherwise: the configured gateway ports on the bind address. */
  g_autofree char *tcp = g_strdup_printf ("%s:%" G_GINT64_FORMAT, config->bind, config->tcp_port);
  g_autofree char *ws = g_strdup_printf ("ws://%s:%" G_GINT64_FORMAT "%s", config->bind,
                                         config->ws_port, config->ws_path);
  imp_user_http_set_gateway (self, tcp, ws);
  g_autoptr(GArray) all = g_array_new (FALSE, FALSE, sizeof (ImpHttpRoute));
  g_array_append_vals (all, routes, G_N_ELEMENTS (routes));
  g_array_append_vals (all, imp_user_social_routes, imp_user_social_n_routes);
  g_array_append_vals (all, imp_user_group_routes, imp_user_group_n_routes);
  self->api = imp_http_api_new (server, (ImpHttpRoute *) all->data, all->len, auth,
                                (gsize) config->max_http_body, self);
  return self;
}

void
imp_user_http_set_gateway (ImpUserHttp *self, const char *tcp_address, const char *ws_url)
{
  g_mutex_lock (&self->lock);
  g_free (self->gateway_tcp);
  g_free (self->gateway_ws);
  self->gateway_tcp = g_strdup (tcp_address);
  self->gateway_ws = g_strdup (ws_url);
  g_mutex_unlock (&self->lock);
}

void
imp_user_http_free (ImpUserHttp *self)
{
  if (self == NULL)
    return;
  /* First: waits until no handler uses self any more. */
  imp_http_api_free (self->api);
  g_free (self->gateway_tcp);
  g_free (self->gateway_ws);
  g_free (self->dummy_hash);
  g_clear_pointer (&self->ids, imp_id_gen_free);
  g_mutex_clear (&self->lock);
  g_free (self);
}

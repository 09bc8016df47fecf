/* imp-user-private.h: what the files of the user service share: the service object (handlers
 * get it as job->route_data), the route tables of the social and group APIs, and helpers for
 * their JSON input and for publishing to gateways. */
#pragma once

#include "user/imp-user-http.h"
#include "core/imp-http.h"
#include "imp-id.h"
#include "imp-password.h"
#include "implus-bus.pb-c.h"

G_BEGIN_DECLS

struct _ImpUserHttp {
  /* Owned */
  ImpHttpApi     *api;
  GMutex          lock;            /* guards the fields below it */
  char           *gateway_tcp;
  char           *gateway_ws;
  char           *dummy_hash;      /* verified against for unknown users: same cost, same time */
  ImpIdGen       *ids;             /* msg ids of the system messages of group changes */
  /* Borrowed */
  const ImpServerConfig *config;
  ImpStore       *store;
  ImpAuth        *auth;
  ImpBus         *bus;
  ImpCache       *cache;
  ImpPasswordCost cost;
};

/* imp-user-social-http.c: /friends, /blacklist, /admin. imp-user-group-http.c: /groups. */
extern const ImpHttpRoute imp_user_social_routes[];
extern const guint imp_user_social_n_routes;
extern const ImpHttpRoute imp_user_group_routes[];
extern const guint imp_user_group_n_routes;

/* A positive user id in member (BAD_REQUEST otherwise). */
gboolean imp_user_body_id (ImpHttpJob *job, const char *member, gint64 *out, GError **error);
/* Publishes one record to the push topic of every gateway where user_id is connected. */
void     imp_user_publish_to_user (ImpUserHttp *self, gint64 user_id,
                                   const Implus__Bus__GatewayRecord *record);
/* Publishes one record to each gateway of gateways (a set of gateway ids). */
void     imp_user_publish_to_gateways (ImpUserHttp *self, GHashTable *gateways, const char *key,
                                       const Implus__Bus__GatewayRecord *record);

G_END_DECLS

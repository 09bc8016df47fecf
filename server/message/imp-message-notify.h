/* imp-message-notify.h: what the message role tells gateways besides one-to-one pushes, shared by
 * the worker and the message HTTP API: ephemeral frames to a user's connections (read updates,
 * delivered marks), read marks with their ReadUpdate fan-out, and the translation of a message
 * into another participant's stream numbering. Blocking (store, cache reads): call from worker
 * threads only. See docs/message-flow.md "Read marks" and "Delivered". */
#pragma once

#include <glib.h>
#include "store/imp-store.h"
#include "bus/imp-bus.h"
#include "cache/imp-cache.h"
#include "implus-bus.pb-c.h"

G_BEGIN_DECLS

/* Packs record and publishes it on push.<gateway_id> with key; failures are logged only (the
 * client's pull covers a lost push). */
void     imp_message_publish_gateway (ImpBus *bus, const char *gateway_id, const char *key,
                                      const Implus__Bus__GatewayRecord *record);

/* GatewayEphemeral{user_id, env} to every gateway where user_id is present; exclude_conn_id
 * applies on origin_gateway_id only (either may be 0/NULL). */
void     imp_message_publish_ephemeral (ImpBus *bus, ImpCache *cache, gint64 user_id,
                                        const char *origin_gateway_id, guint64 exclude_conn_id,
                                        const Implus__Envelope *env);

/* A conversation id a user may name: canonical, and a private one must include the user
 * (group membership is the store's to check). IMP_ERROR_BAD_REQUEST or IMP_ERROR_FORBIDDEN. */
gboolean imp_message_check_conversation (const char *conversation_id, gint64 user_id,
                                         GError **error);

/* The seq that message msg_id has in user_id's stream (one-to-one: every participant has its own
 * row of the same message): by its send key (imp_store_message_seq_of), else looking through the
 * newest rows of the conversation only (a bounded number of pages). FALSE if not found, or on a
 * store error (logged). */
gboolean imp_message_seq_in_stream (ImpStore *store, gint64 user_id, const char *conversation_id,
                                    gint64 msg_id, gint64 *out_seq);

/* Moves user_id's read position of conversation_id to seq (forward only), then publishes
 * ReadUpdate{user_id = self, read_seq, unread} to the user's connections except exclude_conn_id
 * on origin_gateway_id, and in a one-to-one chat ReadUpdate{user_id = the reader, read_seq in the
 * PEER's stream} to the peer. *out_read_seq and *out_unread: the position as stored now.
 * Errors: the store's (FORBIDDEN, NOT_MEMBER, UNAVAILABLE, ...). */
gboolean imp_message_mark_read (ImpStore *store, ImpBus *bus, ImpCache *cache, gint64 user_id,
                                const char *conversation_id, gint64 seq,
                                const char *origin_gateway_id, guint64 exclude_conn_id,
                                gint64 *out_read_seq, gint64 *out_unread, GError **error);

/* Delivered notices after a one-to-one device ACK: recipient's stream (after_seq, up_to_seq] is
 * newly stored on a device; every sender of a message in it gets Delivered{conversation_id,
 * up_to_seq = the sender's own seq of the last such message, by_user_id = recipient}. Bounded:
 * at most IMP_DELIVERED_LOOKBACK rows, IMP_DELIVERED_MAX_SENDERS (sender, conversation) pairs. */
#define IMP_DELIVERED_LOOKBACK    200
#define IMP_DELIVERED_MAX_SENDERS 16
void     imp_message_notify_delivered (ImpStore *store, ImpBus *bus, ImpCache *cache,
                                       gint64 recipient, gint64 after_seq, gint64 up_to_seq);

G_END_DECLS

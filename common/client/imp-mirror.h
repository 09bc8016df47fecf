/* imp-mirror.h: the client's local SQLite mirror of its user stream (WAL).
 *
 * Messages are keyed by their seq in the user's stream; storing is an upsert, so replays are
 * harmless. Messages above a hole are kept (the buffer survives restarts) but the watermark, the
 * highest seq with every seq below it present, never moves past a hole. Also: the outbox, a user
 * cache and a small key/value table. All calls are synchronous and cheap (one local database).
 */
#pragma once

#include <glib-object.h>
#include "imp-message.h"

G_BEGIN_DECLS

typedef struct {
  gint64           id;            /* creation order */
  char            *client_msg_id;
  gint64           to_user_id;
  char            *content;
  gint64           created_ms;
  guint            attempts;
  ImpMessageState  state;         /* sending, sent or failed */
  gint64           msg_id;
  gint64           seq;
  int              error_code;
  gint64           group_id;      /* a group message (to_user_id 0), else 0 */
} ImpOutboxItem;

void imp_outbox_item_free (ImpOutboxItem *item);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpOutboxItem, imp_outbox_item_free)

#define IMP_TYPE_MIRROR (imp_mirror_get_type ())
G_DECLARE_FINAL_TYPE (ImpMirror, imp_mirror, IMP, MIRROR, GObject)

ImpMirror  *imp_mirror_open (const char *path, GError **error);
const char *imp_mirror_get_path (ImpMirror *self);

gint64      imp_mirror_get_watermark (ImpMirror *self);
/* Upserts msg by seq. *out_duplicate: seq was at or below the watermark. *out_applied (may be
 * NULL): a new array of the ImpMessage the watermark just moved over, in seq order. */
gboolean    imp_mirror_store (ImpMirror         *self,
                              const ImpMessage  *msg,
                              gboolean          *out_duplicate,
                              GPtrArray        **out_applied,
                              GError           **error);
/* Messages stored above the watermark (waiting for a hole to be filled). */
gint64      imp_mirror_count_buffered (ImpMirror *self);
ImpMessage *imp_mirror_get_message (ImpMirror *self, gint64 seq);
/* Applied messages (seq <= watermark), oldest first; conversation_id NULL = all; limit 0 = all,
 * else the newest limit of them. */
GPtrArray  *imp_mirror_list_messages (ImpMirror *self, const char *conversation_id, guint limit);

/* Key/value. */
char       *imp_mirror_kv_get (ImpMirror *self, const char *key);
gboolean    imp_mirror_kv_set (ImpMirror *self, const char *key, const char *value, GError **error);

/* User cache: username <-> id. */
gboolean    imp_mirror_user_put (ImpMirror *self, gint64 user_id, const char *username, const char *nickname);
gint64      imp_mirror_user_id (ImpMirror *self, const char *username);
char       *imp_mirror_user_name (ImpMirror *self, gint64 user_id);

/* Outbox. */
gboolean       imp_mirror_outbox_add (ImpMirror *self, const char *client_msg_id, gint64 to_user_id,
                                      const char *content, gint64 created_ms, GError **error);
/* Same, for a one-to-one (group_id 0) or a group message (to_user_id 0). */
gboolean       imp_mirror_outbox_add_full (ImpMirror *self, const char *client_msg_id, gint64 to_user_id,
                                           gint64 group_id, const char *content, gint64 created_ms,
                                           GError **error);
ImpOutboxItem *imp_mirror_outbox_get (ImpMirror *self, const char *client_msg_id);
/* Unsent rows (state sending) with id > after_id, in creation order, at most limit. */
GPtrArray     *imp_mirror_outbox_pending (ImpMirror *self, gint64 after_id, guint limit);
gint64         imp_mirror_outbox_count_pending (ImpMirror *self);
gboolean       imp_mirror_outbox_bump_attempts (ImpMirror *self, const char *client_msg_id);
/* Both return TRUE only if the row was still sending (so callers signal once). */
gboolean       imp_mirror_outbox_mark_sent (ImpMirror *self, const char *client_msg_id,
                                            gint64 msg_id, gint64 seq);
gboolean       imp_mirror_outbox_mark_failed (ImpMirror *self, const char *client_msg_id, int code);

/* ---- group conversations (imp-mirror-group.c) ----
 * One stream per group conversation ("group_<id>"), keyed by the conversation seq, with its own
 * contiguous watermark: the same rules as the user stream. */

/* Registers a group conversation (idempotent); name NULL keeps the known one. */
gboolean    imp_mirror_group_ensure (ImpMirror *self, const char *conversation_id, gint64 group_id,
                                     const char *name);
gint64      imp_mirror_group_watermark (ImpMirror *self, const char *conversation_id);
char       *imp_mirror_group_name (ImpMirror *self, const char *conversation_id);
/* Known group conversation ids, in no particular order (strings). */
GPtrArray  *imp_mirror_group_list (ImpMirror *self);
/* Upserts msg (its conversation_id names the stream) like imp_mirror_store. */
gboolean    imp_mirror_group_store (ImpMirror         *self,
                                    const ImpMessage  *msg,
                                    gboolean          *out_duplicate,
                                    GPtrArray        **out_applied,
                                    GError           **error);
/* The server said nothing visible to us lies at or below seq (before we joined): the watermark
 * moves up to seq, then over any contiguous stored successors (*out_applied as above). */
gboolean    imp_mirror_group_skip_to (ImpMirror *self, const char *conversation_id, gint64 seq,
                                      GPtrArray **out_applied, GError **error);
gint64      imp_mirror_group_count_buffered (ImpMirror *self, const char *conversation_id);
ImpMessage *imp_mirror_group_get_message (ImpMirror *self, const char *conversation_id, gint64 seq);
/* Applied messages of one group conversation, oldest first; limit 0 = all, else the newest. */
GPtrArray  *imp_mirror_group_list_messages (ImpMirror *self, const char *conversation_id, guint limit);

/* ---- read positions and own-message states ---- */
/* Read positions only move forward; TRUE if this one moved. */
gboolean    imp_mirror_set_read (ImpMirror *self, const char *conversation_id, gint64 seq);
gint64      imp_mirror_get_read (ImpMirror *self, const char *conversation_id);
/* Own messages (sender_id) of a conversation with seq <= up_to_seq move forward to state
 * (delivered or read); returns how many changed. */
guint       imp_mirror_mark_own (ImpMirror *self, const char *conversation_id, gint64 sender_id,
                                 gint64 up_to_seq, ImpMessageState state);

G_END_DECLS

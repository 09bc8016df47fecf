/* imp-mirror-index.h: what a conversation UI needs from the local mirror, on top of ImpMirror.
 *
 * Opens its own SQLite connection to the mirror file (WAL allows it) and adds its own tables,
 * so the sync engine is untouched: read positions per conversation, drafts, and FTS5 indexes
 * (trigram tokenizer: substring search that works for Chinese too) kept in step with the
 * user stream's messages and the group streams' group_messages by triggers. One-to-one and
 * group conversations are read alike through a temporary view of the applied rows of every
 * stream. Conversation summaries and unread counts are derived from the
 * applied messages (seq <= watermark) and the read positions, never counted by hand.
 */
#pragma once

#include <glib-object.h>
#include "imp-message.h"
#include "imp-mirror.h"

G_BEGIN_DECLS

typedef struct {
  char            *conversation_id;
  gint64           peer_id;         /* the other user of a private conversation, else 0 */
  char            *peer_name;       /* from the user cache, or NULL */
  gint64           last_seq;        /* 0 when only unsent messages exist */
  gint64           last_time_ms;
  gint64           last_sender_id;
  char            *last_content;
  ImpMessageState  last_state;
  gint64           read_seq;
  guint            unread;
  gint64           group_id;        /* a group conversation ("group_<id>"), else 0 */
  char            *group_name;      /* its name (GET /conversations, or the create answer), or NULL */
  int              last_content_type; /* 99: a group system event (JSON) */
} ImpConversationInfo;

/* content_type of a group system message (JSON: {"event", "user_id", "by", ...}). */
#define IMP_CONTENT_TYPE_SYSTEM 99

void imp_conversation_info_free (ImpConversationInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ImpConversationInfo, imp_conversation_info_free)

#define IMP_TYPE_MIRROR_INDEX (imp_mirror_index_get_type ())
G_DECLARE_FINAL_TYPE (ImpMirrorIndex, imp_mirror_index, IMP, MIRROR_INDEX, GObject)

/* path: the mirror file (imp_mirror_get_path); user_id: the owner (own messages are never unread). */
ImpMirrorIndex *imp_mirror_index_open (const char *path, gint64 user_id, GError **error);

/* Every conversation with an applied message or an unsent outbox row, and every known group
 * conversation (even an empty one), most recent first. Group streams count like the user
 * stream: applied rows only (seq <= that stream's watermark); seqs are conversation seqs. Group
 * system events are never unread. */
GPtrArray  *imp_mirror_index_list_conversations (ImpMirrorIndex *self);
ImpConversationInfo *imp_mirror_index_get_conversation (ImpMirrorIndex *self, const char *conversation_id);
guint       imp_mirror_index_unread (ImpMirrorIndex *self, const char *conversation_id);
guint       imp_mirror_index_total_unread (ImpMirrorIndex *self);
/* Highest applied seq of a conversation (0 if none). */
gint64      imp_mirror_index_last_seq (ImpMirrorIndex *self, const char *conversation_id);

/* Read positions only move forward; TRUE if this one moved. */
gboolean    imp_mirror_index_set_read (ImpMirrorIndex *self, const char *conversation_id, gint64 seq);
gint64      imp_mirror_index_get_read (ImpMirrorIndex *self, const char *conversation_id);

/* Drafts: NULL or "" deletes. get returns NULL when there is none. */
gboolean    imp_mirror_index_set_draft (ImpMirrorIndex *self, const char *conversation_id, const char *text);
char       *imp_mirror_index_get_draft (ImpMirrorIndex *self, const char *conversation_id);

/* Applied messages of a conversation with seq < before_seq (0 = from the end), oldest first,
 * at most limit (the newest of them). */
GPtrArray  *imp_mirror_index_list_before (ImpMirrorIndex *self, const char *conversation_id,
                                          gint64 before_seq, guint limit);
/* Applied messages of a conversation with seq > after_seq, oldest first. */
GPtrArray  *imp_mirror_index_list_after (ImpMirrorIndex *self, const char *conversation_id, gint64 after_seq);

/* Outbox rows to peer_id still sending or failed, oldest first (ImpOutboxItem). */
GPtrArray  *imp_mirror_index_outbox_unsent (ImpMirrorIndex *self, gint64 peer_id);
/* The same for a group's outbox rows. */
GPtrArray  *imp_mirror_index_outbox_unsent_group (ImpMirrorIndex *self, gint64 group_id);
/* Drops a failed outbox row (after the user retried or discarded it). */
gboolean    imp_mirror_index_outbox_forget (ImpMirrorIndex *self, const char *client_msg_id);

/* Full-text search over applied messages of every stream (group system events excluded),
 * newest (send time) first, at most limit (ImpMessage). Queries
 * shorter than three characters fall back to a substring scan. */
GPtrArray  *imp_mirror_index_search (ImpMirrorIndex *self, const char *query, guint limit);

G_END_DECLS

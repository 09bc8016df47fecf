-- 0002-social: friends, blacklist, moderation and groups (docs/store.md, "Social").
-- Groups use read diffusion (DESIGN §3.1): one conversation_msg_list row per message, numbered
-- by the group's conversation seq (groups.seq, bumped in the transaction that writes the row).

-- A user muted by an administrator may not send until this time (ms; 0 = not muted).
ALTER TABLE users ADD COLUMN muted_until_ms INTEGER NOT NULL DEFAULT 0;
-- The sender of each group message, so unread counts are answered without reading message.
ALTER TABLE conversation_msg_list ADD COLUMN sender_id INTEGER NOT NULL DEFAULT 0;

-- groups: one row per group; its conversation is group_<id>.
CREATE TABLE groups (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
  name         TEXT    NOT NULL,
  owner_id     INTEGER NOT NULL,
  status       INTEGER NOT NULL DEFAULT 1,         -- 1 active, 2 dissolved
  member_count INTEGER NOT NULL DEFAULT 0,         -- current members
  seq          INTEGER NOT NULL DEFAULT 0,         -- the conversation seq counter of group_<id>
  create_time  INTEGER NOT NULL,
  update_time  INTEGER NOT NULL
);

-- group_members: current and former members. A member sees the conversation seqs in
-- (join_seq, left_seq]: from the system message announcing their join (seq join_seq + 1) to the
-- one announcing their leave or removal (left_seq); left_seq is NULL while a member. Rows of
-- former members stay, so they keep reading their window.
CREATE TABLE group_members (
  group_id       INTEGER NOT NULL,
  user_id        INTEGER NOT NULL,
  role           INTEGER NOT NULL DEFAULT 1,       -- 1 member, 2 admin, 3 owner
  muted_until_ms INTEGER NOT NULL DEFAULT 0,
  join_seq       INTEGER NOT NULL,
  left_seq       INTEGER,
  create_time    INTEGER NOT NULL,
  update_time    INTEGER NOT NULL,
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX idx_group_members_user ON group_members (user_id, group_id);

-- friends: one row per direction. A request from A to B is (A, B, 1); acceptance turns it into
-- (A, B, 2) and adds (B, A, 2); removal deletes both.
CREATE TABLE friends (
  user_id     INTEGER NOT NULL,
  friend_id   INTEGER NOT NULL,
  state       INTEGER NOT NULL,                    -- 1 requested, 2 accepted
  create_time INTEGER NOT NULL,
  update_time INTEGER NOT NULL,
  PRIMARY KEY (user_id, friend_id)
);
CREATE INDEX idx_friends_friend ON friends (friend_id, state);

-- blacklist: user_id refuses messages (and friend requests) from blocked_id.
CREATE TABLE blacklist (
  user_id     INTEGER NOT NULL,
  blocked_id  INTEGER NOT NULL,
  create_time INTEGER NOT NULL,
  PRIMARY KEY (user_id, blocked_id)
);

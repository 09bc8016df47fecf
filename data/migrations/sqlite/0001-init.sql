-- 0001-init: the seed's six tables (seed/im-plus-seed.md) in SQLite, plus what the seed lacks
-- (DESIGN §4): per-user seq counters, the durable send-dedup key, revoked tokens, device
-- delivery positions. Times are integer milliseconds since the Unix epoch unless named *_s.
-- Applied inside one transaction by the store (docs/store.md); never edit a released
-- migration, add the next file instead.

-- users: id is the numeric user id, user_id the login name, username the nickname.
CREATE TABLE users (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused
  user_id         TEXT    NOT NULL COLLATE NOCASE,    -- login name; NOCASE as MySQL's utf8mb4_*_ci
  username        TEXT    NOT NULL,                   -- nickname
  password        TEXT    NOT NULL,                   -- argon2id string
  status          INTEGER NOT NULL DEFAULT 1,         -- 1 normal, 2 banned
  last_login_time INTEGER,
  create_time     INTEGER NOT NULL,
  update_time     INTEGER NOT NULL,
  deleted         INTEGER NOT NULL DEFAULT 0,
  CONSTRAINT uk_user_id UNIQUE (user_id)
);

-- message: one row per message. msg_id (snowflake) is the rowid: one B-tree instead of the
-- seed's surrogate id + uk_msg_id. to_id and client_msg_id are additions (to_id: recipient of a
-- one-to-one message, 0 for a group; client_msg_id: the sender's dedup key, shown to the
-- sender only).
CREATE TABLE message (
  msg_id          INTEGER PRIMARY KEY,
  conversation_id TEXT    NOT NULL,
  sender_id       INTEGER NOT NULL,
  to_id           INTEGER NOT NULL DEFAULT 0,
  msg_type        INTEGER NOT NULL,                   -- 1 private, 2 group
  content_type    INTEGER NOT NULL,
  content         TEXT    NOT NULL,
  status          INTEGER NOT NULL DEFAULT 0,
  client_msg_id   TEXT,
  send_time       INTEGER NOT NULL,
  update_time     INTEGER NOT NULL
);

-- conversation: one row per conversation. type uses ImpConvKind (1 private, 2 group).
CREATE TABLE conversation (
  id              INTEGER PRIMARY KEY,
  conversation_id TEXT    NOT NULL,
  type            INTEGER NOT NULL,
  member_count    INTEGER NOT NULL DEFAULT 0,
  last_msg_id     INTEGER,
  last_msg_time   INTEGER,
  create_time     INTEGER NOT NULL,
  update_time     INTEGER NOT NULL,
  create_by       TEXT,
  update_by       TEXT,
  CONSTRAINT uk_conversation_id UNIQUE (conversation_id)
);

-- user_conversation_list: a user's conversations. The seed's unread_count is not kept: unread
-- is derived from user_msg_list (DESIGN §3.8). Additions: peer_id (the other user of a
-- one-to-one conversation, oneself for a note to self) and last_seq (the user's seq of the
-- conversation's last message), both written in the send transaction.
CREATE TABLE user_conversation_list (
  id               INTEGER PRIMARY KEY,
  user_id          INTEGER NOT NULL,
  conversation_id  TEXT    NOT NULL,
  peer_id          INTEGER NOT NULL DEFAULT 0,
  last_read_seq    INTEGER NOT NULL DEFAULT 0,
  last_seq         INTEGER NOT NULL DEFAULT 0,
  last_msg_id      INTEGER,
  last_update_time INTEGER,
  create_time      INTEGER NOT NULL,
  update_time      INTEGER NOT NULL,
  CONSTRAINT uk_user_conversation UNIQUE (user_id, conversation_id)
);
CREATE INDEX idx_ucl_user_update ON user_conversation_list (user_id, last_update_time);

-- user_msg_list: write diffusion, one row per participant, numbered by that user's seq.
-- sender_id is an addition so unread counts are answered from the index alone.
CREATE TABLE user_msg_list (
  id              INTEGER PRIMARY KEY,
  user_id         INTEGER NOT NULL,
  msg_id          INTEGER NOT NULL,
  conversation_id TEXT    NOT NULL,
  seq             INTEGER NOT NULL,
  sender_id       INTEGER NOT NULL,
  create_time     INTEGER NOT NULL,
  CONSTRAINT uk_user_seq UNIQUE (user_id, seq)
);
CREATE INDEX idx_user_conversation ON user_msg_list (user_id, conversation_id, seq, sender_id);

-- conversation_msg_list: read diffusion for groups (used from migration 0002 on).
CREATE TABLE conversation_msg_list (
  id              INTEGER PRIMARY KEY,
  conversation_id TEXT    NOT NULL,
  msg_id          INTEGER NOT NULL,
  seq             INTEGER NOT NULL,
  create_time     INTEGER NOT NULL,
  update_time     INTEGER NOT NULL,
  CONSTRAINT uk_conversation_seq UNIQUE (conversation_id, seq)
);
CREATE INDEX idx_cml_msg_id ON conversation_msg_list (msg_id);

-- user_seq: the counter of each user's stream; bumped in the transaction that writes the row,
-- so seqs are dense and never reused (DESIGN §3.2).
CREATE TABLE user_seq (
  user_id INTEGER PRIMARY KEY,
  seq     INTEGER NOT NULL
);

-- send_dedup: the durable idempotency key of a send (DESIGN §3.4) and its original receipt.
CREATE TABLE send_dedup (
  sender_id       INTEGER NOT NULL,
  client_msg_id   TEXT    NOT NULL,
  msg_id          INTEGER NOT NULL,
  sender_seq      INTEGER NOT NULL,
  recipient_seq   INTEGER NOT NULL,
  conversation_id TEXT    NOT NULL,
  send_time       INTEGER NOT NULL,
  CONSTRAINT uk_sender_client_msg UNIQUE (sender_id, client_msg_id)
);

-- revoked_token: logged-out tokens until they would have expired anyway.
CREATE TABLE revoked_token (
  token_id  TEXT    PRIMARY KEY,
  user_id   INTEGER NOT NULL,
  expires_s INTEGER NOT NULL
);
CREATE INDEX idx_revoked_token_expires ON revoked_token (expires_s);

-- device_delivery: the highest seq each device of a user has ACKed (forward only).
CREATE TABLE device_delivery (
  user_id     INTEGER NOT NULL,
  device_id   TEXT    NOT NULL,
  up_to_seq   INTEGER NOT NULL,
  update_time INTEGER NOT NULL,
  PRIMARY KEY (user_id, device_id)
);

-- 0002-social: the same schema as sqlite/0002-social.sql, in MySQL/MariaDB; see the comments
-- there and docs/store.md. Re-runnable (IF NOT EXISTS), like 0001.

ALTER TABLE users ADD COLUMN IF NOT EXISTS muted_until_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversation_msg_list ADD COLUMN IF NOT EXISTS sender_id BIGINT NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS `groups` (
  id           BIGINT       NOT NULL AUTO_INCREMENT,
  name         VARCHAR(255) NOT NULL,
  owner_id     BIGINT       NOT NULL,
  status       TINYINT      NOT NULL DEFAULT 1,
  member_count INT          NOT NULL DEFAULT 0,
  seq          BIGINT       NOT NULL DEFAULT 0,
  create_time  BIGINT       NOT NULL,
  update_time  BIGINT       NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS group_members (
  group_id       BIGINT  NOT NULL,
  user_id        BIGINT  NOT NULL,
  role           TINYINT NOT NULL DEFAULT 1,
  muted_until_ms BIGINT  NOT NULL DEFAULT 0,
  join_seq       BIGINT  NOT NULL,
  left_seq       BIGINT  NULL,
  create_time    BIGINT  NOT NULL,
  update_time    BIGINT  NOT NULL,
  PRIMARY KEY (group_id, user_id),
  KEY idx_group_members_user (user_id, group_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS friends (
  user_id     BIGINT  NOT NULL,
  friend_id   BIGINT  NOT NULL,
  state       TINYINT NOT NULL,
  create_time BIGINT  NOT NULL,
  update_time BIGINT  NOT NULL,
  PRIMARY KEY (user_id, friend_id),
  KEY idx_friends_friend (friend_id, state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS blacklist (
  user_id     BIGINT NOT NULL,
  blocked_id  BIGINT NOT NULL,
  create_time BIGINT NOT NULL,
  PRIMARY KEY (user_id, blocked_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

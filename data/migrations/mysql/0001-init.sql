-- 0001-init: the same schema as sqlite/0001-init.sql, in MySQL/MariaDB (InnoDB, utf8mb4). Same
-- table and column names and meaning; see the comments there and docs/store.md. Times are
-- BIGINT milliseconds since the Unix epoch unless named *_s.
-- MySQL commits DDL implicitly, so a migration is not one transaction: every statement is
-- written to be re-run (IF NOT EXISTS), and the version is recorded after the last one, so a
-- migration cut short is completed by the next open. Never edit a released migration.

CREATE TABLE IF NOT EXISTS users (
  id              BIGINT       NOT NULL AUTO_INCREMENT,
  user_id         VARCHAR(64)  NOT NULL COLLATE utf8mb4_unicode_ci,  -- login name, case-insensitive
  username        VARCHAR(255) NOT NULL,                             -- nickname
  password        VARCHAR(255) NOT NULL,                             -- argon2id string
  status          TINYINT      NOT NULL DEFAULT 1,                   -- 1 normal, 2 banned
  last_login_time BIGINT       NULL,
  create_time     BIGINT       NOT NULL,
  update_time     BIGINT       NOT NULL,
  deleted         TINYINT      NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  UNIQUE KEY uk_user_id (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- msg_id (snowflake) is the primary key, as it is the rowid in SQLite.
CREATE TABLE IF NOT EXISTS message (
  msg_id          BIGINT       NOT NULL,
  conversation_id VARCHAR(64)  NOT NULL,
  sender_id       BIGINT       NOT NULL,
  to_id           BIGINT       NOT NULL DEFAULT 0,
  msg_type        TINYINT      NOT NULL,
  content_type    INT          NOT NULL,
  content         MEDIUMTEXT   NOT NULL,
  status          TINYINT      NOT NULL DEFAULT 0,
  client_msg_id   VARCHAR(64)  NULL,
  send_time       BIGINT       NOT NULL,
  update_time     BIGINT       NOT NULL,
  PRIMARY KEY (msg_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS conversation (
  id              BIGINT       NOT NULL AUTO_INCREMENT,
  conversation_id VARCHAR(64)  NOT NULL,
  type            TINYINT      NOT NULL,
  member_count    INT          NOT NULL DEFAULT 0,
  last_msg_id     BIGINT       NULL,
  last_msg_time   BIGINT       NULL,
  create_time     BIGINT       NOT NULL,
  update_time     BIGINT       NOT NULL,
  create_by       VARCHAR(64)  NULL,
  update_by       VARCHAR(64)  NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_conversation_id (conversation_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS user_conversation_list (
  id               BIGINT      NOT NULL AUTO_INCREMENT,
  user_id          BIGINT      NOT NULL,
  conversation_id  VARCHAR(64) NOT NULL,
  peer_id          BIGINT      NOT NULL DEFAULT 0,
  last_read_seq    BIGINT      NOT NULL DEFAULT 0,
  last_seq         BIGINT      NOT NULL DEFAULT 0,
  last_msg_id      BIGINT      NULL,
  last_update_time BIGINT      NULL,
  create_time      BIGINT      NOT NULL,
  update_time      BIGINT      NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_user_conversation (user_id, conversation_id),
  KEY idx_ucl_user_update (user_id, last_update_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS user_msg_list (
  id              BIGINT      NOT NULL AUTO_INCREMENT,
  user_id         BIGINT      NOT NULL,
  msg_id          BIGINT      NOT NULL,
  conversation_id VARCHAR(64) NOT NULL,
  seq             BIGINT      NOT NULL,
  sender_id       BIGINT      NOT NULL,
  create_time     BIGINT      NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_user_seq (user_id, seq),
  KEY idx_user_conversation (user_id, conversation_id, seq, sender_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS conversation_msg_list (
  id              BIGINT      NOT NULL AUTO_INCREMENT,
  conversation_id VARCHAR(64) NOT NULL,
  msg_id          BIGINT      NOT NULL,
  seq             BIGINT      NOT NULL,
  create_time     BIGINT      NOT NULL,
  update_time     BIGINT      NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_conversation_seq (conversation_id, seq),
  KEY idx_cml_msg_id (msg_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS user_seq (
  user_id BIGINT NOT NULL,
  seq     BIGINT NOT NULL,
  PRIMARY KEY (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The dedup key is the primary key (clustered), as UNIQUE (sender_id, client_msg_id) in SQLite.
CREATE TABLE IF NOT EXISTS send_dedup (
  sender_id       BIGINT      NOT NULL,
  client_msg_id   VARCHAR(64) NOT NULL,
  msg_id          BIGINT      NOT NULL,
  sender_seq      BIGINT      NOT NULL,
  recipient_seq   BIGINT      NOT NULL,
  conversation_id VARCHAR(64) NOT NULL,
  send_time       BIGINT      NOT NULL,
  PRIMARY KEY (sender_id, client_msg_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS revoked_token (
  token_id  VARCHAR(191) NOT NULL,
  user_id   BIGINT       NOT NULL,
  expires_s BIGINT       NOT NULL,
  PRIMARY KEY (token_id),
  KEY idx_revoked_token_expires (expires_s)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS device_delivery (
  user_id     BIGINT       NOT NULL,
  device_id   VARCHAR(128) NOT NULL,
  up_to_seq   BIGINT       NOT NULL,
  update_time BIGINT       NOT NULL,
  PRIMARY KEY (user_id, device_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

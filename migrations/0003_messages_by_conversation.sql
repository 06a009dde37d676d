-- A conversation's messages stored side by side: opening a conversation reads its newest
-- messages from a few pages instead of one page per message.
--
-- A table's rows lie in rowid order. Until now a message's rowid was its arrival in the
-- cache, so the newest 50 messages of a conversation that lasted weeks sat on ~50 pages,
-- each read from disk and decrypted when the conversation was opened cold. Now a message's
-- rowid is `conversation key << 24 | its number in the conversation` (up to 16,777,216
-- per conversation; rowids stay exact as JavaScript numbers for 2^29 conversations): a
-- conversation's messages are one range of the table, and a page of them is one walk down
-- it. That range also replaces the index of messages by contact and conversation (two
-- 36-character ids per message, written at a scattered place for every message): a
-- contact's messages are the ranges of its conversations.
--
-- The arrival order stays, as `seq`: the search index is keyed by it, so "newest first" is
-- still a walk down the index without sorting, and a batch's messages are still indexed
-- with one statement (`seq >= the batch's first`).

-- Conversations get an integer key that never changes (an implicit rowid may be renumbered
-- by VACUUM). New ones take the next; those already here take their rowid.
ALTER TABLE conversations ADD COLUMN key INTEGER;
UPDATE conversations SET key = rowid;
CREATE UNIQUE INDEX conversations_by_key ON conversations (key);

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

CREATE TABLE messages_by_conversation (
    rowid            INTEGER PRIMARY KEY,   -- conversations.key << 24 | n (n from 0, in arrival order)
    seq              INTEGER NOT NULL,      -- arrival in this cache, across all conversations
    conversation_key INTEGER NOT NULL,      -- = rowid >> 24, for the indexes below
    event_id         TEXT,
    conversation_id  TEXT NOT NULL,
    contact_id       TEXT NOT NULL,
    message_id       TEXT,
    idempotency_key  TEXT,
    direction        TEXT NOT NULL,
    sender           TEXT,
    sent_as          TEXT,
    kind             TEXT NOT NULL,
    text             TEXT,
    content          TEXT NOT NULL,
    reply_to         TEXT,
    occurred_at      TEXT NOT NULL,
    state            TEXT NOT NULL,
    failure          TEXT,
    edit_count       INTEGER NOT NULL DEFAULT 0,
    unsent           INTEGER NOT NULL DEFAULT 0
);
INSERT INTO messages_by_conversation
SELECT (c.key << 24) + row_number() OVER (PARTITION BY c.key ORDER BY m.rowid) - 1,
       m.rowid, c.key, m.event_id, m.conversation_id, m.contact_id, m.message_id,
       m.idempotency_key, m.direction, m.sender, m.sent_as, m.kind, m.text, m.content,
       m.reply_to, m.occurred_at, m.state, m.failure, m.edit_count, m.unsent
FROM messages m JOIN conversations c ON c.id = m.conversation_id;
-- The search index's rowid, and how FTS5 reads a message's text for snippets (made before
-- the update below, which looks messages up by it; it stays with the table when renamed).
CREATE UNIQUE INDEX messages_by_seq ON messages_by_conversation (seq);
UPDATE conversations SET last_message_rowid =
    (SELECT rowid FROM messages_by_conversation WHERE seq = conversations.last_message_rowid)
WHERE last_message_rowid IS NOT NULL;
DROP TABLE messages;
ALTER TABLE messages_by_conversation RENAME TO messages;

CREATE UNIQUE INDEX messages_by_key ON messages (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- As in 0002, by the platform id's last 16 characters within the conversation, now keyed by
-- the conversation's integer key (a few bytes instead of 36).
CREATE INDEX messages_by_conversation_platform_id
    ON messages (conversation_key, substr(message_id, -16)) WHERE message_id IS NOT NULL;
CREATE INDEX messages_unread_replies ON messages (conversation_key, occurred_at)
    WHERE direction = 'out' AND message_id IS NOT NULL AND state NOT IN ('read', 'failed');

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, content = 'messages', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('pgsz', 3900);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
-- As in 0002: messages from the log are indexed by `apply_batch`, a batch at a time.
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
WHEN new.text IS NOT NULL AND new.event_id IS NULL BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.text IS NOT NULL BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.seq, old.text WHERE old.text IS NOT NULL;
    INSERT INTO messages_fts (rowid, text) SELECT new.seq, new.text WHERE new.text IS NOT NULL;
END;

-- The desktop cache of one account (one relay + tenant + agent). Append-only: a change to
-- the schema is a new numbered file; an applied file that changed is refused at open.
--
-- Times are RFC 3339 UTC text with a fixed width (`…T10:00:00.000Z`), so they sort as text.

-- How far this cache has applied the tenant's log. One row; `last_seq` is written in the
-- same transaction as the events it covers (ARCHITECTURE.md, invariant 5).
CREATE TABLE sync_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
);
INSERT INTO sync_state (id, last_seq) VALUES (1, 0);

CREATE TABLE channels (
    id                   TEXT PRIMARY KEY,
    kind                 TEXT,                   -- messenger | instagram | whatsapp; NULL until known
    display_name         TEXT NOT NULL DEFAULT '',
    connection           TEXT NOT NULL DEFAULT '{"state":"connected"}', -- JSON
    human_agent_approved INTEGER NOT NULL DEFAULT 0,
    settings             TEXT                     -- JSON ChannelSettings, once known
);

-- An explicit rowid: the search index refers to it, and VACUUM keeps only declared rowids.
CREATE TABLE contacts (
    rowid         INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    channel_id    TEXT NOT NULL,
    name          TEXT,
    opted_out     INTEGER NOT NULL DEFAULT 0,
    consent_at    TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL
);

CREATE TABLE conversations (
    id                       TEXT PRIMARY KEY,
    channel_id               TEXT NOT NULL,
    contact_id               TEXT NOT NULL,
    last_activity_at         TEXT NOT NULL,
    last_customer_message_at TEXT,
    last_message_rowid       INTEGER,
    unread                   INTEGER NOT NULL DEFAULT 0,
    status                   TEXT NOT NULL DEFAULT 'open', -- open | pending | snoozed | resolved
    snoozed_until            TEXT,
    assignee                 TEXT,                         -- agent id, or NULL for nobody
    labels                   TEXT NOT NULL DEFAULT '[]',   -- JSON array, sorted
    escalation               TEXT,                         -- JSON EscalationReason while escalated
    escalated_at             TEXT
);
CREATE INDEX conversations_by_activity ON conversations (last_activity_at, id);
CREATE INDEX conversations_by_contact ON conversations (contact_id);

CREATE TABLE conversation_labels (
    conversation_id TEXT NOT NULL,
    label           TEXT NOT NULL,
    PRIMARY KEY (label, conversation_id)
) WITHOUT ROWID;

-- Every message, both directions. `rowid` grows in the order messages reach the cache, so
-- "newest first" over the search index is a walk down its rowids (no sort).
CREATE TABLE messages (
    rowid           INTEGER PRIMARY KEY,
    event_id        TEXT,                  -- the log event that carried it; NULL while queued
    conversation_id TEXT NOT NULL,
    contact_id      TEXT NOT NULL,
    message_id      TEXT,                  -- the platform's id, once known
    idempotency_key TEXT,                  -- our replies' key
    direction       TEXT NOT NULL,         -- in | out
    sender          TEXT,                  -- JSON Sender for outgoing messages
    sent_as         TEXT,                  -- standard | human_agent_tag | template | unknown
    kind            TEXT NOT NULL,         -- text, image, audio, …
    text            TEXT,                  -- what search sees: body, caption, file name
    content         TEXT NOT NULL,         -- JSON MessageContent
    reply_to        TEXT,
    occurred_at     TEXT NOT NULL,
    state           TEXT NOT NULL,         -- received | queued | sending | sent | delivered | read | failed
    failure         TEXT,                  -- JSON SendFailure, or {"reason":…} for a refusal
    edit_count      INTEGER NOT NULL DEFAULT 0,
    unsent          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, rowid);
CREATE INDEX messages_by_platform_id ON messages (message_id) WHERE message_id IS NOT NULL;
CREATE UNIQUE INDEX messages_by_key ON messages (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_by_contact ON messages (contact_id);
-- Replies a Messenger delivery or read watermark can still move forward: a watermark
-- updates these, instead of visiting every message of a long conversation.
CREATE INDEX messages_unread_replies ON messages (conversation_id, occurred_at)
    WHERE direction = 'out' AND message_id IS NOT NULL AND state NOT IN ('read', 'failed');

CREATE TABLE reactions (
    message_id TEXT NOT NULL,              -- the platform's id of the message reacted to
    by         TEXT NOT NULL,              -- customer | business
    emoji      TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (message_id, by)
) WITHOUT ROWID;

CREATE TABLE notes (
    rowid           INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    contact_id      TEXT NOT NULL,
    author          TEXT NOT NULL,
    text            TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX notes_by_conversation ON notes (conversation_id, created_at);

CREATE TABLE templates (
    channel_id      TEXT NOT NULL,
    name            TEXT NOT NULL,
    language        TEXT NOT NULL,
    category        TEXT NOT NULL,
    body            TEXT NOT NULL,
    parameter_count INTEGER NOT NULL,
    PRIMARY KEY (channel_id, name, language)
) WITHOUT ROWID;

-- Replies on their way to the relay. The message itself is in `messages` (state queued)
-- from the moment it is composed; this row is the delivery job. It stays after the relay
-- took the reply (`handed`), so a failed reply can be retried with the same key and draft.
CREATE TABLE outbox (
    idempotency_key TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    draft           TEXT NOT NULL,         -- JSON, the relay's reply body
    state           TEXT NOT NULL DEFAULT 'pending', -- pending | handed | refused
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

-- Full-text search. External content (the text lives once, in its table) with triggers;
-- `secure-delete` makes a delete remove the tokens from the index at once, so erased words
-- don't linger in old index segments (invariant 9).
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, content = 'messages', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.text IS NOT NULL BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.text IS NOT NULL BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.rowid, old.text WHERE old.text IS NOT NULL;
    INSERT INTO messages_fts (rowid, text) SELECT new.rowid, new.text WHERE new.text IS NOT NULL;
END;

CREATE VIRTUAL TABLE contacts_fts USING fts5 (
    name, content = 'contacts', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO contacts_fts (contacts_fts, rank) VALUES ('secure-delete', 1);
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts WHEN new.name IS NOT NULL BEGIN
    INSERT INTO contacts_fts (rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts WHEN old.name IS NOT NULL BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, name) VALUES ('delete', old.rowid, old.name);
END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF name ON contacts BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, name)
        SELECT 'delete', old.rowid, old.name WHERE old.name IS NOT NULL;
    INSERT INTO contacts_fts (rowid, name) SELECT new.rowid, new.name WHERE new.name IS NOT NULL;
END;

CREATE VIRTUAL TABLE notes_fts USING fts5 (
    text, content = 'notes', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO notes_fts (notes_fts, rank) VALUES ('secure-delete', 1);
CREATE TRIGGER notes_fts_insert AFTER INSERT ON notes BEGIN
    INSERT INTO notes_fts (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER notes_fts_delete AFTER DELETE ON notes BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;

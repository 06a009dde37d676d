-- Replies, templates, the conversation workflow, channel settings, erasure and the audit log.

-- A channel's access token (sealed, write-only), its WhatsApp Business Account (for
-- templates), whether Meta still accepts its token, and its settings (JSON,
-- `ventana_protocol::ChannelSettings`).
ALTER TABLE channels ADD COLUMN token_sealed TEXT;
ALTER TABLE channels ADD COLUMN waba_id TEXT;
ALTER TABLE channels ADD COLUMN needs_reconnection TEXT;
ALTER TABLE channels ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- Whether agents (not only admins) may erase a contact.
ALTER TABLE tenants ADD COLUMN agents_may_erase INTEGER NOT NULL DEFAULT 0;

ALTER TABLE contacts ADD COLUMN marketing_opted_out INTEGER NOT NULL DEFAULT 0;

-- The conversation's state, kept up to date from its events in the transaction that
-- appends them (the log stays the truth; these columns make policy checks and the
-- escalation sweep one indexed read).
ALTER TABLE conversations ADD COLUMN last_inbound_at TEXT;
ALTER TABLE conversations ADD COLUMN last_outbound_at TEXT;
ALTER TABLE conversations ADD COLUMN status TEXT NOT NULL DEFAULT 'open';
ALTER TABLE conversations ADD COLUMN snoozed_until TEXT;
ALTER TABLE conversations ADD COLUMN assignee TEXT;
ALTER TABLE conversations ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
CREATE INDEX conversations_waiting ON conversations (last_inbound_at);
CREATE INDEX conversations_snoozed ON conversations (snoozed_until) WHERE snoozed_until IS NOT NULL;

-- One row per idempotency key: the relay sends a key at most once (invariant 6).
CREATE TABLE replies (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    idempotency_key TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    -- SHA-256 of the request, so the same key with a different reply is refused.
    request_hash    BLOB NOT NULL,
    -- The reply as asked (JSON `replies::Draft`), kept until it is sent or erased.
    request         TEXT NOT NULL,
    sender          TEXT NOT NULL,
    sent_as         TEXT,
    -- queued → sending → sent | failed | unknown (sent, but no answer came back).
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'unknown')),
    message_id      TEXT,
    failure         TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key)
) WITHOUT ROWID;
CREATE INDEX replies_unfinished ON replies (state) WHERE state IN ('queued', 'sending');

-- WhatsApp message templates as last synced from Meta.
CREATE TABLE templates (
    channel_id TEXT NOT NULL REFERENCES channels(id),
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    language   TEXT NOT NULL,
    category   TEXT NOT NULL,
    status     TEXT NOT NULL,
    meta_id    TEXT,
    -- Meta's components (JSON), for the picker and the parameter count.
    components TEXT NOT NULL,
    synced_at  TEXT NOT NULL,
    PRIMARY KEY (channel_id, name, language)
) WITHOUT ROWID;

-- Meta's data-deletion requests and what each found (the user id only as a hash).
CREATE TABLE deletion_requests (
    confirmation_code TEXT PRIMARY KEY,
    app_id            TEXT NOT NULL,
    user_hash         TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    -- JSON: the receipts of the erasures it caused, per channel kind.
    outcome           TEXT NOT NULL
);

-- Agents' and admins' actions. Each entry's hash covers the previous entry's hash, so an
-- edit or a removal anywhere breaks the chain from there on; the triggers refuse both.
CREATE TABLE audit (
    tenant_id TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) WITHOUT ROWID;

CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Keys for the tenant's bot (hand-offs, automated replies), stored as hashes.
CREATE TABLE bot_keys (
    key_hash   BLOB PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Erasure finds a contact's events without scanning the tenant's log.
CREATE INDEX events_by_contact ON events (tenant_id, contact_id) WHERE contact_id IS NOT NULL;

-- The relay's schema on PostgreSQL: the same tables and columns as the SQLite store's
-- migrations 0001–0003 (so `migrate-store` copies a table column by column), with
-- PostgreSQL's types, plus what only several nodes need (`nodes`, `replies.node_id`).
--
-- Timestamps stay RFC 3339 text in one fixed form (UTC, nanoseconds, `Z`), as in SQLite:
-- both backends compare and sort them as text, and a copied row keeps its exact value.

CREATE TABLE tenants (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    created_at            TEXT NOT NULL,
    -- The head of the tenant's log. The appending transaction locks this row
    -- (`SELECT … FOR UPDATE`) and moves it in the same commit as the events: appends to
    -- one tenant from any node queue on the lock, so no number is skipped or given twice,
    -- and a rolled-back append gives its numbers back.
    last_seq              BIGINT NOT NULL DEFAULT 0,
    agents_may_erase      BOOLEAN NOT NULL DEFAULT false,
    wipe_cache_on_removal BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE meta_apps (
    app_id              TEXT PRIMARY KEY,
    secret_sealed       TEXT NOT NULL,
    verify_token_sealed TEXT,
    created_at          TEXT NOT NULL
);

CREATE TABLE channels (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants(id),
    kind                 TEXT NOT NULL CHECK (kind IN ('messenger', 'instagram', 'whatsapp')),
    external_id          TEXT NOT NULL,
    app_id               TEXT NOT NULL REFERENCES meta_apps(app_id),
    display_name         TEXT NOT NULL,
    human_agent_approved BOOLEAN NOT NULL DEFAULT false,
    created_at           TEXT NOT NULL,
    token_sealed         TEXT,
    waba_id              TEXT,
    needs_reconnection   TEXT,
    settings             TEXT NOT NULL DEFAULT '{}',
    UNIQUE (kind, external_id)
);
CREATE INDEX channels_by_tenant ON channels (tenant_id);

CREATE TABLE agents (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants(id),
    email                TEXT NOT NULL,
    role                 TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash        TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    name                 TEXT,
    status               TEXT NOT NULL DEFAULT 'active'
                         CHECK (status IN ('active', 'disabled', 'removed')),
    must_change_password BOOLEAN NOT NULL DEFAULT false,
    last_sign_in_at      TEXT,
    UNIQUE (tenant_id, email)
);
CREATE INDEX agents_by_email ON agents (email);

CREATE TABLE sessions (
    id                    TEXT PRIMARY KEY,
    agent_id              TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    tenant_id             TEXT NOT NULL REFERENCES tenants(id),
    access_hash           BYTEA NOT NULL UNIQUE,
    access_expires_at     TEXT NOT NULL,
    refresh_hash          BYTEA NOT NULL UNIQUE,
    refresh_expires_at    TEXT NOT NULL,
    created_at            TEXT NOT NULL,
    revoked_at            TEXT,
    expires_at            TEXT,
    last_refreshed_at     TEXT,
    revoked_reason        TEXT,
    previous_refresh_hash BYTEA,
    rotated_at            TEXT,
    client                TEXT
);
CREATE INDEX sessions_by_agent ON sessions (agent_id);

CREATE TABLE contacts (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    channel_id          TEXT NOT NULL REFERENCES channels(id),
    external_id         TEXT NOT NULL,
    name                TEXT,
    marketing_opted_out BOOLEAN NOT NULL DEFAULT false,
    UNIQUE (channel_id, external_id)
);

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    channel_id       TEXT NOT NULL REFERENCES channels(id),
    contact_id       TEXT NOT NULL REFERENCES contacts(id),
    last_inbound_at  TEXT,
    last_outbound_at TEXT,
    status           TEXT NOT NULL DEFAULT 'open',
    snoozed_until    TEXT,
    assignee         TEXT,
    labels           TEXT NOT NULL DEFAULT '[]',
    UNIQUE (channel_id, contact_id)
);
CREATE INDEX conversations_waiting ON conversations (last_inbound_at);
CREATE INDEX conversations_snoozed ON conversations (snoozed_until) WHERE snoozed_until IS NOT NULL;
CREATE INDEX conversations_by_tenant ON conversations (tenant_id, id);

CREATE TABLE events (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    seq             BIGINT NOT NULL,
    id              TEXT NOT NULL,
    type            TEXT NOT NULL,
    contact_id      TEXT,
    conversation_id TEXT,
    body            TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, id)
);
CREATE INDEX events_by_contact ON events (tenant_id, contact_id) WHERE contact_id IS NOT NULL;

CREATE TABLE media (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL,
    channel_id  TEXT NOT NULL REFERENCES channels(id),
    source_kind TEXT NOT NULL,
    source      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE quarantine (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    received_at TEXT NOT NULL,
    app_id      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    body        BYTEA NOT NULL
);

-- The relay processes sharing this database, each under a new id per start. A node
-- renews `heartbeat_at` (the database's clock, so nodes' clocks need not agree); one
-- silent for longer than the lease is gone, and what it had claimed is recovered.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE replies (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    idempotency_key TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    request_hash    BYTEA NOT NULL,
    request         TEXT NOT NULL,
    sender          TEXT NOT NULL,
    sent_as         TEXT,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'unknown')),
    message_id      TEXT,
    failure         TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    -- The node working on a queued or in-flight reply; another node takes it over only
    -- once that node is gone (and then never re-sends one that was in flight).
    node_id         TEXT,
    PRIMARY KEY (tenant_id, idempotency_key)
);
CREATE INDEX replies_unfinished ON replies (state) WHERE state IN ('queued', 'sending');

CREATE TABLE templates (
    channel_id TEXT NOT NULL REFERENCES channels(id),
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    language   TEXT NOT NULL,
    category   TEXT NOT NULL,
    status     TEXT NOT NULL,
    meta_id    TEXT,
    components TEXT NOT NULL,
    synced_at  TEXT NOT NULL,
    PRIMARY KEY (channel_id, name, language)
);

CREATE TABLE deletion_requests (
    confirmation_code TEXT PRIMARY KEY,
    app_id            TEXT NOT NULL,
    user_hash         TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    outcome           TEXT NOT NULL
);

-- Agents' and admins' actions, hash-chained per tenant; the trigger refuses edits and
-- removals, as SQLite's do.
CREATE TABLE audit (
    tenant_id TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
CREATE TRIGGER audit_is_append_only_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();

CREATE TABLE bot_keys (
    key_hash   BYTEA PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    id         TEXT UNIQUE,
    revoked_at TEXT
);

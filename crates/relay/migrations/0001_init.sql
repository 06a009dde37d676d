-- The relay's store: tenants and their channels, agents and sessions, and each tenant's
-- event log. Append-only: a change is a new numbered file, never an edit of this one.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    -- The last sequence number handed out; advanced in the same transaction as the event.
    last_seq   INTEGER NOT NULL DEFAULT 0
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
    human_agent_approved INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT NOT NULL,
    UNIQUE (kind, external_id)
);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (tenant_id, email)
);
CREATE INDEX agents_by_email ON agents (email);

-- Tokens are stored as SHA-256 hashes: a copy of this file lets nobody sign in.
CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    agent_id           TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    access_hash        BLOB NOT NULL UNIQUE,
    access_expires_at  TEXT NOT NULL,
    refresh_hash       BLOB NOT NULL UNIQUE,
    refresh_expires_at TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    revoked_at         TEXT
);

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    channel_id  TEXT NOT NULL REFERENCES channels(id),
    external_id TEXT NOT NULL,
    name        TEXT,
    UNIQUE (channel_id, external_id)
);

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    channel_id TEXT NOT NULL REFERENCES channels(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    UNIQUE (channel_id, contact_id)
);

-- The log. `id` is the event's stable id (derived from Meta's ids for webhooks), so a
-- redelivered webhook finds its event already here and is not stored twice.
CREATE TABLE events (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL,
    type            TEXT NOT NULL,
    contact_id      TEXT,
    conversation_id TEXT,
    body            TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, id)
) WITHOUT ROWID;

-- Where each attachment can be fetched from (a WhatsApp media id or a URL).
CREATE TABLE media (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL,
    channel_id  TEXT NOT NULL REFERENCES channels(id),
    source_kind TEXT NOT NULL,
    source      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;

-- Signed webhook bodies the relay could not use (unparseable, or for an unknown channel):
-- kept so nothing Meta delivered is lost, and answered 200 so Meta does not retry for days.
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    app_id      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    body        BLOB NOT NULL
);

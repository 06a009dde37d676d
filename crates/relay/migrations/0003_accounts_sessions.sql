-- Agents' lifecycle, sessions that end, and bot keys that can be listed, revoked and rotated.

-- An agent is `active`, `disabled` (an admin can re-enable them) or `removed` (kept only as
-- an id for the audit log and old assignments: email replaced, no name, no password).
ALTER TABLE agents ADD COLUMN name TEXT;
ALTER TABLE agents ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'disabled', 'removed'));
-- Set by an admin's reset and for a new agent: the next sign-in may only change it.
ALTER TABLE agents ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN last_sign_in_at TEXT;

-- A session ends at `expires_at` whatever its refreshes (the absolute lifetime), after its
-- idle timeout (`refresh_expires_at`, moved on by each refresh but never past
-- `expires_at`), or when revoked, with the reason (`auth::EndReason`) the desktop shows.
-- Refresh tokens name their session (`<session id>.<secret>`), so a rotated token
-- presented again is recognised: the last one stays valid for a short grace after its
-- rotation (`previous_refresh_hash`, `rotated_at`), any older one revokes the session.
ALTER TABLE sessions ADD COLUMN expires_at TEXT;
ALTER TABLE sessions ADD COLUMN last_refreshed_at TEXT;
ALTER TABLE sessions ADD COLUMN revoked_reason TEXT;
ALTER TABLE sessions ADD COLUMN previous_refresh_hash BLOB;
ALTER TABLE sessions ADD COLUMN rotated_at TEXT;
-- The desktop's own description of itself (its User-Agent), so an admin can tell sessions apart.
ALTER TABLE sessions ADD COLUMN client TEXT;
-- Sessions made before this migration keep the lifetime they were promised.
UPDATE sessions SET expires_at = refresh_expires_at WHERE expires_at IS NULL;
CREATE INDEX sessions_by_agent ON sessions (agent_id);

-- Bot keys get an id (to list, revoke and rotate them by) and a revocation time.
ALTER TABLE bot_keys ADD COLUMN id TEXT;
ALTER TABLE bot_keys ADD COLUMN revoked_at TEXT;
UPDATE bot_keys SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
CREATE UNIQUE INDEX bot_keys_by_id ON bot_keys (id);

-- Whether a desktop whose access is removed or disabled deletes that account's cache.
ALTER TABLE tenants ADD COLUMN wipe_cache_on_removal INTEGER NOT NULL DEFAULT 0;

-- The erasure ledger (issue 14, item 3): every erasure leaves a row here, written in the
-- erasure's own transaction, so a backup knows which erasures it already holds and a
-- restore can re-apply the ones made after it. No personal data: `subject_hash` is an
-- HMAC-SHA256, under a key derived from the relay's key, of `contact:<contact id>`
-- (kind `contact`) or `meta_user:<app id>/<platform user id>` (kind `meta_user`, Meta's
-- data-deletion requests). `tenant_id` is '' for `meta_user` (an app's, not a tenant's).
-- Append-only: rows are never changed or deleted (triggers below), not even by retention.
CREATE TABLE erasure_ledger (
    kind TEXT NOT NULL CHECK (kind IN ('contact', 'meta_user')),
    subject_hash TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    erased_at TEXT NOT NULL,
    PRIMARY KEY (kind, subject_hash, tenant_id)
);

CREATE TRIGGER erasure_ledger_no_update BEFORE UPDATE ON erasure_ledger
BEGIN
    SELECT RAISE(ABORT, 'the erasure ledger is append-only');
END;

CREATE TRIGGER erasure_ledger_no_delete BEFORE DELETE ON erasure_ledger
BEGIN
    SELECT RAISE(ABORT, 'the erasure ledger is append-only');
END;

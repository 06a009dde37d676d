-- The erasure ledger, as in SQLite's 0006_erasure_ledger.sql (which says what the rows
-- mean): written in each erasure's transaction, hashes only, append-only.
CREATE TABLE erasure_ledger (
    kind TEXT NOT NULL CHECK (kind IN ('contact', 'meta_user')),
    subject_hash TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    erased_at TEXT NOT NULL,
    PRIMARY KEY (kind, subject_hash, tenant_id)
);

CREATE FUNCTION erasure_ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the erasure ledger is append-only';
END;
$$;
CREATE TRIGGER erasure_ledger_is_append_only BEFORE UPDATE OR DELETE ON erasure_ledger
    FOR EACH ROW EXECUTE FUNCTION erasure_ledger_is_append_only();
CREATE TRIGGER erasure_ledger_is_append_only_truncate BEFORE TRUNCATE ON erasure_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION erasure_ledger_is_append_only();

-- The quarantine, bounded: a body Meta redelivers (the same bytes for the same app) is
-- kept once. Rows from before this migration have no hash, and NULLs never clash.
ALTER TABLE quarantine ADD COLUMN body_hash TEXT;
CREATE UNIQUE INDEX quarantine_by_body ON quarantine (app_id, body_hash);

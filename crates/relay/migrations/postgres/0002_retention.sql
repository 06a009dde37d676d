-- Retention: how far each channel's history has been purged (the last sequence of the
-- tenant's log a purge pass looked at and left behind), so each pass goes on from there.
ALTER TABLE channels ADD COLUMN purged_through BIGINT NOT NULL DEFAULT 0;

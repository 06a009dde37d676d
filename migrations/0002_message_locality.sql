-- Applying the log faster: message indexes laid out by conversation, so that a batch
-- touches few pages (every page SQLCipher reads is decrypted and checked, every page a
-- transaction dirties is encrypted and written to the WAL), and the search index filled
-- once per batch instead of once per message.
--
-- Conversation ids are UUIDv7s (ordered by when the relay first saw them), so an index that
-- starts with `conversation_id` takes a batch's new messages on a few pages: the new
-- conversations' at its end, and one page for each long-running conversation. An index
-- keyed by the platforms' long random message ids instead dirtied one random page per
-- message, most of them not in memory.

-- A conversation belongs to one contact (the relay keys it by channel and contact, and a
-- reply composed here takes the conversation's contact), so one index serves both an
-- erasure, which must find every message of the contact, and a conversation's pages:
-- two indexes of 36-character ids cost each message two scattered insertions.
DROP INDEX messages_by_contact;
DROP INDEX messages_by_conversation;
CREATE INDEX messages_by_contact_conversation ON messages (contact_id, conversation_id, rowid);

-- Statuses, edits, unsends and reactions name a message by its platform id and come with
-- their conversation (the relay resolves one per channel and contact). The index holds the
-- id's last 16 characters (where Meta's ids vary; the full id is compared on the row), so
-- its entries are short. Look-ups must spell the expression exactly as here.
DROP INDEX messages_by_platform_id;
CREATE INDEX messages_by_conversation_platform_id
    ON messages (conversation_id, substr(message_id, -16)) WHERE message_id IS NOT NULL;

-- FTS5 writes its index in blocks of `pgsz` bytes (4,050 by default, sized for a plain
-- 4,096-byte page). SQLCipher keeps 80 bytes of each page for its IV and HMAC, so such a
-- block no longer fits in a row of the `_data` table and spills into an overflow page: two
-- pages written and read for each block. Blocks of 3,900 bytes fit in one page.
INSERT INTO messages_fts (messages_fts, rank) VALUES ('pgsz', 3900);
INSERT INTO contacts_fts (contacts_fts, rank) VALUES ('pgsz', 3900);
INSERT INTO notes_fts (notes_fts, rank) VALUES ('pgsz', 3900);

-- Messages from the log are indexed by `apply_batch`, all of a batch's in one statement at
-- its end. Indexed row by row from the trigger, FTS5 became part of the transaction, and
-- FTS5 writes its pending terms to disk at every statement savepoint: a batch of 5,000
-- messages wrote thousands of one-row segments and merged them again and again. Rows from
-- the log always carry their event id; the trigger still indexes the others (replies
-- composed on this desktop, queued before the relay has them).
DROP TRIGGER messages_fts_insert;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
WHEN new.text IS NOT NULL AND new.event_id IS NULL BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, new.text);
END;

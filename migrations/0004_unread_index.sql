-- The unread total (the window title and the launcher's badge, read by every `accounts`
-- call, the first one at start-up) summed `unread` over every conversation: a walk of the
-- whole table, 100,000 rows read and decrypted from a cold disk. Only unread conversations
-- can add to it, and they are few of a large inbox: this index holds just them, so the sum
-- is a walk of a small covering index (`WHERE unread > 0` in the query picks it).
CREATE INDEX conversations_unread ON conversations (unread) WHERE unread > 0;

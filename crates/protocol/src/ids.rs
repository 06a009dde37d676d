//! Typed identifiers, so a contact id can never be passed where a conversation id belongs.
//!
//! All are opaque strings on the wire. Ids the relay assigns (tenant, channel, contact,
//! conversation, note, media, receipt) mean nothing outside it; [`MessageId`] is the id
//! the messaging platform gave a message, and [`IdempotencyKey`] is made by the desktop
//! when a reply enters its outbox.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id!(
    /// A business customer of the platform; every piece of data belongs to exactly one.
    TenantId
);
string_id!(
    /// A connected Page, Instagram account or WhatsApp number of a tenant.
    ChannelId
);
string_id!(
    /// An end user (customer) as seen on one channel.
    ContactId
);
string_id!(
    /// The thread between one contact and one channel.
    ConversationId
);
string_id!(
    /// A person who answers customers (an agent or an admin) in one tenant.
    AgentId
);
string_id!(
    /// An event's stable id: the same platform event always gets the same id, which is
    /// what makes redelivered webhooks recognisable.
    EventId
);
string_id!(
    /// The messaging platform's id of a message (`mid` on Messenger and Instagram,
    /// `wamid` on WhatsApp).
    MessageId
);
string_id!(
    /// Made by the desktop when a reply is written to its outbox; the relay sends a reply
    /// to the platform at most once per key (invariant 6).
    IdempotencyKey
);
string_id!(
    /// A private note on a conversation.
    NoteId
);
string_id!(
    /// An attachment, fetched through the relay (never straight from the platform).
    MediaId
);
string_id!(
    /// The audit-log receipt of an erasure.
    ReceiptId
);

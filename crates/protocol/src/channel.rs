//! The kinds of channel a tenant can connect.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which messaging platform a channel is on. The reply rules differ per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Messenger,
    Instagram,
    #[serde(rename = "whatsapp")]
    WhatsApp,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 3] = [Self::Messenger, Self::Instagram, Self::WhatsApp];

    /// The name used on the wire and in the admin CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Messenger => "messenger",
            Self::Instagram => "instagram",
            Self::WhatsApp => "whatsapp",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! Meta's webhooks: verifying, then (later) normalising them into protocol events.

pub mod signature;

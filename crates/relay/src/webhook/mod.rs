//! Meta's webhooks: verifying them, turning them into protocol events, taking them in.

pub mod intake;
pub mod intake_cache;
pub mod normalize;
pub mod replay;
pub mod signature;

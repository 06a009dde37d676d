//! A stand-in for Meta, for tests and the demo: it signs webhooks the way Meta does and
//! (in later work) posts them to a relay and serves the Graph API subset Ventana calls.
//!
//! It must stay faithful to `fixtures/meta/` and the Meta reference: the relay is only as
//! well tested as metasim is true to Meta.

pub mod signing;

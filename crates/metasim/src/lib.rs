//! A stand-in for Meta, for tests and the demo, in two halves:
//!
//! - **Webhooks in**: it generates webhook traffic in the shapes Meta sends ([`Generator`]),
//!   serialises and signs it the way Meta does, and posts it to a relay ([`Poster`]).
//! - **Graph API out**: [`graph::GraphSim`] serves the Graph API subset the relay calls
//!   (Messenger, Instagram and WhatsApp sends, WhatsApp templates and media) over HTTP on
//!   127.0.0.1, enforces the messaging windows and answers with Meta's error bodies, and
//!   after each accepted send posts the echo, delivery, read or status webhooks Meta would.
//!
//! It must stay faithful to `fixtures/meta/` and the Meta reference: the relay is only as
//! well tested as metasim is true to Meta.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ventana_metasim::{Generator, Platform, Poster, Universe};
//! let mut generator = Generator::new(Universe::demo(1), 42);
//! let webhook = generator.next_webhook(Platform::WhatsApp, 20)?;
//! let poster = Poster::new("http://127.0.0.1:8080", "1111111111111111", "app secret")?;
//! assert_eq!(poster.post(&webhook).await?, 200);
//! assert_eq!(poster.redeliver(&webhook).await?, 200); // the same bytes again
//! # Ok(()) }
//! ```

pub mod clock;
pub mod content;
pub mod graph;
mod ids;
pub mod meta_json;
pub mod post;
pub mod shape;
pub mod signing;
pub mod traffic;
pub mod universe;
pub mod webhook;
mod wire;

pub use clock::Clock;
pub use graph::{Failure, GraphSim, GraphSimConfig, Outcome};
pub use post::{PostError, Poster, Reply};
pub use traffic::{Event, GenError, Generator, GeneratorConfig};
pub use universe::{Channel, ChannelInfo, Contact, Conversation, Lang, Platform, Universe};
pub use webhook::{DedupeKey, EventInfo, EventKind, MAX_UPDATES_PER_BODY, Webhook};

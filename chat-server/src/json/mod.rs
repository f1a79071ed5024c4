//! The JSON protocol for programs (bots, the browser): one documented protocol into the same
//! hub as the terminals, whatever carries it.
//!
//! - [`protocol`]: the messages, as serde types, and how hub events and the client's
//!   messages translate; no transport, no runtime. `docs/protocol.md` is the contract.
//! - [`run`]: one connection's session over any transport, given a [`JsonSource`] of the
//!   client's input and a [`JsonSink`] for its lines. The SSH front-end's `json` exec command
//!   and the web front-end's `/ws` are thin adapters over it.

mod driver;
mod lines;
pub mod protocol;
#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod tests;

pub use driver::{InputLimits, JsonEnding, JsonInput, JsonSink, JsonSource, run, run_as};
pub use lines::LineReader;

//! `chat-cluster`: several `chat-cli serve` nodes, one chat, on Redis.
//!
//! Each node keeps its own connections and its own [`chat_core::Hub`]; this crate connects
//! the hubs. Everything is built on Redis features, nothing home-made:
//!
//! - **One log** ([`bus`]): a Redis stream that every node appends to (through Lua scripts,
//!   atomic) and reads from in order. A line is delivered only when it comes back from the
//!   log, on every node including its sender's, so every member sees a room's lines in one
//!   order. Presence, private messages, kicks, bans and grants travel the same way.
//! - **Liveness and names**: keys with a TTL that a heartbeat refreshes. A node that dies
//!   stops refreshing; its key expires and the others announce its members as leaving; its
//!   names expire and are free. A name is taken with `SET NX` (in a script), so of two nodes
//!   asking at once exactly one gets it.
//! - **Durable state** ([`store::RedisStore`]): history, settings, offline messages, bans
//!   and the audit trail, in Redis with its persistence on; it passes the same conformance
//!   suite as the SQLite store.
//!
//! The single process with its embedded store does not use this crate at all.

pub mod bus;
pub mod codec;
pub mod scripts;
pub mod store;

pub use bus::{BusSink, Cluster, ClusterConfig, ClusterError, Health};
pub use store::RedisStore;

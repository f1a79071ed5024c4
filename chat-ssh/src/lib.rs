//! `chat-ssh`: the SSH frontend of the chat. `ssh -p 2222 host` and you are in.
//!
//! A [`Server`] owns the accept loop. Each connection gets a russh handler
//! (authentication policy, and forwarding of what arrives) and, once it asks for a shell or a
//! command, one task that owns its [`chat_core::Session`] (the spoke). The only state shared
//! between connections is the [`chat_core::Hub`] behind one mutex, never held across an
//! `.await`, in the [`Runtime`] that every front-end shares (`chat-server`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use chat_ssh::{RuntimeConfig, Server, ServerConfig};
//! use tokio_util::sync::CancellationToken;
//!
//! let server = Server::standalone(ServerConfig::with_data_dir("./data"), RuntimeConfig::default())?;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:2222").await?;
//! let shutdown = CancellationToken::new();
//! server.run(listener, shutdown).await;
//! # Ok(()) }
//! ```
//!
//! Who gets in: anyone with a key, identified by its SHA256 fingerprint (SHA-1 `ssh-rsa`
//! signatures are refused; RSA with SHA-2 is fine), and anyone without one through
//! keyboard-interactive with no questions, as an unverified name. The SSH username is the
//! first nick.

mod chat;
pub mod config;
mod handler;
pub mod host_key;
mod kill;
pub mod limits;
#[cfg(test)]
mod memory_tests;
mod server;

pub use chat_server;
pub use chat_server::chat_store;
pub use chat_server::{Runtime, RuntimeConfig};
pub use config::ServerConfig;
pub use server::{MIN_CLIENT_REKEY_INTERVAL, MetricsHandle, Reloader, Server, ServerError};
pub use tokio_util::sync::CancellationToken;

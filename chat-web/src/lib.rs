//! `chat-web`: the web front-end of the chat. Register a key, sign in without a password,
//! manage your keys.
//!
//! A newcomer who has never used SSH keys goes from the home page to chatting in a terminal
//! in two minutes: `/` says how to make a key and connect, `/register` takes a name, a public
//! key and an SSH signature (`ssh-keygen -Y sign`) that proves the key is theirs, and says
//! what to type next. Nobody can register a key that is not theirs: a public key alone proves
//! nothing.
//!
//! Like `chat-ssh`, this is a front-end of the shared [`Runtime`]: accounts go to the same
//! directory (which enforces uniqueness), the hub learns of changes at once, and every change
//! is audit-logged. The two front-ends meet only in the runtime: `ssh host /web` issues a
//! one-time link there ([`chat_server::signin`]) that this crate redeems.
//!
//! Security, in one place each: cookies and sessions in [`session`], CSRF in
//! [`state::Ctx::csrf_ok`], headers and size and time limits in [`routes::app`], rate limits
//! in [`ratelimit`], challenges in [`challenge`], signatures in [`proof`], account changes
//! and their audit in [`ops`].
//!
//! ```no_run
//! # async fn run(runtime: std::sync::Arc<chat_server::Runtime>, ssh: chat_web::config::SshInfo) -> Result<(), Box<dyn std::error::Error>> {
//! use chat_web::{WebConfig, WebServer};
//! let config = WebConfig::new("https://chat.example.org".parse()?, ssh);
//! let server = WebServer::new(config, runtime)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server.run(listener, chat_server::CancellationToken::new()).await;
//! # Ok(()) }
//! ```

pub mod challenge;
pub mod clock;
pub mod config;
pub mod form;
pub mod ops;
pub mod proof;
pub mod ratelimit;
pub mod routes;
pub mod secret;
mod server;
pub mod session;
pub mod state;
pub mod tls;
pub mod views;

use std::sync::Arc;

use axum::Router;
use chat_server::Runtime;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::challenge::Challenges;
pub use crate::config::{PublicUrl, SshInfo, TlsFiles, WebConfig, WebLimits};
use crate::ratelimit::RateLimiter;
use crate::secret::{Secret, SecretError};
use crate::session::{Cookies, Sessions};
pub use crate::state::{AppState, SignedIn};
use crate::tls::TlsError;

#[derive(Debug, Error)]
pub enum WebError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The web front-end, ready to [`run`](WebServer::run) on a listener.
pub struct WebServer {
    state: Arc<AppState>,
    extra: Router<Arc<AppState>>,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for WebServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebServer")
            .field("public_url", &self.state.public_url.url)
            .finish_non_exhaustive()
    }
}

impl WebServer {
    /// Reads (or makes) the secret and the TLS files. Nothing listens yet.
    pub fn new(config: WebConfig, runtime: Arc<Runtime>) -> Result<Self, WebError> {
        let secret = match &config.secret_path {
            Some(path) => Secret::load_or_generate(path)?,
            None => Secret::random(),
        };
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let secure = !config.public_url.is_plain_loopback();
        if secure && config.public_url.scheme == "http" {
            warn!(url = %config.public_url.url, "the public URL is plain HTTP on a non-local host: browsers will not keep the Secure session cookie, so nobody can sign in; serve HTTPS (a proxy, or --web-tls-cert)");
        }
        let limits = config.limits.clone();
        let state = AppState {
            challenges: Challenges::new(
                secret.clone(),
                config.public_url.bare_host(),
                limits.challenge_ttl,
            ),
            sessions: Sessions::new(limits.sessions),
            cookies: Cookies { secure },
            per_ip: RateLimiter::new(limits.per_ip),
            per_account: RateLimiter::new(limits.per_account),
            runtime,
            public_url: config.public_url,
            ssh: config.ssh,
            limits,
            clock: config.clock,
            secret,
        };
        Ok(Self {
            state: Arc::new(state),
            extra: Router::new(),
            tls,
        })
    }

    /// Adds routes beside the pages (a browser chat, its WebSocket): they share the state,
    /// the [`SignedIn`] extractor and every security layer.
    pub fn with_routes(mut self, routes: Router<Arc<AppState>>) -> Self {
        self.extra = self.extra.merge(routes);
        self
    }

    /// What the handlers share (tests look inside).
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// The application, with every layer.
    pub fn router(&self) -> Router {
        routes::app(Arc::clone(&self.state), self.extra.clone())
    }

    /// Serves until `shutdown` is cancelled, then lets open requests finish.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) {
        let app = self.router();
        let limits = &self.state.limits;
        if let Ok(addr) = listener.local_addr() {
            tracing::debug!(%addr, url = %self.state.public_url.url, tls = self.tls.is_some(), "web front-end serving");
        }
        server::serve(
            listener,
            app,
            self.tls,
            limits.max_connections,
            limits.header_timeout,
            shutdown,
        )
        .await;
    }
}

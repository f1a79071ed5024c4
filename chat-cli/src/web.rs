//! `serve`'s web front-end: its flags turned into a listener and a [`WebServer`] beside the
//! SSH server, sharing its runtime and its shutdown.

use std::path::PathBuf;
use std::sync::Arc;

use chat_ssh::{CancellationToken, Runtime, RuntimeConfig, Server};
use chat_web::{PublicUrl, SshInfo, TlsFiles, WebConfig, WebServer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::info;

use crate::cli::{ServeArgs, WebBind};
use crate::serve::ServeError;

/// The web front-end, bound and ready to start once the SSH server exists.
pub struct BoundWeb {
    listener: TcpListener,
    public_url: PublicUrl,
    tls: Option<TlsFiles>,
    secret_path: PathBuf,
}

impl BoundWeb {
    /// Binds `--web-bind` (unless it is `off`) and settles the public URL: `--public-url`,
    /// or the address actually bound.
    pub async fn bind(args: &ServeArgs) -> Result<Option<Self>, ServeError> {
        let WebBind::At(addr) = args.web_bind else {
            return Ok(None);
        };
        let (listener, local) = crate::serve::listen("--web-bind", addr).await?;
        let tls = match (&args.web_tls_cert, &args.web_tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        };
        let public_url = args
            .public_url
            .clone()
            .unwrap_or_else(|| PublicUrl::from_bind(local, tls.is_some()));
        Ok(Some(Self {
            listener,
            public_url,
            tls,
            secret_path: args.data_dir.join("web_secret"),
        }))
    }

    /// Points the chat at the web: `ssh host web` links, and where refused keys register.
    pub fn configure(&self, config: &mut RuntimeConfig) {
        config.web_url = Some(self.public_url.url.clone());
        config.registration_hint = format!("Register your key at {}/register", self.public_url.url);
    }

    /// Starts serving with `server`'s runtime and host key; stops when `shutdown` is
    /// cancelled.
    pub fn start(
        self,
        runtime: Arc<Runtime>,
        server: &Server,
        ssh_port: u16,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, ServeError> {
        let ssh = SshInfo {
            host: self.public_url.bare_host().to_owned(),
            port: ssh_port,
            host_fingerprint: server.host_fingerprint().to_owned(),
            host_public_key: server.host_public_key().to_owned(),
        };
        let mut config = WebConfig::new(self.public_url.clone(), ssh);
        config.secret_path = Some(self.secret_path);
        config.tls = self.tls;
        let web = WebServer::new(config, runtime)?;
        if let Ok(addr) = self.listener.local_addr() {
            info!(%addr, url = %self.public_url.url, "web front-end listening");
        }
        Ok(tokio::spawn(web.run(self.listener, shutdown)))
    }
}

//! What the web front-end needs to know: where it is reached, how to reach the SSH side,
//! where its secret lives, and its limits.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use thiserror::Error;

use crate::clock::{Clock, SystemClock};
use crate::ratelimit::Rate;
use crate::session::SessionLimits;

/// The address people use for the web front-end: `https://chat.example.org`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// The host as written in the URL (an IPv6 address keeps its brackets).
    pub host: String,
    /// Without a trailing slash; what links start with.
    pub url: String,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("{0:?} is not a public URL: it should look like https://chat.example.org")]
    Malformed(String),
    #[error("{0:?}: the public URL is the site's root, without a path")]
    HasPath(String),
}

impl std::str::FromStr for PublicUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || UrlError::Malformed(text.to_owned());
        let trimmed = text.trim().trim_end_matches('/');
        let (scheme, rest) = trimmed.split_once("://").ok_or_else(malformed)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(malformed());
        }
        if rest.contains('/') {
            return Err(UrlError::HasPath(text.to_owned()));
        }
        let host = match rest.strip_prefix('[') {
            Some(v6) => {
                let (addr, _) = v6.split_once(']').ok_or_else(malformed)?;
                format!("[{addr}]")
            }
            None => rest.split(':').next().unwrap_or_default().to_owned(),
        };
        let port_ok = rest[host.len()..]
            .strip_prefix(':')
            .is_none_or(|port| port.parse::<u16>().is_ok());
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._[]:".contains(c));
        if !port_ok || !host_ok {
            return Err(malformed());
        }
        Ok(Self {
            url: format!("{scheme}://{rest}"),
            scheme,
            host: host.to_ascii_lowercase(),
        })
    }
}

impl PublicUrl {
    /// The URL a server bound to `bind` is reached at when nobody says otherwise: its own
    /// address (`localhost` for a wildcard bind).
    pub fn from_bind(bind: SocketAddr, tls: bool) -> Self {
        let scheme = if tls { "https" } else { "http" };
        let host = match bind.ip() {
            ip if ip.is_unspecified() => "localhost".to_owned(),
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        let default_port = if tls { 443 } else { 80 };
        let url = if bind.port() == default_port {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}:{}", bind.port())
        };
        Self {
            scheme: scheme.to_owned(),
            host,
            url,
        }
    }

    /// The host as `ssh` takes it (an IPv6 address without brackets).
    pub fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// Whether browsers reach this over plain HTTP on this machine only, the one case in
    /// which cookies may go without `Secure` (a browser would not send them back otherwise).
    pub fn is_plain_loopback(&self) -> bool {
        let host = self.bare_host();
        self.scheme == "http"
            && (host == "localhost"
                || host.ends_with(".localhost")
                || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
    }
}

/// The SSH side, as the pages tell people to connect.
#[derive(Debug, Clone)]
pub struct SshInfo {
    pub host: String,
    pub port: u16,
    /// `SHA256:…`, as `ssh` shows it on first contact.
    pub host_fingerprint: String,
    /// `ssh-ed25519 AAAA…`, for the `known_hosts` line.
    pub host_public_key: String,
}

impl SshInfo {
    /// `ssh -p 2222 chat.example.org` (no `-p` for port 22).
    pub fn command(&self) -> String {
        if self.port == 22 {
            format!("ssh {}", self.host)
        } else {
            format!("ssh -p {} {}", self.port, self.host)
        }
    }

    /// The line that lets `ssh` trust the server before the first login.
    pub fn known_hosts_line(&self) -> String {
        if self.port == 22 {
            format!("{} {}", self.host, self.host_public_key)
        } else {
            format!("[{}]:{} {}", self.host, self.port, self.host_public_key)
        }
    }
}

/// Limits of the web front-end. `Default` suits a public server.
#[derive(Debug, Clone)]
pub struct WebLimits {
    /// Register, sign-in and key-change forms per client address.
    pub per_ip: Rate,
    /// The same per account (or, when registering, per key).
    pub per_account: Rate,
    pub sessions: SessionLimits,
    /// How long a challenge may take to be signed and sent back.
    pub challenge_ttl: TimeDelta,
    /// Largest request body (every form is far smaller).
    pub max_body: usize,
    /// Connections open at once.
    pub max_connections: usize,
    /// Time to send a request's headers, and the whole request.
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    /// A WebSocket whose frames cannot go out for this long (the browser stopped reading)
    /// is cut off; the SSH front-end's stall limit.
    pub ws_stall_timeout: Duration,
    /// What a WebSocket may send: the terminal's input limits.
    pub ws_input_burst_bytes: u32,
    pub ws_input_bytes_per_second: u32,
}

impl Default for WebLimits {
    fn default() -> Self {
        Self {
            per_ip: Rate::new(20, Duration::from_secs(15)),
            per_account: Rate::new(10, Duration::from_secs(60)),
            sessions: SessionLimits::default(),
            challenge_ttl: TimeDelta::minutes(15),
            max_body: 32 * 1024,
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            ws_stall_timeout: Duration::from_secs(60),
            ws_input_burst_bytes: 64 * 1024,
            ws_input_bytes_per_second: 8 * 1024,
        }
    }
}

/// Certificate chain and key for serving HTTPS without a proxy (PEM files).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything [`WebServer`](crate::WebServer) needs besides the runtime.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub public_url: PublicUrl,
    pub ssh: SshInfo,
    /// Where the secret that signs challenges is kept (`DATA_DIR/web_secret`); `None` keeps
    /// one in memory for the life of the process.
    pub secret_path: Option<PathBuf>,
    pub tls: Option<TlsFiles>,
    pub limits: WebLimits,
    pub clock: Arc<dyn Clock>,
}

impl WebConfig {
    /// A configuration with default limits, the system clock and no TLS.
    pub fn new(public_url: PublicUrl, ssh: SshInfo) -> Self {
        Self {
            public_url,
            ssh,
            secret_path: None,
            tls: None,
            limits: WebLimits::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_parsed_and_checked() {
        let url: PublicUrl = "https://Chat.Example.org/".parse().unwrap();
        assert_eq!(url.url, "https://Chat.Example.org");
        assert_eq!(url.host, "chat.example.org");
        assert!(!url.is_plain_loopback());
        let local: PublicUrl = "http://127.0.0.1:8080".parse().unwrap();
        assert!(local.is_plain_loopback());
        let v6: PublicUrl = "http://[::1]:8080".parse().unwrap();
        assert_eq!(v6.bare_host(), "::1");
        assert!(v6.is_plain_loopback());
        assert!(
            !"https://localhost"
                .parse::<PublicUrl>()
                .unwrap()
                .is_plain_loopback()
        );
        for bad in [
            "chat.example.org",
            "ftp://x",
            "https://",
            "https://x:99999",
            "https://a b",
        ] {
            assert!(bad.parse::<PublicUrl>().is_err(), "{bad}");
        }
        assert!(matches!(
            "https://x.org/chat".parse::<PublicUrl>(),
            Err(UrlError::HasPath(_))
        ));
    }

    #[test]
    fn the_default_url_comes_from_the_bind_address() {
        let url = PublicUrl::from_bind("127.0.0.1:8080".parse().unwrap(), false);
        assert_eq!(url.url, "http://127.0.0.1:8080");
        let any = PublicUrl::from_bind("0.0.0.0:443".parse().unwrap(), true);
        assert_eq!(any.url, "https://localhost");
    }

    #[test]
    fn ssh_commands_and_known_hosts_lines() {
        let mut ssh = SshInfo {
            host: "chat.example.org".into(),
            port: 2222,
            host_fingerprint: "SHA256:x".into(),
            host_public_key: "ssh-ed25519 AAAA".into(),
        };
        assert_eq!(ssh.command(), "ssh -p 2222 chat.example.org");
        assert_eq!(
            ssh.known_hosts_line(),
            "[chat.example.org]:2222 ssh-ed25519 AAAA"
        );
        ssh.port = 22;
        assert_eq!(ssh.command(), "ssh chat.example.org");
        assert_eq!(ssh.known_hosts_line(), "chat.example.org ssh-ed25519 AAAA");
    }
}

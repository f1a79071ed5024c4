//! Command-line flags. Every `serve` flag can also be set by a `CHAT_…` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "chat-cli",
    version,
    about = "An SSH chat server: `ssh -p 2222 host` and you are in."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chat server.
    // Boxed: its flags are most of the enum's size.
    Serve(Box<ServeArgs>),
    /// Load-test an SSH chat server: many sessions, timed lines, delivery latency.
    Bench(crate::bench::BenchArgs),
    /// Work with SSH keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage accounts in the directory the server uses (works while it runs).
    Accounts(crate::accounts::AccountsArgs),
    /// Set up or move the directory itself.
    Directory(crate::directory_cli::DirectoryArgs),
    /// The reading side of `bench --floor` (started by it): connect, read and discard.
    #[command(hide = true)]
    FloorReader { addr: SocketAddr, connections: u32 },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print the SHA256 fingerprint of a public or private key file (as `ssh-keygen -lf` does).
    Fingerprint {
        /// A public key, an `authorized_keys` file, or an OpenSSH private key.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "CHAT_BIND", default_value = "0.0.0.0:2222")]
    pub bind: SocketAddr,

    /// Where the server keeps its state (the host key and the database).
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The host key file [default: DATA_DIR/host_ed25519_key]; generated if missing.
    #[arg(long, env = "CHAT_HOST_KEY")]
    pub host_key: Option<PathBuf>,

    /// A file whose text is shown to everyone who joins, and by /motd.
    #[arg(long, env = "CHAT_MOTD", value_name = "FILE")]
    pub motd: Option<PathBuf>,

    /// The database [default: DATA_DIR/chat.db]; created if missing.
    #[arg(long, env = "CHAT_DATABASE", value_name = "FILE")]
    pub database: Option<PathBuf>,

    /// Where accounts and their keys live: `sqlite` (in the database) or
    /// `dynamodb://TABLE?region=REGION[&endpoint=URL]` (credentials from the AWS chain).
    #[arg(long, env = "CHAT_DIRECTORY", default_value = "sqlite")]
    pub directory: crate::directory::DirectorySpec,

    /// Who may come in: `open` (anyone; a new key's first name becomes its account) or
    /// `registered` (only keys in the directory).
    #[arg(long, env = "CHAT_JOIN", default_value = "open")]
    pub join: chat_ssh::chat_server::JoinPolicy,

    /// Lines of history kept in the database per room (older ones are pruned).
    #[arg(long, env = "CHAT_RETAIN_LINES", default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub retain_lines: u32,

    /// Days of history kept in the database [default: no age limit].
    #[arg(long, env = "CHAT_RETAIN_DAYS", value_name = "DAYS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub retain_days: Option<u32>,

    /// Lines of history each room keeps and replays to whoever enters.
    #[arg(long, env = "CHAT_HISTORY", default_value_t = 50, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub history: u32,

    /// Connections open at once, in all.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Connections open at once from one IP address.
    #[arg(long, env = "CHAT_MAX_PER_IP", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_per_ip: u32,

    /// New connections one IP address may open per minute.
    #[arg(long, env = "CHAT_MAX_NEW_PER_IP", default_value_t = 30, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_new_per_ip: u32,

    /// Lines a member may send at once, before the steady rate applies.
    #[arg(long, env = "CHAT_LINE_BURST", default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub line_burst: u32,

    /// Lines per second a member may send after the burst.
    #[arg(long, env = "CHAT_LINES_PER_SECOND", default_value_t = 2.0, value_name = "RATE",
          value_parser = positive_rate)]
    pub lines_per_second: f64,

    /// Operators' keys, in OpenSSH authorized_keys format (re-read on SIGHUP and /reload).
    #[arg(long, env = "CHAT_ADMINS", value_name = "FILE")]
    pub admins: Option<PathBuf>,

    /// Only these keys (and the admins') may join, in authorized_keys format (re-read on
    /// SIGHUP and /reload). Without it, anyone may join.
    #[arg(long, env = "CHAT_ALLOWLIST", value_name = "FILE")]
    pub allowlist: Option<PathBuf>,

    /// Connections still in their handshake or login, in all.
    #[arg(long, env = "CHAT_MAX_UNAUTHENTICATED", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_unauthenticated: u32,

    /// Seconds a connection has to log in before it is dropped.
    #[arg(long, env = "CHAT_AUTH_TIMEOUT", default_value_t = 20, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub auth_timeout: u64,

    /// Serve Prometheus metrics at http://ADDR/metrics (and /healthz); off by default. Keep it
    /// on a private address, e.g. 127.0.0.1:9222.
    #[arg(long, env = "CHAT_METRICS_BIND", value_name = "ADDR")]
    pub metrics_bind: Option<SocketAddr>,

    /// Run as one node of a cluster whose bus and shared state are in this Redis
    /// (`redis://HOST:PORT[/DB]`, persistence on). Needs a key directory every node shares
    /// (`--directory dynamodb://...`, or `sqlite:PATH` for nodes on one machine).
    #[arg(long, env = "CHAT_CLUSTER", value_name = "URL")]
    pub cluster: Option<String>,

    /// This node's name in the cluster, unique among the nodes [default: the host name].
    #[arg(long, env = "CHAT_NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,
    /// Where the web front-end listens (register keys, sign in, manage keys), or `off`.
    #[arg(
        long,
        env = "CHAT_WEB_BIND",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR|off"
    )]
    pub web_bind: WebBind,

    /// The address people use for the web front-end, as links and pages show it (for
    /// example https://chat.example.org behind a proxy) [default: from --web-bind].
    #[arg(long, env = "CHAT_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<chat_web::PublicUrl>,

    /// Serve the web front-end over HTTPS with this PEM certificate chain (with --web-tls-key).
    #[arg(
        long,
        env = "CHAT_WEB_TLS_CERT",
        value_name = "FILE",
        requires = "web_tls_key"
    )]
    pub web_tls_cert: Option<PathBuf>,

    /// The PEM private key of --web-tls-cert.
    #[arg(
        long,
        env = "CHAT_WEB_TLS_KEY",
        value_name = "FILE",
        requires = "web_tls_cert"
    )]
    pub web_tls_key: Option<PathBuf>,

    /// Log every said line (chat text is not logged otherwise).
    #[arg(long, env = "CHAT_LOG_MESSAGES")]
    pub log_messages: bool,

    /// Log format.
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More logging: -v for debug, -vv for trace. RUST_LOG, if set, wins.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `--web-bind`: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebBind {
    Off,
    At(SocketAddr),
}

impl std::str::FromStr for WebBind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(WebBind::Off);
        }
        text.parse()
            .map(WebBind::At)
            .map_err(|_| format!("{text:?} is not an address such as 127.0.0.1:8080, or off"))
    }
}

/// A rate: a positive, finite number.
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_works_with_no_flags() {
        let cli = Cli::try_parse_from(["chat-cli", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.bind, "0.0.0.0:2222".parse().unwrap());
        assert_eq!(args.data_dir, PathBuf::from("./data"));
        assert_eq!(args.history, 50);
        assert_eq!(
            args.web_bind,
            WebBind::At("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(args.public_url, None);
    }

    #[test]
    fn the_web_flags_parse_and_check() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["chat-cli", "serve"];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv)
        };
        let Command::Serve(args) = parse(&["--web-bind", "off"]).unwrap().command else {
            panic!("not serve")
        };
        assert_eq!(args.web_bind, WebBind::Off);
        let Command::Serve(args) = parse(&["--public-url", "https://chat.example.org"])
            .unwrap()
            .command
        else {
            panic!("not serve")
        };
        assert_eq!(args.public_url.unwrap().host, "chat.example.org");
        assert!(parse(&["--web-bind", "somewhere"]).is_err());
        assert!(parse(&["--public-url", "chat.example.org"]).is_err());
        assert!(
            parse(&["--web-tls-cert", "cert.pem"]).is_err(),
            "needs the key too"
        );
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let error = Cli::try_parse_from(["chat-cli", "serve", "--bind", "nowhere"]).unwrap_err();
        assert!(error.to_string().contains("--bind"), "{error}");
        assert!(Cli::try_parse_from(["chat-cli", "serve", "--max-per-ip", "0"]).is_err());
        assert!(Cli::try_parse_from(["chat-cli", "serve", "--log-format", "xml"]).is_err());
    }
}

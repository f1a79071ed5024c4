//! `chat-cli serve`: flags in, a running server out, until SIGTERM or Ctrl-C.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use chat_ssh::chat_server::access::AccessFiles;
use chat_ssh::chat_store::{Retention, SqliteStore, StoreError};
use chat_ssh::{
    CancellationToken, Reloader, Runtime, RuntimeConfig, Server, ServerConfig, ServerError,
};
use thiserror::Error;
use tracing::info;

use crate::cli::ServeArgs;
use crate::web::BoundWeb;
use crate::{logging, metrics_http};

/// The largest MOTD file accepted.
const MAX_MOTD_BYTES: usize = 4096;

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("cannot read the MOTD file {}: {source}", path.display())]
    MotdRead { path: PathBuf, source: io::Error },
    #[error("the MOTD file {} is {size} bytes; the limit is {MAX_MOTD_BYTES}", path.display())]
    MotdTooLarge { path: PathBuf, size: usize },
    #[error("the MOTD file {} is not UTF-8 text", path.display())]
    MotdNotText { path: PathBuf },
    #[error(transparent)]
    Server(#[from] ServerError),
    /// `flag` names the option that chose the address, so that the fix is plain (another
    /// server on this machine wants `--web-bind` too, say).
    #[error("cannot listen on {addr} ({flag}): {source}")]
    Bind {
        flag: &'static str,
        addr: std::net::SocketAddr,
        source: io::Error,
    },
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot install the signal handler: {0}")]
    Signal(io::Error),
    #[error("cannot use the key directory {directory}: {reason}")]
    Directory { directory: String, reason: String },
    #[error(
        "--cluster needs a key directory every node shares, and `--directory sqlite` is this \
         node's own database: use --directory dynamodb://TABLE?region=REGION, or \
         --directory sqlite:PATH with one file every node on this machine opens"
    )]
    ClusterDirectory,
    #[error(transparent)]
    Cluster(#[from] chat_cluster::ClusterError),
    #[error(transparent)]
    Web(#[from] chat_web::WebError),
}

/// Threads for the store's blocking calls (a profile at each join, a history query, a batch of
/// writes). Each store has one SQLite connection behind a lock, so more threads only wait, and
/// tokio's default (512) let a room's worth of joins at once grow the pool to 70-220 threads.
/// Each new thread may take its own glibc malloc arena, and under churn those arenas
/// fragmented: the hour's soak grew 0.2 MiB a minute with the heap itself flat (heaptrack:
/// 9.5 MiB in use throughout). See BENCHMARKS.md, "Soak".
const MAX_BLOCKING_THREADS: usize = 8;

pub fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    logging::init(args.log_format, args.verbose);
    let config = server_config(&args)?;
    let mut runtime_config = runtime_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async {
        runtime_config.directory = open_directory(&args).await?;
        if let Some(url) = &args.cluster {
            let mut cluster = chat_cluster::ClusterConfig::new(url, node_name(&args));
            cluster.history_len = args.retain_lines as usize;
            let cluster = chat_cluster::Cluster::new(cluster)
                .await
                .map_err(ServeError::from)?;
            info!(url = %url, node = cluster.node(), "joined the cluster");
            runtime_config.cluster = Some(cluster);
        }
        let web = BoundWeb::bind(&args).await?;
        if let Some(web) = &web {
            web.configure(&mut runtime_config);
        }
        serve(args.bind, args.metrics_bind, config, runtime_config, web).await
    })?;
    Ok(())
}

/// Listens on `addr`, which the option `flag` chose: the listener and the address it got (port
/// 0 picks one). Either failure names the flag.
pub(crate) async fn listen(
    flag: &'static str,
    addr: std::net::SocketAddr,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), ServeError> {
    let failed = |source| ServeError::Bind { flag, addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    Ok((listener, local))
}

/// The SSH front-end's settings.
fn server_config(args: &ServeArgs) -> Result<ServerConfig, ServeError> {
    let mut config = ServerConfig::with_data_dir(&args.data_dir);
    if let Some(path) = &args.host_key {
        config.host_key_path = path.clone();
    }
    config.max_connections = args.max_connections as usize;
    config.max_per_ip = args.max_per_ip as usize;
    config.max_unauthenticated = args.max_unauthenticated as usize;
    config.max_new_per_ip_per_minute = args.max_new_per_ip;
    config.auth_timeout = Duration::from_secs(args.auth_timeout);
    Ok(config)
}

/// The settings of the chat every front-end shares, with its store opened.
fn runtime_config(args: &ServeArgs) -> Result<RuntimeConfig, ServeError> {
    let motd = args.motd.as_deref().map(read_motd).transpose()?;
    let mut config = RuntimeConfig::default();
    // Set field by field: the server's defaults (such as gathering crowds' joins into one
    // line) are not the bare hub's.
    config.hub.history_len = args.history as usize;
    config.hub.motd = motd;
    config.hub.line_burst = args.line_burst;
    config.hub.lines_per_second = args.lines_per_second;
    config.log_messages = args.log_messages;
    config.access = AccessFiles {
        admins: args.admins.clone(),
        allowlist: args.allowlist.clone(),
    };
    config.join = args.join;
    config.account_refresh = args.directory.refresh_interval();
    config.retention = Retention {
        lines_per_room: args.retain_lines as usize,
        max_age: args
            .retain_days
            .map(|days| Duration::from_secs(u64::from(days) * 86_400)),
    };
    create_data_dir(&args.data_dir)?;
    if let Some(url) = &args.cluster {
        // Every node shares one store: nothing durable lives on this node.
        if args.directory == crate::directory::DirectorySpec::Sqlite {
            return Err(ServeError::ClusterDirectory);
        }
        let store = chat_cluster::RedisStore::open(url, "chat:")?;
        info!(url = %url, "the store is the cluster's Redis");
        config.store = Some(Arc::new(store));
        return Ok(config);
    }
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| args.data_dir.join("chat.db"));
    let store = SqliteStore::open(&database)?;
    info!(path = %database.display(), "opened the database");
    config.store = Some(Arc::new(store));
    Ok(config)
}

/// This node's name: `--node-name`, else the host name (cut to what a node name may hold).
fn node_name(args: &ServeArgs) -> String {
    if let Some(name) = &args.node_name {
        return name.clone();
    }
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let clean: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if clean.is_empty() {
        "node".to_owned()
    } else {
        clean
    }
}

/// Opens the key directory `--directory` names; a server that cannot reach it does not start.
async fn open_directory(
    args: &ServeArgs,
) -> Result<Arc<dyn chat_ssh::chat_store::Directory>, ServeError> {
    let database = crate::directory::database_path(&args.data_dir, args.database.as_ref());
    let directory =
        args.directory
            .open(&database)
            .await
            .map_err(|reason| ServeError::Directory {
                directory: args.directory.to_string(),
                reason,
            })?;
    info!(directory = %directory.describe(), join = ?args.join, "opened the key directory");
    Ok(directory)
}

/// Creates the data directory (readable by the server's user only) if it is missing.
fn create_data_dir(path: &Path) -> Result<(), ServeError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(|source| ServeError::DataDir {
        path: path.to_owned(),
        source,
    })
}

/// Reads the MOTD: UTF-8 text of bounded size (it is sanitized before it reaches anyone).
fn read_motd(path: &Path) -> Result<String, ServeError> {
    let bytes = fs::read(path).map_err(|source| ServeError::MotdRead {
        path: path.to_owned(),
        source,
    })?;
    if bytes.len() > MAX_MOTD_BYTES {
        return Err(ServeError::MotdTooLarge {
            path: path.to_owned(),
            size: bytes.len(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| ServeError::MotdNotText {
        path: path.to_owned(),
    })?;
    Ok(text.trim_end().to_owned())
}

async fn serve(
    bind: std::net::SocketAddr,
    metrics_bind: Option<std::net::SocketAddr>,
    config: ServerConfig,
    runtime_config: RuntimeConfig,
    web: Option<BoundWeb>,
) -> Result<(), ServeError> {
    let directory = runtime_config.directory.describe();
    let runtime = Runtime::new(runtime_config).map_err(ServerError::from)?;
    runtime
        .load_accounts()
        .await
        .map_err(|e| ServeError::Directory {
            directory,
            reason: e.to_string(),
        })?;
    let server = Server::new(config, Arc::clone(&runtime))?;
    let (listener, local) = listen("--bind", bind).await?;
    let shutdown = CancellationToken::new();
    let signals = shutdown_on_signal(shutdown.clone()).map_err(ServeError::Signal)?;
    tokio::spawn(signals);
    let reloads = reload_on_sighup(server.reloader()).map_err(ServeError::Signal)?;
    tokio::spawn(reloads);
    if let Some(addr) = metrics_bind {
        let endpoint = metrics_http::bind(addr, server.metrics(), shutdown.clone())
            .await
            .map_err(|source| ServeError::Bind {
                flag: "--metrics-bind",
                addr,
                source,
            })?;
        tokio::spawn(endpoint);
    }
    let web = web
        .map(|web| web.start(runtime, &server, local.port(), shutdown.clone()))
        .transpose()?;
    // Said last: whoever waits for this line finds every endpoint ready.
    info!(addr = %local, fingerprint = server.host_fingerprint(), "listening; connect with ssh -p {}", local.port());
    server.run(listener, shutdown).await;
    if let Some(web) = web {
        // The web stops on the same token; it has a few seconds to finish open requests.
        let _ = tokio::time::timeout(Duration::from_secs(6), web).await;
    }
    Ok(())
}

/// Re-reads the access files on every SIGHUP; a bad file is logged and the old lists stay.
fn reload_on_sighup(reloader: Reloader) -> io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    Ok(async move {
        while hup.recv().await.is_some() {
            if let Err(error) = reloader.reload() {
                tracing::error!(%error, "SIGHUP: cannot reload the access files; the old lists stay");
            }
        }
    })
}

/// Cancels `shutdown` on SIGTERM or Ctrl-C (SIGINT).
fn shutdown_on_signal(
    shutdown: CancellationToken,
) -> io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!(signal = name, "shutting down");
        shutdown.cancel();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `serve` once replaced the server's hub settings with the bare hub's
    /// defaults, which lost the gathering of joins into one line (and N² announcements
    /// slowed every mass arrival).
    #[test]
    fn serve_keeps_the_server_defaults_it_does_not_set() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_str().unwrap();
        let cli = crate::cli::Cli::try_parse_from([
            "chat-cli",
            "serve",
            "--data-dir",
            data_dir,
            "--history",
            "7",
        ])
        .unwrap();
        let crate::cli::Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let config = runtime_config(&args).unwrap();
        let defaults = RuntimeConfig::default();
        assert_eq!(config.hub.presence_window, defaults.hub.presence_window);
        assert!(config.hub.presence_window > chrono::TimeDelta::zero());
        assert_eq!(config.hub.history_len, 7);
    }

    #[test]
    fn motd_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("motd");
        fs::write(&good, "be kind\n").unwrap();
        assert_eq!(read_motd(&good).unwrap(), "be kind");

        let missing = dir.path().join("nope");
        let error = read_motd(&missing).unwrap_err().to_string();
        assert!(error.starts_with("cannot read the MOTD file"), "{error}");

        let binary = dir.path().join("bin");
        fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            read_motd(&binary),
            Err(ServeError::MotdNotText { .. })
        ));

        let large = dir.path().join("large");
        fs::write(&large, vec![b'x'; MAX_MOTD_BYTES + 1]).unwrap();
        assert!(matches!(
            read_motd(&large),
            Err(ServeError::MotdTooLarge { .. })
        ));
    }
}

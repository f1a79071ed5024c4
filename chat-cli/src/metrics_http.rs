//! The `/metrics` and `/healthz` endpoints: a few lines of HTTP/1.1 over Tokio.
//!
//! Written here rather than pulled in with an HTTP framework: two fixed GET routes do not
//! justify hyper and its dependencies in the server's build, and the format itself comes from
//! `prometheus-client`. Requests are bounded in size and time, so the endpoint cannot be held
//! open or fed without limit (it is meant for a private address anyway).

use std::net::SocketAddr;
use std::time::Duration;

use chat_ssh::{CancellationToken, MetricsHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

const MAX_REQUEST_BYTES: usize = 8 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds the endpoint (so a bad address fails at start-up) and returns the task serving it.
pub async fn bind(
    addr: SocketAddr,
    metrics: MetricsHandle,
    shutdown: CancellationToken,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    let listener = TcpListener::bind(addr).await?;
    info!(addr = %listener.local_addr()?, "serving /metrics and /healthz");
    Ok(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let metrics = metrics.clone();
                        tokio::spawn(async move {
                            if let Err(error) = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, metrics)).await {
                                debug!(%error, "metrics request timed out");
                            }
                        });
                    }
                    Err(error) => {
                        warn!(%error, "metrics endpoint: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    })
}

async fn answer(mut stream: TcpStream, metrics: MetricsHandle) {
    let mut request = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST_BYTES {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split(' ');
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.render(),
        ),
        ("GET", "/healthz") => match metrics.degraded() {
            None => ("200 OK", "text/plain; charset=utf-8", "ok\n".to_owned()),
            Some(why) => (
                "503 Service Unavailable",
                "text/plain; charset=utf-8",
                format!("degraded: {why}\n"),
            ),
        },
        ("GET", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET only\n".to_owned(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

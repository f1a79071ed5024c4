//! The metrics endpoint, scraped while people connect, chat and get refused.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{Identity, PlainSession, ServerProcess, exec, free_port};

const WAIT: Duration = Duration::from_secs(20);

/// GETs `path` and returns (status line, body).
fn get(port: u16, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the metrics endpoint listens");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a whole HTTP response");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// The value of one sample line (`name{labels} value`) in a scrape, if present.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find(|line| line.split(' ').next() == Some(series))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[test]
fn counters_move_as_people_connect_chat_and_get_refused() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let bind = format!("127.0.0.1:{metrics_port}");
    let server = ServerProcess::start(dir.path(), &["--metrics-bind", &bind, "--max-per-ip", "1"]);

    assert_eq!(
        get(metrics_port, "/healthz"),
        ("HTTP/1.1 200 OK".to_owned(), "ok\n".to_owned())
    );
    assert_eq!(get(metrics_port, "/nope").0, "HTTP/1.1 404 Not Found");
    let (status, before) = get(metrics_port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    // The harness's own readiness probe may already count as a connection.
    let accepted_before =
        sample(&before, "chat_connections_accepted_total").expect("the counter is there");
    assert!(
        before.trim_end().ends_with("# EOF"),
        "OpenMetrics text:\n{before}"
    );

    let mut alice = PlainSession::open(&server, "alice", &Identity::Keyless);
    alice.wait_for("alice joined", WAIT);
    alice.send("hello, metrics");
    alice.wait_for("alice: hello, metrics", WAIT);
    let (_, during) = get(metrics_port, "/metrics");
    assert_eq!(
        sample(&during, "chat_connections_accepted_total"),
        Some(accepted_before + 1.0)
    );
    assert_eq!(sample(&during, "chat_connections_open"), Some(1.0));
    assert_eq!(sample(&during, "chat_sessions{kind=\"plain\"}"), Some(1.0));
    assert_eq!(sample(&during, "chat_lines_said_total"), Some(1.0));
    assert_eq!(
        sample(&during, "chat_room_members{room=\"#lobby\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &during,
            "chat_authentications_total{method=\"keyboard-interactive\",result=\"accepted\"}"
        ),
        Some(1.0)
    );
    assert!(sample(&during, "chat_deliveries_total").unwrap() >= 3.0);
    assert_eq!(
        sample(&during, "chat_handshake_duration_seconds_count"),
        Some(1.0)
    );
    assert!(sample(&during, "chat_delivery_latency_seconds_count").unwrap() >= 1.0);

    // One connection per address: a second one from here is refused.
    let (_, _, status) = exec(&server, "bob", &Identity::Keyless, "/who");
    assert_eq!(status.code(), Some(255));
    let (_, refused) = get(metrics_port, "/metrics");
    assert_eq!(
        sample(
            &refused,
            "chat_connections_refused_total{reason=\"per_ip\"}"
        ),
        Some(1.0)
    );

    drop(alice.finish());
    support::eventually(WAIT, || {
        let (_, after) = get(metrics_port, "/metrics");
        sample(&after, "chat_sessions{kind=\"plain\"}") == Some(0.0)
            && sample(&after, "chat_connections_open") == Some(0.0)
    });
}

//! `/chat` and its WebSocket `/ws`, over real sockets: who may connect, and the protocol.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use support::{Client, CrateKey, TestWeb, block, register};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn signed_in(web: &TestWeb, name: &str) -> Client {
    let key = CrateKey::new();
    let mut browser = web.client();
    register(&mut browser, name, &key.public(), |ns, ch| key.sign(ns, ch)).assert_status(200);
    browser
}

fn cookie_header(browser: &Client) -> String {
    browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Opens `/ws` with `browser`'s cookies (if any) and `origin` (if any).
async fn open(
    web: &TestWeb,
    browser: Option<&Client>,
    origin: Option<&str>,
) -> Result<Socket, WsError> {
    let mut request = format!("ws://{}/ws", web.addr)
        .into_client_request()
        .unwrap();
    if let Some(browser) = browser {
        request
            .headers_mut()
            .insert("cookie", cookie_header(browser).parse().unwrap());
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

fn origin(web: &TestWeb) -> String {
    format!("http://127.0.0.1:{}", web.addr.port())
}

fn refused_with(result: Result<Socket, WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("refused, but not by an HTTP status: {other}"),
        Ok(_) => panic!("the WebSocket was accepted"),
    }
}

/// The next message from the server, as JSON.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("the socket is open")
            .expect("a frame");
        match frame {
            Message::Text(text) => {
                assert!(
                    !text.ends_with('\n'),
                    "one message per frame, without the newline"
                );
                return serde_json::from_str(&text).expect("every frame is one JSON message");
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Reads until a message of `kind` that `pick` accepts.
async fn until(socket: &mut Socket, kind: &str, pick: impl Fn(&Value) -> bool) -> Value {
    loop {
        let message = next(socket).await;
        if message["type"] == kind && pick(&message) {
            return message;
        }
    }
}

async fn send(socket: &mut Socket, text: &str) {
    socket.send(Message::text(text)).await.unwrap();
}

#[test]
fn the_websocket_refuses_a_browser_without_a_session_or_from_another_site() {
    let web = TestWeb::start();
    let browser = signed_in(&web, "alice");
    let stranger = web.client();
    block(async {
        assert_eq!(
            refused_with(open(&web, None, Some(&origin(&web))).await),
            401
        );
        assert_eq!(
            refused_with(open(&web, Some(&stranger), Some(&origin(&web))).await),
            401,
            "a visitor cookie is not a session"
        );
        assert_eq!(
            refused_with(open(&web, Some(&browser), Some("https://evil.example")).await),
            403
        );
        assert_eq!(
            refused_with(open(&web, Some(&browser), None).await),
            403,
            "no Origin, no socket"
        );
    });
}

#[test]
fn a_browser_is_greeted_and_its_lines_reach_another_member() {
    let web = TestWeb::start();
    let alice = signed_in(&web, "alice");
    let bob = signed_in(&web, "bob");
    block(async {
        let mut a = open(&web, Some(&alice), Some(&origin(&web))).await.unwrap();
        let hello = next(&mut a).await;
        assert_eq!(hello["type"], "hello", "hello comes first: {hello}");
        assert_eq!(hello["name"], "alice");
        assert_eq!(hello["room"], "#lobby");
        assert_eq!(hello["bot"], false, "a person in a browser is not a bot");

        let mut b = open(&web, Some(&bob), Some(&origin(&web))).await.unwrap();
        assert_eq!(next(&mut b).await["type"], "hello");
        until(&mut a, "joined", |m| {
            m["names"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n == "bob"))
        })
        .await;

        send(&mut a, r#"{"type":"say","text":"hello from the browser"}"#).await;
        let said = until(&mut b, "said", |_| true).await;
        assert_eq!(said["from"], "alice");
        assert_eq!(said["text"], "hello from the browser");
        assert_eq!(said["room"], "#lobby");

        send(&mut b, r#"{"type":"command","text":"/who"}"#).await;
        let who = until(&mut b, "who", |_| true).await;
        let names: Vec<&str> = who["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert_eq!(m["bot"], false);
                m["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(names, ["alice", "bob"]);
    });
}

#[test]
fn a_malformed_or_binary_frame_gets_an_error_and_the_socket_stays_open() {
    let web = TestWeb::start();
    let alice = signed_in(&web, "alice");
    block(async {
        let mut a = open(&web, Some(&alice), Some(&origin(&web))).await.unwrap();
        assert_eq!(next(&mut a).await["type"], "hello");
        send(&mut a, "this is not json").await;
        let error = until(&mut a, "error", |_| true).await;
        assert_eq!(error["code"], "malformed");
        a.send(Message::binary(vec![0xff, 0x00, 0x7b]))
            .await
            .unwrap();
        let error = until(&mut a, "error", |_| true).await;
        assert_eq!(error["code"], "malformed");
        send(&mut a, r#"{"type":"ping","token":"still here"}"#).await;
        let pong = until(&mut a, "pong", |_| true).await;
        assert_eq!(pong["token"], "still here");
    });
}

#[test]
fn the_chat_page_is_for_signed_in_browsers_and_loads_its_script() {
    let web = TestWeb::start();
    let mut stranger = web.client();
    let away = stranger.get("/chat");
    away.assert_status(303);
    assert_eq!(away.header("location"), Some("/signin"));
    let mut alice = signed_in(&web, "alice");
    let page = alice.get("/chat");
    page.assert_status(200).assert_says("/static/chat.js");
    assert!(page.body.contains(r#"id="lines""#));
    let script = alice.get("/static/chat.js");
    script.assert_status(200);
    assert!(script.body.contains("textContent"));
    assert!(
        !script.body.contains("innerHTML"),
        "text is never written as HTML"
    );
    alice
        .get("/account")
        .assert_says(r#"href="/chat""#)
        .assert_says("chat in the browser");
    alice
        .get("/")
        .assert_says(r#"href="/chat""#)
        .assert_says("chat in the browser");
}

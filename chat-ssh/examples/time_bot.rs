//! A bot on the chat's JSON protocol (docs/protocol.md): it answers `!time` with the time.
//!
//! ```sh
//! ssh-keygen -t ed25519 -N '' -f bot_key
//! cargo run -p chat-ssh --example time_bot -- 127.0.0.1:2222 bot_key timebot
//! ```
//!
//! It logs in with its key like any SSH user, runs the exec command `json`, and from then on
//! reads one JSON message per line and writes one per line.

use std::error::Error;
use std::sync::Arc;

use russh::ChannelMsg;
use russh::client;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use serde_json::{Value, json};

/// What the bot says to a message, if anything.
pub fn answer(message: &Value, now: chrono::DateTime<chrono::Utc>) -> Option<Value> {
    let said = message["type"] == "said" || message["type"] == "private";
    if said && message["text"].as_str().map(str::trim) == Some("!time") {
        let text = format!("It is {} UTC.", now.format("%Y-%m-%d %H:%M:%S"));
        return Some(match message["type"].as_str() {
            Some("private") => json!({"type": "msg", "to": message["from"], "text": text}),
            _ => json!({"type": "say", "text": text}),
        });
    }
    None
}

struct Client;

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // A real bot pins the server's key (its fingerprint, from the operator).
        Ok(true)
    }
}

/// Connects to `addr` as `name` with `key` and answers until the server closes the channel.
pub async fn run(
    addr: &str,
    name: &str,
    key: PrivateKey,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    let config = Arc::new(client::Config::default());
    let mut session = client::connect(config, addr, Client).await?;
    let hash = session.best_supported_rsa_hash().await?.flatten();
    let auth = session
        .authenticate_publickey(name, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
        .await?;
    if !auth.success() {
        return Err("the server refused the key".into());
    }
    let mut channel = session.channel_open_session().await?;
    channel.exec(true, "json").await?;
    let mut pending = Vec::new();
    while let Some(msg) = channel.wait().await {
        let ChannelMsg::Data { data } = msg else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Ok(message) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if message["type"] == "hello" {
                eprintln!("connected as {}", message["name"]);
            }
            if let Some(reply) = answer(&message, chrono::Utc::now()) {
                channel.data(format!("{reply}\n").as_bytes()).await?;
            }
        }
    }
    Ok(())
}

#[allow(dead_code)] // The tests include this file for `run` and `answer`.
#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, key_path, rest @ ..] = args.as_slice() else {
        return Err("usage: time_bot HOST:PORT KEY_FILE [NAME]".into());
    };
    let name = rest.first().map_or("timebot", String::as_str);
    let key = russh::keys::load_secret_key(key_path, None)?;
    run(addr, name, key).await
}

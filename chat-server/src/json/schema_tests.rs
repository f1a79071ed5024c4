//! The contract holds together: every example in `docs/protocol.md` is valid by the JSON
//! Schema of its type (and the codec reads it the same way), every schema has an example, and
//! what the codec writes for every kind of event is valid too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chat_core::event::Event;
use chrono::{TimeZone, Utc};
use serde_json::Value;

use super::protocol::{self, Encoder, ServerBody, ServerMessage};
use super::tests::every_event_kind;

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

/// The schemas of one direction (`server` or `client`), by message type.
fn schemas(direction: &str) -> BTreeMap<String, jsonschema::Validator> {
    let dir = docs().join("protocol").join(direction);
    let mut schemas = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(kind) = name.strip_suffix(".schema.json") else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let schema: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", path.display()));
        schemas.insert(kind.to_owned(), validator);
    }
    schemas
}

fn check(schemas: &BTreeMap<String, jsonschema::Validator>, direction: &str, message: &Value) {
    let kind = message["type"]
        .as_str()
        .unwrap_or_else(|| panic!("no type in {message}"));
    let schema = schemas
        .get(kind)
        .unwrap_or_else(|| panic!("no schema for the {direction} message {kind:?}"));
    let errors: Vec<String> = schema
        .iter_errors(message)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{direction} {kind}: {message}\n{}",
        errors.join("\n")
    );
}

/// The examples in the doc: (direction, the message), from its ```json client and
/// ```json server blocks, one message a line.
fn examples() -> Vec<(String, Value)> {
    let path = docs().join("protocol.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut examples = Vec::new();
    let mut block: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&block, fence) {
            (None, Some(info)) => {
                let mut words = info.split_whitespace();
                block = match (words.next(), words.next()) {
                    (Some("json"), Some(direction)) => Some(direction.to_owned()),
                    (Some("json"), None) => {
                        panic!("line {}: say json client or json server", n + 1)
                    }
                    _ => Some(String::new()),
                };
            }
            (Some(_), Some(_)) => block = None,
            (Some(direction), None) if !direction.is_empty() && !line.trim().is_empty() => {
                let message = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("protocol.md line {}: not JSON: {e}", n + 1));
                examples.push((direction.clone(), message));
            }
            _ => {}
        }
    }
    examples
}

#[test]
fn every_example_in_the_doc_is_valid_and_reads_as_the_codec_reads_it() {
    let server = schemas("server");
    let client = schemas("client");
    let examples = examples();
    let mut shown = BTreeSet::new();
    for (direction, message) in &examples {
        match direction.as_str() {
            "server" => {
                check(&server, "server", message);
                let decoded: ServerMessage = serde_json::from_value(message.clone())
                    .unwrap_or_else(|e| panic!("the codec cannot read {message}: {e}"));
                assert_eq!(&serde_json::to_value(&decoded).unwrap(), message);
            }
            "client" => {
                check(&client, "client", message);
                let line = serde_json::to_vec(message).unwrap();
                let decoded = protocol::decode(&line)
                    .unwrap_or_else(|e| panic!("the server refuses {message}: {e}"));
                assert!(decoded.to_line().is_ok(), "{message}");
            }
            other => panic!("a json block for {other:?}: say client or server"),
        }
        shown.insert(format!("{direction}/{}", message["type"].as_str().unwrap()));
    }
    let all: BTreeSet<String> = server
        .keys()
        .map(|k| format!("server/{k}"))
        .chain(client.keys().map(|k| format!("client/{k}")))
        .collect();
    let missing: Vec<&String> = all.difference(&shown).collect();
    assert!(
        missing.is_empty(),
        "no example in protocol.md for {missing:?}"
    );
}

#[test]
fn what_the_codec_writes_is_valid_for_every_kind_of_event() {
    let server = schemas("server");
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 12, 4, 0).unwrap();
    let mut encoder = Encoder::new();
    let mut written = BTreeSet::new();
    let mut write = |message: ServerMessage| {
        let value: Value = serde_json::from_slice(&message.to_line()).unwrap();
        written.insert(value["type"].as_str().unwrap().to_owned());
        value
    };
    for text in ["hello", "", "tab\tbell\u{7}esc\u{1b}[31m rtl\u{202e}x"] {
        for kind in every_event_kind(text, at) {
            let value = write(encoder.event(&Event::new(at, kind)));
            check(&server, "server", &value);
        }
    }
    // What the connection itself sends.
    let own = [
        ServerBody::Hello {
            protocol: protocol::PROTOCOL,
            server: "chat-server 0.1.0".into(),
            name: "timebot".into(),
            room: "#lobby".into(),
            bot: true,
        },
        ServerBody::Pong { token: None },
        ServerBody::Pong {
            token: Some("t".into()),
        },
        ServerBody::Bye {
            reason: "kicked\nby alice".into(),
        },
    ];
    for body in own {
        let value = write(encoder.message(at, body));
        check(&server, "server", &value);
    }
    for error in [
        protocol::decode(b"x").unwrap_err(),
        protocol::ProtocolError::TooLong,
        protocol::ProtocolError::TooManyErrors,
        protocol::ProtocolError::NotACommand,
        protocol::decode(b"{}").unwrap_err(),
        protocol::decode(br#"{"type":"nope"}"#).unwrap_err(),
        protocol::decode(br#"{"type":"say"}"#).unwrap_err(),
    ] {
        let value = write(encoder.error(at, &error));
        check(&server, "server", &value);
    }
    let schemas: BTreeSet<String> = server.keys().cloned().collect();
    assert_eq!(
        written, schemas,
        "every schema is exercised, and no type lacks one"
    );
}

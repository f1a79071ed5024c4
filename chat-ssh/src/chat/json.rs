//! `ssh host json`: the JSON protocol on the exec channel's stdin and stdout, a thin adapter
//! over [`chat_server::json::run`].

use std::sync::Arc;

use chat_server::accounts::Arrival;
use chat_server::json::{self, InputLimits, JsonEnding, JsonInput, JsonSink, JsonSource};
use tokio::sync::mpsc;

use super::output::Output;
use super::{ChatStart, GOODBYE, Input, STALLED_GRACE};

/// The channel's input as the driver reads it: window changes mean nothing here.
struct Source<'a>(&'a mut mpsc::Receiver<Input>);

impl JsonSource for Source<'_> {
    async fn recv(&mut self) -> Option<JsonInput> {
        loop {
            match self.0.recv().await? {
                Input::Data(bytes) => return Some(JsonInput::Bytes(bytes)),
                Input::Eof => return Some(JsonInput::Eof),
                Input::Resize(_) => {}
            }
        }
    }
}

/// The channel's writer, which already bounds its backlog and cuts off a stalled client.
struct Sink(Output);

impl JsonSink for Sink {
    fn send(&self, mut bytes: Vec<u8>) {
        self.0.send(&mut bytes);
    }

    fn is_backed_up(&self) -> bool {
        self.0.is_backed_up()
    }

    async fn drained(&self) {
        self.0.drained().await;
    }

    async fn stopped(&self) {
        self.0.stopped().await;
    }
}

pub(crate) async fn run_json(mut start: ChatStart) {
    let shared = Arc::clone(&start.shared);
    let arrival = Arrival {
        name: start.user.clone(),
        key: start.key.as_deref().cloned(),
        ip: Some(start.ip),
        visible: true,
    };
    let limits = InputLimits {
        burst_bytes: shared.config.input_burst_bytes,
        bytes_per_second: shared.config.input_bytes_per_second,
    };
    let sink = Sink(Output::spawn(start.target()));
    let ending = json::run(
        &shared.runtime,
        arrival,
        limits,
        &mut Source(&mut start.input),
        &sink,
    )
    .await;
    match ending {
        JsonEnding::Left | JsonEnding::Gone | JsonEnding::ShuttingDown => {
            sink.0.finish(0, GOODBYE).await;
        }
        JsonEnding::Closed(_) => {
            if !sink.0.drains_within(STALLED_GRACE).await {
                // A bot that is not reading is cut off at once, as a terminal is.
                start.kill.cancel();
                return;
            }
            let goodbye = async {
                sink.0.finish(1, GOODBYE).await;
                while start.input.recv().await.is_some() {}
            };
            let _ = tokio::time::timeout(GOODBYE, goodbye).await;
            start.kill.cancel();
        }
    }
}

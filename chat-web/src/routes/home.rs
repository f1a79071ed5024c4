//! `GET /`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chat_server::JoinPolicy;

use crate::state::{AppState, Ctx};
use crate::views::home::{self, Home};

pub async fn show(ctx: Ctx, State(state): State<Arc<AppState>>) -> Response {
    let rooms = state.runtime.hub.lock().room_sizes();
    // The operator's text, meant for terminals: no control characters but line ends.
    let motd: Option<String> = state.runtime.config.hub.motd.as_deref().map(|text| {
        text.chars()
            .filter(|c| *c == '\n' || !c.is_control())
            .collect()
    });
    let home = Home {
        ssh: &state.ssh,
        motd: motd.as_deref(),
        rooms,
        registered_only: state.runtime.config.join == JoinPolicy::Registered,
    };
    ctx.page(&state, StatusCode::OK, home::page(ctx.frame(&state), &home))
}

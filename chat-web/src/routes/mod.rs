//! The routes, and the layers every response passes through.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | what this server is, how to connect and verify it, who is here |
//! | `GET, POST /register` | pick a name, paste a key, prove it with a signature |
//! | `GET, POST /signin` | how to sign in; a signed challenge signs in |
//! | `GET, POST /signin/TOKEN` | a one-time link from `ssh host /web`: confirm, then signed in |
//! | `GET /account` | your keys; the forms below change them |
//! | `POST /account/keys`, `/account/keys/remove`, `/account/keys/label` | add, remove, label a key |
//! | `POST /account/delete`, `POST /signout` | delete the account; sign out |
//! | `GET /chat` | the chat in the browser |
//! | `GET /ws` | its WebSocket: the JSON protocol, one message per text frame |
//!
//! More routes (a browser chat, its WebSocket) are added with
//! [`WebServer::with_routes`](crate::WebServer::with_routes): they get the same state, the
//! same [`SignedIn`](crate::state::SignedIn) extractor and the same layers.

mod account;
mod assets;
mod chat;
mod home;
mod register;
mod signin;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::state::{AppState, Ctx};
use crate::views;

/// No script but our own file, no inline anything, no framing, forms only to ourselves.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// The pages of this crate, before state and layers.
pub fn pages() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home::show))
        .route("/register", get(register::show).post(register::submit))
        .route("/signin", get(signin::show).post(signin::submit))
        .route("/signin/{token}", get(signin::confirm).post(signin::redeem))
        .route("/account", get(account::show))
        .route("/account/keys", post(account::add_key))
        .route("/account/keys/remove", post(account::remove_key))
        .route("/account/keys/label", post(account::label_key))
        .route("/account/delete", post(account::delete))
        .route("/signout", post(account::sign_out))
        .route("/chat", get(chat::show))
        .route("/ws", get(chat::socket))
        .route("/static/style.css", get(assets::style))
        .route("/static/app.js", get(assets::script))
        .route("/static/chat.js", get(assets::chat_script))
        .route("/static/icon.svg", get(assets::icon))
        .route("/favicon.ico", get(assets::icon))
}

/// The whole application: `pages`, any `extra` routes, a 404 page, and the security layers.
pub fn app(state: Arc<AppState>, extra: Router<Arc<AppState>>) -> Router {
    let limits = &state.limits;
    let mut headers = vec![
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Sign-in links are in the path: never send them to another site.
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    if state.public_url.scheme == "https" {
        headers.push((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"));
    }
    let mut router = pages()
        .merge(extra)
        .fallback(not_found)
        .with_state(Arc::clone(&state))
        // Pages hold CSRF tokens and account details: no cache keeps them.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
        .layer(RequestBodyLimitLayer::new(limits.max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
}

async fn not_found(
    ctx: Ctx,
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> Response {
    let markup = views::message(
        ctx.frame(&state),
        "Page not found",
        &["There is no page at this address."],
        ("/", "Home"),
    );
    ctx.page(&state, StatusCode::NOT_FOUND, markup)
}

/// The page for a directory that failed (an outage, not a refusal).
fn unavailable(
    ctx: &Ctx,
    state: &AppState,
    error: &chat_server::chat_store::DirectoryError,
) -> Response {
    tracing::warn!(target: "chat::web", %error, "the key store failed a web request");
    let markup = views::message(
        ctx.frame(state),
        "Try again in a minute",
        &["The key store is unavailable right now, so nothing was changed."],
        ("/", "Home"),
    );
    ctx.page(state, StatusCode::SERVICE_UNAVAILABLE, markup)
}

/// A `303 See Other` to `to`, with cookies to set.
fn see_other(to: &str, cookies: &[HeaderValue]) -> Response {
    let mut response =
        axum::response::IntoResponse::into_response(axum::response::Redirect::to(to));
    for cookie in cookies {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    response
}

//! `GET, POST /signin` (a signed challenge) and `GET, POST /signin/TOKEN` (a one-time link
//! from `ssh host /web`).
//!
//! A link is spent only by the POST of its confirmation page: a GET changes nothing, so a
//! chat client's link preview or a mail scanner cannot use it up, and a link sent by
//! someone else cannot sign a browser into their account without a click on a page that
//! names the account.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::Response;
use chat_server::chat_store::directory::Account;
use tracing::info;

use super::register::echoable;
use super::{see_other, unavailable};
use crate::challenge::{Challenge, Purpose};
use crate::form::Form;
use crate::ops;
use crate::proof;
use crate::state::{AppState, Ctx};
use crate::views::signin::{self, SigninForm};

pub async fn show(ctx: Ctx, State(state): State<Arc<AppState>>) -> Response {
    let challenge = state.challenges.issue(Purpose::SignIn, "", ctx.now);
    form(&ctx, &state, &challenge, "", None, StatusCode::OK)
}

fn form(
    ctx: &Ctx,
    state: &AppState,
    challenge: &Challenge,
    signature: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let csrf = ctx.csrf(state);
    let view = SigninForm {
        ssh: &state.ssh,
        challenge,
        signature,
        csrf: &csrf,
        error,
    };
    ctx.page(state, status, signin::form(ctx.frame(state), &view))
}

pub async fn submit(ctx: Ctx, State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let fields = Form::parse(&body);
    if !ctx.csrf_ok(&state, &fields) {
        return ctx.forbidden(&state);
    }
    if let Err(refused) = ctx.limit(&state, None) {
        return refused;
    }
    let signature = echoable(fields.get("signature"), 16 * 1024);
    let refuse = |error: String, challenge: Option<Challenge>| {
        let (challenge, signature) = match challenge {
            Some(challenge) => (challenge, signature.as_str()),
            None => (state.challenges.issue(Purpose::SignIn, "", ctx.now), ""),
        };
        form(
            &ctx,
            &state,
            &challenge,
            signature,
            Some(&error),
            StatusCode::BAD_REQUEST,
        )
    };
    let challenge =
        match state
            .challenges
            .check(Purpose::SignIn, "", fields.get("challenge"), ctx.now)
        {
            Ok(challenge) => challenge,
            Err(error) => return refuse(error.to_string(), None),
        };
    let key = match proof::verify(fields.get("signature"), &challenge, None) {
        Ok(key) => key,
        Err(error) => return refuse(error.to_string(), Some(challenge)),
    };
    let account = match ops::account_of_key(&state.runtime, &key.fingerprint).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            return refuse(
                format!(
                    "the key {} is not registered here; register it first",
                    key.fingerprint
                ),
                None,
            );
        }
        Err(error) => return unavailable(&ctx, &state, &error),
    };
    if let Err(refused) = ctx.limit(&state, Some(&format!("acct:{}", account.id))) {
        return refused;
    }
    if let Err(error) = state.challenges.spend(&challenge, ctx.now) {
        return refuse(error.to_string(), None);
    }
    start_session(&ctx, &state, &account, Some(&key.fingerprint), "signature")
}

/// Signs the browser in as `account` and sends it to its account page.
fn start_session(
    ctx: &Ctx,
    state: &AppState,
    account: &Account,
    fingerprint: Option<&str>,
    how: &str,
) -> Response {
    let token = state.sessions.start(&account.id, fingerprint, ctx.now);
    info!(target: "chat::web", ip = %ctx.ip, account = %account.name, fingerprint, how, "signed in");
    if let Some(old) = &ctx.signed_in {
        state.sessions.end(&old.token);
    }
    see_other("/account", &[Ctx::session_cookie(state, &token)])
}

pub async fn confirm(ctx: Ctx, State(state): State<Arc<AppState>>, uri: Uri) -> Response {
    let token = token_of(&uri);
    let Some(grant) = state.runtime.signin.peek(token, ctx.now) else {
        return bad_link(&ctx, &state);
    };
    match ops::account(&state.runtime, &grant.account_id).await {
        Ok(Some(account)) => {
            let csrf = ctx.csrf(&state);
            let markup = signin::confirm(ctx.frame(&state), &account.name, token, &csrf);
            ctx.page(&state, StatusCode::OK, markup)
        }
        Ok(None) => bad_link(&ctx, &state),
        Err(error) => unavailable(&ctx, &state, &error),
    }
}

pub async fn redeem(
    ctx: Ctx,
    State(state): State<Arc<AppState>>,
    uri: Uri,
    body: Bytes,
) -> Response {
    if !ctx.csrf_ok(&state, &Form::parse(&body)) {
        return ctx.forbidden(&state);
    }
    if let Err(refused) = ctx.limit(&state, None) {
        return refused;
    }
    let Some(grant) = state.runtime.signin.redeem(token_of(&uri), ctx.now) else {
        return bad_link(&ctx, &state);
    };
    match ops::account(&state.runtime, &grant.account_id).await {
        Ok(Some(account)) => {
            if let Err(refused) = ctx.limit(&state, Some(&format!("acct:{}", account.id))) {
                return refused;
            }
            start_session(&ctx, &state, &account, grant.fingerprint.as_deref(), "link")
        }
        Ok(None) => bad_link(&ctx, &state),
        Err(error) => unavailable(&ctx, &state, &error),
    }
}

/// The token in `/signin/TOKEN`, as sent: a token is plain hex, so anything encoded is no
/// token (and gets the page for a bad link, not a bare 400).
fn token_of(uri: &Uri) -> &str {
    uri.path().strip_prefix("/signin/").unwrap_or_default()
}

fn bad_link(ctx: &Ctx, state: &AppState) -> Response {
    let markup = signin::bad_link(ctx.frame(state), &state.ssh);
    ctx.page(state, StatusCode::GONE, markup)
}

//! `GET, POST /register`: a name, a key, and a signature that proves the key is yours.
//!
//! The form comes back with every problem at once, next to its field, and with what was
//! typed kept, but for a private key pasted by mistake: that is refused loudly, and never
//! echoed, stored or logged. A challenge that is still good is kept too, so fixing a name
//! does not mean signing again.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chat_server::chat_core::name;
use chat_server::chat_store::directory::{Actor, DirectoryError};
use chat_server::keys;
use chrono::TimeDelta;
use tracing::info;

use super::unavailable;
use crate::challenge::{Challenge, Purpose};
use crate::form::{Form, kept};
use crate::ops;
use crate::proof;
use crate::state::{AppState, Ctx};
use crate::views::Frame;
use crate::views::register::{self, Errors, RegisterForm};

/// A kept challenge with less time left than this is replaced (and the signature with it).
const MIN_LEFT: TimeDelta = TimeDelta::minutes(3);

pub async fn show(ctx: Ctx, State(state): State<Arc<AppState>>) -> Response {
    let challenge = state.challenges.issue(Purpose::Register, "", ctx.now);
    let csrf = ctx.csrf(&state);
    let form = RegisterForm {
        name: "",
        public_key: "",
        signature: "",
        challenge: &challenge,
        csrf: &csrf,
        errors: &Errors::default(),
    };
    ctx.page(
        &state,
        StatusCode::OK,
        register::form(ctx.frame(&state), &form),
    )
}

pub async fn submit(ctx: Ctx, State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if !ctx.csrf_ok(&state, &form) {
        return ctx.forbidden(&state);
    }
    if let Err(refused) = ctx.limit(&state, None) {
        return refused;
    }
    let mut errors = Errors::default();
    let name = match check_name(form.get("name")) {
        Ok(name) => Some(name),
        Err(error) => {
            errors.name = Some(error);
            None
        }
    };
    let key = match keys::check_line(form.get("public_key")) {
        Ok(key) => Some(key),
        Err(error) => {
            if error == keys::KeyError::PrivateKey {
                info!(target: "chat::web", ip = %ctx.ip, "refused a private key pasted as a public key");
            }
            errors.public_key = Some(error.to_string());
            None
        }
    };
    if let Some(key) = &key
        && let Err(refused) = ctx.limit(&state, Some(&format!("key:{}", key.fingerprint)))
    {
        return refused;
    }
    let challenge = state
        .challenges
        .check(Purpose::Register, "", form.get("challenge"), ctx.now);
    let proved = proof::check_form(form.get("signature"), &challenge, key.as_ref()).unwrap_or_else(
        |error| {
            errors.signature = Some(error);
            false
        },
    );
    let (Some(name), Some(key), true, Ok(challenge)) = (name, key, proved, &challenge) else {
        return again(
            &ctx,
            &state,
            &form,
            challenge.ok(),
            &errors,
            StatusCode::BAD_REQUEST,
        );
    };
    let actor = Actor::new(
        format!("{name} (web {}, registration)", ctx.ip),
        Some(key.fingerprint.clone()),
    );
    match ops::create_account(&state.runtime, &name, &key, &actor, ctx.now).await {
        Ok(account) => {
            // A second submission of the same form lost the race to create: nothing to undo.
            let _ = state.challenges.spend(challenge, ctx.now);
            let token = state
                .sessions
                .start(&account.id, Some(&key.fingerprint), ctx.now);
            let markup = register::done(
                Frame {
                    signed_in: true,
                    ..ctx.frame(&state)
                },
                &account.name,
                &key.fingerprint,
                &state.ssh,
            );
            let mut response = ctx.page(&state, StatusCode::OK, markup);
            response.headers_mut().append(
                axum::http::header::SET_COOKIE,
                Ctx::session_cookie(&state, &token),
            );
            response
        }
        Err(error) if error.is_outage() || matches!(error, DirectoryError::NotSetUp(_)) => {
            unavailable(&ctx, &state, &error)
        }
        Err(error) => {
            match &error {
                DirectoryError::KeyTaken { .. } => {
                    // They proved they hold the key, so they may know which account has it.
                    let holder = ops::account_of_key(&state.runtime, &key.fingerprint)
                        .await
                        .ok()
                        .flatten()
                        .map_or_else(String::new, |a| format!(" ({})", a.name));
                    errors.public_key = Some(format!(
                        "that key is already in an account{holder}: sign in to manage it"
                    ));
                }
                DirectoryError::TooManyKeys { .. } => errors.public_key = Some(error.to_string()),
                _ => errors.name = Some(error.to_string()),
            }
            again(
                &ctx,
                &state,
                &form,
                Some(challenge.clone()),
                &errors,
                StatusCode::BAD_REQUEST,
            )
        }
    }
}

/// The form again, with what was typed and what was wrong.
fn again(
    ctx: &Ctx,
    state: &AppState,
    form: &Form,
    challenge: Option<Challenge>,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    let kept_challenge = challenge.filter(|c| c.expires_at - ctx.now >= MIN_LEFT);
    let signature = match &kept_challenge {
        Some(_) => echoable(form.get("signature"), 16 * 1024),
        // A new challenge needs a new signature.
        None => String::new(),
    };
    let challenge =
        kept_challenge.unwrap_or_else(|| state.challenges.issue(Purpose::Register, "", ctx.now));
    let (name, public_key) = (
        echoable(form.get("name"), 64),
        echoable(form.get("public_key"), 16 * 1024),
    );
    let csrf = ctx.csrf(state);
    let view = RegisterForm {
        name: &name,
        public_key: &public_key,
        signature: &signature,
        challenge: &challenge,
        csrf: &csrf,
        errors,
    };
    ctx.page(state, status, register::form(ctx.frame(state), &view))
}

/// What a page may show again of a field: at most `max` characters, and nothing at all of
/// a private key.
pub(super) fn echoable(text: &str, max: usize) -> String {
    if keys::looks_private(text) {
        String::new()
    } else {
        kept(text, max)
    }
}

/// The name as the chat would write it, or why it is not one.
fn check_name(raw: &str) -> Result<String, String> {
    let wanted = raw.trim();
    if wanted.is_empty() {
        return Err("pick a name".to_owned());
    }
    if keys::looks_private(wanted) {
        return Err("that is a PRIVATE key, not a name; it was not stored".to_owned());
    }
    match name::clean_name(wanted) {
        Some(clean) if clean == wanted => Ok(clean),
        Some(clean) => Err(format!(
            "a name holds only letters, digits, _ - and . (at most {} of them): how about {clean}?",
            name::MAX_NAME_CHARS
        )),
        None => Err("a name needs at least one letter or digit".to_owned()),
    }
}

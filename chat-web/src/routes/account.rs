//! `/account` and the forms on it: add a key (with its own proof), remove one (never the
//! last), label one, delete the account, sign out. Each change is rate limited per address
//! and per account and audit-logged (see [`crate::ops`]); a change that worked redirects
//! back to the page (so a reload does not send it again), one that did not shows the page
//! with what was wrong and what was typed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chat_server::chat_core::name;
use chat_server::chat_store::directory::{self, Account, Actor, DirectoryError};
use chat_server::keys;
use chrono::TimeDelta;

use super::register::echoable;
use super::{see_other, unavailable};
use crate::challenge::{Challenge, Purpose};
use crate::form::Form;
use crate::ops;
use crate::proof;
use crate::state::{AppState, Ctx, SignedIn};
use crate::views::account::{self, AccountPage, AddErrors, AddForm, KeyError};
use crate::views::{self, Frame};

/// What `?done=` after a change says.
fn done_message(uri: &Uri) -> Option<&'static str> {
    match uri.query()? {
        "done=added" => Some("The key is added: it logs in as you from now on."),
        "done=removed" => Some("The key is removed: it no longer logs in as you."),
        "done=labelled" => Some("The label is saved."),
        _ => None,
    }
}

/// What the page shows besides the account: a change's outcome and the add form's state.
#[derive(Default)]
struct Shown<'a> {
    done: Option<&'a str>,
    add: Option<(&'a Form, Challenge, AddErrors)>,
    key_error: Option<KeyError>,
    delete_error: Option<String>,
}

fn render(
    ctx: &Ctx,
    state: &AppState,
    me: &SignedIn,
    account: &Account,
    shown: Shown<'_>,
    status: StatusCode,
) -> Response {
    let csrf = ctx.csrf(state);
    let (public_key, label, signature, challenge, errors) = match shown.add {
        Some((form, challenge, errors)) => (
            echoable(form.get("public_key"), 16 * 1024),
            echoable(form.get("label"), 64),
            if errors.signature.is_some() && challenge.text != form.get("challenge") {
                String::new()
            } else {
                echoable(form.get("signature"), 16 * 1024)
            },
            challenge,
            errors,
        ),
        None => (
            String::new(),
            String::new(),
            String::new(),
            state
                .challenges
                .issue(Purpose::AddKey, &account.id, ctx.now),
            AddErrors::default(),
        ),
    };
    let page = AccountPage {
        account,
        my_key: me.session.fingerprint.as_deref(),
        ssh: &state.ssh,
        csrf: &csrf,
        done: shown.done,
        add: AddForm {
            public_key: &public_key,
            label: &label,
            signature: &signature,
            challenge: &challenge,
            errors,
        },
        key_error: shown.key_error,
        delete_error: shown.delete_error,
    };
    ctx.page(state, status, account::page(ctx.frame(state), &page))
}

/// The signed-in account, or the response that replaces the page: a redirect to sign in
/// (the account is gone, and so is the session), or the key store's outage.
async fn load(ctx: &Ctx, state: &AppState, me: &SignedIn) -> Result<Account, Response> {
    match ops::account(&state.runtime, me.account_id()).await {
        Ok(Some(account)) => Ok(account),
        Ok(None) => {
            state.sessions.end(&me.token);
            Err(see_other("/signin", &[]))
        }
        Err(error) => Err(unavailable(ctx, state, &error)),
    }
}

/// The checks every account form passes first: a valid CSRF token from a signed-in visitor
/// ([`gate`]), then their account as the directory has it now ([`load`]).
async fn signed_in<'a>(
    ctx: &'a Ctx,
    state: &AppState,
    form: &Form,
) -> Result<(&'a SignedIn, Account), Response> {
    let me = gate(ctx, state, form)?;
    let account = load(ctx, state, me).await?;
    Ok((me, account))
}

/// The checks every change passes first: signed in, a valid CSRF token, within the limits.
#[expect(
    clippy::result_large_err,
    reason = "the error is the page the handler returns at once; boxing it buys nothing"
)]
fn gate<'a>(ctx: &'a Ctx, state: &AppState, form: &Form) -> Result<&'a SignedIn, Response> {
    if !ctx.csrf_ok(state, form) {
        return Err(ctx.forbidden(state));
    }
    let me = ctx
        .signed_in
        .as_ref()
        .ok_or_else(|| see_other("/signin", &[]))?;
    ctx.limit(state, Some(&format!("acct:{}", me.account_id())))?;
    Ok(me)
}

fn actor(ctx: &Ctx, me: &SignedIn, account: &Account) -> Actor {
    Actor::new(
        format!("{} (web {})", account.name, ctx.ip),
        me.session.fingerprint.clone(),
    )
}

pub async fn show(
    ctx: Ctx,
    State(state): State<Arc<AppState>>,
    me: SignedIn,
    uri: Uri,
) -> Response {
    let account = match load(&ctx, &state, &me).await {
        Ok(account) => account,
        Err(response) => return response,
    };
    let shown = Shown {
        done: done_message(&uri),
        ..Shown::default()
    };
    render(&ctx, &state, &me, &account, shown, StatusCode::OK)
}

pub async fn add_key(ctx: Ctx, State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let (me, account) = match signed_in(&ctx, &state, &form).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let mut errors = AddErrors::default();
    let key = keys::check_line(form.get("public_key"))
        .map_err(|e| errors.public_key = Some(e.to_string()))
        .ok();
    let label = directory::clean_label(form.get("label"))
        .map_err(|e| errors.label = Some(e.to_string()))
        .ok();
    let checked =
        state
            .challenges
            .check(Purpose::AddKey, &account.id, form.get("challenge"), ctx.now);
    let proved =
        proof::check_form(form.get("signature"), &checked, key.as_ref()).unwrap_or_else(|error| {
            errors.signature = Some(error);
            false
        });
    let fresh = |checked: Result<Challenge, _>| {
        checked
            .ok()
            .filter(|c: &Challenge| c.expires_at - ctx.now >= TimeDelta::minutes(3))
            .unwrap_or_else(|| {
                state
                    .challenges
                    .issue(Purpose::AddKey, &account.id, ctx.now)
            })
    };
    let (Some(key), Some(label), true, Ok(challenge)) = (key, label, proved, &checked) else {
        let shown = Shown {
            add: Some((&form, fresh(checked), errors)),
            ..Shown::default()
        };
        return render(&ctx, &state, me, &account, shown, StatusCode::BAD_REQUEST);
    };
    match ops::add_key(
        &state.runtime,
        &account.id,
        &key,
        &label,
        &actor(&ctx, me, &account),
        ctx.now,
    )
    .await
    {
        Ok(_) => {
            let _ = state.challenges.spend(challenge, ctx.now);
            see_other("/account?done=added", &[])
        }
        Err(error) if error.is_outage() => unavailable(&ctx, &state, &error),
        Err(DirectoryError::NoSuchAccount) => see_other("/signin", &[]),
        Err(error) => {
            errors.public_key = Some(error.to_string());
            let shown = Shown {
                add: Some((&form, fresh(checked.clone()), errors)),
                ..Shown::default()
            };
            render(&ctx, &state, me, &account, shown, StatusCode::BAD_REQUEST)
        }
    }
}

/// The fingerprint field as the directory spells keys: `SHA256:…`.
fn fingerprint(form: &Form) -> String {
    let text = form.get("fingerprint").trim();
    if text.starts_with("SHA256:") {
        text.chars().take(100).collect()
    } else {
        format!("SHA256:{}", text.chars().take(93).collect::<String>())
    }
}

/// A change to one key that failed: the page with the error beside the key.
fn key_refused(
    ctx: &Ctx,
    state: &AppState,
    me: &SignedIn,
    account: &Account,
    fingerprint: String,
    error: &DirectoryError,
) -> Response {
    let message = match error {
        DirectoryError::LastKey => {
            "this is your only key, and an account keeps at least one: add another first".to_owned()
        }
        other => other.to_string(),
    };
    let shown = Shown {
        key_error: Some(KeyError {
            fingerprint,
            message,
        }),
        ..Shown::default()
    };
    render(ctx, state, me, account, shown, StatusCode::BAD_REQUEST)
}

pub async fn remove_key(ctx: Ctx, State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let (me, account) = match signed_in(&ctx, &state, &form).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let fingerprint = fingerprint(&form);
    match ops::remove_key(
        &state.runtime,
        &account.id,
        &fingerprint,
        &actor(&ctx, me, &account),
    )
    .await
    {
        Ok(_) => see_other("/account?done=removed", &[]),
        Err(error) if error.is_outage() => unavailable(&ctx, &state, &error),
        Err(error) => key_refused(&ctx, &state, me, &account, fingerprint, &error),
    }
}

pub async fn label_key(ctx: Ctx, State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let (me, account) = match signed_in(&ctx, &state, &form).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let fingerprint = fingerprint(&form);
    let label = match directory::clean_label(form.get("label")) {
        Ok(label) => label,
        Err(error) => return key_refused(&ctx, &state, me, &account, fingerprint, &error),
    };
    let actor = actor(&ctx, me, &account);
    match ops::set_label(&state.runtime, &account.id, &fingerprint, &label, &actor).await {
        Ok(_) => see_other("/account?done=labelled", &[]),
        Err(error) if error.is_outage() => unavailable(&ctx, &state, &error),
        Err(error) => key_refused(&ctx, &state, me, &account, fingerprint, &error),
    }
}

pub async fn delete(ctx: Ctx, State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let (me, account) = match signed_in(&ctx, &state, &form).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let typed = form.get("name").trim();
    if !name::same_but_case(typed, &account.name) {
        let error = if typed.is_empty() {
            format!("type {} to confirm", account.name)
        } else {
            format!("that is not your name; type {} to confirm", account.name)
        };
        let shown = Shown {
            delete_error: Some(error),
            ..Shown::default()
        };
        return render(&ctx, &state, me, &account, shown, StatusCode::BAD_REQUEST);
    }
    match ops::delete_account(
        &state.runtime,
        &account,
        &actor(&ctx, me, &account),
        ctx.now,
    )
    .await
    {
        Ok(()) => {
            state.sessions.end_account(&account.id);
            let frame = Frame {
                signed_in: false,
                ..ctx.frame(&state)
            };
            let text = format!(
                "{} is deleted. Its keys no longer log in as {}, and the name is free.",
                account.name, account.name
            );
            let markup = views::message(frame, "Account deleted", &[&text], ("/", "Home"));
            let mut response = ctx.page(&state, StatusCode::OK, markup);
            response.headers_mut().append(
                axum::http::header::SET_COOKIE,
                state
                    .cookies
                    .set(state.cookies.session(), "", TimeDelta::zero()),
            );
            response
        }
        Err(DirectoryError::NoSuchAccount) => see_other("/signin", &[]),
        Err(error) => unavailable(&ctx, &state, &error),
    }
}

pub async fn sign_out(ctx: Ctx, State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    if !ctx.csrf_ok(&state, &Form::parse(&body)) {
        return ctx.forbidden(&state);
    }
    if let Some(me) = &ctx.signed_in {
        state.sessions.end(&me.token);
    }
    see_other(
        "/",
        &[state
            .cookies
            .set(state.cookies.session(), "", TimeDelta::zero())],
    )
}

//! `/account`: your keys, adding one (with its own proof), removing, labels, deleting the
//! account, signing out.

use chat_server::chat_store::directory::{Account, AccountKey};
use maud::{Markup, html};

use super::{
    Frame, copyable, csrf_field, described_by, error_summary, field_error, layout, proof_fields,
};
use crate::challenge::Challenge;
use crate::config::SshInfo;

/// What was wrong with the add-key form.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AddErrors {
    pub public_key: Option<String>,
    pub label: Option<String>,
    pub signature: Option<String>,
}

/// The add-key form as shown, or sent back with what was wrong.
#[derive(Debug)]
pub struct AddForm<'a> {
    pub public_key: &'a str,
    pub label: &'a str,
    pub signature: &'a str,
    pub challenge: &'a Challenge,
    pub errors: AddErrors,
}

/// An error about one key (relabelling or removing it), shown beside it.
#[derive(Debug, Clone)]
pub struct KeyError {
    pub fingerprint: String,
    pub message: String,
}

/// Everything the account page shows.
#[derive(Debug)]
pub struct AccountPage<'a> {
    pub account: &'a Account,
    /// The key this browser signed in with.
    pub my_key: Option<&'a str>,
    pub ssh: &'a SshInfo,
    pub csrf: &'a str,
    /// What the last change did, if it worked.
    pub done: Option<&'a str>,
    pub add: AddForm<'a>,
    pub key_error: Option<KeyError>,
    pub delete_error: Option<String>,
}

pub fn page(frame: Frame<'_>, page: &AccountPage<'_>) -> Markup {
    let account = page.account;
    let add = &page.add;
    let mut errors: Vec<(&str, &str)> = Vec::new();
    if let Some(e) = &page.key_error {
        errors.push(("keys", e.message.as_str()));
    }
    for (field, error) in [
        ("public_key", &add.errors.public_key),
        ("label", &add.errors.label),
        ("signature", &add.errors.signature),
    ] {
        if let Some(e) = error {
            errors.push((field, e.as_str()));
        }
    }
    if let Some(e) = &page.delete_error {
        errors.push(("delete-name", e.as_str()));
    }
    let body = html! {
        h1 { (account.name) }
        @if let Some(done) = page.done {
            p.done role="status" { (done) }
        }
        (error_summary(&errors))
        p { "Connect with:" }
        (copyable(&page.ssh.command(), "Command to connect"))
        p { "Or " a href="/chat" { "chat in the browser" } ", as " (account.name) "." }
        form.inline method="post" action="/signout" {
            (csrf_field(page.csrf))
            button.secondary type="submit" { "Sign out" }
        }
        section aria-labelledby="keys" {
            h2 #keys { "Your keys" }
            p { "Each of these keys logs in as " strong { (account.name) } "." }
            ul.keys {
                @for key in &account.keys {
                    (key_card(key, page, account.keys.len() > 1))
                }
            }
        }
        section aria-labelledby="add" {
            h2 #add { "Add a key" }
            p { "For another computer: make a key there (" code { "ssh-keygen -t ed25519" } "), then paste its public key and a signature made on that computer." }
            form method="post" action="/account/keys" novalidate {
                (csrf_field(page.csrf))
                label for="public_key" { "Public key" }
                p.hint id="public_key-hint" { "The one line of " code { "cat ~/.ssh/id_ed25519.pub" } " on the new computer." }
                (field_error("public_key", add.errors.public_key.as_deref()))
                textarea #public_key name="public_key" rows="3" spellcheck="false" autocomplete="off"
                    aria-describedby=(described_by("public_key", add.errors.public_key.as_deref()))
                    aria-invalid=[add.errors.public_key.as_ref().map(|_| "true")] { (add.public_key) }
                label for="label" { "Label (optional)" }
                p.hint id="label-hint" { "What you call it, such as laptop or work." }
                (field_error("label", add.errors.label.as_deref()))
                input #label type="text" name="label" value=(add.label) maxlength="64" autocomplete="off"
                    aria-describedby=(described_by("label", add.errors.label.as_deref()))
                    aria-invalid=[add.errors.label.as_ref().map(|_| "true")];
                (proof_fields(add.challenge, add.signature, add.errors.signature.as_deref()))
                button type="submit" { "Add key" }
            }
        }
        section aria-labelledby="delete" {
            h2 #delete { "Delete your account" }
            p { "Your keys stop logging in as " strong { (account.name) } " and the name is free for anyone. This cannot be undone." }
            form method="post" action="/account/delete" novalidate {
                (csrf_field(page.csrf))
                label for="delete-name" { "Type your name, " (account.name) ", to confirm" }
                p.hint id="delete-name-hint" { "So that one slip of the finger does not delete it." }
                (field_error("delete-name", page.delete_error.as_deref()))
                input #delete-name type="text" name="name" autocomplete="off" autocapitalize="off"
                    spellcheck="false" aria-describedby=(described_by("delete-name", page.delete_error.as_deref()));
                button.danger type="submit" { "Delete my account" }
            }
        }
    };
    layout(frame, "Your account", body)
}

fn key_card(key: &AccountKey, page: &AccountPage<'_>, removable: bool) -> Markup {
    let mine = page.my_key == Some(key.fingerprint.as_str());
    let error = page
        .key_error
        .as_ref()
        .filter(|e| e.fingerprint == key.fingerprint)
        .map(|e| e.message.as_str());
    let id = format!("key-{}", short_id(&key.fingerprint));
    html! {
        li.key id=(id) {
            p.fp { code { (key.fingerprint) } }
            dl {
                dt { "Type" } dd { (if key.algorithm.is_empty() { "not known until its next login" } else { key.algorithm.as_str() }) }
                dt { "Added" } dd { (key.added_at.format("%Y-%m-%d")) }
                dt { "Last login" } dd { (key.last_used_at.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())) }
            }
            @if mine { p.badge { "You signed in with this key" } }
            @if let Some(error) = error { p.field-error { strong { "Error: " } (error) } }
            form.label-form method="post" action="/account/keys/label" {
                (csrf_field(page.csrf))
                input type="hidden" name="fingerprint" value=(key.fingerprint);
                label for={ (id) "-label" } { "Label" }
                div.row {
                    input id={ (id) "-label" } type="text" name="label" value=(key.label) maxlength="64" autocomplete="off";
                    button.secondary type="submit" { "Save label" }
                }
            }
            @if removable {
                form method="post" action="/account/keys/remove" {
                    (csrf_field(page.csrf))
                    input type="hidden" name="fingerprint" value=(key.fingerprint);
                    button.danger type="submit" aria-label={ "Remove this key, " (key.fingerprint) } { "Remove this key" }
                }
            } @else {
                p.hint { "Your only key: add another before you can remove this one." }
            }
        }
    }
}

/// A short, HTML-id-safe name for a key.
fn short_id(fingerprint: &str) -> String {
    fingerprint
        .trim_start_matches("SHA256:")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect()
}

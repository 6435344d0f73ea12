//! Secrets: registered once (the runner masks them with `::add-mask::`), redacted
//! from everything we print, and never shown by a `{:?}` (issue 14). A leaf: every
//! client that holds a credential uses it, and it uses only the output guard.

use std::sync::Mutex;

use crate::output::{escape_data, in_actions};

/// `***` in place of a secret that is set (issue 14: a `{:?}` must not print it).
pub fn hidden(v: &Option<String>) -> Option<&'static str> {
    v.as_ref().map(|_| "***")
}

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Register a secret: the runner masks it in logs, and we redact it from
/// anything we print ourselves (errors included), in or out of Actions.
pub fn register_secret(secret: &str) {
    // Short strings would redact innocent text; GitHub tokens are 36+ characters.
    if secret.len() < 4 {
        return;
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    if secrets.iter().any(|s| s == secret) {
        return;
    }
    secrets.push(secret.to_string());
    if in_actions() {
        crate::output::command(&format!("::add-mask::{}", escape_data(secret)));
    }
}

/// Replace every registered secret in `text` with `***`.
pub fn redact(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = text.to_string();
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// [`redact`], plus the one credential a client holds (registered or not): the one
/// scrubber for text that may carry it (server answers, transport errors).
pub fn scrub(text: &str, credential: Option<&str>) -> String {
    let text = redact(text);
    match credential {
        Some(c) if !c.is_empty() => text.replace(c, "***"),
        _ => text,
    }
}

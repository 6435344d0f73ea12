//! Secrets: remembered once, redacted from everything we print, and never shown by a
//! `{:?}`. A leaf: every client that holds a credential uses it, and it uses nothing
//! of ours; `output::register_secret` remembers one here and has the runner mask it.

use std::sync::Mutex;

/// `***` in place of a secret that is set: a `{:?}` of a struct holding one must not
/// print it.
pub fn hidden(v: &Option<String>) -> Option<&'static str> {
    v.as_ref().map(|_| "***")
}

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remember a secret, so [`redact`] takes it out of anything we print (errors
/// included), in or out of Actions. True when it is new (and so still to be masked).
pub(crate) fn remember(secret: &str) -> bool {
    // Short strings would redact innocent text; GitHub tokens are 36+ characters.
    if secret.len() < 4 {
        return false;
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    if secrets.iter().any(|s| s == secret) {
        return false;
    }
    secrets.push(secret.to_string());
    true
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

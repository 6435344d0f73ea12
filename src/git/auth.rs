//! Credentials and failure classes of one network operation: the token and where it
//! may go, and whether an error is worth another try.

use std::sync::Arc;

use git2::{ErrorCode, RemoteCallbacks};

use super::http::Limits;
#[cfg(test)]
use super::transport::token_may_go_to;
use super::transport::{self, Flag, Session};

/// Tries of a network operation that a 5xx or a dropped connection interrupted.
pub(super) const NET_ATTEMPTS: u32 = 4;

/// A 5xx or a broken connection, not a refusal: worth another try (a fetch), or a
/// look at the ref (a push). A server that stopped answering (a timeout) is not:
/// each try would wait out the limit again.
pub(super) fn is_transient(e: &git2::Error, auth: &Auth) -> bool {
    if auth.failed.get() || auth.timed_out.get() || e.code() == ErrorCode::Auth {
        return false;
    }
    let m = e.message().to_lowercase();
    if let Some(code) = m.split("status code: ").nth(1) {
        return code.starts_with('5') || code.starts_with("429");
    }
    matches!(
        e.class(),
        git2::ErrorClass::Net
            | git2::ErrorClass::Os
            | git2::ErrorClass::Ssl
            | git2::ErrorClass::Http
    ) && [
        "eof",
        "connection",
        "reset",
        "timed out",
        "failed to receive",
        "failed to send",
        "broken pipe",
        "closed",
        "unexpected disconnect",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// Credentials for one network operation: the token as `x-access-token` basic auth
/// (what GitHub expects from `GITHUB_TOKEN` and App tokens), sent by our HTTP
/// transport to the token's origin only, and what went wrong on the way.
pub(super) struct Auth {
    session: Arc<Session>,
    /// The remote refused the token, or asked for one we may not send it.
    pub(super) failed: Flag,
    /// A connect, read or write limit ran out.
    pub(super) timed_out: Flag,
}

impl Auth {
    pub(super) fn new(token: Option<&str>, remote: &str, limits: Limits) -> Self {
        let (failed, timed_out) = (Flag::default(), Flag::default());
        Auth {
            session: Arc::new(Session {
                token: token.map(String::from),
                // The origin the token may go to: `GITHUB_SERVER_URL`, else (outside
                // Actions) the remote the workspace was opened with.
                origin: server_origin().unwrap_or_else(|| remote.to_string()),
                limits,
                failed: failed.clone(),
                timed_out: timed_out.clone(),
            }),
            failed,
            timed_out,
        }
    }

    /// The callbacks of one operation. libgit2 gives a custom transport no access to
    /// them, so this also hands the credentials to the HTTP transport of the
    /// operations this thread starts next (until this value is dropped).
    pub(super) fn callbacks<'a>(&self) -> RemoteCallbacks<'a> {
        transport::bind(&self.session);
        RemoteCallbacks::new()
    }
}

impl Drop for Auth {
    fn drop(&mut self) {
        transport::unbind(&self.session);
    }
}

/// `GITHUB_SERVER_URL`, the origin the token belongs to in Actions.
fn server_origin() -> Option<String> {
    std::env::var("GITHUB_SERVER_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A lock file held by another git process (`*.lock` exists).
pub(super) fn is_lock_error(e: &git2::Error) -> bool {
    let m = e.message();
    e.code() == ErrorCode::Locked
        || m.contains("failed to lock")
        || (m.contains("locked file") && m.contains("exists"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_to_the_server_origin_only() {
        let gh = "https://github.com";
        assert!(token_may_go_to("https://github.com/acme/app.git", gh));
        assert!(!token_may_go_to("https://evil.example/acme/app.git", gh));
        assert!(!token_may_go_to("http://github.com/acme/app.git", gh));
        assert!(!token_may_go_to(
            "https://github.com.evil.example/a.git",
            gh
        ));
        assert!(token_may_go_to(
            "http://127.0.0.1:8080/a/b.git",
            "http://127.0.0.1:8080"
        ));
        assert!(!token_may_go_to(
            "http://127.0.0.1:8081/a/b.git",
            "http://127.0.0.1:8080"
        ));
        assert!(!token_may_go_to("/local/path", gh));
    }

    #[test]
    fn server_errors_and_resets_are_transient_refusals_are_not() {
        use git2::{Error, ErrorClass};
        let auth = Auth::new(None, "https://github.com", Limits::default());
        let e = |class, msg: &str| Error::new(ErrorCode::GenericError, class, msg);
        for (class, msg) in [
            (ErrorClass::Http, "unexpected http status code: 502"),
            (ErrorClass::Http, "unexpected http status code: 503"),
            (ErrorClass::Net, "connection reset by peer"),
            (ErrorClass::Net, "early EOF"),
            (
                ErrorClass::Os,
                "failed to receive response: Connection closed",
            ),
        ] {
            assert!(is_transient(&e(class, msg), &auth), "{msg}");
        }
        for (class, msg) in [
            (ErrorClass::Http, "unexpected http status code: 403"),
            (ErrorClass::Http, "unexpected http status code: 404"),
            (ErrorClass::Reference, "cannot lock ref"),
            (ErrorClass::Callback, "lease broken"),
        ] {
            assert!(!is_transient(&e(class, msg), &auth), "{msg}");
        }
        let refused = Auth::new(Some("t"), "https://github.com", Limits::default());
        refused.failed.set(true);
        assert!(!is_transient(
            &e(ErrorClass::Http, "unexpected http status code: 502"),
            &refused
        ));
    }
}

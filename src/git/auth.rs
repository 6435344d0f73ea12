//! Credentials and failure classes of one network operation: the token and where it
//! may go, and whether an error is worth another try.

use git2::{Cred, CredentialType, ErrorCode, RemoteCallbacks};

use super::display_url;

/// Tries of a network operation that a 5xx or a dropped connection interrupted.
pub(super) const NET_ATTEMPTS: u32 = 4;

/// A 5xx or a broken connection, not a refusal: worth another try (a fetch), or a
/// look at the ref (a push).
pub(super) fn is_transient(e: &git2::Error, auth: &Auth) -> bool {
    if auth.failed.get() || e.code() == ErrorCode::Auth {
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
/// (what GitHub expects from `GITHUB_TOKEN` and App tokens), offered once. libgit2
/// asks again after a 401; answering with the same token would loop forever.
pub(super) struct Auth<'t> {
    token: Option<&'t str>,
    /// The origin the token may go to: `GITHUB_SERVER_URL`, else (outside
    /// Actions) the remote the workspace was opened with.
    origin: String,
    pub(super) failed: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<'t> Auth<'t> {
    pub(super) fn new(token: Option<&'t str>, remote: &str) -> Self {
        Auth {
            token,
            origin: server_origin().unwrap_or_else(|| remote.to_string()),
            failed: Default::default(),
        }
    }

    pub(super) fn callbacks(&self) -> RemoteCallbacks<'t> {
        let mut cbs = RemoteCallbacks::new();
        let token = self.token;
        let failed = self.failed.clone();
        let origin = self.origin.clone();
        let mut offered = false;
        cbs.credentials(move |url, _user, allowed| {
            // Issue 14: the token is GitHub's; it goes to the `GITHUB_SERVER_URL`
            // origin only, never to another host a remote (or a redirect) names.
            if token.is_some() && !token_may_go_to(url, &origin) {
                failed.set(true);
                return Err(git2::Error::from_str(&format!(
                    "`{}` asks for credentials, but the token is only sent to `{}` (`GITHUB_SERVER_URL`, else the workspace's remote)",
                    display_url(url),
                    display_url(&origin)
                )));
            }
            let Some(token) = token else {
                failed.set(true);
                return Err(git2::Error::from_str(
                    "the remote asks for credentials and no token is set",
                ));
            };
            if offered || !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                failed.set(true);
                return Err(git2::Error::from_str("the remote refused the token"));
            }
            offered = true;
            Cred::userpass_plaintext("x-access-token", token)
        });
        cbs
    }
}

/// `GITHUB_SERVER_URL`, the origin the token belongs to in Actions.
fn server_origin() -> Option<String> {
    std::env::var("GITHUB_SERVER_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Whether `url` is on the origin (scheme, host, port) of `server`.
fn token_may_go_to(url: &str, server: &str) -> bool {
    match (reqwest::Url::parse(url), reqwest::Url::parse(server)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
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
        let auth = Auth::new(None, "https://github.com");
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
        let refused = Auth::new(Some("t"), "https://github.com");
        refused.failed.set(true);
        assert!(!is_transient(
            &e(ErrorClass::Http, "unexpected http status code: 502"),
            &refused
        ));
    }
}

//! Faults on the nth request matching a method and a path, shared by the GitHub
//! stand-in (REST, GraphQL, git smart HTTP) and the registry's [`FaultProxy`].
//!
//! [`FaultProxy`]: crate::registry::FaultProxy

/// What an injected fault does to the request it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this status (a JSON error body) without doing the work.
    Status(u16),
    /// Do the work, then answer 502: the client never learns it was done.
    LostAnswer,
    /// Close the connection before doing the work, without an answer.
    DropBefore,
    /// Do the work, then close the connection without an answer.
    DropAfter,
    /// GitHub's primary rate limit: 403 with `x-ratelimit-remaining: 0` and
    /// `x-ratelimit-reset` one second ahead, "API rate limit exceeded for …"
    /// (github/docs `rate-limits-for-the-rest-api.md`, "Exceeding the rate limit").
    /// A registry answers 429 `TOOMANYREQUESTS` with `Retry-After: 1` instead.
    PrimaryRateLimit,
    /// GitHub's secondary rate limit: 403 with `retry-after: 1`, "You have exceeded
    /// a secondary rate limit…" (same doc; body as seen in app-sre/github-mirror#62).
    /// A registry answers as for the primary one.
    SecondaryRateLimit,
}

/// A fault on the `nth` (1-based) request whose method is `method` (`""`: any) and
/// whose path contains `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub method: String,
    pub path: String,
    pub nth: usize,
    pub kind: FaultKind,
}

impl Fault {
    pub fn new(method: &str, path: &str, nth: usize, kind: FaultKind) -> Self {
        Fault {
            method: method.to_string(),
            path: path.to_string(),
            nth: nth.max(1),
            kind,
        }
    }
}

/// The armed faults, each firing once.
#[derive(Debug, Default)]
pub struct Rules {
    rules: Vec<(Fault, usize, bool)>,
}

impl Rules {
    pub fn arm(&mut self, f: Fault) {
        self.rules.push((f, 0, false));
    }

    /// Count this request against every armed fault it matches; the fault whose
    /// turn it is fires.
    pub fn hit(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        let mut hit = None;
        for (f, seen, fired) in self.rules.iter_mut().filter(|r| !r.2) {
            if (f.method.is_empty() || f.method.eq_ignore_ascii_case(method))
                && path.contains(&f.path)
            {
                *seen += 1;
                if *seen == f.nth && hit.is_none() {
                    *fired = true;
                    hit = Some(f.kind);
                }
            }
        }
        hit
    }

    /// Faults that have fired.
    pub fn fired(&self) -> usize {
        self.rules.iter().filter(|r| r.2).count()
    }
}

/// Close the connection without an answer: unwinding the connection's task drops
/// its socket (axum serves each connection on its own task and catches nothing).
/// `resume_unwind` skips the panic hook, so nothing is printed.
pub fn drop_connection() -> axum::response::Response {
    std::panic::resume_unwind(Box::new("injected fault: connection dropped"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nth_match_fires_once() {
        let mut r = Rules::default();
        r.arm(Fault::new("POST", "/pulls", 2, FaultKind::LostAnswer));
        assert_eq!(r.hit("GET", "/repos/a/b/pulls"), None);
        assert_eq!(r.hit("POST", "/repos/a/b/pulls"), None);
        assert_eq!(
            r.hit("post", "/repos/a/b/pulls"),
            Some(FaultKind::LostAnswer)
        );
        assert_eq!(r.hit("POST", "/repos/a/b/pulls"), None);
        assert_eq!(r.fired(), 1);
    }
}

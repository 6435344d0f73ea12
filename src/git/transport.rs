//! git's smart HTTP for libgit2, on our own client ([`super::http`]): libgit2 keeps the
//! protocol (ref advertisement, negotiation, the push callbacks), this moves its bytes,
//! with timeouts, the token only on its origin, and same-origin redirects only.
//!
//! `UploadPackLs` is `GET <url>/info/refs?service=git-upload-pack`, `UploadPack` a
//! `POST <url>/git-upload-pack`; receive-pack likewise (git's `http-protocol.txt`).

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};
use git2::{Error, ErrorClass, ErrorCode};
use url::Url;

use super::display_url;
use super::http::{self, Limits, Request, Response};

/// A flag one network operation shares with the transport it starts.
#[derive(Debug, Clone, Default)]
pub(super) struct Flag(Arc<AtomicBool>);

impl Flag {
    pub(super) fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    pub(super) fn set(&self, v: bool) {
        self.0.store(v, Ordering::SeqCst)
    }
}

/// What the transport takes from the operation that started it.
pub(super) struct Session {
    pub(super) token: Option<String>,
    /// The only origin the token is sent to.
    pub(super) origin: String,
    pub(super) limits: Limits,
    pub(super) failed: Flag,
    pub(super) timed_out: Flag,
}

thread_local! {
    /// The session of the operation running on this thread: libgit2 creates the
    /// transport on the thread that calls fetch, push or connect.
    static CURRENT: RefCell<Option<Arc<Session>>> = const { RefCell::new(None) };
}

pub(super) fn bind(session: &Arc<Session>) {
    CURRENT.with(|c| *c.borrow_mut() = Some(session.clone()));
}

pub(super) fn unbind(session: &Arc<Session>) {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_some_and(|s| Arc::ptr_eq(s, session)) {
            *c = None;
        }
    });
}

/// Whether `url` is on the origin (scheme, host, port) of `server`: the one test
/// before a token goes into a request.
pub(super) fn token_may_go_to(url: &str, server: &str) -> bool {
    match (url::Url::parse(url), url::Url::parse(server)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// Make libgit2 use this transport for `http://` and `https://` (once per process).
pub(super) fn register() -> Result<(), Error> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        for scheme in ["http", "https"] {
            // SAFETY: registration must not race the creation of a transport. It runs
            // once, under the OnceLock, from `Workspace::open`, before the first
            // network operation of any workspace, and nothing else in this process
            // creates git transports.
            unsafe { git2::transport::register(scheme, factory) }
                .map_err(|e| e.message().to_string())?;
        }
        Ok(())
    })
    .clone()
    .map_err(|m| Error::from_str(&format!("cannot set up git's HTTP transport: {m}")))
}

fn factory(remote: &git2::Remote<'_>) -> Result<Transport, Error> {
    let session = CURRENT.with(|c| c.borrow().clone()).unwrap_or_else(|| {
        Arc::new(Session {
            token: None,
            origin: String::new(),
            limits: Limits::default(),
            failed: Flag::default(),
            timed_out: Flag::default(),
        })
    });
    Transport::smart(
        remote,
        true,
        Subtransport {
            session,
            base: Mutex::new(None),
        },
    )
}

struct Subtransport {
    session: Arc<Session>,
    /// The repository URL after a redirect of the advertisement, for the POST after it.
    base: Mutex<Option<Url>>,
}

/// Why an exchange failed; the flags are set when it is made.
struct Fail {
    message: String,
    auth: bool,
    timeout: bool,
    /// A status we didn't want, not a broken connection.
    status: bool,
}

impl Fail {
    fn new(session: &Session, message: String, auth: bool, timeout: bool, status: bool) -> Fail {
        if auth {
            session.failed.set(true);
        }
        if timeout {
            session.timed_out.set(true);
        }
        let message = crate::secrets::scrub(&message, session.token.as_deref());
        Fail {
            message,
            auth,
            timeout,
            status,
        }
    }

    fn io(session: &Session, e: io::Error) -> Fail {
        let timeout = e.kind() == io::ErrorKind::TimedOut;
        Fail::new(session, e.to_string(), false, timeout, false)
    }

    /// For libgit2, where an operation starts (`action`).
    fn into_git(self) -> Error {
        let code = if self.auth {
            ErrorCode::Auth
        } else {
            ErrorCode::GenericError
        };
        let class = if self.status {
            ErrorClass::Http
        } else {
            ErrorClass::Net
        };
        Error::new(code, class, self.message)
    }

    /// For a stream read, which can only fail with an `io::Error` (libgit2 files it
    /// as a network error with this text; the flags carry the rest).
    fn into_io(self) -> io::Error {
        let kind = if self.timeout {
            io::ErrorKind::TimedOut
        } else {
            io::ErrorKind::Other
        };
        io::Error::new(kind, self.message)
    }
}

impl SmartSubtransport for Subtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, Error> {
        let mut base = self.base.lock().unwrap_or_else(|p| p.into_inner());
        let repo = match &*base {
            Some(b) => b.clone(),
            None => repository_url(url)?,
        };
        let (service, listing) = match action {
            Service::UploadPackLs => ("git-upload-pack", true),
            Service::UploadPack => ("git-upload-pack", false),
            Service::ReceivePackLs => ("git-receive-pack", true),
            Service::ReceivePack => ("git-receive-pack", false),
        };
        let session = self.session.clone();
        if listing {
            let (resp, landed) = advertise(&session, &repo, service).map_err(Fail::into_git)?;
            *base = Some(landed);
            return Ok(Box::new(Reply { resp, session }));
        }
        Ok(Box::new(Rpc {
            url: join(&repo, service),
            service,
            session,
            body: Vec::new(),
            resp: None,
        }))
    }

    fn close(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// The remote URL without user info (a token someone put there is never sent, nor
/// shown).
fn repository_url(url: &str) -> Result<Url, Error> {
    let mut u = Url::parse(url)
        .map_err(|e| Error::from_str(&format!("`{}` is not a URL: {e}", display_url(url))))?;
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    Ok(u)
}

/// `<repo>/<rest>`, whether or not the repository URL ends with `/`.
fn join(repo: &Url, rest: &str) -> Url {
    let mut u = repo.clone();
    let path = format!("{}/{rest}", repo.path().trim_end_matches('/'));
    u.set_path(&path);
    u
}

/// The ref advertisement, following redirects on the same origin (as git's
/// `http.followRedirects=initial` does, minus other origins); returns it and the
/// repository URL it came from.
fn advertise(session: &Session, repo: &Url, service: &str) -> Result<(Response, Url), Fail> {
    let mut repo = repo.clone();
    for _ in 0..=5 {
        let mut url = join(&repo, "info/refs");
        url.set_query(Some(&format!("service={service}")));
        let mut resp = exchange(session, "GET", &url, service, b"")?;
        if !matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
            check(
                session,
                &mut resp,
                &url,
                &format!("application/x-{service}-advertisement"),
            )?;
            return Ok((resp, repo));
        }
        let location = resp.header("location").unwrap_or_default().to_string();
        let Ok(to) = url.join(&location) else {
            return Err(Fail::new(
                session,
                format!(
                    "`{}` redirects to `{location}`, which is not a URL",
                    url_text(&url)
                ),
                false,
                false,
                true,
            ));
        };
        if to.origin() != url.origin() {
            return Err(Fail::new(
                session,
                format!(
                    "`{}` redirects to `{}`, on another origin: not followed",
                    url_text(&url),
                    url_text(&to)
                ),
                false,
                false,
                true,
            ));
        }
        let Some(path) = to.path().strip_suffix("/info/refs") else {
            return Err(Fail::new(
                session,
                format!(
                    "`{}` redirects to `{}`, which is not a git advertisement",
                    url_text(&url),
                    url_text(&to)
                ),
                false,
                false,
                true,
            ));
        };
        let mut next = to.clone();
        next.set_path(path);
        next.set_query(None);
        repo = next;
    }
    Err(Fail::new(
        session,
        format!("`{}` redirects more than 5 times", url_text(&repo)),
        false,
        false,
        true,
    ))
}

/// A URL as shown in messages: no user info.
fn url_text(u: &Url) -> String {
    display_url(u.as_str())
}

/// One request, with the token when `url` is on its origin (sent up front: GitHub
/// takes basic auth without a challenge, as actions/checkout's extraheader shows).
fn exchange(
    session: &Session,
    method: &str,
    url: &Url,
    service: &str,
    body: &[u8],
) -> Result<Response, Fail> {
    let mut headers = vec![(
        "User-Agent",
        concat!("git/2.0 (gitops-action ", env!("CARGO_PKG_VERSION"), ")").to_string(),
    )];
    if method == "GET" {
        headers.push(("Accept", format!("application/x-{service}-advertisement")));
    } else {
        headers.push(("Accept", format!("application/x-{service}-result")));
        headers.push(("Content-Type", format!("application/x-{service}-request")));
    }
    let sent_token = match &session.token {
        Some(t) if token_may_go_to(url.as_str(), &session.origin) => {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{t}"));
            headers.push(("Authorization", format!("Basic {basic}")));
            true
        }
        _ => false,
    };
    let req = Request {
        method,
        url,
        headers,
        body,
    };
    let mut resp = http::send(&req, session.limits).map_err(|e| Fail::io(session, e))?;
    if resp.status == 401 {
        let message = if sent_token {
            "the remote refused the token (HTTP 401)".to_string()
        } else if session.token.is_some() {
            format!(
                "`{}` asks for credentials, but the token is only sent to `{}` (`GITHUB_SERVER_URL`, else the workspace's remote)",
                url_text(url),
                display_url(&session.origin)
            )
        } else {
            "the remote asks for credentials and no token is set".to_string()
        };
        return Err(Fail::new(session, message, true, false, true));
    }
    if resp.status == 403 {
        let why = excerpt(&mut resp);
        return Err(Fail::new(
            session,
            format!("unexpected http status code: 403{why}"),
            true,
            false,
            true,
        ));
    }
    Ok(resp)
}

/// A 200 with the content type of a smart git server, or the status as an error (a
/// 5xx or 429 reads as transient to the callers).
fn check(session: &Session, resp: &mut Response, url: &Url, want: &str) -> Result<(), Fail> {
    if resp.status != 200 {
        let why = excerpt(resp);
        return Err(Fail::new(
            session,
            format!("unexpected http status code: {}{why}", resp.status),
            false,
            false,
            true,
        ));
    }
    let got = resp.header("content-type").unwrap_or_default();
    let media = got.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case(want) {
        let got = clean(got);
        return Err(Fail::new(
            session,
            format!(
                "`{}` did not answer as a git server (content type `{got}`, expected `{want}`)",
                url_text(url)
            ),
            false,
            false,
            true,
        ));
    }
    Ok(())
}

/// ` (first words of the body)`, or nothing: the server's text, untrusted, on one
/// line, without control characters, at most 200 characters.
fn excerpt(resp: &mut Response) -> String {
    let text = clean(&resp.excerpt(1024));
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

fn clean(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = one_line.split_whitespace().collect();
    let mut out = words.join(" ");
    if out.chars().count() > 200 {
        out = out.chars().take(199).collect::<String>() + "…";
    }
    out
}

/// The advertisement, read by libgit2.
struct Reply {
    resp: Response,
    session: Arc<Session>,
}

impl Read for Reply {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let session = &self.session;
        self.resp
            .read(buf)
            .map_err(|e| Fail::io(session, e).into_io())
    }
}

impl Write for Reply {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other(
            "a ref advertisement takes no request body",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One POST: libgit2 writes the request, then reads; the request goes out on the
/// first read, whole.
struct Rpc {
    url: Url,
    service: &'static str,
    session: Arc<Session>,
    body: Vec<u8>,
    resp: Option<Response>,
}

impl Read for Rpc {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let session = &self.session;
        if self.resp.is_none() {
            let body = std::mem::take(&mut self.body);
            let mut resp =
                exchange(session, "POST", &self.url, self.service, &body).map_err(Fail::into_io)?;
            if matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
                return Err(Fail::new(
                    session,
                    format!("`{}` answered with a redirect", url_text(&self.url)),
                    false,
                    false,
                    true,
                )
                .into_io());
            }
            let want = format!("application/x-{}-result", self.service);
            check(session, &mut resp, &self.url, &want).map_err(Fail::into_io)?;
            self.resp = Some(resp);
        }
        let Some(resp) = self.resp.as_mut() else {
            return Ok(0);
        };
        resp.read(buf).map_err(|e| Fail::io(session, e).into_io())
    }
}

impl Write for Rpc {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.resp.is_some() {
            return Err(io::Error::other("the request was already sent"));
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_urls_are_built_on_the_repository() {
        let repo = repository_url("https://x-access-token:ghs_abc@github.com/o/r.git?q#f").unwrap();
        assert_eq!(repo.as_str(), "https://github.com/o/r.git");
        assert_eq!(
            join(&repo, "git-upload-pack").as_str(),
            "https://github.com/o/r.git/git-upload-pack"
        );
        let slash = repository_url("http://127.0.0.1:8080/o/r/").unwrap();
        assert_eq!(
            join(&slash, "info/refs").as_str(),
            "http://127.0.0.1:8080/o/r/info/refs"
        );
    }

    #[test]
    fn server_text_is_one_short_line() {
        assert_eq!(
            clean("boom\n::warning::x\r\n\t##[error]y"),
            "boom ::warning::x ##[error]y"
        );
        let long = "a".repeat(500);
        assert_eq!(clean(&long).chars().count(), 200);
    }
}

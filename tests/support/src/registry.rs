//! Debian's `docker-registry` (distribution v2) on 127.0.0.1, with GHCR-style token
//! auth, htpasswd basic auth, or none; its access log counts requests. Also a client
//! that writes test images straight through the registry API, and small hostile
//! servers (garbage answers, connections cut mid-body).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// The user and password every authenticated test registry accepts.
pub const USER: &str = "ci-bot";
pub const PASSWORD: &str = "pw-7c1e9a44d2f04b8e";
const SERVICE: &str = "testkit-registry";
const ISSUER: &str = "testkit-token-issuer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    Htpasswd,
    /// Bearer tokens from an in-process token server, as GHCR does.
    Token,
}

/// One logged request: `GET /v2/a/b/manifests/t` and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
}

impl LoggedRequest {
    pub fn is_blob(&self) -> bool {
        self.path.contains("/blobs/")
    }
}

/// A running registry; killed (and its storage removed) on drop.
pub struct TestRegistry {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    log: PathBuf,
    log_offset: Mutex<u64>,
    token: Option<TokenServer>,
    /// GHCR's answers in front of the registry ([`TestRegistry::start_ghcr`]).
    ghcr: Option<GhcrFront>,
    pub auth: Auth,
}

impl TestRegistry {
    pub fn start(auth: Auth) -> Result<TestRegistry> {
        let dir = tempfile::tempdir()?;
        Self::start_in(auth, dir)
    }

    /// A registry answering as GHCR does (token auth, and [`GhcrFront`]'s rules for
    /// job tokens): [`host`](Self::host) is the front's address, which names the
    /// images; requests from [`client`](Self::client) pass through it unjudged.
    pub fn start_ghcr() -> Result<TestRegistry> {
        let mut reg = Self::start(Auth::Token)?;
        let access = reg
            .token
            .as_ref()
            .map(|t| t.access.clone())
            .ok_or_else(|| anyhow!("token server"))?;
        reg.ghcr = Some(GhcrFront::start(
            &format!("127.0.0.1:{}", reg.port),
            access,
        )?);
        Ok(reg)
    }

    fn start_in(auth: Auth, dir: tempfile::TempDir) -> Result<TestRegistry> {
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage)?;
        let token = match auth {
            Auth::Token => Some(TokenServer::start(dir.path())?),
            _ => None,
        };
        let auth_yaml = match auth {
            Auth::None => String::new(),
            Auth::Htpasswd => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", USER, PASSWORD])
                    .output()
                    .context("running htpasswd (apt-get install apache2-utils)")?;
                if !out.status.success() {
                    bail!("htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
                }
                std::fs::write(dir.path().join("htpasswd"), &out.stdout)?;
                format!(
                    "auth:\n  htpasswd:\n    realm: testkit\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
            Auth::Token => {
                let t = token.as_ref().expect("token server");
                format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    t.port,
                    t.cert_path.display()
                )
            }
        };
        // The port is chosen by binding :0; another process could take it before the
        // registry binds, so a start that fails is retried on a fresh port.
        let mut last_err = None;
        for _ in 0..5 {
            let port = free_port()?;
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: testkit-secret\n{auth_yaml}",
                    storage.display()
                ),
            )?;
            let log = dir.path().join("access.log");
            let stdout = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)?;
            let stderr = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.path().join("registry.err"))?;
            let child = crate::lifetime::die_with_parent(&mut Command::new("docker-registry"))
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .spawn()
                .context("starting docker-registry (apt-get install docker-registry)")?;
            let mut reg = TestRegistry {
                child: Some(child),
                port,
                log,
                log_offset: Mutex::new(0),
                token: None,
                ghcr: None,
                auth,
                dir: tempfile::tempdir()?, // replaced below
            };
            match reg.wait_ready() {
                Ok(()) => {
                    reg.dir = dir;
                    reg.token = token;
                    reg.reset_log();
                    return Ok(reg);
                }
                Err(e) => {
                    last_err = Some(e);
                    reg.kill();
                }
            }
        }
        let errlog = std::fs::read_to_string(dir.path().join("registry.err")).unwrap_or_default();
        Err(last_err.unwrap_or_else(|| anyhow!("registry did not start")))
            .with_context(|| format!("registry log:\n{errlog}"))
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("docker-registry exited with {status}");
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: x\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") {
                    return Ok(());
                }
            }
            thread::sleep(Duration::from_millis(30));
        }
        bail!("docker-registry did not answer on port {}", self.port)
    }

    /// `127.0.0.1:PORT` (the GHCR front's for [`start_ghcr`](Self::start_ghcr)).
    pub fn host(&self) -> String {
        match &self.ghcr {
            Some(f) => f.addr.to_string(),
            None => format!("127.0.0.1:{}", self.port),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The registry's storage folder (for restarting on the same data).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Requests logged since the last [`reset_log`](Self::reset_log). The registry
    /// writes a line after the response is sent, so this waits until the log has
    /// been quiet for a moment.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        let mut last = u64::MAX;
        let mut quiet_since = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let len = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
            if len != last {
                last = len;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() > Duration::from_millis(150)
                || Instant::now() > deadline
            {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let offset = *self.log_offset.lock().unwrap();
        let text = std::fs::read(&self.log).unwrap_or_default();
        let text = String::from_utf8_lossy(&text[(offset as usize).min(text.len())..]).into_owned();
        text.lines().filter_map(parse_access_line).collect()
    }

    /// Forget the requests logged so far.
    pub fn reset_log(&self) {
        let _ = self.requests();
        let len = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        *self.log_offset.lock().unwrap() = len;
    }

    /// Token requests served so far (they are not in the registry's log).
    pub fn token_requests(&self) -> usize {
        self.token
            .as_ref()
            .map_or(0, |t| t.hits.load(Ordering::SeqCst))
    }

    /// Tokens the token server handed out, to check they never leak into output.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.token
            .as_ref()
            .map(|t| t.issued.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Stop the registry now (the storage stays until drop).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Take a job's `token` as a password from now on (GHCR's job-token login: any
    /// user name, the workflow's `GITHUB_TOKEN`; docs "Working with the Container
    /// registry", "Authenticating in a GitHub Actions workflow"), whatever its
    /// `packages:` level (0 none, 1 read, 2 write): the login succeeds and the
    /// reads and writes are judged per request, as GHCR does (actions/runner#1039:
    /// "Login Succeeded", then the pull `denied`). `repository` (`owner/name`) is the
    /// workflow's, which the package must grant ([`grant_actions_access`]). Without
    /// the GHCR front, a token server trims what a token below write asks to pulls.
    ///
    /// [`grant_actions_access`]: Self::grant_actions_access
    pub fn accept_token(&self, token: &str, packages: u8, repository: &str) {
        if let Some(t) = &self.token {
            t.jobs
                .lock()
                .unwrap()
                .insert(token.to_string(), (packages, repository.to_string()));
        }
    }

    /// A package's *Manage Actions access* entry: workflows of `repository` may
    /// read (`write` false) or read and write `package` (`owner/name`) with their
    /// job token. The repository whose workflow published the package, and one
    /// connected to it, get admin (docs "About GitHub Packages with GitHub Actions":
    /// "The repository that publishes a package using a workflow, and any
    /// repository that you explicitly connect to the package, are automatically
    /// granted admin permission"); any other needs this entry (package settings →
    /// Manage Actions access; tuna-os/tunaOS#642, redhat-actions/push-to-registry#52).
    pub fn grant_actions_access(&self, package: &str, repository: &str, write: bool) {
        if let Some(t) = &self.token {
            t.access
                .lock()
                .unwrap()
                .insert((package.to_string(), repository.to_string()), write);
        }
    }

    /// Logins made with a job's token so far: (user name, token).
    pub fn job_logins(&self) -> Vec<(String, String)> {
        self.token
            .as_ref()
            .map(|t| t.job_logins.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// The job ended: its token is no longer taken.
    pub fn forget_token(&self, token: &str) {
        if let Some(t) = &self.token {
            t.jobs.lock().unwrap().remove(token);
        }
    }

    pub fn client(&self) -> Client {
        Client::new(
            &self.host(),
            (self.auth != Auth::None).then(|| (USER.to_string(), PASSWORD.to_string())),
        )
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 401 87 "" "ua"` (Apache combined).
fn parse_access_line(line: &str) -> Option<LoggedRequest> {
    let start = line.find('"')? + 1;
    let end = start + line[start..].find('"')?;
    let mut req = line[start..end].split(' ');
    let method = req.next()?.to_string();
    let path = req.next()?.to_string();
    let status = line[end + 1..].split_whitespace().next()?.parse().ok()?;
    Some(LoggedRequest {
        method,
        path,
        status,
    })
}

// ---------------------------------------------------------------------------
// GHCR's answers

/// (package `owner/name`, repository `owner/name`) → may write.
type PackageAccess = BTreeMap<(String, String), bool>;

/// GHCR's rules for a workflow's job token, in front of the registry: the login
/// always succeeds (the token server), then each request is judged. GHCR answers
/// 403 with the distribution error envelope, code `DENIED`, which clients print as
/// `denied: <message>`:
/// - the job's `packages:` below what the request needs: "installation not allowed
///   to Write organization package" (a push with `packages: read` or none:
///   bachp/git-mirror#516, hyperledger-firefly/signer#74, macbre/push-to-ghcr#31,
///   jidicula/clang-format-action#190, daniel-hauser/moneyman#478 — read-only tokens)
///   or "… to Read organization package" (a pull: actions/runner#1039);
/// - the permission granted but the package not open to the workflow's repository
///   (no *Manage Actions access* entry, [`TestRegistry::grant_actions_access`]):
///   "permission_denied: write_package" (tuna-os/tunaOS#642: `initiating layer
///   upload to /v2/<name>/blobs/uploads/ in ghcr.io: denied:
///   permission_denied: write_package`; hephaestus-build/Hephaestus#1671,
///   tridz-dev/huf#349, all with `packages: write`) or "permission_denied:
///   read_package" for a pull (kedacore/http-add-on#48).
///
/// The request's need: `GET`/`HEAD` read, anything else writes (the distribution
/// spec's push endpoints are `POST`/`PATCH`/`PUT`/`DELETE`). Other tokens (the
/// tests' own client, logged in as [`USER`]) pass unjudged.
struct GhcrFront {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

#[derive(Clone)]
struct GhcrState {
    target: String,
    access: Arc<Mutex<PackageAccess>>,
    http: reqwest::Client,
}

impl GhcrFront {
    fn start(target: &str, access: Arc<Mutex<PackageAccess>>) -> Result<GhcrFront> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let st = GhcrState {
            target: target.to_string(),
            access,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        };
        let thread = thread::Builder::new()
            .name("registry-ghcr-front".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = axum::Router::new().fallback(ghcr_front).with_state(st);
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stop_rx => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(GhcrFront {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for GhcrFront {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The repository name of a `/v2/<name>/{manifests,blobs,tags}/…` path.
fn package_of(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.strip_prefix("/v2/")?.split('/').collect();
    let n = segs.len();
    (1..n).rev().find_map(|i| {
        let at = |k: usize| segs.get(k).copied();
        let ok = match segs[i] {
            "manifests" => i + 2 == n,
            "tags" => i + 2 == n && at(i + 1) == Some("list"),
            "blobs" => i + 2 == n || at(i + 1) == Some("uploads"),
            _ => false,
        };
        ok.then(|| segs[..i].join("/"))
    })
}

/// The `ghcr` claim of a job's registry token: (`packages:` level, repository).
fn job_claim(authorization: Option<&str>) -> Option<(u8, String)> {
    let token = authorization?.strip_prefix("Bearer ")?;
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let g = claims.get("ghcr")?;
    Some((
        u8::try_from(g["packages"].as_u64()?).ok()?,
        g["repository"].as_str()?.to_string(),
    ))
}

/// GHCR's refusal for `need` (read or write) of `package` by a job token, if any.
fn ghcr_refusal(
    access: &PackageAccess,
    package: &str,
    write: bool,
    (level, repository): &(u8, String),
) -> Option<String> {
    let (verb, action) = if write {
        ("Write", "write")
    } else {
        ("Read", "read")
    };
    if *level < if write { 2 } else { 1 } {
        return Some(format!(
            "installation not allowed to {verb} organization package"
        ));
    }
    let granted = access
        .get(&(package.to_string(), repository.clone()))
        .is_some_and(|may_write| *may_write || !write);
    (!granted).then(|| format!("permission_denied: {action}_package"))
}

async fn ghcr_front(
    axum::extract::State(st): axum::extract::State<GhcrState>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let write = !matches!(req.method().as_str(), "GET" | "HEAD");
    let path = req.uri().path().to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let (Some(package), Some(job)) = (package_of(&path), job_claim(auth.as_deref())) {
        let refusal = {
            let access = st.access.lock().unwrap_or_else(|e| e.into_inner());
            ghcr_refusal(&access, &package, write, &job)
        };
        if let Some(message) = refusal {
            let body = serde_json::json!({"errors": [{"code": "DENIED", "message": message}]});
            return (axum::http::StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        }
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let url = format!(
        "http://{}{}",
        st.target,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut fwd = st.http.request(parts.method.clone(), &url).body(body);
    for (k, v) in parts.headers.iter() {
        fwd = fwd.header(k, v);
    }
    let Ok(resp) = fwd.send().await else {
        return axum::http::StatusCode::BAD_GATEWAY.into_response();
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap_or_default();
    let mut r = axum::response::Response::new(axum::body::Body::from(bytes));
    *r.status_mut() = status;
    for (k, v) in headers.iter() {
        if k != "transfer-encoding" && k != "connection" {
            r.headers_mut().append(k, v.clone());
        }
    }
    r
}

// ---------------------------------------------------------------------------
// Token server

/// Signs ES256 JWTs like a distribution token service. Its self-signed P-256
/// certificate is the registry's `rootcertbundle`; each token carries it in `x5c`.
struct TokenServer {
    port: u16,
    cert_path: PathBuf,
    hits: Arc<AtomicUsize>,
    issued: Arc<Mutex<Vec<String>>>,
    /// Job tokens taken as passwords (any user name), each with its `packages:`
    /// level and its workflow's repository.
    jobs: Arc<Mutex<BTreeMap<String, (u8, String)>>>,
    /// Packages' Actions access: (package, repository) → may write.
    access: Arc<Mutex<PackageAccess>>,
    /// Logins made with a job token: (user name, token).
    job_logins: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

struct Signer {
    key: ring::signature::EcdsaKeyPair,
    cert_der: Vec<u8>,
}

impl TokenServer {
    fn start(dir: &Path) -> Result<TokenServer> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(vec!["testkit-token".to_string()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "testkit token signer");
        let cert = params.self_signed(&key)?;
        let cert_path = dir.join("token-cert.pem");
        std::fs::write(&cert_path, cert.pem())?;
        let rng = ring::rand::SystemRandom::new();
        let signer = Signer {
            key: ring::signature::EcdsaKeyPair::from_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &key.serialize_der(),
                &rng,
            )
            .map_err(|e| anyhow!("token key: {e}"))?,
            cert_der: cert.der().to_vec(),
        };
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let hits = Arc::new(AtomicUsize::new(0));
        let issued = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let jobs = Arc::new(Mutex::new(BTreeMap::new()));
        let access = Arc::new(Mutex::new(PackageAccess::new()));
        let job_logins = Arc::new(Mutex::new(Vec::new()));
        let (h, i, s, j) = (hits.clone(), issued.clone(), stop.clone(), jobs.clone());
        let jl = job_logins.clone();
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        h.fetch_add(1, Ordering::SeqCst);
                        let _ = serve_token(stream, &signer, &rng, &i, &j, &jl);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(TokenServer {
            port,
            cert_path,
            hits,
            issued,
            jobs,
            access,
            job_logins,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_token(
    mut stream: TcpStream,
    signer: &Signer,
    rng: &ring::rand::SystemRandom,
    issued: &Mutex<Vec<String>>,
    jobs: &Mutex<BTreeMap<String, (u8, String)>>,
    job_logins: &Mutex<Vec<(String, String)>>,
) -> Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("authorization")
        {
            authorization = Some(v.trim().to_string());
        }
    }
    let target = request_line.split(' ').nth(1).unwrap_or("/");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut scopes = Vec::new();
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("scope=") {
            scopes.push(percent_decode(v));
        }
    }
    let user = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|d| String::from_utf8(d).ok());
    // A job token: the login succeeds whatever its `packages:` level; the token
    // carries the level and the workflow's repository (claim `ghcr`) for the GHCR
    // front to judge each request. Scopes above the level are trimmed to pulls as
    // well, so a registry without the front refuses the write (401).
    let job = user
        .as_deref()
        .and_then(|up| up.split_once(':'))
        .and_then(|(_, pw)| jobs.lock().unwrap().get(pw).cloned());
    let (status, body) = match user.as_deref() {
        Some(up) if job.is_some() => {
            let (level, repository) = job.unwrap_or_default();
            if let Some((u, t)) = up.split_once(':') {
                job_logins
                    .lock()
                    .unwrap()
                    .push((u.to_string(), t.to_string()));
            }
            let may_push = level >= 2;
            let scopes: Vec<String> = scopes
                .iter()
                .filter_map(|s| match s.rsplit_once(':') {
                    Some((head, actions)) if !may_push => {
                        let kept: Vec<&str> = actions
                            .split(',')
                            .filter(|a| *a == "pull" && level >= 1)
                            .collect();
                        (!kept.is_empty()).then(|| format!("{head}:{}", kept.join(",")))
                    }
                    _ => Some(s.clone()),
                })
                .collect();
            let claim = serde_json::json!({"packages": level, "repository": repository});
            let token = sign_token(signer, rng, "job-token", &scopes, Some(claim))?;
            issued.lock().unwrap().push(token.clone());
            (
                "200 OK",
                serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                    .to_string(),
            )
        }
        Some(up) if up == format!("{USER}:{PASSWORD}") => {
            let token = sign_token(signer, rng, USER, &scopes, None)?;
            issued.lock().unwrap().push(token.clone());
            (
                "200 OK",
                serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                    .to_string(),
            )
        }
        Some(_) => (
            "401 Unauthorized",
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#.to_string(),
        ),
        // Anonymous: a token that grants nothing, as GHCR gives for private packages.
        None => {
            let token = sign_token(signer, rng, "", &[], None)?;
            issued.lock().unwrap().push(token.clone());
            (
                "200 OK",
                serde_json::json!({"token": token, "expires_in": 300}).to_string(),
            )
        }
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    Ok(())
}

fn sign_token(
    signer: &Signer,
    rng: &ring::rand::SystemRandom,
    sub: &str,
    scopes: &[String],
    ghcr: Option<serde_json::Value>,
) -> Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut access = Vec::new();
    for scope in scopes {
        // repository:name:actions (names may hold `:` only before the actions).
        let Some((kind_name, actions)) = scope.rsplit_once(':') else {
            continue;
        };
        let Some((kind, name)) = kind_name.split_once(':') else {
            continue;
        };
        access.push(serde_json::json!({
            "type": kind, "name": name,
            "actions": actions.split(',').collect::<Vec<_>>(),
        }));
    }
    let header = serde_json::json!({
        "typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&signer.cert_der)],
    });
    let jti: [u8; 8] = rand_bytes();
    let mut claims = serde_json::json!({
        "iss": ISSUER, "sub": sub, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": hex(&jti), "access": access,
    });
    if let Some(g) = ghcr {
        claims["ghcr"] = g;
    }
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signer
        .key
        .sign(rng, signing_input.as_bytes())
        .map_err(|e| anyhow!("signing: {e}"))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(sig.as_ref())
    ))
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut b = [0u8; N];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex_pair = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex_pair.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------
// Writing test images through the registry API

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// A blocking client that answers the registry's auth challenge (basic or token).
pub struct Client {
    host: String,
    creds: Option<(String, String)>,
    tokens: Mutex<HashMap<String, String>>,
}

/// A response read to the end (off the async runtime).
pub struct Resp {
    pub status: u16,
    headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    fn read(r: reqwest::blocking::Response) -> Result<Resp> {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes()?.to_vec();
        Ok(Resp {
            status,
            headers,
            body,
        })
    }
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An image written by [`Client::push_image`].
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: String,
    pub manifest: Vec<u8>,
    pub blobs: Vec<String>,
}

pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

impl Client {
    pub fn new(host: &str, creds: Option<(String, String)>) -> Client {
        Client {
            host: host.to_string(),
            creds,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn send(
        &self,
        repo: &str,
        build: impl Fn(&reqwest::blocking::Client) -> reqwest::blocking::RequestBuilder + Sync,
    ) -> Result<Resp> {
        off_runtime(|| self.send_here(repo, &build))
    }

    fn send_here(
        &self,
        repo: &str,
        build: &(dyn Fn(&reqwest::blocking::Client) -> reqwest::blocking::RequestBuilder + Sync),
    ) -> Result<Resp> {
        let scope = format!("repository:{repo}:pull,push");
        for _ in 0..2 {
            let http = http();
            let mut req = build(&http);
            if let Some(t) = self.tokens.lock().unwrap().get(&scope) {
                req = req.bearer_auth(t);
            } else if let Some((u, p)) = &self.creds {
                req = req.basic_auth(u, Some(p));
            }
            let resp = Resp::read(req.send()?)?;
            if resp.status != 401 {
                return Ok(resp);
            }
            let challenge = resp.header("www-authenticate").unwrap_or_default();
            let Some(params) = challenge.strip_prefix("Bearer ") else {
                return Ok(resp);
            };
            let get = |k: &str| {
                params
                    .split(',')
                    .find_map(|p| p.trim().strip_prefix(&format!("{k}=\"")))
                    .map(|v| v.trim_end_matches('"').to_string())
            };
            let realm = get("realm").ok_or_else(|| anyhow!("no realm in {challenge}"))?;
            let mut req = http.get(&realm).query(&[("scope", scope.as_str())]);
            if let Some(s) = get("service") {
                req = req.query(&[("service", s.as_str())]);
            }
            if let Some((u, p)) = &self.creds {
                req = req.basic_auth(u, Some(p));
            }
            let v: serde_json::Value =
                serde_json::from_slice(&req.send()?.error_for_status()?.bytes()?)?;
            let t = v["token"].as_str().ok_or_else(|| anyhow!("no token"))?;
            self.tokens
                .lock()
                .unwrap()
                .insert(scope.clone(), t.to_string());
        }
        bail!("unauthorized at {}", self.host)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }

    pub fn push_blob(&self, repo: &str, data: &[u8]) -> Result<String> {
        let digest = digest_of(data);
        let resp = self.send(repo, |c| {
            c.post(self.url(&format!("/v2/{repo}/blobs/uploads/")))
        })?;
        if resp.status != 202 {
            bail!("upload start: {} {}", resp.status, resp.text());
        }
        let loc = resp
            .header("location")
            .ok_or_else(|| anyhow!("no location"))?;
        let loc = if loc.starts_with("http") {
            loc
        } else {
            self.url(&loc)
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = format!("{loc}{sep}digest={digest}");
        let resp = self.send(repo, |c| {
            c.put(&put)
                .header("content-type", "application/octet-stream")
                .body(data.to_vec())
        })?;
        if resp.status != 201 {
            bail!("blob put: {} {}", resp.status, resp.text());
        }
        Ok(digest)
    }

    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String> {
        let resp = self.send(repo, |c| {
            c.put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
                .header("content-type", media_type)
                .body(bytes.to_vec())
        })?;
        if !resp.ok() {
            bail!("manifest put: {} {}", resp.status, resp.text());
        }
        Ok(digest_of(bytes))
    }

    /// `(content type, bytes)` of a manifest, or None if it does not exist.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<Option<(String, Vec<u8>)>> {
        let resp = self.send(repo, |c| {
            c.get(self.url(&format!("/v2/{repo}/manifests/{reference}")))
                .header("accept", format!("{OCI_INDEX}, {OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"))
        })?;
        if resp.status == 404 {
            return Ok(None);
        }
        if !resp.ok() {
            bail!("manifest get: {}", resp.status);
        }
        Ok(Some((
            resp.header("content-type").unwrap_or_default(),
            resp.body,
        )))
    }

    pub fn get_blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>> {
        let resp = self.send(repo, |c| {
            c.get(self.url(&format!("/v2/{repo}/blobs/{digest}")))
        })?;
        if !resp.ok() {
            bail!("blob get: {}", resp.status);
        }
        Ok(resp.body)
    }

    pub fn blob_exists(&self, repo: &str, digest: &str) -> Result<bool> {
        let resp = self.send(repo, |c| {
            c.head(self.url(&format!("/v2/{repo}/blobs/{digest}")))
        })?;
        Ok(resp.ok())
    }

    /// An image with `layers` layers of `layer_size` pseudo-random bytes each
    /// (`seed` makes them distinct between images), tagged `tag`.
    pub fn push_image(
        &self,
        repo: &str,
        tag: &str,
        layers: usize,
        layer_size: usize,
        seed: u64,
    ) -> Result<Pushed> {
        self.push_image_for(repo, tag, layers, layer_size, seed, "linux", "amd64")
    }

    #[allow(clippy::too_many_arguments)]
    pub fn push_image_for(
        &self,
        repo: &str,
        reference: &str,
        layers: usize,
        layer_size: usize,
        seed: u64,
        os: &str,
        arch: &str,
    ) -> Result<Pushed> {
        self.push_image_labelled(repo, reference, layers, layer_size, seed, (os, arch), &[])
    }

    /// [`Client::push_image_for`] with `labels` in the config beside `seed`
    /// (as a builder writes `LABEL` and `--label`).
    #[allow(clippy::too_many_arguments)]
    pub fn push_image_labelled(
        &self,
        repo: &str,
        reference: &str,
        layers: usize,
        layer_size: usize,
        seed: u64,
        (os, arch): (&str, &str),
        labels: &[(&str, &str)],
    ) -> Result<Pushed> {
        let mut layer_descs = Vec::new();
        let mut diff_ids = Vec::new();
        let mut blobs = Vec::new();
        for i in 0..layers {
            let data = pseudo_random(layer_size, seed.wrapping_mul(1000).wrapping_add(i as u64));
            let d = self.push_blob(repo, &data)?;
            diff_ids.push(d.clone());
            layer_descs
                .push(serde_json::json!({"mediaType": OCI_LAYER, "digest": d, "size": data.len()}));
            blobs.push(d);
        }
        let mut label_map = serde_json::Map::new();
        label_map.insert("seed".into(), seed.to_string().into());
        for (k, v) in labels {
            label_map.insert((*k).into(), (*v).into());
        }
        let config = serde_json::json!({
            "architecture": arch, "os": os,
            "config": {"Labels": label_map},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        })
        .to_string();
        let config_digest = self.push_blob(repo, config.as_bytes())?;
        blobs.push(config_digest.clone());
        let manifest = serde_json::to_vec_pretty(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": layer_descs,
        }))?;
        let digest = self.put_manifest(repo, reference, OCI_MANIFEST, &manifest)?;
        Ok(Pushed {
            digest,
            manifest,
            blobs,
        })
    }

    /// A multi-arch index (linux/amd64 and linux/arm64, one layer each) tagged `tag`.
    /// Returns the index and its two children.
    pub fn push_index(&self, repo: &str, tag: &str, seed: u64) -> Result<(Pushed, Vec<Pushed>)> {
        let mut children = Vec::new();
        let mut entries = Vec::new();
        for (i, arch) in ["amd64", "arm64"].into_iter().enumerate() {
            let child = self.push_image_for(
                repo,
                &format!("{tag}-{arch}"),
                1,
                2048,
                seed * 10 + i as u64,
                "linux",
                arch,
            )?;
            entries.push(serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": child.digest, "size": child.manifest.len(),
                "platform": {"architecture": arch, "os": "linux"},
            }));
            children.push(child);
        }
        let index = serde_json::to_vec_pretty(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
        }))?;
        let digest = self.put_manifest(repo, tag, OCI_INDEX, &index)?;
        let blobs = children.iter().flat_map(|c| c.blobs.clone()).collect();
        Ok((
            Pushed {
                digest,
                manifest: index,
                blobs,
            },
            children,
        ))
    }
}

/// A blocking client of its own. reqwest's blocking client panics when created or
/// dropped inside an async runtime, and the tests are async: each call of [`Client`]
/// runs on a thread of its own (see [`off_runtime`]).
fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// Run `f` on a plain thread, outside any async runtime.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    thread::scope(|s| s.spawn(f).join().expect("testkit client thread panicked"))
}

/// Deterministic incompressible bytes (xorshift).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    if x == 0 {
        x = 1;
    }
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

// ---------------------------------------------------------------------------
// Hostile servers

/// A TCP server answering every connection with `reply` and closing it.
pub struct JunkServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl JunkServer {
    pub fn start(reply: &'static [u8]) -> Result<JunkServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
                        let mut buf = [0u8; 4096];
                        let _ = c.read(&mut buf);
                        let _ = c.write_all(reply);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Ok(JunkServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for JunkServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A TCP proxy in front of `target` that cuts every connection once it has sent
/// `cut_after` bytes back to the client: a registry dying mid-transfer.
pub struct CutProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl CutProxy {
    pub fn start(target: &str, cut_after: usize) -> Result<CutProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let target = target.to_string();
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&target) else {
                            continue;
                        };
                        let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                        thread::spawn(move || {
                            let _ = std::io::copy(&mut { c2 }, &mut { s2 });
                        });
                        thread::spawn(move || {
                            let (mut client, mut server) = (client, server);
                            let mut sent = 0;
                            let mut buf = [0u8; 8192];
                            loop {
                                let n = match server.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                                let n = n.min(cut_after - sent);
                                if client.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                                sent += n;
                                if sent >= cut_after {
                                    break;
                                }
                            }
                            let _ = client.shutdown(std::net::Shutdown::Both);
                            let _ = server.shutdown(std::net::Shutdown::Both);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Ok(CutProxy {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines() {
        let l = r#"127.0.0.1 - - [22/Nov/2026:18:56:10 +0000] "PUT /v2/a/b/manifests/t HTTP/1.1" 201 0 "" "ua""#;
        assert_eq!(
            parse_access_line(l),
            Some(LoggedRequest {
                method: "PUT".into(),
                path: "/v2/a/b/manifests/t".into(),
                status: 201
            })
        );
        assert_eq!(
            percent_decode("repository%3Aa%2Fb%3Apull%2Cpush"),
            "repository:a/b:pull,push"
        );
    }
}

/// An HTTP proxy in front of a registry that injects [`Fault`]s on the nth request
/// matching a method and path (`PUT` + `/manifests/`, …). Everything else is passed
/// through as is, `Host` included, so the registry's `Location`s point here.
///
/// [`Fault`]: crate::fault::Fault
pub struct FaultProxy {
    addr: SocketAddr,
    rules: Arc<Mutex<crate::fault::Rules>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FaultProxy {
    pub fn start(target: &str) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let rules = Arc::new(Mutex::new(crate::fault::Rules::default()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let st = ProxyState {
            target: target.to_string(),
            rules: rules.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        };
        let thread = thread::Builder::new()
            .name("registry-fault-proxy".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = axum::Router::new().fallback(proxy).with_state(st);
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stop_rx => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(FaultProxy {
            addr,
            rules,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `host:port` to name images by.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn inject(&self, fault: crate::fault::Fault) {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .arm(fault);
    }

    pub fn faults_fired(&self) -> usize {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).fired()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Clone)]
struct ProxyState {
    target: String,
    rules: Arc<Mutex<crate::fault::Rules>>,
    http: reqwest::Client,
}

async fn proxy(
    axum::extract::State(st): axum::extract::State<ProxyState>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use crate::fault::FaultKind;
    use axum::response::IntoResponse as _;
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let kind = st
        .rules
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .hit(&method, &path);
    // The distribution spec's error envelope.
    let refuse = |status: u16, code: &str, retry: bool| {
        let body = serde_json::json!({"errors": [{"code": code, "message": "injected fault", "detail": null}]});
        let mut r = (
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
            axum::Json(body),
        )
            .into_response();
        if retry {
            r.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        r
    };
    match kind {
        Some(FaultKind::Status(s)) => return refuse(s, "UNAVAILABLE", false),
        Some(FaultKind::PrimaryRateLimit | FaultKind::SecondaryRateLimit) => {
            return refuse(429, "TOOMANYREQUESTS", true);
        }
        Some(FaultKind::DropBefore) => return crate::fault::drop_connection(),
        _ => {}
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return refuse(400, "BAD_REQUEST", false);
    };
    let url = format!(
        "http://{}{}",
        st.target,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut fwd = st.http.request(parts.method.clone(), &url).body(body);
    for (k, v) in parts.headers.iter() {
        fwd = fwd.header(k, v);
    }
    let resp = match fwd.send().await {
        Ok(r) => r,
        Err(_) => return refuse(502, "UNAVAILABLE", false),
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap_or_default();
    match kind {
        Some(FaultKind::LostAnswer) => refuse(502, "UNAVAILABLE", false),
        Some(FaultKind::DropAfter) => crate::fault::drop_connection(),
        _ => {
            let mut r = axum::response::Response::new(axum::body::Body::from(bytes));
            *r.status_mut() = status;
            for (k, v) in headers.iter() {
                if k != "transfer-encoding" && k != "connection" {
                    r.headers_mut().append(k, v.clone());
                }
            }
            r
        }
    }
}

//! Trust boundaries: a hostile repository (links, special files,
//! control characters in every text we read) and hostile inputs, through the real
//! binary. Each case asserts the exit code, the message, that nothing outside the
//! workspace changed, and that no printed line is a workflow command we didn't
//! mean.
//!
//! The runner's rule (`actions/runner`, `src/Runner.Worker/Handlers/OutputManager.cs`
//! `OnDataReceived` and `src/Runner.Common/ActionCommand.cs` `TryParseV2`/`TryParse`):
//! stdout *and* stderr are scanned; a line that, left-trimmed, starts with `::`, or
//! holds `##[`, is a command. Lines are split on `\n` and `\r`.

use crate::util::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Workflow commands we mean to print: annotations, masks, groups.
const OURS: &[&str] = &[
    "::error ",
    "::error::",
    "::warning::",
    "::notice::",
    "::add-mask::",
    "::group::",
    "::endgroup::",
];

/// No line of stdout is a command other than ours, and none of stderr is one.
fn assert_no_foreign_commands(run: &Run) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        for line in text.split(['\n', '\r']) {
            let l = line.trim_start();
            assert!(
                !line.contains("##["),
                "{stream}: {line:?}\n{}",
                run.transcript()
            );
            if !l.starts_with("::") {
                continue;
            }
            assert!(
                stream == "stdout" && OURS.iter().any(|o| l.starts_with(o)),
                "{stream} line would be read as a command: {line:?}\n{}",
                run.transcript()
            );
        }
    }
}

/// A file outside the workspace, to prove nothing wrote to it.
struct Outside {
    dir: tempfile::TempDir,
}

const OUTSIDE_TEXT: &str = "images:\n  - name: ghcr.io/acme/hello\n    newTag: untouched\n";

impl Outside {
    fn new() -> Outside {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kustomization.yaml"), OUTSIDE_TEXT).unwrap();
        Outside { dir }
    }
    fn file(&self) -> std::path::PathBuf {
        self.dir.path().join("kustomization.yaml")
    }
    fn assert_untouched(&self) {
        assert_eq!(std::fs::read_to_string(self.file()).unwrap(), OUTSIDE_TEXT);
        let names: Vec<_> = std::fs::read_dir(self.dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left outside");
    }
}

/// The runner's owner variable: the default image of a service is under it.
fn cli(ws: &Workspace, args: &[&str]) -> Run {
    let mut c = ws.cmd();
    c.env("GITHUB_REPOSITORY_OWNER", "acme").args(args);
    Run::from(c.output().unwrap())
}

fn action_run(ws: &Workspace, inputs: &[(&str, &str)]) -> Run {
    let mut c = ws.action();
    c.env("GITHUB_REPOSITORY_OWNER", "acme");
    for (k, v) in inputs {
        c.env(format!("INPUT_{}", k.to_uppercase()), v);
    }
    Run::from(c.output().unwrap())
}

fn set_image(ws: &Workspace) -> Run {
    action_run(
        ws,
        &[
            ("command", "set-image"),
            ("env", "dev"),
            ("service", "hello"),
            ("tag", "v9"),
        ],
    )
}

/// Finding 1: an overlay file that links out is refused, not written through;
/// with no config file at all (the default `overlays/<env>` path).
#[test]
fn a_linked_overlay_file_is_refused_and_its_target_untouched() {
    let outside = Outside::new();
    let ws = Workspace::empty();
    std::fs::create_dir_all(ws.path().join("overlays/dev")).unwrap();
    std::os::unix::fs::symlink(
        outside.file(),
        ws.path().join("overlays/dev/kustomization.yaml"),
    )
    .unwrap();
    for run in [set_image(&ws), action_run(&ws, &[("command", "status")])] {
        let run = run.expect(2);
        assert!(
            run.stderr.contains(
                "error: `overlays/dev/kustomization.yaml` is a symbolic link, not a regular file"
            ),
            "{}",
            run.transcript()
        );
        assert!(run.stderr.contains("hint: "), "{}", run.stderr);
        assert_no_foreign_commands(&run);
        outside.assert_untouched();
    }
    // The CLI too (the explicit `--env` path, no Actions).
    let run = cli(
        &ws,
        &[
            "set-image",
            "--env",
            "dev",
            "--service",
            "hello",
            "--tag",
            "v9",
        ],
    )
    .expect(2);
    assert!(run.stderr.contains("is a symbolic link"), "{}", run.stderr);
    outside.assert_untouched();
}

/// Finding 1: a linked overlay folder that leads out is refused.
#[test]
fn a_linked_overlay_folder_leading_out_is_refused() {
    let outside = Outside::new();
    let ws = Workspace::empty();
    std::fs::create_dir_all(ws.path().join("overlays")).unwrap();
    std::os::unix::fs::symlink(outside.dir.path(), ws.path().join("overlays/dev")).unwrap();
    let run = set_image(&ws).expect(2);
    assert!(
        run.stderr.contains(
            "error: `overlays/dev/kustomization.yaml` leads outside the repository through a symbolic link"
        ),
        "{}",
        run.transcript()
    );
    assert_no_foreign_commands(&run);
    outside.assert_untouched();
    // An explicit `overlay:` in the config is checked the same way.
    ws.write(
        ".github/gitops.yaml",
        "services:\n  hello:\n    image: ghcr.io/acme/hello\nenvironments:\n  - name: dev\n    branches: [\"**\"]\n    tag: \"{sha7}\"\n    overlay: deploy/dev\n",
    );
    std::fs::create_dir_all(ws.path().join("deploy")).unwrap();
    std::os::unix::fs::symlink(outside.dir.path(), ws.path().join("deploy/dev")).unwrap();
    let run = set_image(&ws).expect(2);
    assert!(
        run.stderr.contains("leads outside the repository"),
        "{}",
        run.transcript()
    );
    outside.assert_untouched();
}

/// Finding 7: a config linked to `/dev/zero` and a FIFO overlay end at once with
/// exit 2, instead of eating memory or hanging.
#[test]
fn special_files_are_refused_without_hanging() {
    let ws = Workspace::empty();
    std::fs::create_dir_all(ws.path().join(".github")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", ws.path().join(".github/gitops.yaml")).unwrap();
    let run = action_run(&ws, &[("command", "status")]).expect(2);
    assert!(
        run.stderr
            .contains("error: `.github/gitops.yaml` is a symbolic link, not a regular file"),
        "{}",
        run.transcript()
    );
    std::fs::remove_file(ws.path().join(".github/gitops.yaml")).unwrap();

    std::fs::create_dir_all(ws.path().join("overlays/dev")).unwrap();
    let fifo = ws.path().join("overlays/dev/kustomization.yaml");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let mut c = ws.action();
    c.env("INPUT_COMMAND", "status")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
        panic!("status hung on a FIFO overlay");
    }
    let run = Run::from(child.wait_with_output().unwrap()).expect(2);
    assert!(
        run.stderr.contains(
            "error: `overlays/dev/kustomization.yaml` is a FIFO (named pipe), not a regular file"
        ),
        "{}",
        run.transcript()
    );
    assert_no_foreign_commands(&run);
}

const INJECTION: &str = r#"v1\n::warning title=x::y\n::stop-commands::abc"#;

/// Finding 2: a value with control characters in an overlay is refused with its
/// place, by every command that reads it; nothing reaches the runner as a command.
#[test]
fn control_characters_in_an_overlay_are_refused_with_their_place() {
    let ws = Workspace::empty();
    ws.write(
        "overlays/dev/kustomization.yaml",
        &format!("images:\n  - name: ghcr.io/acme/hello\n    newTag: \"{INJECTION}\"\n"),
    );
    let before = ws.read("overlays/dev/kustomization.yaml");
    for run in [
        action_run(&ws, &[("command", "status")]),
        set_image(&ws),
        cli(&ws, &["status"]),
    ] {
        let run = run.expect(2);
        assert!(
            run.stderr.contains(
                "error: overlays/dev/kustomization.yaml:3:13: `newTag` of an image entry holds a control character (\\u{a})"
            ),
            "{}",
            run.transcript()
        );
        assert_no_foreign_commands(&run);
    }
    assert_eq!(ws.read("overlays/dev/kustomization.yaml"), before);
}

/// Finding 2: config values reach printed lines through `codeowners` and others;
/// one with a newline is refused with its place.
#[test]
fn control_characters_in_the_config_are_refused_with_their_place() {
    let ws = Workspace::example();
    let config = ws.read(".github/gitops.yaml").replace(
        r#"reviewers: ["acme/qa"]"#,
        r#"reviewers: ["acme/qa\n::warning::owned"]"#,
    );
    ws.write(".github/gitops.yaml", &config);
    let line = config.lines().position(|l| l.contains("owned")).unwrap() + 1;
    let run = action_run(&ws, &[("command", "codeowners")]).expect(2);
    assert!(
        run.stderr.contains(&format!(
            "error: .github/gitops.yaml:{line}:17: a value holds a control character (\\u{{a}})"
        )),
        "{}",
        run.transcript()
    );
    assert_no_foreign_commands(&run);
}

/// Finding 2: an input with a newline is echoed in the error on stderr; that line
/// must not become a command (the runner scans stderr too).
#[test]
fn an_input_with_a_newline_cannot_start_a_command() {
    let ws = Workspace::example();
    let run = action_run(
        &ws,
        &[
            ("command", "resolve"),
            (
                "ref",
                "main\n::warning title=x::injected\n::stop-commands::abc",
            ),
        ],
    )
    .expect(2);
    assert!(
        run.stderr.contains("is not a valid git ref"),
        "{}",
        run.transcript()
    );
    assert!(
        run.stderr.contains("> ::warning title=x::injected"),
        "{}",
        run.stderr
    );
    assert_no_foreign_commands(&run);
    // Our own annotation still comes through, escaped.
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("::error title=gitops-action::") && l.contains("%0A")),
        "{}",
        run.stdout
    );
}

/// Finding 4: a secret with a stray line end is trimmed and masked exactly; one
/// with a control character inside is refused without a panic or its value.
#[test]
fn secrets_are_trimmed_masked_exactly_and_never_panic() {
    let ws = Workspace::example();
    let secret = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
    let run = action_run(
        &ws,
        &[("command", "status"), ("token", &format!("{secret}\n"))],
    )
    .expect(0);
    assert!(
        run.stdout
            .lines()
            .any(|l| l == format!("::add-mask::{secret}")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("%0A"), "{}", run.stdout);
    let run = ws
        .cmd()
        .env("GITHUB_TOKEN", format!("ghp_01234\n{secret}"))
        .arg("status")
        .output()
        .map(Run::from)
        .unwrap()
        .expect(2);
    assert!(
        run.stderr.contains(
            "error: the `token` input holds a control character at byte 9 (its value is not shown)"
        ),
        "{}",
        run.transcript()
    );
    assert!(!run.stderr.contains(secret), "{}", run.stderr);
    assert!(!run.stdout.contains(secret), "{}", run.stdout);
}

/// Finding 8: a non-ASCII digest used to make `status` slice inside a character
/// (exit 134). It is shown, cut on characters.
#[test]
fn a_non_ascii_digest_does_not_panic_status() {
    let ws = Workspace::empty();
    ws.write(
        "overlays/dev/kustomization.yaml",
        "images:\n  - name: ghcr.io/acme/hello\n    newTag: v1\n    digest: \"sha256:ééééééééééééééé\"\n",
    );
    let run = cli(&ws, &["status"]).expect(0);
    assert!(
        run.stdout.contains("v1@sha256:éééééééééééé"),
        "{}",
        run.stdout
    );
}

/// Every overlay write lands inside the workspace: a regular overlay is still
/// edited (the guard refuses only what it must).
#[test]
fn a_regular_overlay_is_still_edited() {
    let ws = Workspace::empty();
    ws.write(
        "overlays/dev/kustomization.yaml",
        "images:\n  - name: ghcr.io/acme/hello\n    newTag: v1\n",
    );
    let run = set_image(&ws).expect(0);
    assert_no_foreign_commands(&run);
    assert!(
        ws.read("overlays/dev/kustomization.yaml")
            .contains("newTag: v9")
    );
    assert!(!Path::new(&ws.path().join("overlays/dev/kustomization.yaml")).is_symlink());
}

/// Finding 9: a `GITHUB_OUTPUT` that is a directory is named, and found before
/// the overlay is written (it used to stop with exit 1, no path, after it).
#[test]
fn an_unwritable_github_output_is_named_before_anything_changes() {
    let ws = Workspace::empty();
    ws.write(
        "overlays/dev/kustomization.yaml",
        "images:\n  - name: ghcr.io/acme/hello\n    newTag: v1\n",
    );
    let out = ws.path().join("outdir");
    std::fs::create_dir(&out).unwrap();
    let mut c = ws.action();
    c.env("GITHUB_REPOSITORY_OWNER", "acme")
        .env("GITHUB_OUTPUT", &out)
        .env("INPUT_COMMAND", "set-image")
        .env("INPUT_ENV", "dev")
        .env("INPUT_SERVICE", "hello")
        .env("INPUT_TAG", "v9");
    let run = Run::from(c.output().unwrap()).expect(1);
    assert!(
        run.stderr.contains(&format!(
            "error: `GITHUB_OUTPUT` (`{}`) is a directory, so the step's results cannot be written",
            out.display()
        )),
        "{}",
        run.transcript()
    );
    assert!(
        ws.read("overlays/dev/kustomization.yaml")
            .contains("newTag: v1")
    );
}

/// Finding 9: a `verify-url` with `user:password@` would be printed and posted as
/// the deployment's `environment_url`; it is refused, and its value not shown.
#[test]
fn a_verify_url_with_credentials_is_refused_without_showing_it() {
    let ws = Workspace::example();
    let run = action_run(
        &ws,
        &[
            ("command", "deploy"),
            ("service", "hello"),
            ("env", "dev"),
            ("dry-run", "true"),
            (
                "verify-url",
                "https://ops:hunter2-pw@dev.example.com/healthz",
            ),
        ],
    )
    .expect(2);
    assert!(
        run.stderr.contains(
            "error: input `verify-url` carries credentials (`user:…@`); its value is not shown"
        ),
        "{}",
        run.transcript()
    );
    assert!(!run.stderr.contains("hunter2") && !run.stdout.contains("hunter2"));
    assert_no_foreign_commands(&run);
}

// ---------------------------------------------------------------------------
// Hostile servers: a tiny HTTP/1.1 server per case, recording what it was sent.

/// One request as received: method, path, and the `Authorization` header.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    auth: Option<String>,
}

type Reply = (u16, Vec<(String, String)>, Vec<u8>);

/// Serve `answer` on 127.0.0.1 (keep-alive, `Content-Length` bodies), logging
/// every request. Returns the `host:port` and the log.
fn serve(
    answer: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let answer = std::sync::Arc::new(answer);
    let l2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (log, answer) = (l2.clone(), answer.clone());
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let (method, path) = (
                        parts.next().unwrap_or("").to_string(),
                        parts.next().unwrap_or("").to_string(),
                    );
                    let (mut len, mut auth) = (0usize, None);
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap_or((h, ""));
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => len = v.trim().parse().unwrap_or(0),
                            "authorization" => auth = Some(v.trim().to_string()),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let seen = Seen { method, path, auth };
                    log.lock().unwrap().push(seen.clone());
                    let (code, headers, body) = answer(&seen);
                    let mut resp =
                        format!("HTTP/1.1 {code} X\r\nContent-Length: {}\r\n", body.len());
                    for (k, v) in headers {
                        resp.push_str(&format!("{k}: {v}\r\n"));
                    }
                    resp.push_str("\r\n");
                    if w.write_all(resp.as_bytes()).is_err()
                        || (seen.method != "HEAD" && w.write_all(&body).is_err())
                    {
                        return;
                    }
                }
            });
        }
    });
    (host, log)
}

fn retag(src: &str, dst: &str, action: bool) -> Run {
    let ws = Workspace::empty();
    let mut c = if action { ws.action() } else { ws.cmd() };
    c.args([
        "retag",
        src,
        dst,
        "--registry-username",
        "bot",
        "--registry-password",
        "pw-4f9d2c7e1a",
    ]);
    Run::from(c.output().unwrap())
}

/// Finding 3: a token realm on another site, over plain HTTP, gets nothing: the
/// run stops before sending, and the registry never saw the password either.
#[test]
fn a_plain_http_realm_on_another_site_gets_no_credentials() {
    let (host, log) = serve(|_| {
        (
            401,
            vec![(
                "WWW-Authenticate".into(),
                r#"Bearer realm="http://collector.invalid/token",service="x""#.into(),
            )],
            vec![],
        )
    });
    let run = retag(
        &format!("{host}/acme/hello:1"),
        &format!("{host}/acme/hello:2"),
        true,
    )
    .expect(1);
    assert!(
        run.stderr.contains(&format!(
            "registry `{host}` asks for credentials at `http://collector.invalid/token`, which is not HTTPS; nothing was sent there"
        )),
        "{}",
        run.transcript()
    );
    assert!(log.lock().unwrap().iter().all(|s| s.auth.is_none()));
    assert!(!run.stderr.contains("pw-4f9d2c7e1a"));
    assert_no_foreign_commands(&run);
}

/// Finding 2: a registry's error body is printed in the error; one carrying
/// workflow commands is shown, defused, on stderr, and escaped in `::error`.
#[test]
fn a_registry_error_body_cannot_start_a_command() {
    let (host, _log) = serve(|_| {
        (
            500,
            vec![("Content-Type".into(), "application/json".into())],
            br#"{"errors":[{"code":"X","message":"boom\n::warning title=x::from the registry\n::add-mask::abc\n##[error]legacy"}]}"#.to_vec(),
        )
    });
    let run = retag(
        &format!("{host}/acme/hello:1"),
        &format!("{host}/acme/hello:2"),
        true,
    )
    .expect(1);
    assert!(
        run.stderr
            .contains("> ::warning title=x::from the registry"),
        "{}",
        run.transcript()
    );
    assert_no_foreign_commands(&run);
}

/// Finding 3: an upload `Location` on another origin (a storage service's
/// presigned URL) gets no `Authorization`; the registry's own requests do.
#[test]
fn an_upload_location_on_another_origin_gets_no_authorization() {
    use gitops_testkit::registry::{Auth, TestRegistry};
    let src = TestRegistry::start(Auth::None).unwrap();
    src.client()
        .push_image("acme/hello", "sha-w", 2, 1000, 5)
        .unwrap();
    let (storage, storage_log) = serve(|_| (201, vec![], vec![]));
    let (dst, dst_log) = serve(move |s| {
        if s.auth.is_none() {
            return (
                401,
                vec![("WWW-Authenticate".into(), r#"Basic realm="fake""#.into())],
                vec![],
            );
        }
        match (s.method.as_str(), s.path.as_str()) {
            ("POST", p) if p.contains("/blobs/uploads/") => (
                202,
                vec![(
                    "Location".into(),
                    format!("http://{storage}/bucket/upload?X-Amz-Signature=abc"),
                )],
                vec![],
            ),
            ("PUT", p) if p.contains("/manifests/") => (201, vec![], vec![]),
            _ => (404, vec![], vec![]),
        }
    });
    let run = retag(
        &format!("{}/acme/hello:sha-w", src.host()),
        &format!("{dst}/mirror/hello:sha-w"),
        false,
    )
    .expect(0);
    let uploads = storage_log.lock().unwrap().clone();
    assert_eq!(
        uploads.len(),
        3,
        "config and two layers: {uploads:?}\n{}",
        run.transcript()
    );
    assert!(
        uploads
            .iter()
            .all(|s| s.method == "PUT" && s.auth.is_none()),
        "{uploads:?}"
    );
    // The registry itself got the credentials, tied to it.
    let seen = dst_log.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|s| s.auth.as_deref().is_some_and(|a| a.starts_with("Basic ")))
    );
}

/// Regression (found by the container test): `--version`, `--help` and clap's
/// own errors exit inside clap; in Actions the output filter must be drained
/// first, or what they print is lost.
#[test]
fn clap_exits_still_print_in_actions() {
    let ws = Workspace::empty();
    let run = Run::from(ws.action().arg("--version").output().unwrap()).expect(0);
    assert!(
        run.stdout.starts_with("gitops-action "),
        "{}",
        run.transcript()
    );
    let run = Run::from(ws.action().arg("--no-such-flag").output().unwrap()).expect(2);
    assert!(
        run.stderr.contains("--no-such-flag"),
        "{}",
        run.transcript()
    );
}

// ---------------------------------------------------------------------------
// Hostile git servers: git's HTTP transport (`src/git/transport.rs`) against a
// server that stalls, redirects away or answers with commands in its error body.

const GIT_TOKEN: &str = "ghs_gitTokenOfThisTest00000000000000000";

/// `release` in Actions with its remote at `server` (`GITHUB_SERVER_URL`, no
/// checkout, base `main`): the rules are read from the base branch first, so a fetch
/// is the first thing it does. `GITOPS_GIT_TIMEOUT=1`.
fn release_against(server: &str) -> (Run, Duration) {
    let ws = Workspace::example();
    let mut c = ws.action();
    c.env("GITHUB_REPOSITORY_OWNER", "acme")
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_SERVER_URL", server)
        .env("GITHUB_API_URL", "http://127.0.0.1:9/api")
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITOPS_GIT_TIMEOUT", "1")
        .env("INPUT_COMMAND", "release")
        .env("INPUT_SERVICE", "hello")
        .env("INPUT_ENV", "dev")
        .env("INPUT_BASE", "main")
        // The git transport is what these tests aim at (`commit-via: api` reads
        // the base through GitHub's API and never speaks git on the way out).
        .env("INPUT_COMMIT-VIA", "git")
        .env("INPUT_TOKEN", GIT_TOKEN);
    let start = Instant::now();
    let out = c.output().unwrap();
    (Run::from(out), start.elapsed())
}

/// Accept connections on 127.0.0.1 and hold them open; `greet` is written after the
/// request head (nothing when empty). Returns `host:port`.
fn stalling_server(greet: &'static str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            if !greet.is_empty() {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let _ = conn.write_all(greet.as_bytes());
            }
            held.push(conn);
        }
    });
    host
}

/// A git server that accepts and never answers, and one that sends its
/// headers and then nothing, are given up on after the read limit: exit 1, the
/// remote and what timed out named, a hint, no token.
#[test]
fn a_git_server_that_stalls_is_given_up_on() {
    for greet in [
        "",
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\nContent-Length: 4000\r\n\r\n001e# service=git-upload-pack\n",
    ] {
        let host = stalling_server(greet);
        let (run, took) = release_against(&format!("http://{host}"));
        let run = run.expect(1);
        eprintln!(
            "stalled ({} bytes sent): gave up after {took:?}",
            greet.len()
        );
        assert!(
            took < Duration::from_secs(8),
            "took {took:?}\n{}",
            run.transcript()
        );
        let remote = format!("`http://{host}/acme/app.git`");
        let error = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("no error line\n{}", run.transcript()));
        assert!(error.contains(&remote), "{}", run.transcript());
        assert!(
            error.contains("no data from the server for 1 s"),
            "{}",
            run.transcript()
        );
        assert!(
            error.contains("/acme/app.git/info/refs?service=git-upload-pack`"),
            "{}",
            run.transcript()
        );
        assert!(
            run.stderr
                .contains("hint: the git server stopped answering; try again later, or allow it longer with `GITOPS_GIT_TIMEOUT` (seconds without data, now 1)"),
            "{}",
            run.transcript()
        );
        assert_token_only_masked(&run);
        assert_no_foreign_commands(&run);
        eprintln!("{}", run.transcript());
    }
}

/// The token shows up only in its `::add-mask::`.
fn assert_token_only_masked(run: &Run) {
    assert!(!run.stderr.contains(GIT_TOKEN), "{}", run.transcript());
    assert!(
        run.stdout
            .lines()
            .filter(|l| l.contains(GIT_TOKEN))
            .all(|l| l == format!("::add-mask::{GIT_TOKEN}")),
        "{}",
        run.transcript()
    );
}

/// A git redirect to another origin is not followed, and the token never
/// goes there; the error names both URLs.
#[test]
fn a_git_redirect_to_another_origin_is_not_followed() {
    let (elsewhere, elsewhere_log) = serve(|_| (200, vec![], vec![]));
    let target = format!("http://{elsewhere}/acme/app.git/info/refs?service=git-upload-pack");
    let (host, log) = serve(move |_| (301, vec![("Location".into(), target.clone())], vec![]));
    let (run, _) = release_against(&format!("http://{host}"));
    let run = run.expect(1);
    assert!(
        run.stderr.contains(&format!(
            "`http://{host}/acme/app.git/info/refs?service=git-upload-pack` redirects to `http://{elsewhere}/acme/app.git/info/refs?service=git-upload-pack`, on another origin: not followed"
        )),
        "{}",
        run.transcript()
    );
    assert!(elsewhere_log.lock().unwrap().is_empty());
    // The origin itself got the token (it is `GITHUB_SERVER_URL`).
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .all(|s| s.auth.as_deref().is_some_and(|a| a.starts_with("Basic ")))
    );
    assert_token_only_masked(&run);
}

/// A git server's error body is untrusted text: one line of it, scrubbed,
/// and no workflow command reaches the runner; a 503 is tried again, a 403 is not.
#[test]
fn a_git_error_body_cannot_start_a_command() {
    for (code, tries) in [(503u16, 5usize), (403, 1)] {
        let body = format!("boom {GIT_TOKEN}\n::warning title=x::from git\n##[error]legacy\n");
        let (host, log) = serve(move |_| (code, vec![], body.clone().into_bytes()));
        let (run, _) = release_against(&format!("http://{host}"));
        let run = run.expect(1);
        assert!(
            run.stderr.contains(&format!(
                "unexpected http status code: {code} (boom *** ::warning title=x::from git"
            )),
            "{}",
            run.transcript()
        );
        assert_token_only_masked(&run);
        assert_eq!(log.lock().unwrap().len(), tries, "{}", run.transcript());
        assert_no_foreign_commands(&run);
    }
}

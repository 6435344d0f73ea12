//! git smart HTTP through `git http-backend` as a CGI: token auth like GitHub's
//! (`x-access-token:<token>` or any user with the token as password), bodies streamed
//! both ways, gzip request bodies left to http-backend, which inflates them.

use std::process::Stdio;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{Request, RequestKind, Shared, api};

/// `/{owner}/{repo}(.git)/(info/refs|git-upload-pack|git-receive-pack|HEAD|objects/…)`.
pub fn is_git_path(path: &str) -> bool {
    split(path).is_some()
}

/// (owner, repo without `.git`, rest after the repo).
fn split(path: &str) -> Option<(String, String, String)> {
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    let owner = parts.next()?;
    let repo = parts.next()?;
    let rest = parts.next()?;
    let known = rest == "info/refs"
        || rest == "git-upload-pack"
        || rest == "git-receive-pack"
        || rest == "HEAD"
        || rest.starts_with("objects/");
    if owner.is_empty() || repo.is_empty() || !known {
        return None;
    }
    Some((
        owner.to_string(),
        repo.trim_end_matches(".git").to_string(),
        rest.to_string(),
    ))
}

fn token_of(req: &axum::extract::Request) -> Option<String> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (user, pass) = text.split_once(':')?;
            // GitHub takes the token as the password, or as the user with no password.
            Some(if pass.is_empty() { user } else { pass }.to_string())
        }
        "bearer" | "token" => Some(rest.trim().to_string()),
        _ => None,
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, text.to_string()).into_response()
}

pub async fn handle(state: Shared, req: axum::extract::Request) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let logged = if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    };
    let resp = serve(&state, req, &path, &query).await;
    let status = resp.status().as_u16();
    state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .log
        .push(Request {
            kind: RequestKind::Git,
            method,
            path: logged,
            status,
            op: String::new(),
        });
    resp
}

async fn serve(state: &Shared, req: axum::extract::Request, path: &str, query: &str) -> Response {
    let Some((owner, repo, rest)) = split(path) else {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    let full = format!("{owner}/{repo}");
    let pushing = rest == "git-receive-pack" || query.contains("service=git-receive-pack");
    let token = token_of(&req);
    let (root, grants, exists, private) = {
        let st = state.lock().unwrap_or_else(|e| e.into_inner());
        let grants = token.as_ref().and_then(|t| st.tokens.get(t)).cloned();
        let private = st.repos.get(&full).is_none_or(|r| r.settings.private);
        (
            st.root.clone(),
            grants,
            st.repos.contains_key(&full),
            private,
        )
    };
    let Some(grants) = grants else {
        let mut r = plain(
            StatusCode::UNAUTHORIZED,
            "Invalid username or token. Password authentication is not supported for Git operations.\n",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"GitHub\""),
        );
        return r;
    };
    // Without `contents: read` a private repository's git answers as if it did not
    // exist (`remote: Repository not found.`: Azure/login#169,
    // expo/expo-github-action#226, dokimos-dev/dokimos#145; permissions.md, Reads).
    if !exists || !grants.sees(&full) || (private && !grants.contents_read) {
        return plain(StatusCode::NOT_FOUND, "Repository not found.\n");
    }
    if pushing && !grants.contents_write {
        return plain(
            StatusCode::FORBIDDEN,
            &format!(
                "Permission to {full}.git denied to {}.\n",
                grants.user_login
            ),
        );
    }

    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let headers = req.headers().clone();
    let header_str = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let encoding = header_str("content-encoding");
    let protocol = header_str("git-protocol");
    let length = header_str("content-length");
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{owner}/{repo}.git/{rest}"))
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", req.method().as_str())
        .env("CONTENT_TYPE", &content_type)
        .env("REMOTE_USER", &grants.user_login)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env(
            "STANDIN_RULES_URL",
            format!(
                "{}/{full}/rules",
                state.lock().unwrap_or_else(|e| e.into_inner()).base_url
            ),
        )
        .env(
            "STANDIN_WORKFLOWS",
            if grants.workflows { "1" } else { "0" },
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(e) = &encoding {
        cmd.env("HTTP_CONTENT_ENCODING", e);
    }
    if let Some(p) = &protocol {
        cmd.env("HTTP_GIT_PROTOCOL", p);
    }
    if let Some(len) = length {
        cmd.env("CONTENT_LENGTH", len);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("git http-backend: {e}"),
            );
        }
    };
    let mut stdin = child.stdin.take();
    let mut body = req.into_body().into_data_stream();
    let feed = async move {
        if let Some(w) = stdin.as_mut() {
            while let Some(chunk) = body.next().await {
                let Ok(chunk) = chunk else { break };
                if w.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let _ = w.shutdown().await;
        }
        drop(stdin);
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    tokio::spawn(feed);
    let Some(stdout) = stdout else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "no stdout");
    };
    if let Some(mut err) = stderr {
        // Drain stderr so a chatty backend never blocks on a full pipe.
        tokio::spawn(async move {
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut err, &mut sink).await;
        });
    }
    let mut reader = BufReader::new(stdout);
    let mut status = StatusCode::OK;
    let mut builder = Response::builder();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            let code = v.split_whitespace().next().and_then(|c| c.parse().ok());
            status = code
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else {
            builder = builder.header(k, v);
        }
    }
    let after_push = rest == "git-receive-pack";
    let st2 = state.clone();
    let stream = tokio_util::io::ReaderStream::new(reader);
    // The child lives until its output is read; afterwards, a push may have satisfied
    // or broken pending auto-merges and moved PR heads.
    let tail = futures_util::stream::once(async move {
        let _ = child.wait().await;
        if after_push {
            let _ = tokio::task::spawn_blocking(move || {
                let mut st = st2.lock().unwrap_or_else(|e| e.into_inner());
                let _ = api::settle(&mut st);
            })
            .await;
        }
        Ok::<_, std::io::Error>(bytes_empty())
    })
    .filter(|b: &Result<axum::body::Bytes, std::io::Error>| {
        std::future::ready(b.as_ref().map(|b| !b.is_empty()).unwrap_or(true))
    });
    let body = Body::from_stream(stream.chain(tail));
    builder
        .status(status)
        .body(body)
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "bad CGI headers"))
}

fn bytes_empty() -> axum::body::Bytes {
    axum::body::Bytes::new()
}

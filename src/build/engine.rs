//! The two things bollard doesn't hand us from the daemon: which builder `/_ping`
//! advertises (`Builder-Version`), and a gRPC channel to BuildKit's control API
//! through dockerd's `/grpc` upgrade, which carries the build's progress.

use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::{Result, bail};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// The builder a daemon offers by default, as `docker build` decides it: BuildKit
/// when `/_ping` says `Builder-Version: 2` (dockerd with BuildKit on), the legacy
/// builder otherwise (podman's compat API sends it empty, older engines `1` or
/// nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    BuildKit,
    Legacy,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A byte stream to the daemon at `host` (`unix:///…`, `tcp://…`, `http://…`).
async fn dial(host: &str) -> Result<Box<dyn Io>> {
    if let Some(path) = host.strip_prefix("unix://") {
        return Ok(Box::new(tokio::net::UnixStream::connect(path).await?));
    }
    let addr = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
        .unwrap_or(host)
        .trim_end_matches('/');
    Ok(Box::new(tokio::net::TcpStream::connect(addr).await?))
}

/// Send `request` and read the response head (status line and headers), leaving
/// the stream at the first byte after it.
async fn exchange(io: &mut Box<dyn Io>, request: &str) -> Result<(u16, Vec<(String, String)>)> {
    io.write_all(request.as_bytes()).await?;
    io.flush().await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // One byte at a time: after a 101 the next byte already belongs to HTTP/2.
    while !head.ends_with(b"\r\n\r\n") {
        if io.read(&mut byte).await? == 0 {
            bail!("the daemon closed the connection in the response head");
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            bail!("the daemon's response head is over 64 KiB");
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers))
}

/// The builder the daemon at `host` offers.
pub async fn builder(host: &str) -> Result<Builder> {
    let mut io = dial(host).await?;
    let (status, headers) = exchange(
        &mut io,
        "GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
    )
    .await?;
    if status != 200 {
        bail!("`GET /_ping` answered {status}");
    }
    let version = headers
        .iter()
        .find(|(k, _)| k == "builder-version")
        .map(|(_, v)| v.as_str());
    Ok(match version {
        Some("2") => Builder::BuildKit,
        _ => Builder::Legacy,
    })
}

/// A channel to BuildKit's gRPC API: `POST /grpc` upgraded to h2c, as the Docker
/// CLI and buildx's docker driver dial it.
pub async fn grpc_channel(host: &str) -> Result<tonic::transport::Channel> {
    let connector = Upgrade {
        host: host.to_string(),
    };
    Ok(
        tonic::transport::Endpoint::from_static("http://docker.invalid")
            .connect_with_connector(connector)
            .await?,
    )
}

#[derive(Clone)]
struct Upgrade {
    host: String,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<http::Uri> for Upgrade {
    type Response = hyper_util::rt::TokioIo<Box<dyn Io>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let host = self.host.clone();
        Box::pin(async move {
            let mut io = dial(&host).await.map_err(|e| -> BoxError { e.into() })?;
            let (status, _) = exchange(
                &mut io,
                "POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n",
            )
            .await
            .map_err(|e| -> BoxError { e.into() })?;
            if status != 101 {
                return Err(format!("`POST /grpc` answered {status}, not 101").into());
            }
            Ok(hyper_util::rt::TokioIo::new(io))
        })
    }
}

//! The HTTP/1.1 client under git's transport: one request per connection, TLS by
//! rustls with webpki roots, and a limit on every connect, read and write (none on the
//! whole exchange: a big fetch may take long while bytes flow).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use url::Url;

/// How long a connection may take to open, and a read or write to make progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub connect: Duration,
    pub read: Duration,
}

impl Default for Limits {
    /// The GitHub client's figures (`src/github/mod.rs`).
    fn default() -> Self {
        Limits {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(60),
        }
    }
}

/// The longest status line or header block we read: a server can't make us buffer more.
const MAX_HEAD: usize = 64 * 1024;

/// One request. The body is sent whole, with its length: git's requests are small
/// (negotiation, a release commit's pack).
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'a [u8],
}

/// An answer whose head was read; its body is read through [`Read`].
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Up to `max` bytes of the body, for an error message (never the whole of a
    /// hostile body); errors read as an empty body.
    pub fn excerpt(&mut self, max: usize) -> String {
        let mut buf = Vec::new();
        let _ = self.by_ref().take(max as u64).read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.body.read(buf)
    }
}

/// Send `req` and read the answer's status line and headers.
///
/// Errors are `io::Error`s whose text names what failed; a limit that ran out is
/// [`io::ErrorKind::TimedOut`].
pub fn send(req: &Request<'_>, limits: Limits) -> io::Result<Response> {
    let target = format!("`{} {}`", req.method, path_of(req.url));
    let mut conn = connect(req.url, limits)?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        req.method,
        path_of(req.url),
        host_header(req.url)
    );
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if req.method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(req.body);
    conn.write_all(&out)
        .and_then(|()| conn.flush())
        .map_err(|e| context(e, &format!("sending {target}")))?;
    let mut reader = BufReader::new(conn);
    loop {
        let (status, headers) = read_head(&mut reader)
            .map_err(|e| context(e, &format!("waiting for the answer to {target}")))?;
        // 1xx (a `100 Continue` we didn't ask for) precede the real answer.
        if (100..200).contains(&status) {
            continue;
        }
        let body = Body::new(reader, &headers, &target)?;
        return Ok(Response {
            status,
            headers,
            body,
        });
    }
}

/// `/path?query`, as the request line wants it.
fn path_of(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// An error's text with what we were doing in front; the kind is kept, so a timeout
/// stays [`io::ErrorKind::TimedOut`].
fn context(e: io::Error, doing: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{doing}: {e}"))
}

fn connect(url: &Url, limits: Limits) -> io::Result<Conn> {
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<_> = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to resolve address for `{host}`: {e}"),
            )
        })?
        .collect();
    let mut last = None;
    let mut tcp = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, limits.connect) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(tcp) = tcp else {
        let e = last.unwrap_or_else(|| io::Error::other("no address"));
        return Err(
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "connecting to `{host}:{port}` timed out after {}",
                        secs(limits.connect)
                    ),
                )
            } else {
                io::Error::new(
                    e.kind(),
                    format!("failed to connect to `{host}:{port}`: {e}"),
                )
            },
        );
    };
    let _ = tcp.set_nodelay(true);
    tcp.set_read_timeout(Some(limits.read))?;
    tcp.set_write_timeout(Some(limits.read))?;
    let sock = Socket {
        tcp,
        limit: limits.read,
    };
    if url.scheme() != "https" {
        return Ok(Conn::Plain(sock));
    }
    let name = match url.host() {
        Some(url::Host::Ipv4(ip)) => rustls::pki_types::ServerName::from(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => rustls::pki_types::ServerName::from(std::net::IpAddr::V6(ip)),
        _ => rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| io::Error::other(format!("`{host}` is not a TLS server name: {e}")))?,
    };
    let tls = rustls::ClientConnection::new(tls_config()?, name)
        .map_err(|e| io::Error::other(format!("TLS with `{host}`: {e}")))?;
    let mut stream = rustls::StreamOwned::new(tls, sock);
    // Handshake now, so a certificate problem is named as one.
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| context(e, &format!("TLS handshake with `{host}`")))?;
    }
    Ok(Conn::Tls(Box::new(stream)))
}

/// rustls on ring with Mozilla's roots (webpki-roots): the image has no system
/// certificates, and the registry and GitHub clients trust the same roots.
fn tls_config() -> io::Result<Arc<rustls::ClientConfig>> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(io::Error::other)
}

pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// A TCP stream whose reads and writes fail with [`io::ErrorKind::TimedOut`] once
/// `limit` passes without progress. An interrupted call (`EINTR`) or an early
/// `EAGAIN` is tried again: those are what broke libgit2's own timeouts under
/// concurrent fetches.
struct Socket {
    tcp: TcpStream,
    limit: Duration,
}

impl Socket {
    fn timed<T>(
        &mut self,
        what: &str,
        mut op: impl FnMut(&mut TcpStream) -> io::Result<T>,
    ) -> io::Result<T> {
        let start = Instant::now();
        loop {
            match op(&mut self.tcp) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if start.elapsed() >= self.limit {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no {what} for {}", secs(self.limit)),
                        ));
                    }
                }
                r => return r,
            }
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.timed("data from the server", |s| s.read(buf))
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.timed("progress sending to the server", |s| s.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

enum Conn {
    Plain(Socket),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Socket>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => match s.read(buf) {
                // A server that closes without TLS's close_notify has still sent
                // everything a length or a last chunk vouches for; the framing
                // decides whether that was too early.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// An early end, worded so the caller's checks read it as a dropped connection.
fn early_eof(target: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the connection closed before the answer to {target} was complete (early EOF)"),
    )
}

fn read_line(r: &mut BufReader<Conn>, budget: &mut usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the server sent more than 64 KiB of headers",
        ));
    }
    *budget -= n;
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

fn read_head(r: &mut BufReader<Conn>) -> io::Result<(u16, Vec<(String, String)>)> {
    let mut budget = MAX_HEAD;
    let Some(status_line) = read_line(r, &mut budget)? else {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the connection closed without an answer (early EOF)",
        ));
    };
    let mut parts = status_line.split_whitespace();
    let status = match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(v), Some(Ok(code))) if v.starts_with("HTTP/1.") => code,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the server's answer is not HTTP/1.1",
            ));
        }
    };
    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(r, &mut budget)? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed in the middle of the headers (early EOF)",
            ));
        };
        if line.is_empty() {
            return Ok((status, headers));
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// A body framed by a length, by chunks, or by the end of the connection.
struct Body {
    r: BufReader<Conn>,
    framing: Framing,
    target: String,
}

enum Framing {
    Length(u64),
    /// Bytes left in the current chunk; `None` before a chunk's size line.
    Chunked(Option<u64>),
    Close,
    Done,
}

impl Body {
    fn new(r: BufReader<Conn>, headers: &[(String, String)], target: &str) -> io::Result<Body> {
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        let framing = if get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            Framing::Chunked(None)
        } else if let Some(len) = get("content-length") {
            let len = len.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad content-length `{len}`"),
                )
            })?;
            if len == 0 {
                Framing::Done
            } else {
                Framing::Length(len)
            }
        } else {
            Framing::Close
        };
        Ok(Body {
            r,
            framing,
            target: target.to_string(),
        })
    }

    fn read_body(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.framing {
                Framing::Done => return Ok(0),
                Framing::Close => return self.r.read(buf),
                Framing::Length(left) => {
                    let max = buf.len().min(left.min(usize::MAX as u64) as usize);
                    let n = self.r.read(&mut buf[..max])?;
                    if n == 0 {
                        return Err(early_eof(&self.target));
                    }
                    self.framing = match left - n as u64 {
                        0 => Framing::Done,
                        l => Framing::Length(l),
                    };
                    return Ok(n);
                }
                Framing::Chunked(Some(0)) => {
                    // The CRLF after a chunk's data.
                    let mut budget = 2;
                    match read_line(&mut self.r, &mut budget) {
                        Ok(Some(l)) if l.is_empty() => self.framing = Framing::Chunked(None),
                        Ok(None) => return Err(early_eof(&self.target)),
                        Ok(Some(_)) | Err(_) => return Err(bad_chunk()),
                    }
                }
                Framing::Chunked(Some(left)) => {
                    let max = buf.len().min(left.min(usize::MAX as u64) as usize);
                    let n = self.r.read(&mut buf[..max])?;
                    if n == 0 {
                        return Err(early_eof(&self.target));
                    }
                    self.framing = Framing::Chunked(Some(left - n as u64));
                    return Ok(n);
                }
                Framing::Chunked(None) => {
                    let mut budget = MAX_HEAD;
                    let Some(line) = read_line(&mut self.r, &mut budget)? else {
                        return Err(early_eof(&self.target));
                    };
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16).map_err(|_| bad_chunk())?;
                    if size == 0 {
                        // Trailers, up to the empty line.
                        while let Some(l) = read_line(&mut self.r, &mut budget)? {
                            if l.is_empty() {
                                break;
                            }
                        }
                        self.framing = Framing::Done;
                    } else {
                        self.framing = Framing::Chunked(Some(size));
                    }
                }
            }
        }
    }
}

fn bad_chunk() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the server's chunked body is malformed",
    )
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.read_body(buf).map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => io::Error::new(
                e.kind(),
                format!("reading the answer to {}: {e}", self.target),
            ),
            _ => e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server that answers one connection with `answer` (after reading the request
    /// head), then keeps the socket open for `hold`.
    fn serve(answer: &'static [u8], hold: Duration) -> Url {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let _ = s.write_all(answer);
            std::thread::sleep(hold);
        });
        Url::parse(&format!(
            "http://127.0.0.1:{port}/r.git/info/refs?service=x"
        ))
        .unwrap()
    }

    fn get(url: &Url, limits: Limits) -> io::Result<(u16, String)> {
        let req = Request {
            method: "GET",
            url,
            headers: vec![],
            body: b"",
        };
        let mut resp = send(&req, limits)?;
        let mut text = String::new();
        resp.read_to_string(&mut text)?;
        Ok((resp.status, text))
    }

    const QUICK: Limits = Limits {
        connect: Duration::from_secs(2),
        read: Duration::from_millis(300),
    };

    #[test]
    fn bodies_by_length_chunks_and_close() {
        let u = serve(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            Duration::ZERO,
        );
        assert_eq!(get(&u, QUICK).unwrap(), (200, "hello".into()));
        let u = serve(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nT: 1\r\n\r\n",
            Duration::ZERO,
        );
        assert_eq!(get(&u, QUICK).unwrap(), (200, "hello".into()));
        let u = serve(b"HTTP/1.1 503 Busy\r\n\r\nlater", Duration::ZERO);
        assert_eq!(get(&u, QUICK).unwrap(), (503, "later".into()));
    }

    #[test]
    fn early_ends_and_stalls_are_told_apart() {
        let u = serve(
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhel",
            Duration::ZERO,
        );
        let e = get(&u, QUICK).unwrap_err();
        assert!(e.to_string().contains("early EOF"), "{e}");
        let u = serve(b"", Duration::ZERO);
        let e = get(&u, QUICK).unwrap_err();
        assert!(e.to_string().contains("early EOF"), "{e}");

        let u = serve(b"", Duration::from_secs(3));
        let start = Instant::now();
        let e = get(&u, QUICK).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(
            e.to_string().contains("no data from the server for 0.3 s"),
            "{e}"
        );
        assert!(start.elapsed() < Duration::from_secs(2));

        let u = serve(
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhel",
            Duration::from_secs(3),
        );
        let e = get(&u, QUICK).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(
            e.to_string()
                .starts_with("reading the answer to `GET /r.git/info/refs?service=x`"),
            "{e}"
        );
    }

    /// HTTPS is verified against the compiled-in roots: a certificate none of them
    /// vouches for stops the handshake, named as such, before any request is sent.
    #[test]
    fn an_unknown_certificate_fails_the_handshake() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let got2 = got.clone();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, s);
            let mut buf = [0; 512];
            if let Ok(n) = tls.read(&mut buf) {
                got2.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let u = Url::parse(&format!("https://localhost:{port}/r.git/info/refs")).unwrap();
        let e = get(&u, QUICK).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("TLS handshake with `localhost`: invalid peer certificate"),
            "{e}"
        );
        assert!(got.lock().unwrap().is_empty(), "nothing was sent");
    }

    #[test]
    fn a_header_flood_is_cut_off() {
        static FLOOD: OnceLock<Vec<u8>> = OnceLock::new();
        let flood = FLOOD.get_or_init(|| {
            let mut v = b"HTTP/1.1 200 OK\r\n".to_vec();
            v.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
            v
        });
        let u = serve(flood, Duration::ZERO);
        let e = get(&u, QUICK).unwrap_err();
        assert!(e.to_string().contains("64 KiB"), "{e}");
    }
}

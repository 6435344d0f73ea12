//! The sample service the bundled overlays deploy: `GET /` says hello in HTML,
//! `GET /api` in JSON. std only, one thread per connection, so it links into a
//! tiny static binary for a `FROM scratch` image.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_ADDR: &str = "0.0.0.0:8080";
/// A request line or header longer than this is refused: nothing we serve needs more.
const MAX_LINE: usize = 8 * 1024;
const MAX_HEADERS: usize = 100;
/// A client that sends nothing for this long is dropped, so a stalled socket
/// cannot hold a thread forever.
const IDLE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let addr = match listen_addr(std::env::args().skip(1), std::env::var("PORT").ok()) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("error: {msg}\n\nhint: usage: hello [--addr HOST:PORT] (or set `PORT`)");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on `{addr}`: {e}");
            return ExitCode::from(1);
        }
    };
    // Tests bind port 0 and read the real address from this line.
    match listener.local_addr() {
        Ok(a) => println!("listening on http://{a}"),
        Err(_) => println!("listening on http://{addr}"),
    }
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                // A connection's failure is its own; the server keeps serving.
                let _ = std::thread::Builder::new()
                    .name("conn".into())
                    .spawn(move || {
                        let _ = serve(s);
                    });
            }
            Err(e) => eprintln!("warning: accept failed: {e}"),
        }
    }
    ExitCode::SUCCESS
}

/// `--addr HOST:PORT` wins, then `PORT` (on all interfaces), then `0.0.0.0:8080`.
fn listen_addr(
    mut args: impl Iterator<Item = String>,
    port: Option<String>,
) -> Result<String, String> {
    let mut addr = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = Some(args.next().ok_or("`--addr` needs a value")?),
            _ if a.starts_with("--addr=") => addr = Some(a["--addr=".len()..].to_string()),
            "-h" | "--help" => return Err("help requested".into()),
            _ => return Err(format!("unexpected argument `{a}`")),
        }
    }
    if let Some(a) = addr {
        return Ok(a);
    }
    match port.filter(|p| !p.is_empty()) {
        Some(p) => match p.parse::<u16>() {
            Ok(n) => Ok(format!("0.0.0.0:{n}")),
            Err(_) => Err(format!("`PORT` is `{p}`, expected a port number")),
        },
        None => Ok(DEFAULT_ADDR.into()),
    }
}

/// Serve requests on one connection until the client closes it, asks to close, or
/// sends something we cannot parse (answered with 400, then closed).
fn serve(stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_write_timeout(Some(IDLE))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(Bad(status)) => {
                respond(
                    &mut out,
                    status,
                    "text/plain; charset=utf-8",
                    "bad request\n",
                    false,
                    true,
                )?;
                return Ok(());
            }
        };
        let (status, ctype, body) = route(&req.method, &req.path);
        let head = req.method == "HEAD";
        respond(&mut out, status, ctype, body, head, req.close)?;
        if req.close {
            return Ok(());
        }
    }
}

#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    close: bool,
}

/// A request we refuse, with the status to refuse it with.
#[derive(Debug)]
struct Bad(u16);

/// One request's head; its body (if any) is read and dropped so the next request
/// on a kept-alive connection starts at the right byte. `None` at a clean EOF.
fn read_request(r: &mut impl BufRead) -> Result<Option<Request>, Bad> {
    let Some(line) = read_line(r)? else {
        return Ok(None);
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Bad(400));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Bad(400));
    }
    let mut close = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(Bad(505)),
    };
    let mut length = 0usize;
    for n in 0.. {
        if n == MAX_HEADERS {
            return Err(Bad(431));
        }
        let h = read_line(r)?.ok_or(Bad(400))?;
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').ok_or(Bad(400))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().map_err(|_| Bad(400))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked bodies are not worth parsing for two GET routes.
            return Err(Bad(501));
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                close = true;
            } else if v.contains("keep-alive") {
                close = false;
            }
        }
    }
    if length > 1 << 20 {
        return Err(Bad(413));
    }
    io::copy(&mut r.take(length as u64), &mut io::sink()).map_err(|_| Bad(400))?;
    // The query string doesn't select a route.
    let path = target.split('?').next().unwrap_or_default().to_string();
    Ok(Some(Request {
        method: method.to_string(),
        path,
        close,
    }))
}

/// A CRLF- (or LF-) terminated line without its terminator; `None` at EOF before
/// any byte.
fn read_line(r: &mut impl BufRead) -> Result<Option<String>, Bad> {
    let mut buf = Vec::new();
    let n = r
        .take(MAX_LINE as u64 + 2)
        .read_until(b'\n', &mut buf)
        .map_err(|_| Bad(400))?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        // Either the line is too long or the client hung up mid-line.
        return Err(Bad(if n > MAX_LINE { 431 } else { 400 }));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map(Some).map_err(|_| Bad(400))
}

fn route(method: &str, path: &str) -> (u16, &'static str, &'static str) {
    match (method, path) {
        ("GET" | "HEAD", "/") => (200, "text/html; charset=utf-8", "Hello, World!"),
        ("GET" | "HEAD", "/api") => (200, "application/json", "{\"hello\": \"world\"}"),
        (_, "/" | "/api") => (405, "text/plain; charset=utf-8", "method not allowed\n"),
        _ => (404, "text/plain; charset=utf-8", "not found\n"),
    }
}

fn respond(
    w: &mut impl Write,
    status: u16,
    ctype: &str,
    body: &str,
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if status == 405 {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    if !head_only {
        w.write_all(body.as_bytes())?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<Request>, Bad> {
        read_request(&mut BufReader::new(raw.as_bytes()))
    }

    #[test]
    fn routes() {
        assert_eq!(route("GET", "/").2, "Hello, World!");
        assert_eq!(route("GET", "/api").1, "application/json");
        assert_eq!(route("GET", "/nope").0, 404);
        assert_eq!(route("POST", "/api").0, 405);
    }

    #[test]
    fn parses_a_request_and_drops_the_query() {
        let r = parse("GET /api?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.close),
            ("GET", "/api", false)
        );
        let r = parse("GET / HTTP/1.0\n\n").unwrap().unwrap();
        assert!(r.close);
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        for raw in [
            "\r\n",
            "GET\r\n\r\n",
            "GET / HTTP/1.1 extra\r\n\r\n",
            "get / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nno-colon\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a",
            "\u{0}\u{ff}",
        ] {
            assert!(parse(raw).is_err(), "{raw:?}");
        }
        assert!(matches!(parse("GET / HTTP/2\r\n\r\n"), Err(Bad(505))));
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_LINE + 10));
        assert!(matches!(parse(&long), Err(Bad(431))));
        assert!(parse("").unwrap().is_none());
    }

    #[test]
    fn listen_address() {
        let none = std::iter::empty::<String>;
        assert_eq!(listen_addr(none(), None).unwrap(), "0.0.0.0:8080");
        assert_eq!(
            listen_addr(none(), Some("9000".into())).unwrap(),
            "0.0.0.0:9000"
        );
        let args = ["--addr".to_string(), "127.0.0.1:0".to_string()];
        assert_eq!(
            listen_addr(args.into_iter(), Some("9000".into())).unwrap(),
            "127.0.0.1:0"
        );
        assert!(listen_addr(none(), Some("http".into())).is_err());
        assert!(listen_addr(["--bogus".to_string()].into_iter(), None).is_err());
    }
}

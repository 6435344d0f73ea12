//! The real `hello` binary on a free port, asked over plain TCP the way a health
//! check or a browser asks: status, content type and body of each route.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hello"))
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hello");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, addr }
    }

    /// Send `raw` on a fresh connection and read until the server closes it.
    fn exchange(&self, raw: &str) -> Response {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        Response::parse(&text)
    }

    fn get(&self, path: &str) -> Response {
        self.exchange(&format!(
            "GET {path} HTTP/1.1\r\nHost: hello\r\nConnection: close\r\n\r\n"
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn parse(text: &str) -> Response {
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status = status_line[9..12].parse().unwrap();
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        Response {
            status,
            headers,
            body: body.to_string(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[test]
fn root_answers_html_hello_world() {
    let server = Server::start();
    let r = server.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body, "Hello, World!");
    assert_eq!(r.header("content-length"), Some("13"));
}

#[test]
fn api_answers_json() {
    let server = Server::start();
    let r = server.get("/api?verbose=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, r#"{"hello": "world"}"#);
}

#[test]
fn unknown_paths_methods_and_garbage_are_refused() {
    let server = Server::start();
    assert_eq!(server.get("/nope").status, 404);
    let r = server.exchange("POST /api HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    let r = server.exchange("not http at all\r\n\r\n");
    assert_eq!(r.status, 400);
    // The server still serves after the garbage.
    assert_eq!(server.get("/").body, "Hello, World!");
}

#[test]
fn keeps_a_connection_alive_and_answers_head_without_a_body() {
    let server = Server::start();
    let r = server.exchange(
        "GET /api HTTP/1.1\r\nHost: h\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    // The first answer, then the second head with no body behind it.
    assert_eq!(r.status, 200);
    assert!(
        r.body.starts_with(r#"{"hello": "world"}HTTP/1.1 200 OK"#),
        "{r:?}"
    );
    assert!(r.body.ends_with("Connection: close\r\n\r\n"), "{r:?}");
}

#[test]
fn bad_arguments_exit_2_with_a_hint() {
    let out = Command::new(env!("CARGO_BIN_EXE_hello"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: unexpected argument `--bogus`"),
        "{err}"
    );
    assert!(err.contains("\nhint: "), "{err}");
}

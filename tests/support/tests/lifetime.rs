//! No way of ending `testkit registry` or `testkit github` leaves a server behind: SIGTERM
//! (what `kill` sends, and what the demo's clean-up sends) stops the registry and removes
//! its storage; SIGKILL, where no clean-up can run, still takes the registry down with it.

use std::io::{BufRead as _, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn testkit(args: &[&str]) -> (Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_testkit"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting testkit");
    let mut lines = Vec::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // Every server prints its addresses and then serves: read until the last one.
    let last = if args[0] == "registry" {
        "REGISTRY_PASSWORD="
    } else {
        "GITHUB_GRAPHQL_URL="
    };
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "testkit exited early: {lines:?}"
        );
        let done = line.starts_with(last);
        lines.push(line.trim_end().to_string());
        if done {
            break;
        }
    }
    (child, lines)
}

/// The processes whose parent is `pid`, read from /proc (every thread's `children`).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let text =
            std::fs::read_to_string(task.unwrap().path().join("children")).unwrap_or_default();
        out.extend(text.split_whitespace().map(|p| p.parse::<u32>().unwrap()));
    }
    out
}

/// Gone, or a zombie nobody has reaped yet (a container's pid 1 may never reap).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap()
            .trim_start()
            .starts_with('Z'),
    }
}

fn wait_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if is_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A dying process's leader shows as a zombie while its other threads still close their
/// sockets: wait for the port to close too.
fn wait_closed(host: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(host).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn registry_child(kit: &Child) -> (u32, PathBuf) {
    let kids = children(kit.id());
    let reg = kids
        .iter()
        .copied()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "docker-registry")
        })
        .unwrap_or_else(|| panic!("no docker-registry among the children {kids:?}"));
    let cmdline = std::fs::read(format!("/proc/{reg}/cmdline")).unwrap();
    let config = cmdline
        .split(|b| *b == 0)
        .nth(2)
        .expect("docker-registry serve CONFIG");
    let dir = Path::new(std::str::from_utf8(config).unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    (reg, dir)
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a pid we started.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

#[test]
fn sigterm_stops_the_registry_and_removes_its_storage() {
    let (mut kit, lines) = testkit(&["registry"]);
    let host = lines[0].strip_prefix("REGISTRY=").unwrap().to_string();
    let (reg, dir) = registry_child(&kit);
    assert!(dir.exists());
    TcpStream::connect(&host).expect("the registry serves");

    signal(kit.id(), libc::SIGTERM);
    let status = kit.wait().unwrap();
    assert!(
        status.success(),
        "testkit ends cleanly on SIGTERM: {status}"
    );
    assert!(wait_gone(reg), "docker-registry {reg} outlived testkit");
    assert!(wait_closed(&host), "{host} still accepts connections");
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

#[test]
fn sigint_and_sighup_end_it_too() {
    for sig in [libc::SIGINT, libc::SIGHUP] {
        let (mut kit, _) = testkit(&["registry"]);
        let (reg, _) = registry_child(&kit);
        signal(kit.id(), sig);
        assert!(kit.wait().unwrap().success());
        assert!(
            wait_gone(reg),
            "docker-registry {reg} outlived testkit after signal {sig}"
        );
    }
}

#[test]
fn sigkill_of_testkit_takes_the_registry_with_it() {
    let (mut kit, lines) = testkit(&["registry"]);
    let host = lines[0].strip_prefix("REGISTRY=").unwrap().to_string();
    let (reg, dir) = registry_child(&kit);
    signal(kit.id(), libc::SIGKILL);
    kit.wait().unwrap();
    assert!(
        wait_gone(reg),
        "docker-registry {reg} outlived a SIGKILLed testkit"
    );
    assert!(wait_closed(&host), "{host} still accepts connections");
    // No code runs after SIGKILL: the storage dir is what a killed process leaves.
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_github_stand_in_ends_on_sigterm() {
    let state = tempfile::tempdir().unwrap();
    let (mut kit, lines) = testkit(&[
        "github",
        "--addr",
        "127.0.0.1:0",
        "--state",
        state.path().to_str().unwrap(),
        "--repo",
        "acme/hello",
    ]);
    let url = lines[0].strip_prefix("GITHUB_SERVER_URL=").unwrap();
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    TcpStream::connect(&host).expect("the stand-in serves");
    signal(kit.id(), libc::SIGTERM);
    let status = kit.wait().unwrap();
    assert!(
        status.success(),
        "testkit github ends cleanly on SIGTERM: {status}"
    );
    assert!(
        TcpStream::connect(&host).is_err(),
        "{host} still accepts connections"
    );
}

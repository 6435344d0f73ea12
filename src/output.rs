//! In Actions, the runner reads our stdout *and* stderr line by line and runs any
//! line that starts with `::` (after leading whitespace), or holds `##[`, as a
//! workflow command (`actions/runner` `src/Runner.Worker/Handlers/OutputManager.cs`
//! `OnDataReceived`, `src/Runner.Common/ActionCommand.cs` `TryParseV2`/`TryParse`;
//! both streams share one `ActionCommandManager`, `ContainerActionHandler.RunAsync`).
//! Text we print comes partly from places we don't control (overlays, config,
//! inputs, registry and GitHub error bodies, git), so one stray line could emit an
//! annotation, register a mask or `::stop-commands::` the rest of the step.
//!
//! [`guard`] routes fds 1 and 2 through a filter: a line we mean as a command
//! carries a random per-run prefix (never printed, stripped by the filter); any
//! other line that the runner could read as a command is defused (`> ` in front,
//! `##[` split). It works at the fd level, so it also covers what libraries and
//! child processes print. Outside Actions nothing is filtered.

use std::io::{BufRead as _, Write as _};
use std::os::fd::FromRawFd as _;
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The prefix of lines we mean as workflow commands, while the guard is on.
static NONCE: OnceLock<String> = OnceLock::new();

struct Guard {
    /// (stream fd, a copy of what it pointed at before).
    saved: Vec<(i32, i32)>,
    threads: Vec<JoinHandle<()>>,
}

static GUARD: Mutex<Option<Guard>> = Mutex::new(None);

/// Print `line` (a workflow command we mean, e.g. `::error …::…`) on stdout, so the
/// runner reads it as one. Its data must already be escaped.
pub fn command(line: &str) {
    match NONCE.get() {
        Some(n) => println!("{n}{line}"),
        None => println!("{line}"),
    }
}

/// In Actions, filter fds 1 and 2 until [`finish`]. Does nothing elsewhere, or
/// when the pipes can't be made (the output is then unfiltered, as before).
pub fn guard() {
    if !crate::output::in_actions() || NONCE.get().is_some() {
        return;
    }
    let nonce = format!("\u{1}gitops-action-{:032x}\u{1}", rand::random::<u128>());
    let _ = NONCE.set(nonce.clone());
    let mut g = Guard {
        saved: Vec::new(),
        threads: Vec::new(),
    };
    for fd in [1, 2] {
        let mut p = [0i32; 2];
        // SAFETY: plain fd syscalls on fds this process owns; every result is checked.
        unsafe {
            if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                break;
            }
            let saved = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0);
            let out = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0);
            if saved < 0 || out < 0 || libc::dup2(p[1], fd) < 0 {
                for f in [p[0], p[1], saved, out] {
                    if f >= 0 {
                        libc::close(f);
                    }
                }
                break;
            }
            libc::close(p[1]);
            g.saved.push((fd, saved));
            let reader = std::fs::File::from_raw_fd(p[0]);
            let writer = std::fs::File::from_raw_fd(out);
            let nonce = nonce.clone();
            g.threads.push(std::thread::spawn(move || {
                filter(reader, writer, &nonce);
            }));
        }
    }
    *GUARD.lock().unwrap_or_else(|p| p.into_inner()) = Some(g);
}

/// Flush, put fds 1 and 2 back, and let the filters drain (at most two seconds:
/// a child that kept the pipe open must not hang the exit).
pub fn finish() {
    let Some(g) = GUARD.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    for (fd, saved) in &g.saved {
        // SAFETY: `saved` is our own copy of the stream; dup2 onto 1/2 closes the
        // pipe's write end there, so the filter reads to the end.
        unsafe {
            libc::dup2(*saved, *fd);
            libc::close(*saved);
        }
    }
    let until = Instant::now() + Duration::from_secs(2);
    for t in g.threads {
        while !t.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
}

fn filter(reader: std::fs::File, mut out: std::fs::File, nonce: &str) {
    let mut reader = std::io::BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = match line.strip_prefix(nonce.as_bytes()) {
            Some(ours) => ours.to_vec(),
            None => defuse(&String::from_utf8_lossy(&line)).into_bytes(),
        };
        if out.write_all(&text).is_err() {
            return;
        }
    }
}

/// `text` so that no line of it is a workflow command: a line (the runner splits
/// on `\r` too, as .NET's `ReadLine` does) whose first visible characters are `::`
/// gets `> ` in front, and `##[` anywhere becomes `## [`. Other text is unchanged.
pub fn defuse(text: &str) -> String {
    let text = text.replace("##[", "## [");
    let mut out = String::with_capacity(text.len() + 4);
    for seg in text.split_inclusive(['\n', '\r']) {
        // Whitespace, control and invisible (format) characters may all be trimmed
        // or ignored by a reader; nothing visible before `::` means a command.
        let lead = seg
            .trim_start_matches(|c: char| c.is_whitespace() || c.is_control() || is_invisible(c));
        if lead.starts_with("::") {
            out.push_str("> ");
        }
        out.push_str(seg);
    }
    out
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}')
}

/// Are we running as a step of a GitHub Actions job?
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Escape the message part of a workflow command.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The message of an annotation or group: escaped, and with `##[` split, which
/// the runner's legacy parser finds anywhere in a line (`ActionCommand.TryParse`).
pub fn escape_message(s: &str) -> String {
    escape_data(s).replace("##[", "## [")
}

/// Escape a property value of a workflow command.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A notice: `::notice::` in Actions, `notice: …` on stderr elsewhere.
pub fn notice(message: &str) {
    if in_actions() {
        command(&format!(
            "::notice::{}",
            escape_message(&crate::secrets::redact(message))
        ));
    } else {
        eprintln!("notice: {}", crate::secrets::redact(message));
    }
}

/// A warning, likewise.
pub fn warning(message: &str) {
    if in_actions() {
        command(&format!(
            "::warning::{}",
            escape_message(&crate::secrets::redact(message))
        ));
    } else {
        eprintln!("warning: {}", crate::secrets::redact(message));
    }
}

/// A collapsible log group in Actions; a plain heading elsewhere. Ends on drop.
pub struct Group(bool);

pub fn group(title: &str) -> Group {
    if in_actions() {
        command(&format!(
            "::group::{}",
            escape_message(&crate::secrets::redact(title))
        ));
        Group(true)
    } else {
        Group(false)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.0 {
            command("::endgroup::");
        }
    }
}

/// Register a secret: the runner masks it in its logs (`::add-mask::`), and we redact
/// it from anything we print ourselves (errors included), in or out of Actions.
pub fn register_secret(secret: &str) {
    if crate::secrets::remember(secret) && in_actions() {
        command(&format!("::add-mask::{}", escape_data(secret)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lookalikes_are_defused_and_other_text_is_kept() {
        assert_eq!(defuse("plain text\n"), "plain text\n");
        assert_eq!(defuse("a :: b\n"), "a :: b\n");
        assert_eq!(
            defuse("v1\n::warning title=x::y\n  ::stop-commands::abc\n"),
            "v1\n> ::warning title=x::y\n>   ::stop-commands::abc\n"
        );
        assert_eq!(defuse("x\r::error::y"), "x\r> ::error::y");
        assert_eq!(
            defuse("\u{feff}\u{200b}::debug::y"),
            "> \u{feff}\u{200b}::debug::y"
        );
        assert_eq!(
            defuse("see ##[error]boom"),
            "see ## [error]boom",
            "the legacy form is found anywhere in a line"
        );
    }

    proptest::proptest! {
        /// Whatever the text, no line of the result is a command by the runner's
        /// rule (left-trimmed, starts with `::`; or holds `##[`).
        #[test]
        fn no_line_of_defused_text_is_a_command(s in "(\\PC|[\\r\\n\\t \u{200b}:#\\[])*") {
            let d = defuse(&s);
            for line in d.split(['\n', '\r']) {
                proptest::prop_assert!(!line.trim_start().starts_with("::"), "{line:?}");
                proptest::prop_assert!(!line.contains("##["), "{line:?}");
            }
        }
    }
}

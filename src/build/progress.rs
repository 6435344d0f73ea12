//! BuildKit's status stream as plain lines, as `docker build --progress=plain` shows
//! it: each step numbered when first seen, its output as it comes, one line when it
//! is cached, done or failed. Every line is redacted; the output guard keeps it from
//! being read as a workflow command.

use std::collections::HashMap;

use bollard::moby::buildkit::v1::StatusResponse;

/// How many output lines of a step are kept for the error of a failed build.
const TAIL: usize = 20;

#[derive(Default)]
pub(super) struct Progress {
    /// Vertex digest → its number (`#3`), in the order first seen.
    numbers: HashMap<String, usize>,
    names: HashMap<String, String>,
    finished: HashMap<String, bool>,
    /// A partial output line per vertex, until its newline comes.
    partial: HashMap<String, String>,
    tails: HashMap<String, Vec<String>>,
    /// The first failed step: its name, error and last output lines.
    pub(super) failed: Option<(String, String, Vec<String>)>,
}

impl Progress {
    fn number(&mut self, digest: &str) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(digest.to_string()).or_insert(next)
    }

    /// The lines one status message adds.
    pub(super) fn update(&mut self, status: &StatusResponse) -> Vec<String> {
        let mut out = Vec::new();
        for log in &status.logs {
            let n = self.number(&log.vertex);
            let buf = self.partial.entry(log.vertex.clone()).or_default();
            buf.push_str(&String::from_utf8_lossy(&log.msg));
            let mut done = Vec::new();
            while let Some(i) = buf.find(['\n', '\r']) {
                let line: String = buf.drain(..=i).collect();
                let line = line.trim_end_matches(['\n', '\r']);
                if !line.is_empty() {
                    done.push(line.to_string());
                }
            }
            for line in done {
                let tail = self.tails.entry(log.vertex.clone()).or_default();
                tail.push(line.clone());
                if tail.len() > TAIL {
                    tail.remove(0);
                }
                out.push(format!("#{n} {line}"));
            }
        }
        for v in &status.vertexes {
            let n = self.number(&v.digest);
            if !v.name.is_empty() {
                self.names.insert(v.digest.clone(), v.name.clone());
            }
            let name = self.names.get(&v.digest).cloned().unwrap_or_default();
            if self.finished.get(&v.digest).copied().unwrap_or(false) {
                continue;
            }
            let state = if !v.error.is_empty() {
                if self.failed.is_none() {
                    let tail = self.tails.get(&v.digest).cloned().unwrap_or_default();
                    self.failed = Some((name.clone(), v.error.clone(), tail));
                }
                format!("ERROR: {}", v.error)
            } else if v.cached {
                "CACHED".to_string()
            } else if let Some(done) = &v.completed {
                match &v.started {
                    Some(s) => {
                        let ms = (done.seconds - s.seconds) * 1000
                            + i64::from(done.nanos - s.nanos) / 1_000_000;
                        format!("DONE {}.{}s", ms.max(0) / 1000, (ms.max(0) % 1000) / 100)
                    }
                    None => "DONE".to_string(),
                }
            } else {
                continue;
            };
            self.finished.insert(v.digest.clone(), true);
            out.push(format!("#{n} {name}: {state}"));
        }
        out.into_iter()
            .map(|l| crate::secrets::redact(&l))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::moby::buildkit::v1::{Vertex, VertexLog};

    /// A vertex started (and completed) at these seconds; bollard doesn't re-export
    /// protobuf's `Timestamp`, so it is filled in place.
    fn vertex(digest: &str, name: &str, started: Option<f64>, completed: Option<f64>) -> Vertex {
        let mut v = Vertex {
            digest: digest.into(),
            name: name.into(),
            started: started.map(|_| Default::default()),
            completed: completed.map(|_| Default::default()),
            ..Default::default()
        };
        for (slot, at) in [(&mut v.started, started), (&mut v.completed, completed)] {
            if let (Some(t), Some(at)) = (slot.as_mut(), at) {
                t.seconds = at as i64;
                t.nanos = ((at - at.floor()) * 1e9) as i32;
            }
        }
        v
    }

    #[test]
    fn steps_are_numbered_and_end_in_one_line() {
        let mut p = Progress::default();
        let started = StatusResponse {
            vertexes: vec![vertex("sha256:a", "[base 2/2] RUN make", Some(10.0), None)],
            ..Default::default()
        };
        assert!(p.update(&started).is_empty());
        let log = StatusResponse {
            logs: vec![VertexLog {
                vertex: "sha256:a".into(),
                msg: b"compiling\nhal".to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(p.update(&log), ["#1 compiling"]);
        let rest = StatusResponse {
            logs: vec![VertexLog {
                vertex: "sha256:a".into(),
                msg: b"f done\n".to_vec(),
                ..Default::default()
            }],
            vertexes: vec![
                vertex("sha256:a", "[base 2/2] RUN make", Some(10.0), Some(11.5)),
                Vertex {
                    digest: "sha256:b".into(),
                    name: "[internal] load metadata".into(),
                    cached: true,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            p.update(&rest),
            [
                "#1 half done",
                "#1 [base 2/2] RUN make: DONE 1.5s",
                "#2 [internal] load metadata: CACHED"
            ]
        );
        // BuildKit repeats finished vertices; they are not printed twice.
        assert!(p.update(&rest).iter().all(|l| !l.contains("DONE")));
        assert!(p.failed.is_none());
    }

    #[test]
    fn the_first_failure_is_kept_with_its_output() {
        let mut p = Progress::default();
        let failed = StatusResponse {
            logs: vec![VertexLog {
                vertex: "sha256:c".into(),
                msg: b"no such file\n".to_vec(),
                ..Default::default()
            }],
            vertexes: vec![Vertex {
                digest: "sha256:c".into(),
                name: "[2/2] RUN false".into(),
                error: "exit code: 1".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            p.update(&failed),
            ["#1 no such file", "#1 [2/2] RUN false: ERROR: exit code: 1"]
        );
        let (name, error, tail) = p.failed.unwrap();
        assert_eq!(
            (name.as_str(), error.as_str(), tail),
            (
                "[2/2] RUN false",
                "exit code: 1",
                vec!["no such file".into()]
            )
        );
    }
}

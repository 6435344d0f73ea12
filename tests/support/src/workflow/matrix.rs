//! `jobs.<job_id>.strategy`: a matrix expanded into one job per combination, as
//! GitHub expands it, and the progress of those jobs (fail-fast, max-parallel, the
//! matrix job's result and outputs). docs/github-facts/matrix.md has every rule
//! with its source; the sources are also beside the code.
//!
//! Docs "Running variations of jobs in a workflow" (formerly "Using a matrix for
//! your jobs", here "matrix docs") and "Workflow syntax", `jobs.<job_id>.strategy`.

use std::collections::VecDeque;

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

use super::expr::{self, Contexts};

/// "A matrix will generate a maximum of 256 jobs per workflow run" (matrix docs).
pub const MAX_JOBS: usize = 256;

/// The keys of `strategy:` the runner models (docs "Workflow syntax":
/// `strategy.matrix`, `strategy.fail-fast`, `strategy.max-parallel`).
const STRATEGY_KEYS: &[&str] = &["matrix", "fail-fast", "max-parallel"];

/// A strategy evaluated: its combinations in the order GitHub creates the jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    pub combos: Vec<Map<String, Value>>,
    /// Default `true` ("This property defaults to `true`", "Workflow syntax",
    /// `jobs.<job_id>.strategy.fail-fast`).
    pub fail_fast: bool,
    /// `None`: as many at once as there are runners (matrix docs, "Defining the
    /// maximum number of concurrent jobs").
    pub max_parallel: Option<usize>,
}

/// Why GitHub failed the job while evaluating its strategy, in GitHub's words.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub String);

/// A value of the strategy: a literal, or one `${{ }}` expression whose value is
/// taken as it is (an array or object from `fromJSON`, not its text).
fn value(v: &Value, c: &Contexts) -> Result<Value> {
    if let Value::String(s) = v {
        let t = s.trim();
        if let Some(inner) = t.strip_prefix("${{").and_then(|r| r.strip_suffix("}}"))
            && !inner.contains("${{")
        {
            return expr::eval(inner.trim(), c);
        }
        if t.contains("${{") {
            return Ok(Value::String(expr::interpolate(s, c)?));
        }
    }
    Ok(v.clone())
}

/// Expand `strategy` of job `id` in the contexts GitHub allows there (`github`,
/// `needs`, `inputs`, `vars`: docs "Contexts reference", context availability,
/// `jobs.<job_id>.strategy`). `order` is the matrix's keys in the file's order
/// (the parsed workflow's maps are sorted; GitHub combines in the file's order).
///
/// `Ok(Err(_))`: GitHub fails the job with that text (the texts are GitHub's, as
/// quoted in public runs; see each). `Err(_)`: outside what the runner models.
pub fn expand(
    id: &str,
    strategy: &Value,
    c: &Contexts,
    order: &[String],
) -> Result<std::result::Result<Strategy, Refused>> {
    let Some(s) = strategy.as_object() else {
        bail!("jobs.{id}.strategy: not a mapping");
    };
    for k in s.keys() {
        if !STRATEGY_KEYS.contains(&k.as_str()) {
            bail!("jobs.{id}.strategy: `{k}` is outside what the workflow runner models");
        }
    }
    let fail_fast = match s.get("fail-fast") {
        None => true,
        Some(v) => expr::truthy(&value(v, c)?),
    };
    let max_parallel = match s.get("max-parallel").map(|v| value(v, c)).transpose()? {
        None | Some(Value::Null) => None,
        Some(v) => {
            let n = expr::to_string(&v).trim().parse::<usize>().ok();
            match n {
                Some(n) if n > 0 => Some(n),
                _ => bail!("jobs.{id}.strategy.max-parallel: `{v}` is not a positive number"),
            }
        }
    };
    let matrix = match s.get("matrix") {
        None => Value::Object(Map::new()),
        Some(m) => value(m, c)?,
    };
    // Errors in the form GitHub prints them: "Error when evaluating 'strategy' for
    // job '<id>'. <file> (Line: L, Col: C): <why>" (git-for-windows/build-extra#404,
    // newrelic/open-install-library#703). The file and place are the caller's.
    let refuse = |why: String| Ok(Err(Refused(why)));
    let Value::Object(matrix) = matrix else {
        return refuse(format!(
            "Unexpected type of value '{}', expected type: Mapping.",
            expr::to_string(&matrix)
        ));
    };
    let mut keys: Vec<&String> = matrix
        .keys()
        .filter(|k| *k != "include" && *k != "exclude")
        .collect();
    keys.sort_by_key(|k| order.iter().position(|o| o == *k).unwrap_or(usize::MAX));
    let mut combos: Vec<Map<String, Value>> = vec![Map::new()];
    for k in &keys {
        let vector = value(&matrix[*k], c)?;
        let Value::Array(vector) = vector else {
            // actions/runner#2245: "Unexpected type of value '', expected type: Sequence."
            return refuse(format!(
                "Unexpected type of value '{}', expected type: Sequence.",
                expr::to_string(&vector)
            ));
        };
        if vector.is_empty() {
            // git-for-windows/build-extra#404 (fromJSON of an empty list):
            // "Matrix vector 'directory' does not contain any values".
            return refuse(format!("Matrix vector '{k}' does not contain any values"));
        }
        // "The order of the variables in the matrix determines the order in which
        // the jobs are created" (matrix docs): the first key varies slowest.
        combos = combos
            .into_iter()
            .flat_map(|base| {
                vector.iter().map(move |v| {
                    let mut m = base.clone();
                    m.insert((*k).clone(), v.clone());
                    m
                })
            })
            .collect();
    }
    if keys.is_empty() {
        combos.clear();
    }
    let list = |k: &str| -> Result<std::result::Result<Vec<Map<String, Value>>, Refused>> {
        let Some(v) = matrix.get(k) else {
            return Ok(Ok(Vec::new()));
        };
        match value(v, c)? {
            Value::Array(a) => Ok(Ok(a
                .into_iter()
                .filter_map(|x| match x {
                    Value::Object(m) => Some(m),
                    _ => None,
                })
                .collect())),
            other => Ok(Err(Refused(format!(
                "Unexpected type of value '{}', expected type: Sequence.",
                expr::to_string(&other)
            )))),
        }
    };
    let exclude = match list("exclude")? {
        Ok(l) => l,
        Err(r) => return Ok(Err(r)),
    };
    let include = match list("include")? {
        Ok(l) => l,
        Err(r) => return Ok(Err(r)),
    };
    if keys.is_empty() && include.is_empty() {
        // newrelic/open-install-library#703: "Matrix must define at least one vector".
        return refuse("Matrix must define at least one vector".into());
    }
    // "An excluded configuration only has to be a partial match for it to be
    // excluded" ("Workflow syntax", `jobs.<job_id>.strategy.matrix.exclude`).
    combos.retain(|m| {
        !exclude
            .iter()
            .any(|x| x.iter().all(|(k, v)| m.get(k) == Some(v)))
    });
    // "All `include` combinations are processed after `exclude`" (same page). Each
    // include object's pairs are added to every combination none of whose
    // original values they overwrite (added values may be overwritten); an object
    // added to none becomes a combination of its own (matrix docs, "Expanding or
    // adding matrix configurations").
    let originals: Vec<Map<String, Value>> = combos.clone();
    for inc in &include {
        let mut added = false;
        for (m, orig) in combos.iter_mut().zip(&originals) {
            let fits = inc.iter().all(|(k, v)| orig.get(k).is_none_or(|o| o == v));
            if fits && !orig.is_empty() {
                for (k, v) in inc {
                    m.insert(k.clone(), v.clone());
                }
                added = true;
            }
        }
        if !added {
            combos.push(inc.clone());
        }
    }
    if combos.len() > MAX_JOBS {
        // The cap is the matrix docs'; the text as quoted in cryfs/cryfs#543
        // (replicatedhq/kURL#1704 quotes an older "Strategy produced more than 256").
        return refuse(format!(
            "Strategy for job '{id}' produced {} configurations which exceeds the maximum of {MAX_JOBS} configurations",
            combos.len()
        ));
    }
    Ok(Ok(Strategy {
        combos,
        fail_fast,
        max_parallel,
    }))
}

/// The `matrix` and `strategy` contexts of combination `index` (docs "Contexts
/// reference": `strategy.fail-fast`, `job-index` (zero-based), `job-total`,
/// `max-parallel`, the last the number of jobs when unset).
pub fn contexts(s: &Strategy, index: usize) -> (Value, Value) {
    let total = s.combos.len();
    (
        Value::Object(s.combos[index].clone()),
        json!({
            "fail-fast": s.fail_fast,
            "job-index": index,
            "job-total": total,
            "max-parallel": s.max_parallel.unwrap_or(total),
        }),
    )
}

/// The name a combination's job shows under: the job's id and the combination's
/// values in parentheses, comma-separated (as the Actions UI and the check runs
/// show `build (ubuntu-latest, 18)` when the job has no `name:`).
pub fn job_name(base: &str, combo: &Map<String, Value>, order: &[String]) -> String {
    let mut keys: Vec<&String> = combo.keys().collect();
    keys.sort_by_key(|k| order.iter().position(|o| o == *k).unwrap_or(usize::MAX));
    let vals: Vec<String> = keys
        .iter()
        .map(|k| match &combo[*k] {
            v @ (Value::Object(_) | Value::Array(_)) => v.to_string(),
            v => expr::to_string(v),
        })
        .collect();
    format!("{base} ({})", vals.join(", "))
}

/// The jobs of one matrix: queued, running, finished.
pub struct Progress<T> {
    pub queued: VecDeque<T>,
    pub running: usize,
    pub fail_fast: bool,
    pub max_parallel: Option<usize>,
    /// A combination failed with fail-fast on: the others are cancelled.
    pub failed_fast: Option<String>,
    results: Vec<String>,
    outputs: Map<String, Value>,
}

impl<T> Progress<T> {
    pub fn new(jobs: Vec<T>, s: &Strategy) -> Self {
        Progress {
            queued: jobs.into(),
            running: 0,
            fail_fast: s.fail_fast,
            max_parallel: s.max_parallel,
            failed_fast: None,
            results: Vec::new(),
            outputs: Map::new(),
        }
    }

    /// The jobs that start now: all queued, or up to `max-parallel` running.
    pub fn start(&mut self) -> Vec<T> {
        let room = self
            .max_parallel
            .map_or(usize::MAX, |m| m.saturating_sub(self.running));
        let n = room.min(self.queued.len());
        self.running += n;
        self.queued.drain(..n).collect()
    }

    /// A combination ended. Fail-fast: "GitHub will cancel all in-progress and
    /// queued jobs in the matrix if any job in the matrix fails" ("Workflow
    /// syntax", `jobs.<job_id>.strategy.fail-fast`). Outputs: "job outputs will be
    /// combined from all jobs inside the matrix", and of one name "the last matrix
    /// job that runs will override the output value" (docs "Passing information
    /// between jobs", "Using job outputs in a matrix job"; github/docs#34242); a
    /// combination whose output is empty sets nothing (the docs' example: each
    /// combination sets one of three names and the dependent job reads all three).
    pub fn finish(&mut self, name: &str, result: &str, outputs: &Map<String, Value>) {
        self.running = self.running.saturating_sub(1);
        self.results.push(result.to_string());
        for (k, v) in outputs {
            if v.as_str().is_some_and(|s| !s.is_empty()) {
                self.outputs.insert(k.clone(), v.clone());
            }
        }
        if result == "failure" && self.fail_fast && self.failed_fast.is_none() {
            self.failed_fast = Some(name.to_string());
        }
    }

    /// A combination that never ran (cancelled).
    pub fn cancelled(&mut self, was_running: bool) {
        if was_running {
            self.running = self.running.saturating_sub(1);
        }
        self.results.push("cancelled".into());
    }

    pub fn is_done(&self) -> bool {
        self.queued.is_empty() && self.running == 0
    }

    /// The matrix job as `needs` sees it: failure if one failed, else cancelled
    /// if one was, else success.
    pub fn summary(&self) -> Value {
        let mut result = "success";
        for r in &self.results {
            match r.as_str() {
                "failure" => result = "failure",
                "cancelled" if result != "failure" => result = "cancelled",
                _ => {}
            }
        }
        json!({"result": result, "outputs": self.outputs})
    }
}

/// The keys of `jobs.<id>.strategy.matrix` in the order the workflow file lists
/// them (serde_norway keeps a mapping's order; the runner's JSON maps do not).
pub fn key_order(workflow_text: &str, id: &str) -> Vec<String> {
    let Ok(doc) = serde_norway::from_str::<serde_norway::Value>(workflow_text) else {
        return Vec::new();
    };
    let m = &doc["jobs"][id]["strategy"]["matrix"];
    match m.as_mapping() {
        Some(map) => map
            .keys()
            .filter_map(|k| k.as_str().map(String::from))
            .collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Contexts {
        json!({
            "needs": {"changed": {"outputs": {"services": "[\"api\",\"worker\"]", "none": "[]"}}},
            "github": {}, "inputs": {},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn combos(strategy: Value, order: &[&str]) -> Vec<Value> {
        let order: Vec<String> = order.iter().map(|s| s.to_string()).collect();
        expand("j", &strategy, &ctx(), &order)
            .unwrap()
            .unwrap()
            .combos
            .into_iter()
            .map(Value::Object)
            .collect()
    }

    #[test]
    fn vectors_combine_in_the_files_order() {
        let got = combos(
            json!({"matrix": {"version": [10, 12], "os": ["u", "w"]}}),
            &["version", "os"],
        );
        assert_eq!(
            got,
            vec![
                json!({"version": 10, "os": "u"}),
                json!({"version": 10, "os": "w"}),
                json!({"version": 12, "os": "u"}),
                json!({"version": 12, "os": "w"}),
            ]
        );
    }

    #[test]
    fn from_json_of_a_jobs_output() {
        let got = combos(
            json!({"matrix": {"service": "${{ fromJSON(needs.changed.outputs.services) }}"}}),
            &["service"],
        );
        assert_eq!(
            got,
            vec![json!({"service": "api"}), json!({"service": "worker"})]
        );
    }

    #[test]
    fn an_empty_vector_fails_the_job_with_githubs_text() {
        let r = expand(
            "release",
            &json!({"matrix": {"service": "${{ fromJSON(needs.changed.outputs.none) }}"}}),
            &ctx(),
            &[],
        )
        .unwrap();
        assert_eq!(
            r,
            Err(Refused(
                "Matrix vector 'service' does not contain any values".into()
            ))
        );
        let r = expand("j", &json!({"matrix": {"include": []}}), &ctx(), &[]).unwrap();
        assert_eq!(
            r,
            Err(Refused("Matrix must define at least one vector".into()))
        );
    }

    /// The matrix docs' own example ("Example: Expanding configurations").
    #[test]
    fn include_and_exclude_as_the_docs_example() {
        let got = combos(
            json!({"matrix": {
                "fruit": ["apple", "pear"], "animal": ["cat", "dog"],
                "include": [
                    {"color": "green"},
                    {"color": "pink", "animal": "cat"},
                    {"fruit": "apple", "shape": "circle"},
                    {"fruit": "banana"},
                    {"fruit": "banana", "animal": "cat"},
                ]
            }}),
            &["fruit", "animal", "include"],
        );
        assert_eq!(
            got,
            vec![
                json!({"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"}),
                json!({"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"}),
                json!({"fruit": "pear", "animal": "cat", "color": "pink"}),
                json!({"fruit": "pear", "animal": "dog", "color": "green"}),
                json!({"fruit": "banana"}),
                json!({"fruit": "banana", "animal": "cat"}),
            ]
        );
        let got = combos(
            json!({"matrix": {
                "os": ["macos", "windows"], "version": [12, 14],
                "exclude": [{"os": "windows"}],
            }}),
            &["os", "version"],
        );
        assert_eq!(
            got,
            vec![
                json!({"os": "macos", "version": 12}),
                json!({"os": "macos", "version": 14})
            ]
        );
        // An include-only matrix: each object is a job.
        let got = combos(
            json!({"matrix": {"include": [{"a": 1}, {"a": 2}]}}),
            &["include"],
        );
        assert_eq!(got, vec![json!({"a": 1}), json!({"a": 2})]);
    }

    #[test]
    fn more_than_256_jobs_fail_the_job() {
        let v: Vec<u32> = (0..17).collect();
        let r = expand("big", &json!({"matrix": {"a": v, "b": v}}), &ctx(), &[]).unwrap();
        assert_eq!(
            r,
            Err(Refused(
                "Strategy for job 'big' produced 289 configurations which exceeds the maximum of 256 configurations".into()
            ))
        );
        let v: Vec<u32> = (0..16).collect();
        let ok = expand("big", &json!({"matrix": {"a": v, "b": v}}), &ctx(), &[]).unwrap();
        assert_eq!(ok.unwrap().combos.len(), 256);
    }

    #[test]
    fn fail_fast_defaults_to_true_and_max_parallel_bounds_a_start() {
        let s = expand(
            "j",
            &json!({"matrix": {"a": [1, 2, 3]}, "max-parallel": 2}),
            &ctx(),
            &[],
        )
        .unwrap()
        .unwrap();
        assert!(s.fail_fast);
        let mut p = Progress::new(vec![1, 2, 3], &s);
        assert_eq!(p.start(), vec![1, 2]);
        assert_eq!(p.start(), Vec::<i32>::new());
        p.finish("j (1)", "success", &Map::new());
        assert_eq!(p.start(), vec![3]);
        let mut out = Map::new();
        out.insert("x".into(), json!("from 2"));
        p.finish("j (2)", "failure", &out);
        assert_eq!(p.failed_fast.as_deref(), Some("j (2)"));
        p.finish("j (3)", "success", &Map::new());
        assert!(p.is_done());
        assert_eq!(
            p.summary(),
            json!({"result": "failure", "outputs": {"x": "from 2"}})
        );
    }

    #[test]
    fn the_default_job_name_lists_the_values() {
        let mut m = Map::new();
        m.insert("service".into(), json!("api"));
        m.insert("env".into(), json!("dev"));
        assert_eq!(
            job_name("release", &m, &["service".into(), "env".into()]),
            "release (api, dev)"
        );
    }
}

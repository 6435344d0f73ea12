//! `services.<name>.paths`: which files make up a service, for `changed`.
//!
//! The globs read the way GitHub reads `on.push.paths` (docs "Workflow syntax for
//! GitHub Actions", "Filter pattern cheat sheet"), so a user who writes one filter
//! for a workflow can write the same one here: `*` matches within one path segment
//! (never `/`), `**` across segments, `?` one character, `[…]` a class, and a
//! pattern starting with `!` excludes; when several match a file, the last one
//! decides ("the order that you define patterns matters"). Paths are relative to
//! the repository root, with `/`.
//!
//! Every service's globs go into one `GlobSet`, so a file is tested once however
//! many services there are: 10,000 files against 500 services is 10,000 lookups
//! (`scripts/bench-fleet`), not five million.

use std::path::{Component, Path};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::Service;

/// One glob of `paths:`, checked: the message says why it cannot be used.
pub(crate) fn glob(pattern: &str) -> Result<(Glob, bool), String> {
    let (negated, body) = match pattern.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let body = body.strip_prefix("./").unwrap_or(body);
    if body.is_empty() {
        return Err("is empty".into());
    }
    if body.starts_with('/') {
        return Err("must be relative to the repository root (no leading `/`)".into());
    }
    if body.split('/').any(|seg| seg == "..") {
        return Err("must stay inside the repository (no `..`)".into());
    }
    let g = GlobBuilder::new(body)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("is not a glob: {}", e.kind()))?;
    Ok((g, negated))
}

/// The default of `paths:`: the build context (all of it) and the Dockerfile,
/// which may sit outside the context.
pub(crate) fn default_paths(context: &Path, dockerfile: &str) -> Vec<String> {
    let ctx = normal(context);
    let mut out = vec![match ctx.as_deref() {
        Some("") | None => "**".to_string(),
        Some(c) => format!("{}/**", globset::escape(c)),
    }];
    if !dockerfile.is_empty()
        && let Some(d) = normal(&context.join(dockerfile))
        && !d.is_empty()
        && ctx
            .as_deref()
            .is_some_and(|c| !c.is_empty() && !d.starts_with(&format!("{c}/")))
    {
        out.push(globset::escape(&d));
    }
    out
}

/// `a/./b/../c` as `a/c`, `/`-separated; `None` when it leaves the root.
fn normal(p: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// Every service's `paths:` at once.
pub struct PathMatcher {
    set: GlobSet,
    /// Per glob of `set`, in order: its service's index and whether it includes.
    rules: Vec<(usize, bool)>,
    scratch: Vec<usize>,
}

impl PathMatcher {
    /// The globs were checked when the config was read; one that fails here
    /// is reported the same way, naming the service.
    pub fn new(services: &[Service]) -> Result<PathMatcher, String> {
        let mut b = GlobSetBuilder::new();
        let mut rules = Vec::new();
        for (i, s) in services.iter().enumerate() {
            for p in &s.paths {
                let (g, negated) =
                    glob(p).map_err(|m| format!("service `{}`: path `{p}` {m}", s.name))?;
                b.add(g);
                rules.push((i, !negated));
            }
        }
        let set = b
            .build()
            .map_err(|e| format!("the services' paths do not build: {e}"))?;
        Ok(PathMatcher {
            set,
            rules,
            scratch: Vec::new(),
        })
    }

    /// Call `hit` with the index of each service `path` belongs to.
    pub fn services_of(&mut self, path: &str, mut hit: impl FnMut(usize)) {
        self.set.matches_into(path, &mut self.scratch);
        // `matches_into` gives the globs in the order they were added: by
        // service, then as written, so the last of each service's run decides.
        let mut k = 0;
        while k < self.scratch.len() {
            let (service, _) = self.rules[self.scratch[k]];
            let mut included = false;
            while k < self.scratch.len() && self.rules[self.scratch[k]].0 == service {
                included = self.rules[self.scratch[k]].1;
                k += 1;
            }
            if included {
                hit(service);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, paths: &[&str]) -> Service {
        let mut s = Service::bare(name, format!("ghcr.io/acme/{name}"));
        s.paths = paths.iter().map(|p| p.to_string()).collect();
        s
    }

    fn of(m: &mut PathMatcher, path: &str) -> Vec<usize> {
        let mut v = vec![];
        m.services_of(path, |i| v.push(i));
        v
    }

    /// GitHub's cheat sheet: `*` stays in a segment, `**` crosses, `!` excludes
    /// and the last match decides.
    #[test]
    fn globs_read_as_github_path_filters() {
        let mut m = PathMatcher::new(&[
            service(
                "api",
                &["services/api/**", "!services/api/**/*.md", "shared/*.proto"],
            ),
            service("web", &["web/*", "!web/README.md", "web/README.md"]),
        ])
        .unwrap();
        assert_eq!(of(&mut m, "services/api/src/main.rs"), [0]);
        assert_eq!(of(&mut m, "services/api/docs/x.md"), Vec::<usize>::new());
        assert_eq!(of(&mut m, "shared/a.proto"), [0]);
        assert_eq!(of(&mut m, "shared/v1/a.proto"), Vec::<usize>::new());
        assert_eq!(of(&mut m, "web/index.html"), [1]);
        assert_eq!(
            of(&mut m, "web/README.md"),
            [1],
            "re-included after the `!`"
        );
        assert_eq!(of(&mut m, "web/static/app.js"), Vec::<usize>::new());
    }

    #[test]
    fn the_default_is_the_context_and_the_dockerfile() {
        assert_eq!(default_paths(Path::new("."), "Dockerfile"), ["**"]);
        assert_eq!(
            default_paths(Path::new("services/api"), "Dockerfile"),
            ["services/api/**"]
        );
        assert_eq!(
            default_paths(Path::new("./services/api"), "../../docker/api.Dockerfile"),
            ["services/api/**", "docker/api.Dockerfile"]
        );
        assert_eq!(
            default_paths(Path::new("app[1]"), "Dockerfile"),
            ["app[[]1[]]/**"]
        );
        let mut m = PathMatcher::new(&[service("a", &["app[[]1[]]/**"])]).unwrap();
        assert_eq!(of(&mut m, "app[1]/x"), [0]);
    }

    #[test]
    fn bad_globs_say_why() {
        assert!(glob("services/{api").unwrap_err().contains("is not a glob"));
        assert!(glob("[z-a]").unwrap_err().contains("is not a glob"));
        assert!(glob("/abs/**").unwrap_err().contains("relative"));
        assert!(glob("../x").unwrap_err().contains("inside"));
        assert!(glob("!").unwrap_err().contains("empty"));
        assert!(glob("./a/**").is_ok());
    }
}

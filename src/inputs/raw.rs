//! The raw inputs (ripgrep's "low" args): every input as the string the runner
//! (`INPUT_*`) or the command line gave it, declared once in [`declare_inputs!`].

use crate::error::UserError;
use crate::secrets::hidden;

/// Declares [`Inputs`]: a field per input, and its name as `action.yml` spells it.
macro_rules! declare_inputs {
    ($($field:ident = $name:literal,)*) => {
        /// Every input of every command, as the Action and the CLI give them: strings,
        /// unchecked. [`crate::inputs::parse`] turns them into the typed command.
        #[derive(Clone, Default, PartialEq, Eq)]
        pub struct Inputs {
            $(pub $field: Option<String>,)*
        }

        impl Inputs {
            /// The inputs' names, as `action.yml` declares them (and `INPUT_*` spells them, upper-cased).
            pub const NAMES: &[&str] = &[$($name),*];

            fn fields(&self) -> Vec<(&'static str, &Option<String>)> {
                vec![$(($name, &self.$field)),*]
            }

            pub(crate) fn fields_mut(&mut self) -> Vec<(&'static str, &mut Option<String>)> {
                vec![$(($name, &mut self.$field)),*]
            }
        }
    };
}

// A new input: one line here (its `action.yml` name), a flag in `cli.rs` that fills
// it, and its parse in the typed struct of the commands that read it
// (`inputs/command.rs`, or `inputs/shared.rs` when all moving commands do).
declare_inputs! {
    command = "command",
    service = "service",
    train = "train",
    services = "services",
    env = "env",
    git_ref = "ref",
    sha = "sha",
    version = "version",
    config = "config",
    token = "token",
    config_repository = "config-repository",
    source_token = "source-token",
    registry_username = "registry-username",
    registry_password = "registry-password",
    insecure_registries = "insecure-registries",
    build = "build",
    build_args = "build-args",
    build_secrets = "build-secrets",
    build_network = "build-network",
    merge = "merge",
    merge_method = "merge-method",
    base = "base",
    reviewers = "reviewers",
    labels = "labels",
    draft = "draft",
    dry_run = "dry-run",
    deploy_workflow = "deploy-workflow",
    chain = "chain",
    verify_url = "verify-url",
    verify_contains = "verify-contains",
    verify_timeout = "verify-timeout",
    tag = "tag",
    digest = "digest",
    source = "source",
    target = "target",
    to = "to",
    from = "from",
    steps = "steps",
    format = "format",
    check = "check",
    commit_via = "commit-via",
    author = "author",
    committer = "committer",
    message = "message",
    workspace = "workspace",
}

/// The inputs a `{:?}` shows as `***`.
const SECRETS: [&str; 4] = [
    "token",
    "source-token",
    "registry-password",
    "build-secrets",
];

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Inputs");
        for (name, v) in self.fields() {
            match v {
                Some(_) if SECRETS.contains(&name) => d.field(name, &hidden(v)),
                Some(_) => d.field(name, v),
                None => continue,
            };
        }
        d.finish_non_exhaustive()
    }
}

impl Inputs {
    /// Read `INPUT_*` as the runner sets them: upper case, hyphens kept (matched
    /// without regard to case), and an empty string for an input the workflow
    /// didn't set. Other variables are not read, whatever bytes they hold.
    pub fn from_env() -> Result<Inputs, UserError> {
        let mut inputs = Inputs::default();
        for (key, value) in std::env::vars_os() {
            let Some(name) = key.to_str().and_then(|k| k.strip_prefix("INPUT_")) else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            let Some((_, slot)) = inputs.fields_mut().into_iter().find(|(n, _)| *n == name) else {
                continue;
            };
            let value = value.into_string().map_err(|_| {
                UserError::new(format!(
                    "cannot read the action inputs: input `{name}` is not UTF-8 text"
                ))
                .hint("inputs are strings; check the `with:` block of the step")
            })?;
            *slot = Some(value);
        }
        inputs.clear_empty();
        Ok(inputs)
    }

    fn clear_empty(&mut self) {
        for (_, v) in self.fields_mut() {
            if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *v = None;
            }
        }
    }

    /// Secrets arrive with a stray newline (`$(cat token)`, a secret
    /// pasted with its line end). Trim them, and refuse one with a control
    /// character inside (an HTTP header can't carry it: octocrab panicked on it),
    /// so what is masked and redacted is exactly what is sent. The token falls
    /// back to `INPUT_TOKEN`/`GITHUB_TOKEN` here, so the same clean value is used
    /// by every client.
    pub fn clean_secrets(&mut self) -> Result<(), UserError> {
        if self.token.is_none() {
            self.token = ["INPUT_TOKEN", "GITHUB_TOKEN"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()));
        }
        for (name, slot) in [
            ("token", &mut self.token),
            ("source-token", &mut self.source_token),
            ("registry-password", &mut self.registry_password),
        ] {
            let Some(v) = slot.as_deref() else { continue };
            let t = v.trim();
            if let Some(at) = t.find(|c: char| c.is_control()) {
                return Err(UserError::new(format!(
                    "the `{name}` input holds a control character at byte {at} (its value is not shown)"
                ))
                .hint(format!(
                    "pass the secret as one line: check how `{name}` is set (a file read with its line end, a pasted secret)"
                )));
            }
            *slot = Some(t.to_string());
        }
        Ok(())
    }

    /// The secrets among the inputs, to be masked and redacted: a build secret's
    /// value (after its `id=`), not the line.
    pub fn secrets(&self) -> Vec<String> {
        let build = self.build_secrets.iter().flat_map(|s| {
            s.lines()
                .filter_map(|l| l.split_once('=').map(|(_, v)| v.to_string()))
                .filter(|v| !v.is_empty())
        });
        [&self.token, &self.source_token, &self.registry_password]
            .into_iter()
            .flatten()
            .cloned()
            .chain(build)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let i = Inputs {
            token: Some("ghp_debugShownToken".into()),
            registry_password: Some("pw-debugShown".into()),
            service: Some("hello".into()),
            ..Inputs::default()
        };
        let d = format!("{i:?}");
        assert!(
            d.contains("service: Some(\"hello\")") && d.contains("token: Some(\"***\")"),
            "{d}"
        );
        assert!(!d.contains("debugShown"), "{d}");
    }

    /// Every input `action.yml` declares is a field of [`Inputs`], and every field
    /// but `workspace` (the CLI's `-C`; the Action has `GITHUB_WORKSPACE`) is
    /// declared there.
    #[test]
    fn action_yml_declares_exactly_these_inputs() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap();
        let manifest: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        let mut declared: Vec<&str> = manifest["inputs"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        let mut fields: Vec<&str> = Inputs::NAMES
            .iter()
            .copied()
            .filter(|n| *n != "workspace")
            .collect();
        declared.sort_unstable();
        fields.sort_unstable();
        assert_eq!(declared, fields);
    }
}

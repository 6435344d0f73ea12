//! One parser per kind of input value (yes/no, list, duration, SemVer, the fixed
//! choices), each refusing a bad value with the input's name, the value and a hint.

use std::time::Duration;

use crate::error::UserError;
use crate::tag;

/// A yes/no input: `true|false|yes|no|1|0|on|off`, any case (GitHub's `true`,
/// `True`, `TRUE` among them); unset is `false`.
pub fn flag(value: &Option<String>, name: &str) -> Result<bool, UserError> {
    match value.as_deref().map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if matches!(v.as_str(), "true" | "yes" | "1" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "false" | "no" | "0" | "off") => Ok(false),
        Some(v) => Err(UserError::new(format!(
            "input `{name}` is `{v}`, expected `true` or `false`"
        ))
        .hint(format!("set `{name}: true` or `{name}: false`"))),
    }
}

/// A list input: comma- or newline-separated, blanks dropped.
pub fn list(value: &Option<String>) -> Vec<String> {
    value
        .as_deref()
        .unwrap_or_default()
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// An input `command` cannot run without.
pub fn required(value: &Option<String>, name: &str, command: &str) -> Result<String, UserError> {
    value.clone().ok_or_else(|| missing(name, command))
}

/// The error of a [`required`] input that is not set.
pub fn missing(name: &str, command: &str) -> UserError {
    UserError::new(format!("`{name}` is required for `{command}`")).hint(format!(
        "pass `--{name} …` (or the `{name}` input of the action)"
    ))
}

/// The `version` input, as the SemVer it names (`v1.2.3` → `1.2.3`).
pub fn version(value: &Option<String>) -> Result<Option<String>, UserError> {
    value
        .as_deref()
        .map(|v| {
            tag::parse_semver_tag(v)
                .map(|s| s.to_string())
                .ok_or_else(|| {
                    UserError::new(format!("input `version` is `{v}`, not SemVer"))
                        .hint("give a version such as `1.2.3` or `v1.3.0-beta1`")
                })
        })
        .transpose()
}

/// The longest `verify-timeout`: one day (a job on GitHub-hosted runners lasts
/// at most 6 hours: docs "Usage limits, billing, and administration").
pub const MAX_VERIFY_SECS: u64 = 24 * 3600;

/// `300`, `300s`, `5m`, `1h`, up to a day.
pub fn duration(s: &str) -> Result<Duration, UserError> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        _ => (t, 1),
    };
    // `n * mult` overflowed silently; a job lasts hours at most, so
    // anything over a day is a mistake.
    num.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mult))
        .filter(|secs| *secs <= MAX_VERIFY_SECS)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            UserError::new(format!("input `verify-timeout` is `{s}`"))
                .hint("give seconds (`300`) or a unit: `90s`, `5m`, `1h` (at most a day, `24h`)")
        })
}

/// How a command prints its result (`format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Table,
    Markdown,
}

impl Format {
    /// `format`, among those the command has (`text` when unset).
    pub fn parse(v: Option<&str>, allowed: &[Format]) -> Result<Format, UserError> {
        let hint = || {
            let names: Vec<String> = allowed.iter().map(|f| format!("`{}`", f.name())).collect();
            format!("use one of {}", names.join(", "))
        };
        let f = match v.unwrap_or("text") {
            "text" => Format::Text,
            "json" => Format::Json,
            "table" => Format::Table,
            "markdown" | "md" => Format::Markdown,
            other => return Err(UserError::new(format!("unknown format `{other}`")).hint(hint())),
        };
        if !allowed.contains(&f) {
            return Err(
                UserError::new(format!("this command has no `{}` format", f.name())).hint(hint()),
            );
        }
        Ok(f)
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Table => "table",
            Format::Markdown => "markdown",
        }
    }
}

/// Where the image of a release comes from (`build`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildMode {
    /// Retag the commit's existing build, else build.
    Auto,
    Always,
    Never,
}

impl BuildMode {
    pub fn parse(v: Option<&str>) -> Result<BuildMode, UserError> {
        match v.unwrap_or("auto") {
            "auto" => Ok(BuildMode::Auto),
            "always" => Ok(BuildMode::Always),
            "never" => Ok(BuildMode::Never),
            other => Err(UserError::new(format!("input `build` is `{other}`"))
                .hint("use `auto` (retag an existing build, else build), `always` or `never`")),
        }
    }
}

/// `KEY=value` lines (`build-args`, `build-secrets`): blank lines skipped, the key
/// trimmed, the value kept as given after the first `=`. A `secret` input's errors
/// name the line, never its value.
pub(crate) fn key_values(
    v: Option<&str>,
    input: &str,
    secret: bool,
) -> Result<Vec<(String, String)>, UserError> {
    let mut out = Vec::new();
    for (n, line) in v.unwrap_or_default().lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let shown = if secret {
            "(its value is not shown)".to_string()
        } else {
            format!("`{}`", line.trim())
        };
        let Some((k, val)) = line.split_once('=') else {
            return Err(UserError::new(format!(
                "input `{input}`: line {} is not `KEY=value` {shown}",
                n + 1
            ))
            .hint(format!("give one `KEY=value` per line in `{input}`")));
        };
        let k = k.trim();
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(UserError::new(format!(
                "input `{input}`: line {} has the key `{k}`, which is not a name of letters, digits, `_`, `-` or `.`",
                n + 1
            ))
            .hint(format!("give one `KEY=value` per line in `{input}`")));
        }
        let val = val.trim_end_matches('\r');
        out.push((k.to_string(), val.to_string()));
    }
    Ok(out)
}

/// How the merge continues the chain (`chain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// Dispatch `deploy-workflow` when it is set, else nothing.
    Auto,
    Dispatch,
    Inline,
    None,
}

impl Chain {
    pub fn parse(v: Option<&str>) -> Result<Chain, UserError> {
        match v.unwrap_or("auto") {
            "auto" => Ok(Chain::Auto),
            "dispatch" => Ok(Chain::Dispatch),
            "inline" => Ok(Chain::Inline),
            "none" => Ok(Chain::None),
            other => Err(UserError::new(format!("input `chain` is `{other}`")).hint(
                "use `auto` (dispatch when `deploy-workflow` is set), `dispatch`, `inline` or `none`",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(duration(" 1h ").unwrap(), Duration::from_secs(3600));
        assert_eq!(duration("24h").unwrap(), Duration::from_secs(86400));
        // `n * 3600` used to wrap; over a day is refused.
        for bad in [
            "",
            "0",
            "-1",
            "5x",
            "m",
            "1.5m",
            "25h",
            "18446744073709551615h",
            "5124095576030432h",
        ] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_and_flags() {
        assert_eq!(list(&Some("a, b\nc,,".into())), ["a", "b", "c"]);
        assert!(flag(&Some("TRUE".into()), "dry-run").unwrap());
        assert!(flag(&Some("True".into()), "dry-run").unwrap());
        assert!(!flag(&None, "dry-run").unwrap());
        assert!(flag(&Some("maybe".into()), "dry-run").is_err());
    }

    #[test]
    fn versions_are_normalized_once() {
        assert_eq!(
            version(&Some("v1.2.3".into())).unwrap().as_deref(),
            Some("1.2.3")
        );
        assert_eq!(version(&None).unwrap(), None);
        assert!(version(&Some("one".into())).is_err());
    }
}

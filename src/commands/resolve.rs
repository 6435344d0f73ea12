//! `resolve`: which environments a git ref deploys to, and the tag each gets.

use crate::action::Outputs;
use crate::config::{self};
use crate::context::*;
use crate::environment::GitRef;
use crate::error::UserError;
use crate::tag::{self};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::inputs::{Format, Resolve};

#[derive(Debug, Serialize)]
pub(crate) struct Resolved {
    #[serde(rename = "ref")]
    pub(crate) git_ref: String,
    pub(crate) kind: &'static str,
    pub(crate) sha: String,
    pub(crate) timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    pub(crate) environments: Vec<ResolvedEnv>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ResolvedEnv {
    pub(crate) name: String,
    /// The pattern that selected the ref.
    pub(crate) pattern: String,
    pub(crate) tag_template: String,
    /// Service name -> tag.
    pub(crate) tags: BTreeMap<String, String>,
}

pub(crate) fn resolve(cx: &Context, inputs: &Resolve) -> anyhow::Result<Outputs> {
    let (ref_name, r) = (&inputs.ref_name, &inputs.git_ref);
    let commit = crate::session::release_commit(cx, &inputs.refs)?;
    let services: Vec<config::Service> = match &inputs.service {
        Some(s) => vec![cx.config.service(s)?],
        None => cx.config.services.clone(),
    };
    let mut resolved = Resolved {
        git_ref: ref_name.clone(),
        kind: r.kind(),
        sha: commit.sha.clone(),
        timestamp: commit.timestamp,
        version: match r {
            GitRef::Tag(t) => tag::parse_semver_tag(t).map(|v| v.to_string()),
            _ => None,
        },
        environments: vec![],
    };
    for (env, pattern) in environments_for(&cx.config, r) {
        let vars = tag_vars(env, Some(r), &commit, inputs.version.as_deref());
        let tag = env.tag.format(&vars).map_err(|m| {
            UserError::new(format!("environment `{}`: {m}", env.name))
                .hint("pass `--version` for `{version}` templates")
        })?;
        let tags = services
            .iter()
            .map(|s| (s.name.clone(), tag.clone()))
            .collect();
        resolved.environments.push(ResolvedEnv {
            name: env.name.clone(),
            pattern,
            tag_template: env.tag.to_string(),
            tags: tags_or_any(tags, &tag),
        });
    }
    if resolved.environments.is_empty() {
        crate::output::notice(&format!(
            "{} `{}` maps to no environment: nothing to release",
            r.kind(),
            r.name()
        ));
    }
    match inputs.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&resolved)?),
        _ => {
            for e in &resolved.environments {
                let tag = e.tags.values().next().cloned().unwrap_or_default();
                println!("{}\t{}\t(matched `{}`)", e.name, tag, e.pattern);
            }
        }
    }
    let mut out = Outputs::default();
    out.set(
        "environments",
        resolved
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
    if let Some(first) = resolved.environments.first() {
        out.set("env", &first.name);
        out.set(
            "tag",
            first.tags.values().next().cloned().unwrap_or_default(),
        );
    }
    out.set("sha", &resolved.sha);
    Ok(out)
}

/// With no service declared, the tag is the same for any: key it by `*`.
pub(crate) fn tags_or_any(tags: BTreeMap<String, String>, tag: &str) -> BTreeMap<String, String> {
    if tags.is_empty() {
        BTreeMap::from([("*".to_string(), tag.to_string())])
    } else {
        tags
    }
}

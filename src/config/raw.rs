//! The raw config types: what serde_norway reads once the shape is known to be right.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::MergePolicy;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawConfig {
    pub(super) overlays: Option<String>,
    pub(super) commit_via: Option<String>,
    #[serde(default)]
    pub(super) services: Option<BTreeMap<String, Option<RawService>>>,
    pub(super) environments: Option<Vec<RawEnvironment>>,
    /// `trains: { <name>: [service, …] }`: services released as one.
    pub(super) trains: Option<BTreeMap<String, Option<Vec<String>>>>,
}

// No `deny_unknown_fields` where a target is flattened in (serde does not
// support the two together); the schema check has refused unknown keys already.
#[derive(Debug, Deserialize)]
pub(super) struct RawService {
    pub(super) image: Option<String>,
    /// `owner/name` of the repository the service's code lives in.
    pub(super) repository: Option<String>,
    pub(super) context: Option<String>,
    pub(super) dockerfile: Option<String>,
    /// The Dockerfile stage to build (`target:`).
    #[serde(rename = "target")]
    pub(super) build_target: Option<String>,
    #[serde(rename = "build-args")]
    pub(super) build_args: Option<BTreeMap<String, Option<String>>>,
    /// Globs of the files that make up the service (`changed`).
    pub(super) paths: Option<Vec<String>>,
    #[serde(flatten)]
    pub(super) target: RawTarget,
}

/// Where the version lives: on an environment, and on a service (which wins).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawTarget {
    pub(super) overlay: Option<String>,
    pub(super) file: Option<String>,
    pub(super) format: Option<String>,
    pub(super) fields: Option<RawFields>,
    pub(super) document: Option<RawDocument>,
    pub(super) policy: Option<String>,
    pub(super) create: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFields {
    pub(super) repository: Option<String>,
    pub(super) tag: Option<String>,
    pub(super) digest: Option<String>,
    pub(super) image: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDocument {
    pub(super) kind: Option<String>,
    pub(super) name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) struct RawEnvironment {
    pub(super) name: String,
    #[serde(default)]
    pub(super) branches: Vec<String>,
    #[serde(default)]
    pub(super) tags: Vec<String>,
    pub(super) tag: Option<String>,
    pub(super) merge: Option<MergePolicy>,
    #[serde(default)]
    pub(super) reviewers: Vec<String>,
    #[serde(default)]
    pub(super) labels: Vec<String>,
    pub(super) next: Option<String>,
    pub(super) allowed: Option<RawAccess>,
    pub(super) allow_direct: Option<bool>,
    #[serde(flatten)]
    pub(super) target: RawTarget,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccess {
    #[serde(default)]
    pub(super) users: Vec<String>,
    #[serde(default)]
    pub(super) teams: Vec<String>,
    pub(super) permission: Option<String>,
}

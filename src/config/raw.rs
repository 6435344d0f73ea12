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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) image: Option<String>,
    pub(super) context: Option<String>,
    pub(super) dockerfile: Option<String>,
    pub(super) target: Option<String>,
    #[serde(rename = "build-args")]
    pub(super) build_args: Option<BTreeMap<String, Option<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
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
    pub(super) overlay: Option<String>,
    pub(super) next: Option<String>,
    pub(super) allowed: Option<RawAccess>,
    pub(super) allow_direct: Option<bool>,
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

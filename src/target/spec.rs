//! The config's side of a target: what an environment or a service says
//! (`overlay:`, `file:`, `format:`, `fields:`, `document:`, `policy:`, `create:`),
//! which setting wins (the service's, key by key), and the path templates with
//! their `{service}` and `{env}` placeholders.

use std::path::{Path, PathBuf};

use crate::error::UserError;

use super::{FieldPath, Fields, Format, Target};

/// `document: { kind, name }`: the document of a multi-document file whose
/// `kind` and `metadata.name` are these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentSelector {
    pub kind: String,
    pub name: String,
}

/// `fields:` as the config names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldsSpec {
    pub repository: Option<FieldPath>,
    pub tag: Option<FieldPath>,
    pub digest: Option<FieldPath>,
    /// One `repo:tag@digest` string instead of the three.
    pub image: Option<FieldPath>,
}

/// What one environment or one service says about its targets.
#[derive(Debug, Clone, Default)]
pub struct TargetSpec {
    /// A Kustomize folder (path template).
    pub overlay: Option<String>,
    /// A file (path template).
    pub file: Option<String>,
    pub format: Option<Format>,
    pub fields: Option<FieldsSpec>,
    pub document: Option<DocumentSelector>,
    pub policy: Option<String>,
    pub create: Option<bool>,
}

/// `{service}` and `{env}` replaced; any other `{…}` (or an unclosed `{`) is an
/// error naming it.
pub fn expand(template: &str, service: &str, env: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        out.push_str(&rest[..open]);
        if rest[open..].starts_with('}') {
            return Err("has a `}` with no `{` before it".into());
        }
        let Some(close) = rest[open..].find('}') else {
            return Err("has a `{` that is never closed".into());
        };
        let name = &rest[open + 1..open + close];
        match name {
            "service" => out.push_str(service),
            "env" => out.push_str(env),
            other => {
                return Err(format!(
                    "uses unknown placeholder `{{{other}}}` (known: `{{service}}`, `{{env}}`)"
                ));
            }
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl TargetSpec {
    /// This (a service's) setting where it has one, else `base`'s (its
    /// environment's). A service's path, `file:` or `overlay:`, beats either of
    /// the environment's.
    pub fn over(&self, base: &TargetSpec) -> TargetSpec {
        let has_path = self.file.is_some() || self.overlay.is_some();
        TargetSpec {
            overlay: if has_path {
                self.overlay.clone()
            } else {
                base.overlay.clone()
            },
            file: if has_path {
                self.file.clone()
            } else {
                base.file.clone()
            },
            format: self.format.or(base.format),
            fields: self.fields.clone().or_else(|| base.fields.clone()),
            document: self.document.clone().or_else(|| base.document.clone()),
            policy: self.policy.clone().or_else(|| base.policy.clone()),
            create: self.create.or(base.create),
        }
    }

    /// The target of `service` (image `image`) in `env`, with the files of the
    /// workspace at `root` (a Kustomize folder's `kustomization.yaml`, `.yml` or
    /// `Kustomization`). `default_overlay` is the folder when nothing names one.
    pub fn resolve(
        &self,
        root: &Path,
        default_overlay: &Path,
        service: &str,
        env: &str,
        image: &str,
    ) -> Result<Target, UserError> {
        let bad = |what: &str, t: &str, m: String| {
            UserError::new(format!("{what} `{t}` {m}")).hint(
                "paths in the config are relative to the repository root and stay inside it; the placeholders are `{service}` and `{env}`",
            )
        };
        let path = match (&self.file, &self.overlay) {
            (Some(f), _) => {
                let p = expand(f, service, env).map_err(|m| bad("`file:`", f, m))?;
                crate::config::check_relative_path(root, &p).map_err(|m| bad("`file:`", &p, m))?;
                PathBuf::from(p)
            }
            (None, overlay) => {
                let dir = match overlay {
                    Some(o) => {
                        let d = expand(o, service, env).map_err(|m| bad("`overlay:`", o, m))?;
                        crate::config::check_relative_path(root, &d)
                            .map_err(|m| bad("`overlay:`", &d, m))?;
                        PathBuf::from(d)
                    }
                    None => default_overlay.to_path_buf(),
                };
                kustomization_in(root, &dir)
            }
        };
        let format = self.format.unwrap_or(Format::Kustomize);
        let fields = match (&self.fields, format) {
            (_, Format::Kustomize | Format::Flux) => None,
            (Some(f), _) => Some(f.to_fields()),
            (None, Format::Helm) => Some(Fields::helm_default()),
            (None, Format::Yaml) => {
                return Err(UserError::new(format!(
                    "the `yaml` target of {service} in `{env}` names no `fields:`"
                ))
                .hint("name the field, e.g. `fields: { image: spec.template.spec.containers[0].image }`"));
            }
        };
        if format == Format::Flux && self.policy.is_none() {
            return Err(UserError::new(format!(
                "the `flux` target of {service} in `{env}` names no `policy:`"
            ))
            .hint("name the image policy whose markers to set, e.g. `policy: flux-system:hello`"));
        }
        Ok(Target {
            path,
            format,
            image: image.to_string(),
            fields,
            document: self.document.clone(),
            policy: self.policy.clone(),
            create: self.create.unwrap_or(false),
        })
    }
}

impl FieldsSpec {
    fn to_fields(&self) -> Fields {
        match &self.image {
            Some(p) => Fields::Reference(p.clone()),
            None => {
                let Fields::Split {
                    repository: dr,
                    tag: dt,
                    digest: dd,
                } = Fields::helm_default()
                else {
                    unreachable!()
                };
                Fields::Split {
                    repository: self.repository.clone().map(|p| (p, true)).or(dr),
                    tag: self.tag.clone().unwrap_or(dt),
                    digest: self.digest.clone().map(|p| (p, true)).or(dd),
                }
            }
        }
    }
}

/// The kustomization file of a folder: `kustomization.yaml`, or the `.yml` or
/// `Kustomization` spelling kustomize also accepts when that is the one present.
pub fn kustomization_in(root: &Path, dir: &Path) -> PathBuf {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| root.join(p).is_file())
        .unwrap_or_else(|| dir.join("kustomization.yaml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_and_refuse_unknown_placeholders() {
        assert_eq!(
            expand("apps/{service}/overlays/{env}", "hello", "dev").unwrap(),
            "apps/hello/overlays/dev"
        );
        assert_eq!(expand("plain/path", "a", "b").unwrap(), "plain/path");
        assert!(
            expand("x/{srvice}", "a", "b")
                .unwrap_err()
                .contains("`{srvice}`")
        );
        assert!(expand("x/{service", "a", "b").is_err());
        assert!(expand("x/}", "a", "b").is_err());
    }

    #[test]
    fn the_service_wins_key_by_key_and_its_path_beats_either_of_the_env() {
        let env = TargetSpec {
            file: Some("envs/{env}/{service}.yaml".into()),
            format: Some(Format::Helm),
            create: Some(true),
            ..Default::default()
        };
        let svc = TargetSpec {
            overlay: Some("apps/{service}/{env}".into()),
            format: Some(Format::Kustomize),
            ..Default::default()
        };
        let m = svc.over(&env);
        assert_eq!(m.file, None);
        assert_eq!(m.overlay.as_deref(), Some("apps/{service}/{env}"));
        assert_eq!(m.format, Some(Format::Kustomize));
        assert_eq!(m.create, Some(true));
        let m = TargetSpec::default().over(&env);
        assert_eq!(m.file.as_deref(), Some("envs/{env}/{service}.yaml"));
    }
}

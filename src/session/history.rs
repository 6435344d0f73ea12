//! The versions an environment had, from its target file's git history (rollback).

use super::*;
use crate::config::{Environment, Service};
use crate::context::Context;
use crate::error::{Failure, UserError};

impl Session {
    /// The `steps`-th earlier distinct version of the service in `env`'s overlay,
    /// from the file's git history (deepened when the checkout is shallow).
    pub(crate) async fn previous_version(
        &self,
        cx: &Context,
        env: &Environment,
        service: &Service,
        steps: usize,
    ) -> anyhow::Result<(String, String)> {
        let target = cx.config.target(service, env)?;
        let rel = target.path.clone();
        let rel_str = target.path_str();
        let Repo { ws, base } = self.repo(cx)?;
        self.base_tip(ws, base)?;
        // Versions of the file, fetched deeper only as far as needed: other services'
        // changes to the same overlay don't count as steps.
        let mut n = steps + 2;
        let seen = loop {
            let history = ws.file_history(&format!("origin/{base}"), &rel_str, n)?;
            let mut seen: Vec<(String, Option<String>)> = Vec::new();
            for v in &history {
                let Some(text) = &v.text else { continue };
                let Ok(Some(e)) = target.read(text) else {
                    continue;
                };
                let Some(t) = e.tag.clone() else { continue };
                let key = (t, e.digest.clone());
                if seen.last() != Some(&key) {
                    seen.push(key);
                }
            }
            if seen.len() > steps || history.len() < n || n >= 5000 {
                break seen;
            }
            n *= 4;
        };
        let Some((t, d)) = seen.get(steps).cloned() else {
            return Err(UserError::new(format!(
                "`{}` has {} version(s) of {} in its history; cannot go back {steps}",
                rel.display(),
                seen.len(),
                service.name
            ))
            .hint("use `--to TAG` to name the version")
            .into());
        };
        let d = match d {
            Some(d) => d,
            None => {
                // Older entries may carry a tag only; resolve it now.
                self.registry
                    .digest_of(&service.image, &t)
                    .await?
                    .ok_or_else(|| {
                        Failure::new(format!(
                            "`{}:{t}` is no longer in the registry",
                            service.image
                        ))
                    })?
            }
        };
        println!(
            "rolling {} in `{}` back {steps} version(s), to `{t}`",
            service.name, env.name
        );
        Ok((t, d))
    }
}

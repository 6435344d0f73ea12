//! `retag SRC DST`: point a tag at the image another reference names, without a rebuild.

use crate::action::Outputs;
use crate::context::Context;
use crate::error::{Failure, UserError};
use crate::registry::{self, Registry};
use crate::session::*;

pub async fn retag(cx: &Context) -> anyhow::Result<Outputs> {
    let src = cx.required(&cx.inputs.source, "source")?;
    let dst = cx.required(&cx.inputs.target, "target")?;
    // The target is written to: the explicit credentials are for its registry.
    let host = registry::Reference::parse(dst).ok().map(|r| r.host);
    let reg = Registry::new(registry_options(&cx.inputs, host));
    let mut out = Outputs::default();
    if cx.dry_run {
        let s = registry::Reference::parse(src)?;
        let d = registry::Reference::parse(dst)?;
        let tag = d.tag.clone().ok_or_else(|| {
            UserError::new(format!("`{dst}` has no tag to set"))
                .hint("name the destination with a tag, e.g. `ghcr.io/acme/hello:uat`")
        })?;
        let want = match &s.digest {
            Some(dg) => Some(dg.clone()),
            None => {
                reg.digest_of(&s.name(), s.tag.as_deref().unwrap_or("latest"))
                    .await?
            }
        };
        let want = want.ok_or_else(|| Failure::new(format!("there is no image `{src}`")))?;
        let have = reg.digest_of(&d.name(), &tag).await?;
        if have.as_deref() == Some(want.as_str()) {
            println!("`{dst}` is already `{want}`; nothing to write");
        } else {
            println!("dry run: would retag `{src}` as `{dst}` ({want})");
        }
        out.set("digest", &want);
        return Ok(out);
    }
    let r = reg.retag(src, dst).await?;
    if r.written {
        println!("retagged `{src}` as `{dst}` ({})", r.digest);
    } else {
        println!("`{dst}` is already `{}`; nothing written", r.digest);
    }
    eprintln!("registry: {} requests", reg.request_count());
    out.set("digest", &r.digest);
    out.set("changed", r.written);
    Ok(out)
}

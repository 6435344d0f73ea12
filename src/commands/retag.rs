//! `retag SRC DST`: point a tag at the image another reference names, without a rebuild.

use crate::action::Outputs;
use crate::context::Context;
use crate::error::Failure;
use crate::inputs::Retag;
use crate::registry::Registry;
use crate::session::*;

pub async fn retag(cx: &Context, inputs: &Retag) -> anyhow::Result<Outputs> {
    let ((src, s), (dst, d)) = (&inputs.source, &inputs.target);
    // The target is written to: the explicit credentials are for its registry.
    let reg = Registry::new(registry_options(
        &inputs.registry,
        cx.inputs.token.as_deref(),
        Some(d.host.clone()),
    ));
    let mut out = Outputs::default();
    if cx.dry_run {
        let want = match &s.digest {
            Some(dg) => Some(dg.clone()),
            None => {
                reg.digest_of(&s.name(), s.tag.as_deref().unwrap_or("latest"))
                    .await?
            }
        };
        let want = want.ok_or_else(|| Failure::new(format!("there is no image `{src}`")))?;
        let have = reg.digest_of(&d.name(), &inputs.tag).await?;
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

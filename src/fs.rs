//! Reading repository files (untrusted text: decoded or refused with its place)
//! and writing them atomically.

use std::io::Write as _;
use std::path::Path;

use crate::error::{UserError, loc};

/// The text of a file the user wrote (an overlay, the config, CODEOWNERS): `Ok(None)`
/// when it does not exist; a [`UserError`] when it is a directory or not UTF-8 (named
/// by line and column); any other I/O error as a failure. `rel` is the path to show.
pub fn read_user_file(path: &Path, rel: &Path) -> anyhow::Result<Option<String>> {
    use anyhow::Context as _;
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(decode_user_text(rel, bytes)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(_) if path.is_dir() => Err(UserError::new(format!(
            "`{}` is a directory, not a file",
            rel.display()
        ))
        .hint("this path must be a file: rename the directory, or point `config` (or the environment's `overlay:`) elsewhere")
        .into()),
        Err(e) => Err(e).with_context(|| format!("reading `{}`", rel.display())),
    }
}

/// `bytes` as UTF-8 text, or a [`UserError`] at the line and column of the first byte
/// that is not (UTF-16, which some Windows editors write, is named as such).
pub fn decode_user_text(rel: &Path, bytes: Vec<u8>) -> Result<String, UserError> {
    let err = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e,
    };
    let bytes = err.as_bytes();
    let good = err.utf8_error().valid_up_to();
    let prefix = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
    let line = prefix.matches('\n').count() + 1;
    let column = prefix.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    let (what, from) = if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        (
            "is UTF-16 text (it starts with a UTF-16 byte-order mark)".to_string(),
            "UTF-16",
        )
    } else {
        (
            format!("is not UTF-8 text: byte 0x{:02x} here", bytes[good]),
            "LATIN1",
        )
    };
    Err(UserError::at(loc(rel, line, column), what).hint(format!(
        "YAML is read as UTF-8: save `{}` as UTF-8 (from {from}: `iconv -f {from} -t UTF-8`)",
        rel.display()
    )))
}

/// Atomic write: a temp file in the same folder, synced, then renamed over the
/// target, keeping its permissions. Readers see the old file or the new one. A
/// symlinked file is written through the link, which stays a link.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let target = if is_link {
        std::fs::canonicalize(path)?
    } else {
        path.to_path_buf()
    };
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".gitops-action-")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    // The temp file is private (0600); the result gets the old file's mode, or
    // the usual 0644 for a new file.
    let old = std::fs::metadata(&target);
    let perms = match &old {
        Ok(meta) => meta.permissions(),
        Err(_) => std::os::unix::fs::PermissionsExt::from_mode(0o644),
    };
    std::fs::set_permissions(tmp.path(), perms)?;
    // A Docker action runs as root on the runner user's checkout: the file keeps its
    // owner (a new one takes the folder's), or the job's next steps, run as that
    // user, could no longer write it. Only root may give a file away; others keep
    // the file as they made it.
    use std::os::unix::fs::MetadataExt;
    let owner = match &old {
        Ok(meta) => Some((meta.uid(), meta.gid())),
        Err(_) => std::fs::metadata(dir).ok().map(|m| (m.uid(), m.gid())),
    };
    let mine = tmp.as_file().metadata()?;
    if let Some((uid, gid)) = owner
        && (uid, gid) != (mine.uid(), mine.gid())
    {
        match std::os::unix::fs::chown(tmp.path(), Some(uid), Some(gid)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err(e.into()),
        }
    }
    tmp.persist(&target).map_err(|e| e.error)?;
    // The rename is durable once the folder's entry is on disk.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Where a run keeps its scratch files (the private repository of its fetches):
/// `RUNNER_TEMP` in Actions, which the runner mounts into a Docker action's container
/// and empties at the start and end of every job (actions/runner
/// `ContainerActionHandler`: `_work/_temp` -> `/github/runner_temp`), else the
/// system's temporary directory. The action's image is `FROM scratch`: without
/// `RUNNER_TEMP` only the image's own `/tmp` is there.
pub fn scratch_dir() -> std::path::PathBuf {
    std::env::var_os("RUNNER_TEMP")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code;

    #[test]
    fn text_that_is_not_utf8_is_named_by_line_and_column() {
        let e =
            decode_user_text(Path::new("o/k.yaml"), b"a: 1\nb: caf\xe9\n".to_vec()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "o/k.yaml:2:7: is not UTF-8 text: byte 0xe9 here"
        );
        assert!(e.hint.unwrap().contains("save `o/k.yaml` as UTF-8"));
        let e = decode_user_text(Path::new("k.yaml"), b"\xff\xfei\x00".to_vec()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "k.yaml:1:1: is UTF-16 text (it starts with a UTF-16 byte-order mark)"
        );
        assert_eq!(
            decode_user_text(Path::new("k"), "é\n".into()).unwrap(),
            "é\n"
        );
    }

    #[test]
    fn a_directory_is_a_user_error_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_user_file(&dir.path().join("nope"), Path::new("nope"))
                .unwrap()
                .is_none()
        );
        let e = read_user_file(dir.path(), Path::new("overlays/dev")).unwrap_err();
        assert_eq!(exit_code(&e), 2);
        assert_eq!(e.to_string(), "`overlays/dev` is a directory, not a file");
    }
}

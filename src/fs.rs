//! Reading repository files (untrusted text: decoded or refused with its place)
//! and writing them atomically.

use std::io::Write as _;
use std::path::Path;

use crate::error::{UserError, loc};

/// The most a repository file (config, overlay, CODEOWNERS) may hold. Real ones are
/// a few kilobytes; the cap keeps a link to `/dev/zero` or a huge blob from eating
/// the runner's memory.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// The text of a file the user wrote (an overlay, the config, CODEOWNERS): `Ok(None)`
/// when it does not exist; a [`UserError`] when it is a directory, a symbolic link,
/// a special file (FIFO, device, socket), larger than [`MAX_FILE_BYTES`], outside
/// `root` once its folders are resolved, or not UTF-8 (named by line and column);
/// any other I/O error as a failure. `rel` is the path to show.
///
/// The repository is untrusted (anyone who can push a branch writes it): a link
/// would let it make us read or, on write, overwrite any file the runner can reach.
pub fn read_user_file(root: &Path, path: &Path, rel: &Path) -> anyhow::Result<Option<String>> {
    use anyhow::Context as _;
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A folder on the way may still be a link out: check what exists.
            check_inside(root, path, rel)?;
            return Ok(None);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading `{}`", rel.display())),
        Ok(m) if m.is_dir() => return Err(UserError::new(format!(
            "`{}` is a directory, not a file",
            rel.display()
        ))
        .hint("this path must be a file: rename the directory, or point `config` (or the environment's `overlay:`) elsewhere")
        .into()),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(not_regular(rel, "a symbolic link").into());
        }
        Ok(m) if !m.is_file() => return Err(not_regular(rel, special_kind(&m)).into()),
        Ok(_) => {}
    }
    check_inside(root, path, rel)?;
    // O_NOFOLLOW: a link swapped in since the check is refused by the kernel;
    // O_NONBLOCK: a FIFO swapped in cannot hang the open.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                anyhow::Error::from(not_regular(rel, "a symbolic link"))
            } else {
                anyhow::Error::from(e).context(format!("reading `{}`", rel.display()))
            }
        })?;
    let meta = file
        .metadata()
        .with_context(|| format!("reading `{}`", rel.display()))?;
    if !meta.is_file() {
        return Err(not_regular(rel, special_kind(&meta)).into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big(rel, meta.len()).into());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading `{}`", rel.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(rel, bytes.len() as u64).into());
    }
    Ok(Some(decode_user_text(rel, bytes)?))
}

fn special_kind(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = m.file_type();
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn not_regular(rel: &Path, what: &str) -> UserError {
    UserError::new(format!("`{}` is {what}, not a regular file", rel.display())).hint(
        "repository files the action reads or writes (config, overlays, CODEOWNERS) must be regular files inside the repository: replace the link or special file with the file itself",
    )
}

fn too_big(rel: &Path, len: u64) -> UserError {
    UserError::new(format!(
        "`{}` holds {len} bytes, more than the {} this action reads",
        rel.display(),
        MAX_FILE_BYTES
    ))
    .hint("config, overlay and CODEOWNERS files are small text files: check that this is the right file")
}

/// `path`'s folder, resolved through any links, is inside `root` (also resolved).
/// A path not under `root` at all (an absolute `--config` the operator chose) is
/// not checked.
pub fn check_inside(root: &Path, path: &Path, rel: &Path) -> Result<(), UserError> {
    let Ok(under) = path.strip_prefix(root) else {
        return Ok(());
    };
    let Ok(root_real) = root.canonicalize() else {
        return Ok(());
    };
    // The deepest folder that exists, resolved.
    let mut probe = root.to_path_buf();
    let mut real = root_real.clone();
    let parts: Vec<_> = under.components().collect();
    for c in &parts[..parts.len().saturating_sub(1)] {
        probe.push(c);
        match probe.canonicalize() {
            Ok(r) => real = r,
            Err(_) => break,
        }
    }
    if real.starts_with(&root_real) {
        Ok(())
    } else {
        Err(UserError::new(format!(
            "`{}` leads outside the repository through a symbolic link (to `{}`)",
            rel.display(),
            real.display()
        ))
        .hint("overlays and config are read and written only inside the repository: replace the linked folder with a real one")
        )
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
/// symbolic link or special file at `path` is refused, never written through: the
/// repository is untrusted, and a link could point anywhere the runner can write.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(not_regular(path, "a symbolic link").into());
        }
        Ok(m) if !m.is_file() => return Err(not_regular(path, special_kind(&m)).into()),
        _ => {}
    }
    let target = path.to_path_buf();
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
            read_user_file(dir.path(), &dir.path().join("nope"), Path::new("nope"))
                .unwrap()
                .is_none()
        );
        let e = read_user_file(dir.path(), dir.path(), Path::new("overlays/dev")).unwrap_err();
        assert_eq!(exit_code(&e), 2);
        assert_eq!(e.to_string(), "`overlays/dev` is a directory, not a file");
    }

    /// Links, links out through a folder, FIFOs,
    /// devices and oversized files are refused with exit 2, without hanging.
    #[test]
    fn links_special_files_and_huge_files_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("k.yaml"), "x: 1\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let refuse = |p: &Path, want: &str| {
            let rel = p.strip_prefix(root).unwrap();
            let e = read_user_file(root, p, rel).unwrap_err();
            assert_eq!(exit_code(&e), 2, "{e}");
            assert!(e.to_string().contains(want), "{e}");
        };
        std::os::unix::fs::symlink(outside.path().join("k.yaml"), root.join("link.yaml")).unwrap();
        refuse(
            &root.join("link.yaml"),
            "is a symbolic link, not a regular file",
        );
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        refuse(&root.join("out/k.yaml"), "leads outside the repository");
        // Missing, but behind a link out: still refused (a write would land outside).
        refuse(&root.join("out/new.yaml"), "leads outside the repository");
        std::os::unix::fs::symlink("/dev/zero", root.join("zero")).unwrap();
        refuse(&root.join("zero"), "is a symbolic link");
        let fifo = root.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        refuse(&fifo, "is a FIFO (named pipe), not a regular file");
        let big = root.join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        refuse(&big, "more than the");
        // A link to a folder inside the repository is fine.
        std::fs::create_dir(root.join("real")).unwrap();
        std::fs::write(root.join("real/k.yaml"), "a: 1\n").unwrap();
        std::os::unix::fs::symlink("real", root.join("alias")).unwrap();
        let p = root.join("alias/k.yaml");
        assert_eq!(
            read_user_file(root, &p, Path::new("alias/k.yaml"))
                .unwrap()
                .unwrap(),
            "a: 1\n"
        );
    }
}

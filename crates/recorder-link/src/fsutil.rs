//! Durable file writes: temp file, fsync, rename, fsync of the directory.
//! After a crash a file is either its old version or its new one, never a
//! mix, and a rename that returned has reached the disk.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically and durably, with mode 0600 on Unix.
/// On failure (a full disk, say) the temp file is removed: nothing half
/// written stays behind to take space.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        let written = f
            .write_all(bytes)
            .and_then(|()| f.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    }
    sync_dir(dir)
}

/// Makes renames and removals in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// True for names [`write_atomic`] uses while writing.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Creates a directory readable by its owner only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_fails_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A directory in the way: the rename fails after the data is written.
        let target = dir.path().join("segment");
        std::fs::create_dir(&target).expect("dir");
        std::fs::write(target.join("inside"), b"x").expect("file");
        assert!(write_atomic(&target, b"data").is_err());
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("listed")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["segment".to_string()]);
        write_atomic(&dir.path().join("manifest"), b"m").expect("an ordinary write");
        assert_eq!(
            std::fs::read(dir.path().join("manifest")).expect("read"),
            b"m"
        );
    }
}

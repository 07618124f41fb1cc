//! Small file systems for tests of a full, read-only or failing disk: a
//! tmpfs, and an ext4 image that the kernel turns read-only while files
//! on it are open, as it does when a disk fails (mounting needs root, as
//! the test command runs in CI).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test; unmounted when dropped.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, options: &str) -> Tmpfs {
        std::fs::create_dir_all(at).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs at {} (this test needs root, as scripts/test is run in CI): {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }

    pub fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "remount {options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` with a file until it is full; the file.
pub fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let block = vec![0u8; 4096];
    // At most the tmpfs's size: the loop ends by itself.
    for _ in 0..4096 {
        if file.write_all(&block).is_err() {
            break;
        }
    }
    path
}

/// An ext4 file system in an image file, mounted through a loop device
/// with `errors=remount-ro`; unmounted when dropped.
pub struct Ext4Image {
    pub dir: PathBuf,
    image: PathBuf,
}

/// Runs `program args`, failing the test with its output if it fails.
fn run(program: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} does not run: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} (this test needs root, as scripts/test is run in CI): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Ext4Image {
    /// Makes a `megabytes` MB ext4 image at `image` and mounts it at `at`.
    pub fn mount(image: &Path, at: &Path, megabytes: u64) -> Ext4Image {
        std::fs::create_dir_all(at).expect("mount point");
        let file = std::fs::File::create(image).expect("image file");
        file.set_len(megabytes << 20).expect("image size");
        run(
            "mkfs.ext4",
            &["-q".as_ref(), "-F".as_ref(), image.as_os_str()],
        );
        let disk = Ext4Image {
            dir: at.to_path_buf(),
            image: image.to_path_buf(),
        };
        disk.attach();
        disk
    }

    fn attach(&self) {
        run(
            "mount",
            &[
                "-o".as_ref(),
                "loop,errors=remount-ro".as_ref(),
                self.image.as_os_str(),
                self.dir.as_os_str(),
            ],
        );
    }

    /// Makes the kernel see an error on the file system, which it then
    /// turns read-only at once, open files and all (ext4's
    /// `trigger_fs_error`, the path a failing disk takes).
    pub fn fail(&self) {
        let source = run(
            "findmnt",
            &[
                "-n".as_ref(),
                "-o".as_ref(),
                "SOURCE".as_ref(),
                self.dir.as_os_str(),
            ],
        );
        let device = source.trim().trim_start_matches("/dev/");
        let trigger = format!("/sys/fs/ext4/{device}/trigger_fs_error");
        std::fs::write(&trigger, "1").unwrap_or_else(|e| panic!("{trigger}: {e}"));
        let probe = std::fs::write(self.dir.join("probe"), "x");
        assert_eq!(
            probe.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ReadOnlyFilesystem),
            "{} is not read-only after the error",
            self.dir.display()
        );
    }

    /// What an operator does next: unmount, check and repair the file
    /// system (`e2fsck -fy`), and mount it again writable.
    pub fn repair(&self) {
        run("umount", &[self.dir.as_os_str()]);
        // e2fsck exits 1 when it corrected something: both are success here.
        let status = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(&self.image)
            .output()
            .expect("e2fsck runs");
        assert!(
            matches!(status.status.code(), Some(0 | 1)),
            "e2fsck: {}",
            String::from_utf8_lossy(&status.stdout)
        );
        self.attach();
    }
}

impl Drop for Ext4Image {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

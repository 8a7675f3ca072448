//! A small filesystem of its own (tmpfs) for disk-full tests: mounted on a test's directory,
//! filled on demand, unmounted when dropped. Mounting needs root: outside CI a test without
//! it is skipped with a message; under `CI=true` it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::servers::{is_root, unavailable};

/// A tmpfs of a fixed size mounted at a directory.
#[derive(Debug)]
pub struct SmallDisk {
    mount_point: PathBuf,
    filler: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` at `mount_point` (created when missing).
    pub fn mount(mount_point: &Path, bytes: u64) -> Option<Self> {
        if !is_root() {
            unavailable("a tmpfs mount", "mounting needs root")?;
        }
        std::fs::create_dir_all(mount_point).expect("create the mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes},mode=0755"))
            .arg("tmpfs")
            .arg(mount_point)
            .status();
        if !status.as_ref().is_ok_and(|s| s.success()) {
            unavailable("a tmpfs mount", &format!("mount failed: {status:?}"))?;
        }
        Some(Self {
            mount_point: mount_point.to_path_buf(),
            filler: mount_point.join(".filler"),
        })
    }

    /// Writes a filler file until the filesystem is full (ENOSPC).
    pub fn fill(&self) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filler)
            .expect("create the filler");
        let block = [0u8; 4096];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the disk failed otherwise: {e}"),
            }
        }
        let _ = file.sync_all();
    }

    /// Frees the space the filler took.
    pub fn free(&self) {
        std::fs::remove_file(&self.filler).expect("remove the filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process still holding a file must not keep the mount (or the test) alive.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
}

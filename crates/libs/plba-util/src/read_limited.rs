//! Reading a file that an operator names, with a ceiling on how much of it is read.
//!
//! A path in a configuration can name anything: a 50 MB file written by mistake, a FIFO, or
//! `/dev/urandom`. Reading such a path whole would allocate without bound, so every file a
//! setting names is read through here with a limit that fits what the setting holds.

use std::io::{self, Read};
use std::path::Path;

/// The bytes of the file at `path`, or an error of kind [`io::ErrorKind::FileTooLarge`]
/// saying the limit when the file holds more than `limit` bytes. At most `limit + 1` bytes
/// are ever read, whatever the file is. Only a regular file (or a link to one) is read: a
/// FIFO would block the reader until someone writes to it, and a device has no end.
pub fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    // Checked before opening, since opening a FIFO for reading blocks until it has a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path)?;
    // And again on what was opened, in case the path changed in between.
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than the limit of {}", human_bytes(limit)),
        ));
    }
    Ok(bytes)
}

fn not_regular() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "not a regular file (a FIFO, device or directory cannot be read as one)",
    )
}

/// The text of the file at `path`, read as [`read_limited`] does; an error of kind
/// [`io::ErrorKind::InvalidData`] when it is not UTF-8.
pub fn read_text_limited(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_limited(path, limit)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `4194304` → `4 MiB`, `1500` → `1500 bytes`: a limit as an operator reads it.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        for path in [Path::new("/dev/zero"), &fifo, dir.path()] {
            let err = read_limited(path, 1024).unwrap_err();
            assert_eq!(
                err.kind(),
                io::ErrorKind::InvalidInput,
                "{}",
                path.display()
            );
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
    }

    #[test]
    fn a_file_at_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_limited(&path, 5).unwrap(), b"12345");
        assert_eq!(
            read_limited(&path, 4).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
        assert_eq!(read_text_limited(&path, 5).unwrap(), "12345");
    }

    #[test]
    fn limits_read_in_the_largest_whole_unit() {
        assert_eq!(human_bytes(4 << 20), "4 MiB");
        assert_eq!(human_bytes(64 << 10), "64 KiB");
        assert_eq!(human_bytes(1500), "1500 bytes");
    }
}

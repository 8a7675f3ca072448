//! How much a configuration may hold: the ceilings that keep a mistaken or hostile file,
//! variable or secret file from taking the process's memory.

/// The ceilings applied while a configuration is read. The defaults fit any configuration a
/// person writes (the largest shipped example is a few kilobytes; an allowlist of 100,000
/// customers is about 4 MB) and stop what no configuration needs: a YAML alias bomb, a
/// 50 MB file written by mistake, a secret file that is a FIFO or `/dev/urandom`.
///
/// Fixed besides these: at most 500,000 values in all, brackets nested at most 512 deep,
/// at most 1,024 environment variables and `--set` arguments, keys of at most 32 levels;
/// only regular files are read.
///
/// ```
/// use plba_config::{ConfigLimits, ConfigSource};
///
/// let limits = ConfigLimits { expanded_bytes: 64, ..ConfigLimits::default() };
/// let source = ConfigSource::new()
///     .with_limits(limits)
///     .with_defaults("defaults", "app:\n  a: &x [1, 2, 3, 4, 5, 6]\n  b: [*x, *x, *x, *x]\n");
/// let error = source.load().unwrap_err().to_string();
/// assert!(error.contains("more than 64 bytes"), "{error}");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigLimits {
    /// The largest configuration file read, in bytes (default 4 MiB).
    pub file_bytes: u64,
    /// The most all sources together may expand to once YAML aliases are written out, in
    /// bytes: every scalar's text plus 8 for each value, which is about the size of the same
    /// document written without aliases (default 16 MiB).
    pub expanded_bytes: u64,
    /// The largest file read for a `<secret>_file` setting, in bytes (default 64 KiB).
    pub secret_file_bytes: u64,
}

impl Default for ConfigLimits {
    fn default() -> Self {
        Self {
            file_bytes: 4 << 20,
            expanded_bytes: 16 << 20,
            secret_file_bytes: 64 << 10,
        }
    }
}

//! Key names: all keys of one queue in one hash slot.

/// The keys of one queue: `<prefix>:{<name>}:<part>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    pub(crate) stream: String,
    pub(crate) delayed: String,
    pub(crate) dead: String,
    pub(crate) stats: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str, name: &str) -> Self {
        let base = format!("{prefix}:{{{name}}}");
        Self {
            stream: format!("{base}:stream"),
            delayed: format!("{base}:delayed"),
            dead: format!("{base}:dead"),
            stats: format!("{base}:stats"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hash_slot_per_queue() {
        let keys = Keys::new("plba", "orders");
        assert_eq!(keys.stream, "plba:{orders}:stream");
        assert_eq!(keys.delayed, "plba:{orders}:delayed");
        assert_eq!(keys.dead, "plba:{orders}:dead");
    }
}

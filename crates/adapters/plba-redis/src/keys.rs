//! Key names: all keys of one queue in one hash slot.

/// The keys of one queue: `<prefix>:{<name>}:<part>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    pub(crate) stream: String,
    pub(crate) delayed: String,
    pub(crate) dead: String,
    pub(crate) stats: String,
    /// Changes whenever the consumer group had to be created: whatever the queue held before
    /// may be gone (see `scripts::ENSURE_GROUP`).
    pub(crate) epoch: String,
    /// The prefix of the idempotency keys' keys.
    idempotency: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str, name: &str) -> Self {
        let base = format!("{prefix}:{{{name}}}");
        Self {
            stream: format!("{base}:stream"),
            delayed: format!("{base}:delayed"),
            dead: format!("{base}:dead"),
            stats: format!("{base}:stats"),
            epoch: format!("{base}:epoch"),
            idempotency: format!("{base}:key:"),
        }
    }

    /// Where the task holding idempotency key `key` is recorded (in the queue's hash slot).
    pub(crate) fn idempotency(&self, key: &str) -> String {
        format!("{}{key}", self.idempotency)
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
        assert_eq!(keys.epoch, "plba:{orders}:epoch");
        assert_eq!(keys.idempotency("invoice-7"), "plba:{orders}:key:invoice-7");
    }
}

//! W3C trace context in task metadata.

use opentelemetry::propagation::{Extractor, Injector};
use plba_contracts::Metadata;

/// Writes propagation headers into task metadata.
pub(crate) struct MetadataInjector<'a>(pub(crate) &'a mut Metadata);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

/// Reads propagation headers from task metadata.
pub(crate) struct MetadataExtractor<'a>(pub(crate) &'a Metadata);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k).collect()
    }
}

//! ServiceContainer: typed, named services shared between modules.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use plba_contracts::{RegistryError, ServiceRef};

use crate::sync::{read, write};

/// Named services of any type, shared as `Arc`s.
///
/// ```
/// use std::sync::Arc;
/// use plba_core::ServiceContainer;
///
/// struct Catalog { skus: Vec<String> }
///
/// let container = ServiceContainer::new();
/// container.insert("catalog", Arc::new(Catalog { skus: vec!["A-1".into()] })).unwrap();
/// let catalog = container.get::<Catalog>("catalog").unwrap();
/// assert_eq!(catalog.skus.len(), 1);
/// assert!(container.get::<String>("catalog").is_none(), "wrong type");
/// ```
#[derive(Debug, Default)]
pub struct ServiceContainer {
    services: RwLock<HashMap<String, ServiceRef>>,
}

impl ServiceContainer {
    /// An empty container.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a typed service; a taken name is an error.
    pub fn insert<T: Any + Send + Sync>(
        &self,
        name: &str,
        service: Arc<T>,
    ) -> Result<(), RegistryError> {
        self.insert_dyn(name, service)
    }

    /// Adds a type-erased service; a taken name is an error.
    pub fn insert_dyn(&self, name: &str, service: ServiceRef) -> Result<(), RegistryError> {
        let mut services = write(&self.services);
        if services.contains_key(name) {
            return Err(RegistryError::Duplicate {
                kind: "service",
                name: name.to_owned(),
            });
        }
        services.insert(name.to_owned(), service);
        Ok(())
    }

    /// The service named `name`, if it exists and is a `T`.
    pub fn get<T: Any + Send + Sync>(&self, name: &str) -> Option<Arc<T>> {
        self.get_dyn(name)?.downcast::<T>().ok()
    }

    /// The service named `name`, type-erased.
    pub fn get_dyn(&self, name: &str) -> Option<ServiceRef> {
        let services = read(&self.services);
        services.get(name).cloned()
    }

    /// The names of all services, sorted.
    pub fn names(&self) -> Vec<String> {
        let services = read(&self.services);
        let mut names: Vec<String> = services.keys().cloned().collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_names_are_refused() {
        let container = ServiceContainer::new();
        container.insert("a", Arc::new(1_u32)).unwrap();
        let err = container.insert("a", Arc::new(2_u32)).unwrap_err();
        assert_eq!(err.to_string(), "service \"a\" is already registered");
        assert_eq!(*container.get::<u32>("a").unwrap(), 1);
        assert_eq!(container.names(), vec!["a".to_owned()]);
    }
}

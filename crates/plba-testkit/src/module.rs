//! Modules built from a closure, for tests that need a quick `ApplicationModule`.

use plba_contracts::{ApplicationModule, Registry, RegistryError};

type RegisterFn = dyn Fn(&mut dyn Registry) -> Result<(), RegistryError> + Send + Sync;

/// An `ApplicationModule` whose `register` is a closure.
pub struct FnModule {
    name: String,
    register: Box<RegisterFn>,
}

impl FnModule {
    /// A module named `name` that registers with `register`.
    pub fn new(
        name: impl Into<String>,
        register: impl Fn(&mut dyn Registry) -> Result<(), RegistryError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            register: Box::new(register),
        }
    }
}

#[plba_contracts::async_trait]
impl ApplicationModule for FnModule {
    fn name(&self) -> &str {
        &self.name
    }

    async fn register(&self, registry: &mut dyn Registry) -> Result<(), RegistryError> {
        (self.register)(registry)
    }
}

impl std::fmt::Debug for FnModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnModule")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

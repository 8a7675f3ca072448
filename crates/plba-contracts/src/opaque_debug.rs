//! `Debug` for the contracts' trait objects, so a type holding `Arc<dyn TaskQueue>` (and the
//! like) can derive `Debug`: they print as the trait's name, since what lies behind is opaque.

use std::fmt;

macro_rules! opaque_debug {
    ($($trait:path => $name:literal),* $(,)?) => {
        $(
            impl fmt::Debug for dyn $trait {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str($name)
                }
            }
        )*
    };
}

opaque_debug! {
    crate::TaskTracer => "dyn TaskTracer",
    crate::TaskQueue => "dyn TaskQueue",
    crate::TaskHandler => "dyn TaskHandler",
    crate::Worker => "dyn Worker",
    crate::HealthContributor => "dyn HealthContributor",
    crate::MetricsSource => "dyn MetricsSource",
    crate::ConfigProvider => "dyn ConfigProvider",
    crate::ConfigSubscriber => "dyn ConfigSubscriber",
    crate::Lease => "dyn Lease",
}

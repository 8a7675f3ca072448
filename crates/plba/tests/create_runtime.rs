//! `create_runtime` loads and validates the configuration before anything runs, and hands
//! the module its section and the platform's options.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use plba_util::Unpoisoned;
use std::sync::Mutex;
use std::time::Duration;

use plba::config::ConfigSource;
use plba::contracts::{ApplicationModule, Registry, RegistryError, RegistryExt};
use plba::{PlbaError, PlbaOptions, RuntimeState};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
struct ShopConfig {
    greeting: String,
    copies: u32,
}

#[derive(Default)]
struct Shop {
    seen: Mutex<Option<ShopConfig>>,
}

#[plba::contracts::async_trait]
impl ApplicationModule for Shop {
    fn name(&self) -> &str {
        "shop"
    }

    async fn register(&self, registry: &mut dyn Registry) -> Result<(), RegistryError> {
        *self.seen.lock_or_recover() = Some(registry.own_section::<ShopConfig>()?);
        Ok(())
    }
}

fn options(yaml: &str, dir: &tempfile::TempDir) -> PlbaOptions {
    let file = dir.path().join("shop.yaml");
    std::fs::write(&file, yaml).unwrap();
    PlbaOptions {
        config: ConfigSource::new()
            .with_file(file)
            .with_env_vars(Vec::<(String, String)>::new()),
        // The process-wide subscriber is not this test's to take.
        install_telemetry: false,
    }
}

#[tokio::test]
async fn the_module_gets_its_section_and_the_runtime_its_platform_options() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::default();
    let application = plba::create_runtime(
        &shop,
        options(
            "platform:\n  stop_timeout_ms: 1500\nshop:\n  greeting: hello\n  copies: 2\n",
            &dir,
        ),
    )
    .await
    .unwrap();
    let runtime = application.runtime();
    assert_eq!(runtime.options().stop_timeout, Duration::from_millis(1500));
    assert_eq!(
        *shop.seen.lock_or_recover(),
        Some(ShopConfig {
            greeting: "hello".into(),
            copies: 2
        })
    );
    assert_eq!(runtime.state(), RuntimeState::Created);
    let reloaded = application.reload().await.unwrap();
    assert_eq!(reloaded.generation(), 1);
}

#[tokio::test]
async fn a_bad_configuration_stops_before_anything_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::default();
    let err = plba::create_runtime(
        &shop,
        options("platform:\n  stop_timeout_ms: 1500\n  unknown: 1\n", &dir),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PlbaError::Config(_)), "{err}");
    assert!(err.to_string().contains("`platform.unknown`"), "{err}");
    assert!(
        shop.seen.lock_or_recover().is_none(),
        "the module never ran register"
    );

    let err = plba::create_runtime(&shop, options("shop:\n  copies: many\n", &dir))
        .await
        .unwrap_err();
    assert!(matches!(err, PlbaError::Core(_)), "{err}");
    // What the operator reads: the error with its causes on one line.
    let shown = plba::util::error_chain(&err);
    assert!(shown.contains("`shop.copies`"), "{shown}");
    assert!(shown.contains("line 2"), "{shown}");
}

//! A running application reloads its configuration on SIGHUP and, when asked to, on file
//! change.
//! In a test binary of its own, because SIGHUP goes to the whole process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::sync::Arc;
use std::time::Duration;

use plba::Application;
use plba_config::{ConfigSource, ConfigurationManager};
use plba_core::{RuntimeManager, RuntimeState};
use plba_testkit::wait::eventually;

const DEADLINE: Duration = Duration::from_secs(20);

/// `yaml` with the control plane turned off: this test is about the configuration followers
/// alone, and the default control port may be taken.
fn without_control(yaml: &str) -> String {
    let off = "platform:\n  control:\n    enabled: false\n";
    match yaml.strip_prefix("platform:\n") {
        Some(rest) => format!("{off}{rest}"),
        None => format!("{off}{yaml}"),
    }
}

async fn run(
    yaml: &str,
    dir: &tempfile::TempDir,
) -> (
    RuntimeManager,
    Arc<ConfigurationManager>,
    std::path::PathBuf,
) {
    let file = dir.path().join("plba.yaml");
    std::fs::write(&file, without_control(yaml)).unwrap();
    let source = ConfigSource::new()
        .with_file(&file)
        .with_env_vars(Vec::<(String, String)>::new());
    let manager = Arc::new(ConfigurationManager::load(source).unwrap());
    let application = Application::new(Arc::clone(&manager), None);
    let runtime = application.runtime().clone();
    let mut state = runtime.subscribe_state();
    tokio::spawn(async move { plba::run_runtime(&application).await });
    plba_testkit::wait::reach(&mut state, RuntimeState::Running, DEADLINE, "running").await;
    (runtime, manager, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_and_file_changes_reload_the_configuration() {
    let dir = tempfile::tempdir().unwrap();

    let (runtime, manager, file) = run("app:\n  greeting: hello\n", &dir).await;
    std::fs::write(&file, without_control("app:\n  greeting: bonjour\n")).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    eventually(DEADLINE, "reloaded on SIGHUP", || {
        manager.current().generation() == 1
    })
    .await;
    let app: serde_json::Value = manager.current().section("app").unwrap().unwrap();
    assert_eq!(app["greeting"], "bonjour");
    assert_eq!(
        runtime.state(),
        RuntimeState::Running,
        "a reload does not restart anything"
    );
    runtime.request_shutdown();

    let (runtime, manager, file) = run(
        "platform:\n  config_watch_interval_ms: 20\napp:\n  n: 1\n",
        &dir,
    )
    .await;
    std::fs::write(
        &file,
        without_control("platform:\n  config_watch_interval_ms: 20\napp:\n  n: 2\n"),
    )
    .unwrap();
    eventually(DEADLINE, "reloaded on file change", || {
        manager.current().generation() >= 1
    })
    .await;
    let app: serde_json::Value = manager.current().section("app").unwrap().unwrap();
    assert_eq!(app["n"], 2);
    runtime.request_shutdown();
}

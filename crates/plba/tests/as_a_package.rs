//! PLBA as a package, as a new developer uses it: a crate outside this workspace depends on
//! `plba` by path, holds the README's first example as its `main.rs`, builds offline, and
//! its binary runs with the launcher's command line (`status` answers from the running
//! process).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use plba_testkit::process::{AppProcess, http_get, wait_until};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The README's first Rust block under "Writing an application".
fn readme_first_example() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = readme
        .split_once("## Writing an application")
        .expect("the README has its section")
        .1;
    let start = section.find("```rust").expect("a Rust block");
    let body = &section[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_owned()
}

#[test]
fn the_readme_example_builds_outside_the_workspace_and_answers_status() {
    let dir = tempfile::tempdir().unwrap();
    let krate = dir.path().join("greeter");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let plba = workspace().join("crates/plba").canonicalize().unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"greeter\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dependencies]\nplba = {{ path = {:?} }}\n\
             serde = {{ version = \"1\", features = [\"derive\"] }}\n\
             tokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }}\n\n\
             [workspace]\n",
            plba.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(krate.join("src/main.rs"), readme_first_example()).unwrap();
    // The workspace's lock pins the versions it was tested with; offline, nothing is fetched.
    std::fs::copy(workspace().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let target = workspace().join("target/as-a-package");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let built = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "the README's example does not build as a package:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let binary = target.join("debug/greeter");

    let port = plba_testkit::servers::free_port();
    let bind = format!("127.0.0.1:{port}");
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let mut command = Command::new(&binary);
    command
        .current_dir(&run)
        .env("PLBA__PLATFORM__CONTROL__BIND", &bind);
    let greeter = AppProcess::spawn(command, &run.join("greeter.log"));
    let addr = bind.parse().unwrap();
    wait_until(Duration::from_secs(60), "the greeter to be ready", || {
        http_get(addr, "/health/ready").is_ok_and(|r| r.status == 200)
    });
    let status = Command::new(&binary)
        .arg("status")
        .current_dir(&run)
        .env("PLBA__PLATFORM__CONTROL__BIND", &bind)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        status["modules"],
        serde_json::json!(["greeter"]),
        "{status}"
    );
    assert!(
        status["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == "greetings"),
        "{status}"
    );
    wait_until(Duration::from_secs(60), "a greeting handled", || {
        greeter.log().contains("hello")
    });
    let (exit, log) = greeter.stop(Duration::from_secs(60));
    assert!(exit.success(), "{log}");
}

//! The three roles of the control plane, as a team sets them up in the shipped example: a
//! viewer reads, an operator runs the work (stop, start, dead letters) but cannot touch the
//! configuration or end the process, an admin can; through the JSON API and the CLI alike,
//! with the audit naming who did what.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use plba_testkit::process::http_request;
use support::{DEADLINE, cli, control_addr, example_with_customers};

const ADMIN: &str = "admin-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

#[test]
fn an_operator_runs_the_work_but_only_an_admin_changes_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    for (file, token) in [("admin", ADMIN), ("operator", OPERATOR), ("viewer", VIEWER)] {
        std::fs::write(dir.path().join(file), token).unwrap();
    }
    let addr = control_addr();
    let config = example_with_customers("    orders@acme.example: ACME\n")
        .replace("127.0.0.1:9090", &addr.to_string())
        .replace(
            "    tokens: []\n",
            "    tokens:\n      - name: ops\n        token_file: admin\n        role: admin\n      - name: night-shift\n        token_file: operator\n        role: operator\n      - name: desk\n        token_file: viewer\n        role: viewer\n",
        );
    let bot = support::run_ready(dir.path(), &config, addr);
    let post = |path: &str, token: &str| {
        let auth = format!("Bearer {token}");
        http_request(addr, "POST", path, &[("Authorization", &auth)]).unwrap()
    };

    for path in [
        "/actions/stop",
        "/actions/start",
        "/queues/mail/dead-letters/purge",
    ] {
        let reply = post(path, OPERATOR);
        assert_eq!(reply.status, 200, "{path} as an operator: {}", reply.body);
        assert_eq!(post(path, VIEWER).status, 403, "{path} as a viewer");
    }
    for path in [
        "/actions/reload",
        "/actions/log-level?level=debug",
        "/actions/shutdown",
    ] {
        let reply = post(path, OPERATOR);
        assert_eq!(reply.status, 403, "{path} as an operator: {}", reply.body);
    }
    assert_eq!(post("/actions/reload", ADMIN).status, 200);

    // The CLI answers the same way.
    let file = dir.path().join("bot.yaml").display().to_string();
    let as_operator = |args: &[&str]| {
        let mut all = vec!["--config", file.as_str()];
        all.extend_from_slice(args);
        cli(
            dir.path(),
            &all,
            &[("PLBA_CONTROL_TOKEN", OPERATOR.to_owned())],
        )
    };
    let stopped = as_operator(&["stop"]);
    assert!(stopped.status.success(), "{stopped:?}");
    let started = as_operator(&["start"]);
    assert!(started.status.success(), "{started:?}");
    let refused = as_operator(&["log-level", "debug"]);
    assert!(!refused.status.success(), "{refused:?}");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        said.contains("admin"),
        "the refusal names the role it needs: {said}"
    );

    // The audit names the operator for the work it ran.
    let auth = format!("Bearer {VIEWER}");
    let audit = http_request(addr, "GET", "/audit", &[("Authorization", &auth)]).unwrap();
    let audit: serde_json::Value = serde_json::from_str(&audit.body).unwrap();
    let by_operator: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["who"] == "night-shift" && entry["status"] == 200)
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    for action in ["stop", "start", "purge-dead-letters"] {
        assert!(
            by_operator.contains(&action),
            "{action} not audited: {audit}"
        );
    }
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

//! The control plane against a client that guesses tokens and floods refusals, as the
//! operator meets it: `check-config` refuses a token too short to be secret or given twice;
//! a client past its failed sign-ins gets 429 with `Retry-After` while the probes and other
//! clients go on; an admin's change stays in `/audit` however many refusals follow, the
//! refusals are counted in `/metrics`, and the log says one line per client, not one each.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use plba_testkit::process::{http_request, http_request_from};
use support::{cli, control_addr, example_with_customers, metric, text};

const ADMIN: &str = "admin-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

/// The shipped example with `tokens` in place of its empty list.
fn example_with_tokens(tokens: &str) -> String {
    let example = example_with_customers("    orders@acme.example: ACME\n");
    assert!(example.contains("    tokens: []\n"), "the example changed");
    example.replace("    tokens: []\n", &format!("    tokens:\n{tokens}"))
}

fn token_entry(name: &str, file: &str, role: &str) -> String {
    format!("      - name: {name}\n        token_file: {file}\n        role: {role}\n")
}

fn check_config_error(dir: &Path, config: &str) -> String {
    let file = dir.join("bot.yaml");
    std::fs::write(&file, config).unwrap();
    let output = cli(
        dir,
        &["--config", &file.display().to_string(), "check-config"],
        &[],
    );
    assert!(!output.status.success(), "check-config accepted:\n{config}");
    text(&output.stderr)
}

#[test]
fn check_config_refuses_short_empty_and_repeated_tokens() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short"), "letmein\n").unwrap();
    std::fs::write(dir.path().join("empty"), "").unwrap();
    std::fs::write(dir.path().join("admin"), ADMIN).unwrap();
    std::fs::write(dir.path().join("admin-again"), ADMIN).unwrap();
    std::fs::write(dir.path().join("viewer"), VIEWER).unwrap();

    for (file, length) in [("short", 7), ("empty", 0)] {
        let error = check_config_error(
            dir.path(),
            &example_with_tokens(&token_entry("ops", file, "admin")),
        );
        assert!(
            error.contains("platform.control.tokens.0.token")
                && error.contains(&format!("is {length} bytes long"))
                && error.contains("at least 16 bytes")
                && error.contains("head -c 32 /dev/urandom | base64"),
            "{error}"
        );
        assert!(!error.contains("letmein"), "the token was shown: {error}");
    }

    // An admin token listed after a viewer's with the same value would act as the viewer.
    let error = check_config_error(
        dir.path(),
        &example_with_tokens(
            &(token_entry("desk", "admin", "viewer") + &token_entry("ops", "admin-again", "admin")),
        ),
    );
    assert!(
        error.contains("platform.control.tokens.1.token")
            && error.contains("same token as tokens[0] (\"desk\")"),
        "{error}"
    );
    assert!(!error.contains(ADMIN), "the token was shown: {error}");

    let error = check_config_error(
        dir.path(),
        &example_with_tokens(
            &(token_entry("ops", "admin", "admin") + &token_entry("ops", "viewer", "viewer")),
        ),
    );
    assert!(
        error.contains("platform.control.tokens.1.name")
            && error.contains("\"ops\" is also the name of tokens[0]"),
        "{error}"
    );
}

#[test]
fn a_guessing_client_is_slowed_while_probes_and_others_go_on_and_the_audit_keeps_changes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin"), ADMIN).unwrap();
    std::fs::write(dir.path().join("viewer"), VIEWER).unwrap();
    let addr = control_addr();
    let config = example_with_tokens(
        &(token_entry("ops", "admin", "admin") + &token_entry("desk", "viewer", "viewer")),
    )
    .replace("127.0.0.1:9090", &addr.to_string());
    let bot = support::run_ready(dir.path(), &config, addr);
    // The operator works from another address than the guesser.
    let operator = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let admin = format!("Bearer {ADMIN}");
    let as_operator = |method: &str, path: &str| {
        http_request_from(operator, addr, method, path, &[("Authorization", &admin)]).unwrap()
    };

    let change = as_operator("POST", "/actions/log-level?level=debug");
    assert_eq!(change.status, 200, "{}", change.body);

    // Anonymous attempts at an action are refused, but they guess no token: not limited.
    for _ in 0..300 {
        let reply = http_request(addr, "POST", "/actions/stop", &[]).unwrap();
        assert_eq!(reply.status, 401, "{}", reply.body);
    }
    // Ten wrong tokens use up the allowance; the next try is 429, right token or not.
    for n in 0..10 {
        let guess = format!("Bearer guess-{n:020}");
        let reply = http_request(addr, "GET", "/config", &[("Authorization", &guess)]).unwrap();
        assert_eq!(reply.status, 401, "guess {n}: {}", reply.body);
    }
    let guess = "Bearer guess-number-eleven-000000";
    let limited = http_request(addr, "GET", "/config", &[("Authorization", guess)]).unwrap();
    assert_eq!(limited.status, 429, "{}", limited.body);
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=6).contains(&wait), "Retry-After: {wait}");
    let body: serde_json::Value = serde_json::from_str(&limited.body).unwrap();
    assert_eq!(body["error"]["code"], "too_many_failures", "{body}");
    let right = http_request(addr, "GET", "/config", &[("Authorization", &admin)]).unwrap();
    assert_eq!(right.status, 429, "a right guess is not told apart");
    // Probes and open reads need no token and are never limited.
    for path in ["/health/live", "/health/ready", "/status"] {
        assert_eq!(
            http_request(addr, "GET", path, &[]).unwrap().status,
            200,
            "{path}"
        );
    }
    // Another address is not limited.
    assert_eq!(as_operator("GET", "/config").status, 200);

    let refused_so_far = as_operator("GET", "/audit");
    let audit: serde_json::Value = serde_json::from_str(&refused_so_far.body).unwrap();
    let refusals = audit["refusals"].as_array().unwrap();
    assert!(
        refusals
            .iter()
            .any(|e| e["client"] == "127.0.0.1" && e["action"] == "config" && e["status"] == 429),
        "{audit}"
    );

    // A viewer signing in again and again is stopped after ten, and its sign-ins are
    // audited apart from the changes: the admin's change stays.
    let desk = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let viewer = format!("Bearer {VIEWER}");
    let mut statuses = Vec::new();
    for _ in 0..250 {
        let reply = http_request_from(
            desk,
            addr,
            "POST",
            "/ui/session",
            &[("Authorization", &viewer)],
        )
        .unwrap();
        statuses.push(reply.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        240,
        "{statuses:?}"
    );

    let audit = as_operator("GET", "/audit");
    let audit: serde_json::Value = serde_json::from_str(&audit.body).unwrap();
    let changes = audit["audit"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|e| e["who"] == "ops" && e["action"] == "log-level" && e["status"] == 200),
        "the admin's change was pushed out: {audit}"
    );
    assert!(
        changes.iter().all(|e| e["status"] == 200),
        "refusals mixed into the changes: {audit}"
    );
    assert_eq!(
        changes.iter().filter(|e| e["action"] == "sign-in").count(),
        10,
        "{audit}"
    );

    let metrics = as_operator("GET", "/metrics").body;
    let refused = |code: &str| {
        metric(
            &metrics,
            &format!("plba_control_requests_denied_total{{code=\"{code}\"}}"),
        )
    };
    assert_eq!(refused("unauthorized"), 310.0, "{metrics}");
    assert_eq!(refused("too_many_failures"), 2.0, "{metrics}");
    assert_eq!(refused("too_many_sign_ins"), 240.0, "{metrics}");

    let (exit, log) = bot.stop(support::DEADLINE);
    assert!(exit.success(), "{log}");
    let lines = log
        .lines()
        .filter(|line| line.contains("refused") && line.contains("127.0.0.1"))
        .count();
    assert_eq!(
        lines, 1,
        "312 refusals from one client within a minute are one log line:\n{log}"
    );
}

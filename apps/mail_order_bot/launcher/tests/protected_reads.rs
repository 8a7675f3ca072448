//! Reads behind a viewer token, as an operator whose port is reachable from outside sets
//! it up from the shipped example: with `protect_reads: true` nothing but the probes answers
//! an anonymous caller, and a viewer token reads everything; the shipped default leaves
//! reads open for a loopback bind.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::net::SocketAddr;

use plba_testkit::process::{AppProcess, http_request};
use support::{DEADLINE, control_addr, example_with_customers};

const ADMIN: &str = "admin-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

/// Paths that tell an anonymous caller something about the running bot.
const READS: [&str; 6] = [
    "/health",
    "/status",
    "/metrics",
    "/traces",
    "/queues/mail/dead-letters",
    "/views",
];

fn start(protect_reads: bool) -> (tempfile::TempDir, AppProcess, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin"), ADMIN).unwrap();
    std::fs::write(dir.path().join("viewer"), VIEWER).unwrap();
    let addr = control_addr();
    let mut config = example_with_customers("    orders@acme.example: ACME\n")
        .replace("127.0.0.1:9090", &addr.to_string())
        .replace(
            "    tokens: []\n",
            "    tokens:\n      - name: ops\n        token_file: admin\n        role: admin\n      - name: scraper\n        token_file: viewer\n        role: viewer\n",
        );
    if protect_reads {
        assert!(
            config.contains("    protect_reads: false\n"),
            "the example changed"
        );
        config = config.replace("    protect_reads: false\n", "    protect_reads: true\n");
    }
    let bot = support::run_ready(dir.path(), &config, addr);
    (dir, bot, addr)
}

#[test]
fn with_protect_reads_only_the_probes_answer_an_anonymous_caller() {
    let (_dir, bot, addr) = start(true);
    for path in READS {
        let anonymous = http_request(addr, "GET", path, &[]).unwrap();
        assert_eq!(anonymous.status, 401, "{path}: {}", anonymous.body);
        assert!(
            !anonymous.body.contains("mail"),
            "{path} told an anonymous caller: {}",
            anonymous.body
        );
        let viewer = format!("Bearer {VIEWER}");
        let read = http_request(addr, "GET", path, &[("Authorization", &viewer)]).unwrap();
        assert_eq!(
            read.status, 200,
            "{path} with a viewer token: {}",
            read.body
        );
    }
    for probe in ["/health/live", "/health/ready"] {
        assert_eq!(http_request(addr, "GET", probe, &[]).unwrap().status, 200);
    }
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

#[test]
fn the_shipped_default_leaves_reads_open_and_config_closed() {
    let (_dir, bot, addr) = start(false);
    for path in ["/health", "/status", "/metrics", "/traces"] {
        assert_eq!(
            http_request(addr, "GET", path, &[]).unwrap().status,
            200,
            "{path}"
        );
    }
    for path in ["/config", "/audit", "/views"] {
        assert_eq!(
            http_request(addr, "GET", path, &[]).unwrap().status,
            401,
            "{path}"
        );
    }
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

/// The case: a store whose database refuses the bot's password. The probe still
/// answers anyone (an orchestrator has no token), but with `protect_reads` it names what
/// fails, not the database's words; a viewer reads them at `/health`.
#[test]
fn with_protect_reads_an_anonymous_probe_names_what_fails_but_not_why() {
    let Some(pg) = plba_testkit::postgres::PostgresServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("viewer"), VIEWER).unwrap();
    std::fs::write(dir.path().join("pg-password"), "not-the-password").unwrap();
    let addr = control_addr();
    let config = example_with_customers("    orders@acme.example: ACME\n")
        .replace("127.0.0.1:9090", &addr.to_string())
        .replace(
            "    tokens: []\n",
            "    tokens:\n      - name: scraper\n        token_file: viewer\n        role: viewer\n",
        )
        .replace("    protect_reads: false\n", "    protect_reads: true\n")
        .replace(
            "  store:\n    kind: sqlite\n    sqlite_path: data/orders.db\n",
            &format!(
                "  store:\n    kind: postgres\n    url: {}\n    password_file: pg-password\n",
                pg.url()
            ),
        );
    assert!(config.contains("protect_reads: true") && config.contains("kind: postgres"));
    let file = dir.path().join("bot.yaml");
    std::fs::write(&file, config).unwrap();
    let bot = support::start_bot(
        dir.path(),
        &["--config", &file.display().to_string(), "run"],
        &[],
    );
    let mut anonymous = None;
    plba_testkit::process::wait_until(DEADLINE, "the probe to name the store", || {
        assert!(support::bot_alive(&bot), "the bot exited:\n{}", bot.log());
        let reply = http_request(addr, "GET", "/health/ready", &[]);
        let named = reply
            .as_ref()
            .is_ok_and(|r| r.status == 503 && r.body.contains("order-store"));
        anonymous = reply.ok();
        named
    });
    let anonymous = anonymous.unwrap();
    assert!(
        !anonymous.body.contains("password") && !anonymous.body.contains("database"),
        "an anonymous probe was told why: {}",
        anonymous.body
    );
    let viewer = format!("Bearer {VIEWER}");
    let read = http_request(addr, "GET", "/health", &[("Authorization", &viewer)]).unwrap();
    assert_eq!(read.status, 503, "{}", read.body);
    assert!(
        read.body.contains("password authentication failed"),
        "a viewer reads why at /health: {}",
        read.body
    );
    let (_exit, log) = bot.stop(DEADLINE);
    assert!(!log.contains("panicked"), "{log}");
}

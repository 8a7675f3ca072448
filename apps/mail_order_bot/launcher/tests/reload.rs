//! Reloading a running bot as an operator does: edit the file, send SIGHUP or press the
//! reload action. What can change live changes; what needs a restart is said so; a broken
//! file is refused and the running configuration stays.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::path::Path;

use plba_testkit::mail::MailBuilder;
use plba_testkit::process::{http_get, http_post, wait_until};
use support::{DEADLINE, control_addr, listed, start_bot, wait_ready};

fn config(addr: std::net::SocketAddr, token_file: &Path, workers: i64, customers: &str) -> String {
    format!(
        "platform:\n  control:\n    bind: {addr}\n    tokens:\n      - name: ops\n        token_file: {}\n        role: admin\nmail_order_bot:\n  workers: {workers}\n  source:\n    kind: maildir\n    path: data/Maildir\n    rescan_interval_ms: 100\n  customers:\n{customers}",
        token_file.display()
    )
}

fn deliver_lines(dir: &Path, config: &str, from: &str, message_id: &str, lines: &[u8]) {
    let mail = MailBuilder::new(from, message_id)
        .attachment("o.csv", "text/csv", lines)
        .build();
    support::deliver(dir, config, message_id.trim_matches(['<', '>']), &mail);
}

fn deliver(dir: &Path, config: &str, from: &str, message_id: &str) {
    deliver_lines(dir, config, from, message_id, b"sku,quantity\nA-1,2\n");
}

fn generation(addr: std::net::SocketAddr) -> u64 {
    let status: serde_json::Value =
        serde_json::from_str(&http_get(addr, "/status").unwrap().body).unwrap();
    status["config_generation"].as_u64().unwrap()
}

#[test]
fn a_reload_applies_customers_live_reports_what_needs_a_restart_and_refuses_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "admin-token-0123456789\n").unwrap();
    let addr = control_addr();
    let file = dir.path().join("bot.yaml");
    let path = file.display().to_string();
    std::fs::write(
        &file,
        config(addr, &token, 3, "    \"a@first.example\": FIRST\n"),
    )
    .unwrap();
    let bot = start_bot(dir.path(), &["--config", &path, "run"], &[]);
    wait_ready(&bot, addr);
    let args = ["--config", path.as_str()];

    deliver(dir.path(), &path, "b@second.example", "<before@x>");
    wait_until(DEADLINE, "the unknown sender rejected", || {
        listed(dir.path(), "rejections", &args, &[]).len() == 1
    });

    // The operator adds the customer and sends SIGHUP.
    std::fs::write(
        &file,
        config(
            addr,
            &token,
            3,
            "    \"a@first.example\": FIRST\n    \"b@second.example\": SECOND\n",
        ),
    )
    .unwrap();
    bot.signal("HUP");
    wait_until(DEADLINE, "the reload accepted", || generation(addr) == 1);
    deliver(dir.path(), &path, "b@second.example", "<after@x>");
    wait_until(DEADLINE, "the new customer's order stored", || {
        listed(dir.path(), "orders", &args, &[]).len() == 1
    });
    assert_eq!(
        listed(dir.path(), "orders", &args, &[])[0]["customer_id"],
        "SECOND"
    );

    // A change that needs a restart is reported as such, not as applied; the limits that
    // came with it apply at once.
    std::fs::write(
        &file,
        config(addr, &token, 5, "    \"b@second.example\": SECOND\n")
            + "  limits:\n    max_lines: 1\n",
    )
    .unwrap();
    let reply = http_post(addr, "/actions/reload", "admin-token-0123456789").unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["generation"], 2);
    assert_eq!(
        body["restart_required"],
        serde_json::json!(["mail_order_bot.workers"]),
        "{body}"
    );

    deliver_lines(
        dir.path(),
        &path,
        "b@second.example",
        "<two-lines@x>",
        b"sku,quantity\nA-1,1\nB-2,1\n",
    );
    wait_until(
        DEADLINE,
        "the two-line order refused by the new limit",
        || listed(dir.path(), "rejections", &args, &[]).len() == 2,
    );
    let latest = &listed(dir.path(), "rejections", &args, &[])[0];
    assert!(
        latest.to_string().contains("more than 1 order lines"),
        "{latest}"
    );

    // A broken file is refused, with the key named, and the running configuration stays,
    // whether the reload comes from the action or from SIGHUP.
    std::fs::write(
        &file,
        config(addr, &token, 0, "    \"b@second.example\": SECOND\n"),
    )
    .unwrap();
    let reply = http_post(addr, "/actions/reload", "admin-token-0123456789").unwrap();
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(
        reply.body.contains("mail_order_bot.workers"),
        "{}",
        reply.body
    );
    bot.signal("HUP");
    wait_until(DEADLINE, "the SIGHUP reload refused too", || {
        bot.log().matches("configuration reload rejected").count() == 2
    });
    assert_eq!(generation(addr), 2);
    // Read-only commands and `deliver` still work on the broken file.
    deliver(dir.path(), &path, "b@second.example", "<still@x>");
    wait_until(
        DEADLINE,
        "mail still processed after the refused reloads",
        || listed(dir.path(), "orders", &args, &[]).len() == 2,
    );
    assert_eq!(listed(dir.path(), "rejections", &args, &[]).len(), 2);

    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
    assert!(
        log.contains("take effect after a restart"),
        "the log says a restart is needed:\n{log}"
    );
}

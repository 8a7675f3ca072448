//! API tokens per user, as a team uses them for scripts and CI: made with the CLI (shown
//! once), used as bearer tokens with their user's role, named in the audit, listed with
//! their last use, and refused at once when revoked or when their user is disabled.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use plba_testkit::process::http_request;
use support::{DEADLINE, add_user, control_addr, users_ok};

#[test]
fn a_users_token_acts_with_its_role_until_revoked_or_the_user_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let (config, file) = support::users_config(dir.path(), addr);
    add_user(dir.path(), &file, "ana", "operator", "ana's long password");
    let made = users_ok(dir.path(), &file, &["token-add", "ana", "--name", "ci"], "");
    let ci = made.trim().to_owned();
    assert!(ci.starts_with("plba_"), "{ci}");
    let made = users_ok(
        dir.path(),
        &file,
        &["token-add", "ana", "--name", "cron", "--expires-in", "1h"],
        "",
    );
    let cron = made.trim().to_owned();
    let bot = support::run_ready(dir.path(), &config, addr);
    let post = |path: &str, token: &str| {
        let auth = format!("Bearer {token}");
        http_request(addr, "POST", path, &[("Authorization", &auth)]).unwrap()
    };

    assert_eq!(post("/actions/stop", &ci).status, 200);
    assert_eq!(post("/actions/start", &ci).status, 200);
    assert_eq!(
        post("/actions/reload", &ci).status,
        403,
        "an operator's token"
    );
    let auth = format!("Bearer {ci}");
    let audit = http_request(addr, "GET", "/audit", &[("Authorization", &auth)]).unwrap();
    assert!(audit.body.contains("ana (token ci)"), "{}", audit.body);

    let listed = users_ok(dir.path(), &file, &["tokens", "ana", "--json"], "");
    let tokens: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let ci_row = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap();
    assert!(ci_row["last_used_ms"].is_i64(), "{tokens}");
    assert!(!listed.contains(&ci), "a secret listed");

    // Revoked: refused at the next request, by the running instance.
    let id = ci_row["id"].as_str().unwrap().to_owned();
    users_ok(dir.path(), &file, &["token-revoke", "ana", &id], "");
    assert_eq!(post("/actions/stop", &ci).status, 401);
    // The user disabled: every token of theirs refused at once.
    assert_eq!(post("/actions/stop", &cron).status, 200);
    users_ok(dir.path(), &file, &["disable", "ana"], "");
    assert_eq!(post("/actions/start", &cron).status, 401);
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

//! Sessions kept in the users' database, as a team runs two bots sharing PostgreSQL: a
//! browser signed in on one is signed in on the other, and "sign out everywhere" or an admin
//! disabling the user ends it on both at the next request.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::net::SocketAddr;

use plba_testkit::postgres::PostgresServer;
use plba_testkit::process::{HttpReply, http_request};
use support::{
    DEADLINE, add_user, control_addr, example_with_customers, password_sign_in, session_of,
    users_ok,
};

const ANA: &str = "ana's long password";

/// `(cookie, csrf)` of ana's sign-in on `addr`.
fn sign_in(addr: SocketAddr) -> (String, String) {
    session_of(&password_sign_in(addr, "ana", ANA))
}

fn who(addr: SocketAddr, cookie: &str) -> HttpReply {
    http_request(addr, "GET", "/ui/session", &[("Cookie", cookie)]).unwrap()
}

/// The shipped example on `addr`, its users in `pg`.
fn with_users(pg: &PostgresServer, addr: SocketAddr) -> String {
    let url = pg
        .url()
        .replacen("://plba@", &format!("://plba:{}@", pg.password()), 1);
    example_with_customers("    orders@acme.example: ACME\n")
        .replace("127.0.0.1:9090", &addr.to_string())
        .replace(
            "    protect_reads: false\n",
            &format!(
                "    protect_reads: false\n    users:\n      kind: postgres\n      url: {url}\n"
            ),
        )
}

#[test]
fn a_session_lives_in_the_shared_database_and_ends_everywhere_at_once() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let bots: Vec<(tempfile::TempDir, SocketAddr, String)> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let addr = control_addr();
            let config = with_users(&pg, addr);
            let file = dir.path().join("bot.yaml");
            std::fs::write(&file, &config).unwrap();
            (dir, addr, config)
        })
        .collect();
    let file_a = bots[0].0.path().join("bot.yaml").display().to_string();
    add_user(bots[0].0.path(), &file_a, "ana", "operator", ANA);
    let running: Vec<_> = bots
        .iter()
        .map(|(dir, addr, config)| support::run_ready(dir.path(), config, *addr))
        .collect();
    let (a, b) = (bots[0].1, bots[1].1);

    // Signed in on one bot, the browser is signed in on the other.
    let (cookie, csrf) = sign_in(a);
    assert_eq!(who(b, &cookie).status, 200);
    let stop = http_request(
        b,
        "POST",
        "/actions/stop",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
    )
    .unwrap();
    assert_eq!(stop.status, 200, "{}", stop.body);
    let (other_cookie, _) = sign_in(b);

    // "Sign out everywhere" on one: both sessions end on both, at the next request.
    let everywhere = http_request(
        a,
        "POST",
        "/ui/session/end-everywhere",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
    )
    .unwrap();
    assert_eq!(everywhere.status, 200, "{}", everywhere.body);
    assert!(
        everywhere.body.contains(r#""sessions_ended":2"#),
        "{}",
        everywhere.body
    );
    for (addr, cookie) in [
        (a, &cookie),
        (b, &cookie),
        (a, &other_cookie),
        (b, &other_cookie),
    ] {
        assert_eq!(who(addr, cookie).status, 401);
    }

    // Disabled by an admin: the session ends on both bots too.
    let (cookie, _) = sign_in(b);
    assert_eq!(who(a, &cookie).status, 200);
    users_ok(bots[0].0.path(), &file_a, &["disable", "ana"], "");
    assert_eq!(who(a, &cookie).status, 401);
    assert_eq!(who(b, &cookie).status, 401);
    // Enabled again: the old session stays ended.
    users_ok(bots[0].0.path(), &file_a, &["enable", "ana"], "");
    assert_eq!(who(b, &cookie).status, 401);

    // A user's API token is for the API, not for a browser's session.
    let token = users_ok(
        bots[0].0.path(),
        &file_a,
        &["token-add", "ana", "--name", "ci"],
        "",
    );
    let auth = format!("Bearer {}", token.trim());
    let refused = http_request(a, "POST", "/ui/session", &[("Authorization", &auth)]).unwrap();
    assert_eq!(refused.status, 401, "{}", refused.body);

    for bot in running {
        let (exit, log) = bot.stop(DEADLINE);
        assert!(exit.success(), "{log}");
    }
}

/// A probe answers whoever asks, whatever they carry: a browser's session cookie or a
/// user's API token sent along while the users' database is down still gets the readiness
/// answer, not the database's error.
#[test]
fn the_probes_answer_a_caller_with_credentials_while_the_users_database_is_down() {
    let Some(mut pg) = PostgresServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let config = with_users(&pg, addr);
    let file = dir.path().join("bot.yaml");
    std::fs::write(&file, &config).unwrap();
    let file = file.display().to_string();
    add_user(dir.path(), &file, "ana", "operator", ANA);
    let bot = support::run_ready(dir.path(), &config, addr);
    let (cookie, _) = sign_in(addr);
    pg.stop();
    let credentials = [
        ("Cookie", cookie.as_str()),
        (
            "Authorization",
            "Bearer plba_0123abcd_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
    ];
    for (name, value) in credentials {
        for probe in ["/health/live", "/health/ready"] {
            let reply = http_request(addr, "GET", probe, &[(name, value)]).unwrap();
            let answer: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            assert!(
                answer.get("status").is_some() && answer.get("error").is_none(),
                "{probe} with a {name}: {} {}",
                reply.status,
                reply.body
            );
        }
    }
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

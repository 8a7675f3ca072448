//! A user's own account, as people use it: making, using and revoking their API tokens from
//! a browser session (a token cannot make another), changing their password (which signs
//! them out everywhere), and the audit naming who changed which user or token, the command
//! line included.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use fantoccini::Locator;
use plba_testkit::browser::{ChromeDriver, Console};
use plba_testkit::process::{HttpReply, http_request};
use support::{
    DEADLINE, add_user, control_addr, password_admin, password_sign_in, session_of, users_config,
    users_ok,
};

const ANA: &str = "ana's long password";
const ANA_NEW: &str = "ana's brand new password";

#[test]
fn users_make_their_own_tokens_and_change_their_password() {
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let (config, file) = users_config(dir.path(), addr);
    add_user(dir.path(), &file, "ana", "operator", ANA);
    let bot = support::run_ready(dir.path(), &config, addr);

    let (cookie, csrf) = session_of(&password_sign_in(addr, "ana", ANA));
    let with_session = |method: &str, path: &str| -> HttpReply {
        http_request(
            addr,
            method,
            path,
            &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        )
        .unwrap()
    };
    let listed = with_session("GET", "/me/tokens");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(listed.body.contains(r#""tokens":[]"#), "{}", listed.body);
    assert!(
        listed.body.contains(r#""password":true"#),
        "{}",
        listed.body
    );

    // A token made from the session: shown once, acting with Ana's role.
    let made = with_session("POST", "/me/tokens?name=ci&days=30");
    assert_eq!(made.status, 200, "{}", made.body);
    let made: serde_json::Value = serde_json::from_str(&made.body).unwrap();
    let token = made["token"].as_str().unwrap().to_owned();
    let id = made["info"]["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("plba_"), "{token}");
    let bearer = format!("Bearer {token}");
    let with_token = |method: &str, path: &str| -> HttpReply {
        http_request(addr, method, path, &[("Authorization", &bearer)]).unwrap()
    };
    assert_eq!(
        with_token("POST", "/actions/stop").status,
        200,
        "an operator's token"
    );
    assert_eq!(with_token("POST", "/actions/start").status, 200);
    assert_eq!(with_token("POST", "/actions/reload").status, 403);
    // A token cannot make a successor, nor change the password.
    let successor = with_token("POST", "/me/tokens?name=more&days=1");
    assert_eq!(successor.status, 403, "{}", successor.body);
    assert!(
        successor.body.contains("needs_session"),
        "{}",
        successor.body
    );
    let listed = with_token("GET", "/me/tokens");
    assert!(listed.body.contains(r#""name":"ci""#), "{}", listed.body);
    assert!(
        !listed.body.contains(&token),
        "a token's text is never listed"
    );
    // Bad requests say what is wrong.
    assert_eq!(
        with_session("POST", "/me/tokens?name=ci&days=0").status,
        400
    );
    assert_eq!(
        with_session("POST", "/me/tokens?name=%1b%5b2J&days=7").status,
        400
    );
    assert_eq!(
        with_session("POST", "/me/tokens/0000ffff/revoke").status,
        404
    );

    // Revoked: refused at once.
    let revoked = with_session("POST", &format!("/me/tokens/{id}/revoke"));
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(with_token("GET", "/audit").status, 401);

    // The password: the current one is checked (a wrong one is not a lost session), a weak
    // new one refused, and a change signs Ana out everywhere.
    let change = |current: &str, new: &str| {
        let body = serde_json::json!({ "current": current, "new": new }).to_string();
        plba_testkit::process::http_send(
            addr,
            "POST",
            "/me/password",
            &[
                ("Cookie", &cookie),
                ("X-CSRF-Token", &csrf),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
        .unwrap()
    };
    let wrong = change("not ana's password", ANA_NEW);
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert_eq!(
        with_session("GET", "/ui/session").status,
        200,
        "still signed in"
    );
    let same = change(ANA, ANA);
    assert_eq!(same.status, 400, "{}", same.body);
    // Only as JSON: a form a page of another site could send is not read.
    let as_text = plba_testkit::process::http_send(
        addr,
        "POST",
        "/me/password",
        &[
            ("Cookie", &cookie),
            ("X-CSRF-Token", &csrf),
            ("Content-Type", "text/plain"),
        ],
        serde_json::json!({ "current": ANA, "new": ANA_NEW })
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(as_text.status, 415, "{}", as_text.body);
    let weak = change(ANA, "short");
    assert_eq!(weak.status, 400, "{}", weak.body);
    let changed = change(ANA, ANA_NEW);
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(with_session("GET", "/ui/session").status, 401, "signed out");
    assert_eq!(password_sign_in(addr, "ana", ANA).status, 401);
    assert_eq!(password_sign_in(addr, "ana", ANA_NEW).status, 200);

    // Changes made with the command line are in the same audit, with who made them.
    add_user(dir.path(), &file, "bob", "viewer", "bob's long password");
    users_ok(dir.path(), &file, &["set-role", "bob", "operator"], "");
    // Bob makes tokens as fast as he can: a person's pace only, and his tokens have a window
    // of the audit of their own, so they push no change of a user out of it.
    let (bob, bob_csrf) = session_of(&password_sign_in(addr, "bob", "bob's long password"));
    let bob_makes = |n: usize| {
        let path = format!("/me/tokens?name=t{n}&days=1");
        let headers = [
            ("Cookie", bob.as_str()),
            ("X-CSRF-Token", bob_csrf.as_str()),
        ];
        http_request(addr, "POST", &path, &headers).unwrap()
    };
    let slowed = (0..20).map(bob_makes).position(|reply| reply.status == 429);
    assert!(slowed.is_some_and(|n| n <= 10), "{slowed:?}");
    let admin = password_admin(dir.path(), &file, addr);
    let audit = http_request(addr, "GET", "/audit", &[("Cookie", &admin)]).unwrap();
    let audit: serde_json::Value = serde_json::from_str(&audit.body).unwrap();
    let entries = audit["audit"].as_array().unwrap();
    let by = |who: &str, action: &str, subject: &str| {
        entries.iter().any(|e| {
            e["who"].as_str().is_some_and(|w| w.contains(who))
                && e["action"] == action
                && e["subject"] == subject
        })
    };
    let ci = format!("ana: token ci ({id})");
    assert!(by("ana", "create-token", &ci), "{audit}");
    assert!(by("ana", "revoke-token", &ci), "{audit}");
    assert!(by("ana", "change-password", "ana"), "{audit}");
    assert!(by("(command line)", "add-user", "bob (viewer)"), "{audit}");
    assert!(
        by("(command line)", "set-user-role", "bob (operator)"),
        "{audit}"
    );

    // In a real browser: the Account page makes a token, shows it once, and revokes it.
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let url = format!("http://{addr}");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let console = Console::open(&driver, 1280, 900, &url).await;
        console.sign_in_as("ana", ANA_NEW, "ana (operator)").await;
        console.show("account", "Account").await;
        console
            .wait_for(Locator::Id("token-name"))
            .await
            .send_keys("laptop")
            .await
            .unwrap();
        console
            .click(Locator::XPath("//button[text()='Make token']"))
            .await;
        let shown = console
            .wait_for(Locator::Id("new-token"))
            .await
            .text()
            .await
            .unwrap();
        assert!(shown.starts_with("plba_"), "{shown}");
        assert_eq!(
            http_request(
                addr,
                "GET",
                "/me/tokens",
                &[("Authorization", &format!("Bearer {shown}"))]
            )
            .unwrap()
            .status,
            200,
            "the token shown works"
        );
        console.show("overview", "Overview").await;
        console.show("account", "Account").await;
        console
            .click(Locator::XPath(
                "//tr[td[text()='laptop'] and td[text()='live']]//button[text()='Revoke']",
            ))
            .await;
        console
            .wait_for(Locator::XPath(
                "//tr[td[text()='laptop'] and td[text()='revoked']]",
            ))
            .await;
        console.close().await;
    });
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

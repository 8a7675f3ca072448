//! Users signing in with their password, as a team does once an admin has added them: over
//! the JSON API (HTTP Basic on `POST /ui/session`, then the session cookie and its CSRF
//! token) and in headless Chromium; a wrong password, an unknown user and a disabled user
//! get the same refusal, and a password opens nothing but a session.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::net::SocketAddr;

use plba_testkit::process::{HttpReply, http_request};
use support::{
    DEADLINE, add_user, basic, command, control_addr, example_with_customers, password_sign_in,
    session_of,
};

const ANA: &str = "ana's long password";
const BOB: &str = "bob's long password";
const CAROL: &str = "carol's long password";

fn sign_in(addr: SocketAddr, user: &str, password: &str) -> HttpReply {
    password_sign_in(addr, user, password)
}

#[test]
fn users_sign_in_with_their_password_and_act_with_their_role() {
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let config = example_with_customers("    orders@acme.example: ACME\n")
        .replace("127.0.0.1:9090", &addr.to_string())
        .replace(
            "    protect_reads: false\n",
            "    protect_reads: false\n    users:\n      kind: sqlite\n      path: data/users.db\n",
        );
    let file = dir.path().join("bot.yaml");
    std::fs::write(&file, &config).unwrap();
    let file = file.display().to_string();
    add_user(dir.path(), &file, "ana", "operator", ANA);
    add_user(dir.path(), &file, "bob", "viewer", BOB);
    add_user(dir.path(), &file, "carol", "admin", CAROL);
    let bot = support::run_ready(dir.path(), &config, addr);

    let signed = sign_in(addr, "ana", ANA);
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert!(
        signed.body.contains(r#""role":"operator""#),
        "{}",
        signed.body
    );
    let (cookie, csrf) = session_of(&signed);
    let act = |path: &str| {
        http_request(
            addr,
            "POST",
            path,
            &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        )
        .unwrap()
    };
    assert_eq!(act("/actions/stop").status, 200);
    assert_eq!(act("/actions/start").status, 200);
    assert_eq!(
        act("/actions/reload").status,
        403,
        "an operator reloads nothing"
    );

    // A wrong password, an unknown user: the same answer.
    let wrong = sign_in(addr, "ana", "not ana's password");
    let unknown = sign_in(addr, "zoe", ANA);
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.body, unknown.body);
    // A password is for signing in, not for calling the API.
    let auth = basic("ana", ANA);
    let api = http_request(addr, "POST", "/actions/stop", &[("Authorization", &auth)]).unwrap();
    assert_eq!(api.status, 401, "{}", api.body);
    // Disabled by an admin: refused like a wrong password.
    let disabled = command(
        dir.path(),
        &["--config", &file, "users", "disable", "bob"],
        &[],
    )
    .output()
    .unwrap();
    assert!(disabled.status.success(), "{disabled:?}");
    let bob = sign_in(addr, "bob", BOB);
    assert_eq!(bob.status, 401);
    assert_eq!(bob.body, wrong.body);

    // The audit names the people.
    let audit = http_request(addr, "GET", "/audit", &[("Cookie", &cookie)]).unwrap();
    let audit: serde_json::Value = serde_json::from_str(&audit.body).unwrap();
    let entries = audit["audit"].as_array().unwrap();
    let by = |who: &str, action: &str, status: u64| {
        entries
            .iter()
            .any(|e| e["who"] == who && e["action"] == action && e["status"] == status)
    };
    assert!(by("ana", "sign-in", 200), "{audit}");
    assert!(by("ana", "stop", 200), "{audit}");
    assert!(by("bob", "sign-in", 401), "{audit}");

    // Users are an admin's business: an operator may not list them; an admin changes a
    // role and disables a user, whose session ends at once.
    let users_as =
        |cookie: &str| http_request(addr, "GET", "/users", &[("Cookie", cookie)]).unwrap();
    assert_eq!(users_as(&cookie).status, 403);
    let (admin_cookie, admin_csrf) = session_of(&sign_in(addr, "carol", CAROL));
    let listed = users_as(&admin_cookie);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(
        listed.body.contains(r#""name":"ana""#) && !listed.body.contains("argon2"),
        "{}",
        listed.body
    );
    let as_admin = |path: &str| {
        http_request(
            addr,
            "POST",
            path,
            &[("Cookie", &admin_cookie), ("X-CSRF-Token", &admin_csrf)],
        )
        .unwrap()
    };
    assert_eq!(as_admin("/users/ana/role?role=viewer").status, 200);
    assert_eq!(
        act("/actions/stop").status,
        403,
        "ana's session follows her new role"
    );
    assert_eq!(as_admin("/users/ana/disable").status, 200);
    assert_eq!(
        http_request(addr, "GET", "/ui/session", &[("Cookie", &cookie)])
            .unwrap()
            .status,
        401
    );
    assert_eq!(as_admin("/users/nobody/disable").status, 404);
    assert_eq!(as_admin("/users/ana/enable").status, 200);
    assert_eq!(as_admin("/users/ana/role?role=operator").status, 200);

    // In a real browser: the form takes a user and a password.
    let Some(driver) = plba_testkit::browser::ChromeDriver::start() else {
        return;
    };
    let url = format!("http://{addr}");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use plba_testkit::browser::Console;
        let console = Console::open(&driver, 1280, 900, &url).await;
        let refused = console.sign_in_refusal("ana", "not ana's password").await;
        assert!(refused.contains("not valid"), "{refused}");
        console.browser().refresh().await.unwrap();
        console.sign_in_as("ana", ANA, "ana (operator)").await;
        // An operator's console has no Users page.
        assert!(
            console
                .browser()
                .find_all(fantoccini::Locator::Css("nav a[href='#users']"))
                .await
                .unwrap()
                .is_empty()
        );
        console
            .browser()
            .find(fantoccini::Locator::Id("sign-out"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        console.sign_in_as("carol", CAROL, "carol (admin)").await;
        console.show("users", "Users").await;
        // Bob was disabled with the CLI; Carol enables him from the page.
        console
            .wait_for(fantoccini::Locator::XPath(
                "//tr[td[text()='bob'] and td[text()='disabled']]//button[text()='Enable']",
            ))
            .await
            .click()
            .await
            .unwrap();
        console
            .wait_for(fantoccini::Locator::XPath(
                "//tr[td[text()='bob'] and td[text()='enabled']]",
            ))
            .await;
        console.close().await;
    });
    assert_eq!(
        sign_in(addr, "bob", BOB).status,
        200,
        "enabled from the Users page"
    );
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

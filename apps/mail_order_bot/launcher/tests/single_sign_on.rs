//! Single sign-on through a real OpenID Connect provider (`oidc-provider` on Node.js, on
//! loopback), as a team signs in with the shipped `deploy/mail_order_bot.sso.example.yaml`: in headless Chromium,
//! a person whose `groups` map to `operator` lands in the console as an operator and is a
//! user from then on; a person whose groups map to nothing is refused and told why; a
//! callback this browser did not start, or one used twice, opens nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::net::SocketAddr;
use std::path::Path;

use fantoccini::Locator;
use plba_testkit::browser::{ChromeDriver, Console};
use plba_testkit::oidc::{OidcProvider, OidcSetup};
use plba_testkit::process::http_request;
use support::{DEADLINE, control_addr, users_ok};

const CLIENT_SECRET: &str = "the console's client secret at the provider";

/// The shipped single-sign-on example, pointed at `provider` and listening on `addr`, its
/// client secret in a file as a deployment gives it.
fn config(dir: &Path, addr: SocketAddr, provider: &OidcProvider) -> String {
    let secret = dir.join("oidc-client-secret");
    std::fs::write(&secret, CLIENT_SECRET).unwrap();
    let example =
        std::fs::read_to_string(support::repo_file("deploy/mail_order_bot.sso.example.yaml"))
            .unwrap();
    let replaced = [
        (
            "https://id.example.com/realms/ops",
            provider.issuer().to_owned(),
        ),
        (
            "/run/secrets/mail-order-bot-oidc",
            secret.display().to_string(),
        ),
        (
            "https://orders.example.com/ui/oidc/callback",
            format!("http://{addr}/ui/oidc/callback"),
        ),
        ("127.0.0.1:9090", addr.to_string()),
    ];
    replaced.iter().fold(example, |text, (from, to)| {
        assert!(text.contains(from), "the example no longer has {from}");
        text.replace(from, to)
    })
}

/// Signs in at the provider's development login form as `account` and consents.
async fn at_the_provider(console: &Console, account: &str) {
    let login = console.wait_for(Locator::Css("input[name=login]")).await;
    login.send_keys(account).await.unwrap();
    console
        .wait_for(Locator::Css("input[name=password]"))
        .await
        .send_keys("any password: the development form takes any")
        .await
        .unwrap();
    console.click(Locator::Css("button[type=submit]")).await;
    // The consent page.
    console
        .click(Locator::XPath(
            "//button[@type='submit' and contains(., 'Continue')]",
        ))
        .await;
}

/// Clicks the console's single-sign-on button, once the sign-in form shows it.
async fn click_single_sign_on(console: &Console) {
    console
        .click(Locator::XPath(
            "//p[@id='sso' and not(@hidden)]/a[text()='Sign in with Example SSO']",
        ))
        .await;
}

#[test]
fn people_sign_in_through_the_provider_with_the_role_their_groups_map_to() {
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let Some(provider) = OidcProvider::start(&OidcSetup {
        client_id: "mail-order-bot".to_owned(),
        client_secret: CLIENT_SECRET.to_owned(),
        redirect_uri: format!("http://{addr}/ui/oidc/callback"),
        accounts: vec![
            (
                "ana".to_owned(),
                vec!["mail-order-bot-operators".to_owned(), "staff".to_owned()],
            ),
            ("zoe".to_owned(), vec!["staff".to_owned()]),
        ],
    }) else {
        return;
    };
    let config = config(dir.path(), addr, &provider);
    let bot = support::run_ready(dir.path(), &config, addr);
    let file = dir.path().join("bot.yaml").display().to_string();

    // The sign-in form learns of the provider; a callback no browser started opens nothing.
    let methods = http_request(addr, "GET", "/ui/session/methods", &[]).unwrap();
    assert!(
        methods.body.contains(r#""label":"Example SSO""#),
        "{}",
        methods.body
    );
    let forged = http_request(addr, "GET", "/ui/oidc/callback?code=x&state=y", &[]).unwrap();
    assert_eq!(forged.status, 303);
    assert_eq!(forged.header("location"), Some("/ui?sign_in_error=expired"));
    assert!(
        forged
            .header("set-cookie")
            .is_none_or(|c| !c.contains("plba_session="))
    );
    // The start sends the browser to the provider, binding the sign-in to it.
    let start = http_request(addr, "GET", "/ui/oidc/start?page=queues", &[]).unwrap();
    assert_eq!(start.status, 303, "{}", start.body);
    let to = start.header("location").unwrap();
    assert!(
        to.starts_with(&format!("{}/auth?", provider.issuer())),
        "{to}"
    );
    for part in [
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(to.contains(part), "{part} missing from {to}");
    }
    let cookie = start.header("set-cookie").unwrap();
    assert!(
        cookie.contains("plba_sign_in=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // The browser's cookie and the state its answer would carry.
    let started = |reply: &plba_testkit::process::HttpReply| {
        let cookie = reply.header("set-cookie").unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let to = reply.header("location").unwrap();
        let state = to
            .split("state=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        (cookie, state.to_owned())
    };
    let answer = |(cookie, state): &(String, String), extra: &str| {
        let path = format!("/ui/oidc/callback?code=made-up&state={state}{extra}");
        let reply = http_request(addr, "GET", &path, &[("Cookie", cookie)]).unwrap();
        reply.header("location").unwrap_or_default().to_owned()
    };
    let named = format!(
        "&iss={}",
        provider.issuer().replace(':', "%3A").replace('/', "%2F")
    );
    let this_browser = started(&start);
    assert!(
        !cookie.contains(&this_browser.1),
        "the cookie is not the state: {cookie}"
    );
    // Another browser holding the answer's URL (its state), with a cookie of its own:
    // refused, and the sign-in stays this browser's.
    let (other_cookie, _) = started(&http_request(addr, "GET", "/ui/oidc/start", &[]).unwrap());
    let stolen = (other_cookie, this_browser.1.clone());
    assert_eq!(answer(&stolen, &named), "/ui?sign_in_error=expired");
    // An answer naming another issuer is refused, the sign-in left in place; one naming
    // none (this provider names itself in its answers) is refused and uses it up, so the
    // same state again is refused at once.
    let evil = "&iss=https%3A%2F%2Fevil.example";
    assert_eq!(answer(&this_browser, evil), "/ui?sign_in_error=refused");
    assert_eq!(answer(&this_browser, ""), "/ui?sign_in_error=refused");
    assert_eq!(answer(&this_browser, &named), "/ui?sign_in_error=expired");
    // A fresh sign-in answered with a made-up code: the provider refuses the code.
    let fresh = started(&http_request(addr, "GET", "/ui/oidc/start", &[]).unwrap());
    assert_eq!(answer(&fresh, &named), "/ui?sign_in_error=refused");

    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let url = format!("http://{addr}");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let console = Console::open(&driver, 1280, 900, &url).await;
        // Ana's groups hold mail-order-bot-operators: she lands in the console as an operator.
        click_single_sign_on(&console).await;
        at_the_provider(&console, "ana").await;
        console
            .wait_for(Locator::XPath(
                "//span[@id='who' and text()='ana (operator)']",
            ))
            .await;
        // Her account has tokens but no password here: it is the provider's.
        console.show("account", "Account").await;
        console
            .wait_for(Locator::XPath(
                "//p[contains(text(), 'You sign in through single sign-on')]",
            ))
            .await;
        // Signing out ends the console's session, not the provider's: the next click
        // signs Ana in again without asking her anything.
        console.click(Locator::Id("sign-out")).await;
        click_single_sign_on(&console).await;
        console
            .wait_for(Locator::XPath(
                "//span[@id='who' and text()='ana (operator)']",
            ))
            .await;
        console.close().await;

        // Zoe, in a browser of her own: her groups map to no role, so she is refused and
        // told why on the sign-in form.
        let console = Console::open(&driver, 1280, 900, &url).await;
        click_single_sign_on(&console).await;
        at_the_provider(&console, "zoe").await;
        let refusal = console
            .wait_for(Locator::XPath(
                "//p[@id='sign-in-error' and string-length(text()) > 0]",
            ))
            .await
            .text()
            .await
            .unwrap();
        assert!(refusal.contains("no role in this console"), "{refusal}");
        assert!(
            console
                .browser()
                .current_url()
                .await
                .unwrap()
                .query()
                .is_none(),
            "the refusal's word is taken off the address"
        );
        console.close().await;
    });

    // Ana is a user now, with the role her groups gave; Zoe was never made one.
    let listed = users_ok(dir.path(), &file, &["list", "--json"], "");
    let users: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 1, "{listed}");
    assert_eq!(
        (users[0]["name"].as_str(), users[0]["role"].as_str()),
        (Some("ana"), Some("operator"))
    );

    // The audit names both, from their address.
    let admin = support::password_admin(dir.path(), &file, addr);
    let audit = http_request(addr, "GET", "/audit", &[("Cookie", &admin)]).unwrap();
    let audit: serde_json::Value = serde_json::from_str(&audit.body).unwrap();
    let entries = audit["audit"].as_array().unwrap();
    let by = |who: &str, status: u64| {
        entries.iter().any(|e| {
            e["who"] == who
                && e["action"] == "sign-in"
                && e["status"] == status
                && e["client"] == "127.0.0.1"
        })
    };
    assert!(by("ana (single sign-on)", 200), "{audit}");
    assert!(by("zoe (single sign-on)", 403), "{audit}");
    // Each start waits in the database: one address may start only a few a minute.
    let busy = (0..20).find(|_| {
        http_request(addr, "GET", "/ui/oidc/start", &[])
            .unwrap()
            .header("location")
            == Some("/ui?sign_in_error=busy")
    });
    assert!(busy.is_some_and(|n| n <= 10), "{busy:?}");
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

//! A running bot handled from the command line, as an operator does, on the shipped example:
//!
//! - failed work: on a PostgreSQL store that goes down, an order's task exhausts its
//!   attempts and is dead-lettered; `mail_order_bot dead-letters list` shows it with its
//!   attempts and the store's error; a viewer's replay is refused; once the database is back
//!   an admin's `dead-letters replay --all` puts it back and the order is stored;
//! - the log level: `mail_order_bot log-level debug` makes the running bot log at debug at
//!   once (a viewer may not), and `log-level info` quiets it again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::path::Path;

use plba_testkit::postgres::PostgresServer;
use plba_testkit::process::wait_until;
use support::{
    DEADLINE, cli, control_addr, deliver_orders, example_with_customers, listed, start_bot,
    wait_ready,
};

/// The example with a PostgreSQL store, two attempts per task, quick retries and two
/// control tokens (an admin and a viewer), as an operator edits it.
fn config(dir: &Path, pg: &PostgresServer) -> String {
    std::fs::write(dir.join("admin-token"), "admin-secret-0123456789\n").unwrap();
    std::fs::write(dir.join("viewer-token"), "viewer-secret-0123456789\n").unwrap();
    std::fs::write(dir.join("pg-password"), pg.password()).unwrap();
    let mut text = example_with_customers("    \"@acme.example\": ACME\n");
    for (from, to) in [
        (
            "    tokens: []\n",
            "    tokens:\n      - name: ops\n        token_file: admin-token\n        role: admin\n      - name: desk\n        token_file: viewer-token\n        role: viewer\n",
        ),
        (
            "  store:\n    kind: sqlite\n    sqlite_path: data/orders.db\n",
            &format!(
                "  store:\n    kind: postgres\n    url: {}\n    password_file: pg-password\n    statement_timeout_ms: 1000\n",
                pg.url()
            ),
        ),
        (
            "later scan).\n    max_attempts: 5\n",
            "later scan).\n    max_attempts: 2\n",
        ),
        ("    initial_ms: 1000\n", "    initial_ms: 50\n"),
    ] {
        assert!(text.contains(from), "the example changed: {from:?}");
        text = text.replacen(from, to, 1);
    }
    let path = dir.join("bot.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Runs a `dead-letters` command with `token`; its exit success and printed JSON.
fn dead_letters(dir: &Path, config: &str, token: &str, args: &[&str]) -> (bool, serde_json::Value) {
    let mut all = vec!["dead-letters"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", config]);
    let output = cli(dir, &all, &[("PLBA_CONTROL_TOKEN", token.to_owned())]);
    let text = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (output.status.success(), json)
}

#[test]
fn a_dead_lettered_order_is_listed_and_replayed_from_the_cli_after_the_store_recovers() {
    let Some(mut pg) = PostgresServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &pg);
    let addr = control_addr();
    let env = [("PLBA__PLATFORM__CONTROL__BIND", addr.to_string())];
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &env);
    wait_ready(&bot, addr);
    let url = format!("http://{addr}");
    let with_url = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(["--url".to_owned(), url.clone()]);
        all
    };

    pg.stop();
    deliver_orders(&dir.path().join("data/Maildir"), 1, "dead");
    let mut letters = serde_json::Value::Null;
    wait_until(DEADLINE, "the order's task dead-lettered", || {
        let args = with_url(&["list"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, json) = dead_letters(dir.path(), &config, "viewer-secret-0123456789", &args);
        letters = json;
        ok && letters["dead_letters"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    });
    let letter = &letters["dead_letters"][0];
    assert_eq!(letter["attempts"], 2, "{letter}");
    let reason = letter["reason"].as_str().unwrap_or_default();
    assert!(!reason.is_empty(), "the last error is shown: {letter}");
    let task = letter["task_id"].as_str().unwrap().to_owned();

    let args = with_url(&["replay", &task]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, refused) = dead_letters(dir.path(), &config, "viewer-secret-0123456789", &args);
    assert!(!ok, "a viewer may not replay: {refused}");
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");

    pg.start_again();
    let args = with_url(&["replay", "--all"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, replayed) = dead_letters(dir.path(), &config, "admin-secret-0123456789", &args);
    assert!(ok, "{replayed}");
    assert!(replayed["replayed"].as_u64() >= Some(1), "{replayed}");
    wait_until(DEADLINE, "the order stored", || {
        listed(dir.path(), "orders", &["--config", &config], &env).len() == 1
    });
    let args = with_url(&["list"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, after) = dead_letters(dir.path(), &config, "viewer-secret-0123456789", &args);
    assert_eq!(
        after["dead_letters"].as_array().map(Vec::len),
        Some(0),
        "replayed letters leave the list: {after}"
    );
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

/// The example with an admin and a viewer token, on its own SQLite store.
fn plain_config(dir: &Path) -> String {
    std::fs::write(dir.join("admin-token"), "admin-secret-0123456789\n").unwrap();
    std::fs::write(dir.join("viewer-token"), "viewer-secret-0123456789\n").unwrap();
    let text = example_with_customers("    \"@acme.example\": ACME\n").replacen(
        "    tokens: []\n",
        "    tokens:\n      - name: ops\n        token_file: admin-token\n        role: admin\n      - name: desk\n        token_file: viewer-token\n        role: viewer\n",
        1,
    );
    let path = dir.join("bot.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn log_level(
    dir: &Path,
    config: &str,
    url: &str,
    token: &str,
    level: &str,
) -> (bool, serde_json::Value) {
    let output = cli(
        dir,
        &["log-level", level, "--url", url, "--config", config],
        &[("PLBA_CONTROL_TOKEN", token.to_owned())],
    );
    let json = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output.status.success(), json)
}

#[test]
fn the_log_level_of_a_running_bot_changes_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path());
    let addr = control_addr();
    let env = [("PLBA__PLATFORM__CONTROL__BIND", addr.to_string())];
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &env);
    wait_ready(&bot, addr);
    let url = format!("http://{addr}");
    let maildir = dir.path().join("data/Maildir");
    let list = ["--config", config.as_str()];
    deliver_orders(&maildir, 1, "quiet");
    wait_until(DEADLINE, "the first order", || {
        listed(dir.path(), "orders", &list, &env).len() == 1
    });
    assert!(
        !bot.log().contains("DEBUG"),
        "info by default:\n{}",
        bot.log()
    );

    let (ok, refused) = log_level(
        dir.path(),
        &config,
        &url,
        "viewer-secret-0123456789",
        "debug",
    );
    assert!(!ok && refused["error"]["code"] == "forbidden", "{refused}");
    let (ok, changed) = log_level(
        dir.path(),
        &config,
        &url,
        "admin-secret-0123456789",
        "debug",
    );
    assert!(ok, "{changed}");
    assert_eq!(changed["log_level"], "debug", "{changed}");
    deliver_orders(&maildir, 1, "loud");
    wait_until(DEADLINE, "debug lines in the log", || {
        bot.log().contains("DEBUG")
    });

    // A filter, as the command's help shows it.
    let (ok, filtered) = log_level(
        dir.path(),
        &config,
        &url,
        "admin-secret-0123456789",
        "info,plba_core=debug",
    );
    assert!(ok, "{filtered}");
    assert_eq!(filtered["log_level"], "info,plba_core=debug", "{filtered}");
    let (ok, _) = log_level(dir.path(), &config, &url, "admin-secret-0123456789", "info");
    assert!(ok);
    // A filter takes effect: the store's driver logs its statements at DEBUG, and only
    // they come through while everything else stays at info.
    let (ok, filtered) = log_level(
        dir.path(),
        &config,
        &url,
        "admin-secret-0123456789",
        "info,sqlx=debug",
    );
    assert!(ok, "{filtered}");
    let mark = bot.log().len();
    deliver_orders(&maildir, 1, "filtered");
    wait_until(DEADLINE, "the store's statements at DEBUG", || {
        bot.log()[mark..].contains("DEBUG sqlx::query")
    });
    let (ok, _) = log_level(dir.path(), &config, &url, "admin-secret-0123456789", "info");
    assert!(ok);
    let (ok, invalid) = log_level(
        dir.path(),
        &config,
        &url,
        "admin-secret-0123456789",
        "loud=;",
    );
    assert!(
        !ok && invalid["error"]["code"] == "invalid_configuration",
        "{invalid}"
    );
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

/// The console as a browser meets it: the page and its script from the bot itself (no other
/// origin), a sign-in that trades the token for a session cookie, the effective
/// configuration with the token redacted, the audit with the sign-in, and a change refused
/// without the session's CSRF token.
#[test]
fn the_console_is_served_by_the_bot_and_a_browser_session_reads_and_acts() {
    use plba_testkit::process::http_request;
    let dir = tempfile::tempdir().unwrap();
    let config = plain_config(dir.path());
    let addr = control_addr();
    let env = [("PLBA__PLATFORM__CONTROL__BIND", addr.to_string())];
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &env);
    wait_ready(&bot, addr);

    let page = http_request(addr, "GET", "/ui", &[]).unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<script src=\"/ui/app.js\""),
        "{}",
        page.body
    );
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("default-src 'self'")),
        "{}",
        page.head
    );
    let script = http_request(addr, "GET", "/ui/app.js", &[]).unwrap();
    assert_eq!(script.status, 200);
    assert!(script.body.contains("/ui/session"));
    assert!(
        !script.body.contains("http://") && !script.body.contains("https://"),
        "nothing is loaded from elsewhere"
    );

    let signed_in = http_request(
        addr,
        "POST",
        "/ui/session",
        &[("Authorization", "Bearer admin-secret-0123456789")],
    )
    .unwrap();
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let cookie = signed_in
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let session: serde_json::Value = serde_json::from_str(&signed_in.body).unwrap();
    let csrf = session["csrf"].as_str().unwrap().to_owned();

    let effective = http_request(addr, "GET", "/config", &[("Cookie", cookie.as_str())]).unwrap();
    assert_eq!(effective.status, 200, "{}", effective.body);
    assert!(
        effective.body.contains("@acme.example"),
        "{}",
        effective.body
    );
    assert!(
        !effective.body.contains("admin-secret-0123456789"),
        "tokens are redacted: {}",
        effective.body
    );
    let audit = http_request(addr, "GET", "/audit", &[("Cookie", cookie.as_str())]).unwrap();
    assert!(
        audit.body.contains("\"sign-in\"") && audit.body.contains("\"ops\""),
        "{}",
        audit.body
    );
    let anonymous = http_request(addr, "GET", "/audit", &[]).unwrap();
    assert_eq!(
        anonymous.status, 401,
        "the audit is not for anonymous callers"
    );

    let forged = http_request(
        addr,
        "POST",
        "/actions/reload",
        &[("Cookie", cookie.as_str())],
    )
    .unwrap();
    assert_eq!(forged.status, 403, "no CSRF token: {}", forged.body);
    let reload = http_request(
        addr,
        "POST",
        "/actions/reload",
        &[("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())],
    )
    .unwrap();
    assert_eq!(reload.status, 200, "{}", reload.body);
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

/// The console in a real headless Chromium, as an operator uses it: a viewer signs in, sees
/// the dead letter the database outage left but no button to replay it, and a replay forged
/// from the page is refused; an admin's change without the CSRF token is refused; after the
/// database is back the admin replays the dead letter with a click and the order is stored.
/// Every page is saved as a screenshot under the test's output directory.
#[test]
fn the_console_in_chromium_replays_a_dead_letter_after_the_store_recovers() {
    use fantoccini::Locator;
    use plba_testkit::browser::{ChromeDriver, Console};

    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let Some(mut pg) = PostgresServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &pg);
    let addr = control_addr();
    let env = [("PLBA__PLATFORM__CONTROL__BIND", addr.to_string())];
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &env);
    wait_ready(&bot, addr);
    let url = format!("http://{addr}");
    pg.stop();
    deliver_orders(&dir.path().join("data/Maildir"), 1, "browser");
    let list_args = ["list", "--url", url.as_str()];
    let mut task = String::new();
    wait_until(DEADLINE, "the order's task dead-lettered", || {
        let (_, json) = dead_letters(dir.path(), &config, "viewer-secret-0123456789", &list_args);
        task = json["dead_letters"][0]["task_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        !task.is_empty()
    });

    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let wait = std::time::Duration::from_secs(20);
        let console = Console::open(&driver, 1280, 900, &url).await;
        let browser = console.browser().clone();
        let shot = |name: &'static str| {
            let browser = browser.clone();
            let path = screenshots.join(format!("{name}.png"));
            async move {
                let png = browser.screenshot().await.unwrap();
                std::fs::write(path, png).unwrap();
            }
        };
        let sign_in = |token: &'static str, who: &'static str| console.sign_in(token, who);
        let open = |page: &'static str, title: &'static str| console.show(page, title);
        // A page of the application shows what the store holds when it is drawn: search
        // again until `xpath` is there (each search is a new request; a deadline bounds it).
        let searched_until_shown = |xpath: &'static str| {
            let browser = browser.clone();
            async move {
                let deadline = std::time::Instant::now() + wait;
                while browser
                    .find_all(Locator::XPath(xpath))
                    .await
                    .unwrap()
                    .is_empty()
                {
                    assert!(std::time::Instant::now() < deadline, "{xpath} never shown");
                    // The page may still be drawing: search once its form is there.
                    if let Some(search) = browser
                        .find_all(Locator::Css("#content form button"))
                        .await
                        .unwrap()
                        .into_iter()
                        .next()
                    {
                        // Redrawing may replace the button under the click: try again.
                        let _ = search.click().await;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        };
        // What a fetch from the page answers.
        let fetch_status = |with_csrf: bool| {
            let browser = browser.clone();
            async move {
                let script = format!(
                    "const done = arguments[arguments.length - 1];
                     fetch('/ui/session').then(r => r.json()).then(s =>
                       fetch('/queues/mail/dead-letters/replay', {{ method: 'POST',
                         headers: {} }})).then(r => done(r.status));",
                    if with_csrf {
                        "{ 'X-CSRF-Token': s.csrf }"
                    } else {
                        "{}"
                    }
                );
                browser.execute_async(&script, vec![]).await.unwrap()
            }
        };

        shot("sign-in").await;
        sign_in("viewer-secret-0123456789", "desk (viewer)").await;
        browser
            .wait()
            .at_most(wait)
            .for_element(Locator::XPath("//span[contains(@class, 'state-running')]"))
            .await
            .unwrap();
        // The source's liveness is on the overview.
        browser
            .wait()
            .at_most(wait)
            .for_element(Locator::XPath("//th[text()='last successful scan']"))
            .await
            .unwrap();
        shot("overview").await;
        open("dead", "Dead letters").await;
        browser
            .wait()
            .at_most(wait)
            .for_element(Locator::XPath(&format!("//td[text()='{task}']")))
            .await
            .unwrap();
        assert!(
            browser
                .find_all(Locator::XPath("//button[text()='Replay']"))
                .await
                .unwrap()
                .is_empty(),
            "no replay button for a viewer"
        );
        shot("dead-letters-viewer").await;
        assert_eq!(
            fetch_status(true).await,
            403,
            "a viewer's forged replay is refused"
        );
        browser
            .find(Locator::Id("sign-out"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();

        sign_in("admin-secret-0123456789", "ops (admin)").await;
        assert_eq!(fetch_status(false).await, 403, "no CSRF token, no change");
        for (page, title) in [
            ("queues", "Queues"),
            ("traces", "Traces"),
            ("config", "Configuration"),
            ("audit", "Audit"),
        ] {
            open(page, title).await;
            shot(page).await;
        }
        pg.start_again();
        open("dead", "Dead letters").await;
        browser
            .wait()
            .at_most(wait)
            .for_element(Locator::XPath("//button[text()='Replay all']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser
            .wait()
            .at_most(wait)
            .for_element(Locator::XPath(
                "//p[@id='message' and starts-with(text(), 'replay')]",
            ))
            .await
            .unwrap();
        shot("dead-letters-replayed").await;

        // The application's own pages: the replayed order with its lines, and a rejected
        // mail with its reasons.
        open("view/orders", "Orders").await;
        searched_until_shown("//td[text()='ACME']").await;
        browser
            .find(Locator::XPath("//td/button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser
            .wait()
            .at_most(wait)
            .for_element(Locator::XPath("//pre[contains(text(), '\"lines\"')]"))
            .await
            .unwrap();
        shot("orders").await;
        let stranger =
            plba_testkit::mail::MailBuilder::new("someone@stranger.example", "<stranger@x>")
                .attachment("o.csv", "text/csv", b"sku,quantity\nA-1,2\n")
                .build();
        let maildir = dir.path().join("data/Maildir");
        std::fs::write(maildir.join("tmp/stranger"), stranger).unwrap();
        std::fs::rename(maildir.join("tmp/stranger"), maildir.join("new/stranger")).unwrap();
        open("view/rejections", "Rejections").await;
        searched_until_shown("//td[contains(text(), 'unknown sender')]").await;
        shot("rejections").await;
        // The rejection leads to its mail's trace in one click.
        browser
            .find(Locator::XPath("//button[text()='trace']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        browser
            .wait()
            .at_most(wait)
            .for_element(Locator::XPath("//pre[contains(text(), '\"received\"')]"))
            .await
            .unwrap();
        shot("rejection-trace").await;

        // On a phone-sized screen the pages still fit: tables scroll inside themselves.
        browser.set_window_size(390, 844).await.unwrap();
        for (page, title) in [("overview", "Overview"), ("dead", "Dead letters")] {
            open(page, title).await;
            let fits = browser
                .execute(
                    "return document.documentElement.scrollWidth <= window.innerWidth;",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(fits, serde_json::Value::Bool(true), "{page} fits a phone");
        }
        shot("phone-overview").await;
        browser.close().await.unwrap();
    });
    wait_until(DEADLINE, "the replayed order stored", || {
        listed(dir.path(), "orders", &["--config", &config], &env).len() == 1
    });
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

/// The example with `platform.control.tls` pointing at a certificate and key, as an operator
/// sets it up: the probes and the console answer over HTTPS only, and a browser session's
/// cookie is `Secure`.
#[cfg(feature = "tls")]
#[test]
fn the_control_plane_serves_https_with_the_configured_certificate() {
    let certificates = plba_testkit::tls::certificates();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("control.crt"), &certificates.cert_pem).unwrap();
    std::fs::write(dir.path().join("control.key"), &certificates.key_pem).unwrap();
    let config = plain_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    let with_tls = text.replacen(
        "  control:\n",
        "  control:\n    tls:\n      cert_file: control.crt\n      key_file: control.key\n",
        1,
    );
    assert_ne!(text, with_tls, "the example has a control section");
    std::fs::write(&config, with_tls).unwrap();
    let addr = control_addr();
    let env = [("PLBA__PLATFORM__CONTROL__BIND", addr.to_string())];
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &env);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let https = |request: String| {
        runtime.block_on(plba_testkit::tls::https_exchange(
            addr,
            &certificates.ca_pem,
            &request,
        ))
    };
    let get =
        |path: &str| format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    wait_until(DEADLINE, "ready over HTTPS", || {
        https(get("/health/ready")).is_ok_and(|a| a.starts_with("HTTP/1.1 200"))
    });
    assert!(
        plba_testkit::process::http_get(addr, "/health/ready").map_or(true, |r| r.status != 200),
        "no plain HTTP"
    );
    let signed_in = https(
        "POST /ui/session HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer admin-secret-0123456789\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_owned(),
    )
    .unwrap();
    assert!(
        signed_in
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("set-cookie:") && l.contains("; Secure")),
        "{signed_in}"
    );
    let console = https(get("/ui")).unwrap();
    assert!(console.contains("PLBA console"), "{console}");
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

//! Configuration in a database, as operators use it: three bots share PostgreSQL, a
//! customer added with `config set` on one host is accepted by the other two, an invalid
//! change is refused before it is committed, a row broken by hand is refused by every bot
//! (which keeps its last good configuration and says so), a rollback, the history, the
//! database going away and coming back, a start from the cache; and one host on SQLite
//! picking a change up by polling.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::Locator;
use plba_testkit::browser::{ChromeDriver, Console};
use plba_testkit::mail::MailBuilder;
use plba_testkit::postgres::PostgresServer;
use plba_testkit::process::{AppProcess, http_get, http_request, wait_until};
use support::{
    DEADLINE, add_user, cli, control_addr, example_with_customers, listed, password_sign_in,
    session_of, start_bot, text, wait_ready, with_config_store, with_users,
};

/// The customers the shipped example's file allows in these tests.
const FILE_CUSTOMERS: &str = "    orders@acme.example: ACME\n";

/// Where each bot's configuration says the database password is (the test cluster's).
const PASSWORD_FILE: &str = "config-db-password";

/// The customers with GLOBEX added, as an operator writes the whole allowlist.
const WITH_GLOBEX: &str = "{orders@acme.example: ACME, buyer@globex.example: GLOBEX}";

/// One bot: its directory, its configuration file, its control plane.
struct Host {
    dir: PathBuf,
    config: String,
    addr: SocketAddr,
}

impl Host {
    fn new(root: &Path, name: &str, url: &str, start_from_cache: bool) -> Self {
        Self::edited(root, name, url, start_from_cache, |text| text)
    }

    /// [`new`](Self::new), its configuration edited by `edit` first.
    fn edited(
        root: &Path,
        name: &str,
        url: &str,
        start_from_cache: bool,
        edit: impl Fn(String) -> String,
    ) -> Self {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let addr = control_addr();
        let text = edit(
            with_config_store(
                &example_with_customers(FILE_CUSTOMERS),
                url,
                url.starts_with("postgres").then_some(PASSWORD_FILE),
                start_from_cache,
            )
            .replace("127.0.0.1:9090", &addr.to_string()),
        );
        let file = dir.join("bot.yaml");
        std::fs::write(&file, text).unwrap();
        std::fs::write(
            dir.join(PASSWORD_FILE),
            format!("{}\n", PostgresServer::PASSWORD),
        )
        .unwrap();
        Self {
            dir,
            config: file.display().to_string(),
            addr,
        }
    }

    fn start(&self) -> AppProcess {
        let bot = start_bot(&self.dir, &["--config", &self.config, "run"], &[]);
        wait_ready(&bot, self.addr);
        bot
    }

    /// `mail_order_bot --config … config <args>`: its exit, standard output and error.
    fn config_cli(&self, args: &[&str]) -> (bool, String, String) {
        let mut all = vec!["--config", self.config.as_str(), "config"];
        all.extend_from_slice(args);
        let output = cli(&self.dir, &all, &[]);
        (
            output.status.success(),
            text(&output.stdout),
            text(&output.stderr),
        )
    }

    fn config_ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.config_cli(args);
        assert!(ok, "config {args:?} failed: {err}");
        out
    }

    /// `/status`'s `config_store`.
    fn store_status(&self) -> serde_json::Value {
        let reply = http_get(self.addr, "/status").unwrap();
        let status: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        status["config_store"].clone()
    }

    fn health(&self) -> serde_json::Value {
        serde_json::from_str(&http_get(self.addr, "/health").unwrap().body).unwrap()
    }

    /// Delivers a one-line order from `from` into this bot's Maildir.
    fn deliver(&self, from: &str, message_id: &str) {
        let mail = MailBuilder::new(from, message_id)
            .attachment("o.csv", "text/csv", b"sku,quantity\nA-1,2\n")
            .build();
        let file = self
            .dir
            .join(format!("{}.eml", message_id.trim_matches(['<', '>'])));
        std::fs::write(&file, mail).unwrap();
        let output = cli(
            &self.dir,
            &[
                "--config",
                &self.config,
                "deliver",
                &file.display().to_string(),
            ],
            &[],
        );
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    fn listed(&self, what: &str) -> Vec<serde_json::Value> {
        listed(&self.dir, what, &["--config", &self.config], &[])
    }

    /// Waits until the order of `message_id` is stored, and returns its customer.
    fn ordered_by(&self, message_id: &str) -> String {
        let mut customer = String::new();
        wait_until(DEADLINE, "the order stored", || {
            let found = self
                .listed("orders")
                .into_iter()
                .find(|order| order["message_id"] == message_id.trim_matches(['<', '>']));
            if let Some(order) = found {
                customer = order["customer_id"].as_str().unwrap().to_owned();
            }
            !customer.is_empty()
        });
        customer
    }

    fn wait_revision(&self, revision: u64, what: &str) -> Duration {
        wait_until(DEADLINE, what, || {
            let status = self.store_status();
            status["revision"] == revision && status["state"] == "current"
        })
    }

    fn wait_state(&self, state: &str, what: &str) {
        wait_until(DEADLINE, what, || self.store_status()["state"] == state);
    }
}

/// A bot's configuration with the poll an hour apart: what it applies within the test came
/// from PostgreSQL's announcements (and its connection's loss and return).
fn push_only(config: &str) -> String {
    let cache = "    cache_file: data/config-cache.json\n";
    assert!(
        config.contains(cache),
        "the example's config_store block changed"
    );
    config.replace(cache, &format!("{cache}    poll_interval_ms: 3600000\n"))
}

/// The health contributor `config_store` of `health`.
fn store_health(health: &serde_json::Value) -> serde_json::Value {
    health["contributors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "config_store")
        .cloned()
        .unwrap_or_default()
}

#[test]
fn three_bots_follow_the_configuration_database_on_postgres() {
    let Some(mut pg) = PostgresServer::start() else {
        return;
    };
    let url = pg.create_database("config");
    let root = tempfile::tempdir().unwrap();
    let hosts: Vec<Host> = ["one", "two", "three"]
        .iter()
        .map(|name| Host::edited(root.path(), name, &url, false, |c: String| push_only(&c)))
        .collect();
    let mut bots: Vec<AppProcess> = hosts.iter().map(|h| h.start()).collect();
    for host in &hosts {
        assert_eq!(
            host.store_status()["state"],
            "current",
            "{}",
            host.store_status()
        );
    }
    let [one, two, three] = &hosts[..] else {
        unreachable!()
    };

    // GLOBEX is not a customer yet: bot two rejects its mail.
    two.deliver("buyer@globex.example", "<before@globex>");
    wait_until(DEADLINE, "GLOBEX's first mail rejected", || {
        two.listed("rejections").len() == 1
    });

    // Host one adds GLOBEX; the other two apply it, and take GLOBEX's mail.
    let out = one.config_ok(&[
        "set",
        "mail_order_bot.customers",
        WITH_GLOBEX,
        "-m",
        "GLOBEX signed",
    ]);
    assert!(
        out.contains("revision 1: set mail_order_bot.customers"),
        "{out}"
    );
    let history: serde_json::Value =
        serde_json::from_str(&one.config_ok(&["history", "--json"])).unwrap();
    let committed_ms = history[0]["at_ms"].as_i64().unwrap();
    for (name, host) in [("two", two), ("three", three)] {
        host.wait_revision(1, "the new customer applied");
        let applied_ms = host.store_status()["applied_ms"].as_i64().unwrap();
        eprintln!(
            "configuration database: bot {name} applied revision 1 {} ms after it was committed",
            applied_ms - committed_ms
        );
    }
    two.deliver("buyer@globex.example", "<after@globex>");
    three.deliver("buyer@globex.example", "<after-3@globex>");
    assert_eq!(two.ordered_by("<after@globex>"), "GLOBEX");
    assert_eq!(three.ordered_by("<after-3@globex>"), "GLOBEX");

    // An invalid change is refused before anything is committed; so is a secret.
    let (ok, _, err) = one.config_cli(&["set", "mail_order_bot.workers", "many"]);
    assert!(!ok && err.contains("refused, nothing was changed"), "{err}");
    assert!(err.contains("mail_order_bot.workers"), "{err}");
    let (ok, _, err) = one.config_cli(&["set", "mail_order_bot.store.password", "hunter2-hunter2"]);
    assert!(
        !ok && err.contains("password_file") && !err.contains("hunter2"),
        "{err}"
    );
    // One customer alone would silently drop the others: the allowlist is set whole.
    let (ok, _, err) = one.config_cli(&["set", "mail_order_bot.customers.@localhost", "LOCAL"]);
    assert!(!ok && err.contains("stated whole"), "{err}");
    // Who may reach and change the bots stays with the hosts' files.
    let (ok, _, err) = one.config_cli(&[
        "set",
        "platform.control.tokens",
        "[{name: pwn, token_file: /etc/hostname, role: admin}]",
    ]);
    assert!(!ok && err.contains("file or the environment only"), "{err}");
    assert_eq!(
        pg.try_query("config", "SELECT revision FROM plba_config_revisions")
            .unwrap(),
        "1",
        "nothing refused was committed"
    );

    // The history names who changed what, when and why.
    let history: serde_json::Value =
        serde_json::from_str(&one.config_ok(&["history", "--json"])).unwrap();
    let entries = history.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{history}");
    assert_eq!(entries[0]["key"], "mail_order_bot.customers");
    assert_eq!(entries[0]["comment"], "GLOBEX signed");
    assert!(
        entries[0]["actor"]
            .as_str()
            .unwrap()
            .ends_with("(command line)"),
        "{history}"
    );
    assert!(entries[0]["new_value"].as_str().unwrap().contains("GLOBEX"));

    // A row broken by hand (announced, as the guide says, or the next poll finds it) is
    // refused by every bot, which keeps its last good values and says so in /status, health
    // and the metrics; fixing the row recovers them.
    pg.try_query(
        "config",
        "UPDATE plba_config_values SET value = '{orders@acme.example: [' WHERE key = 'mail_order_bot.customers'; NOTIFY plba_config",
    )
    .unwrap();
    for host in &hosts {
        host.wait_state("refused", "the broken row refused");
        let health = host.health();
        assert_eq!(health["status"], "degraded", "{health}");
        let reason = store_health(&health)["reason"].as_str().unwrap().to_owned();
        assert!(
            reason.contains("refused") && reason.contains("mail_order_bot.customers"),
            "{reason}"
        );
        let metrics = http_get(host.addr, "/metrics").unwrap().body;
        assert_eq!(
            support::metric(&metrics, "plba_config_store_state{state=\"refused\"}"),
            1.0,
            "{metrics}"
        );
    }
    three.deliver("buyer@globex.example", "<while-broken@globex>");
    assert_eq!(
        three.ordered_by("<while-broken@globex>"),
        "GLOBEX",
        "the last good customers stay in force"
    );
    pg.try_query(
        "config",
        &format!("UPDATE plba_config_values SET value = '{WITH_GLOBEX}' WHERE key = 'mail_order_bot.customers'; NOTIFY plba_config"),
    )
    .unwrap();
    for host in &hosts {
        host.wait_state("current", "the fixed row applied");
        assert_eq!(host.health()["status"], "ok");
    }

    // A rollback to revision 0 takes GLOBEX out again, as a new revision.
    let diff = one.config_ok(&["diff", "0"]);
    assert!(
        diff.contains("mail_order_bot.customers") && diff.contains("(not set)"),
        "{diff}"
    );
    let out = one.config_ok(&["rollback", "0"]);
    assert!(
        out.contains("revision 2: unset mail_order_bot.customers"),
        "{out}"
    );
    for host in &hosts {
        host.wait_revision(2, "the rollback applied");
    }
    two.deliver("buyer@globex.example", "<rolled-back@globex>");
    wait_until(DEADLINE, "GLOBEX rejected again", || {
        two.listed("rejections").len() == 2
    });

    // The database goes away: the bots keep their configuration and say it is stale; a
    // change cannot be made meanwhile; they catch up once it is back.
    pg.stop();
    for host in &hosts {
        host.wait_state("stale", "the database's absence noticed");
        let health = host.health();
        assert_eq!(health["status"], "degraded", "{health}");
        assert!(
            store_health(&health)["reason"]
                .as_str()
                .unwrap()
                .contains("cannot be read"),
            "{health}"
        );
    }
    let (ok, _, err) = one.config_cli(&["set", "mail_order_bot.customers", WITH_GLOBEX]);
    assert!(!ok && err.contains("configuration database"), "{err}");

    // Bot three restarts while the database is away: without the cache it refuses to start
    // and says how to start anyway; with it, it starts on the values it last applied.
    let mut three_bot = bots.pop().unwrap();
    three_bot.signal("TERM");
    wait_until(DEADLINE, "bot three stopped", || {
        three_bot.exited().is_some()
    });
    let (status, log) = support::run_to_exit(
        &three.dir,
        &["--config", &three.config, "run"],
        &[],
        "refused.log",
    );
    assert!(!status.success());
    assert!(
        log.contains("cannot start without the configuration database")
            && log.contains("start_from_cache"),
        "{log}"
    );
    let cached = Host::edited(root.path(), "three", &url, true, |c: String| push_only(&c));
    let three_bot = cached.start();
    let status = cached.store_status();
    assert_eq!(
        (status["state"].as_str(), status["revision"].as_u64()),
        (Some("stale"), Some(2)),
        "{status}"
    );
    bots.push(three_bot);

    pg.start_again();
    let out = one.config_ok(&[
        "set",
        "mail_order_bot.customers",
        WITH_GLOBEX,
        "-m",
        "GLOBEX back",
    ]);
    assert!(out.contains("revision 3"), "{out}");
    for host in [one, two, &cached] {
        host.wait_revision(3, "the change after the outage applied");
    }
    cached.deliver("buyer@globex.example", "<after-outage@globex>");
    assert_eq!(cached.ordered_by("<after-outage@globex>"), "GLOBEX");
    for bot in &mut bots {
        bot.signal("TERM");
    }
    for bot in &mut bots {
        wait_until(DEADLINE, "the bot stopped", || bot.exited().is_some());
    }
}

#[test]
fn a_single_host_on_sqlite_picks_a_change_up_by_polling() {
    let root = tempfile::tempdir().unwrap();
    let host = Host::new(root.path(), "solo", "sqlite://data/config.db", false);
    let mut bot = host.start();
    host.deliver("buyer@globex.example", "<before@globex>");
    wait_until(DEADLINE, "GLOBEX's first mail rejected", || {
        host.listed("rejections").len() == 1
    });
    let out = host.config_ok(&["set", "mail_order_bot.customers", WITH_GLOBEX]);
    assert!(out.contains("revision 1"), "{out}");
    let took = host.wait_revision(1, "the change polled and applied");
    eprintln!(
        "configuration database on SQLite: the change applied {took:?} after `config set` returned (poll every 1 s)"
    );
    let got = host.config_ok(&["get", "mail_order_bot.customers"]);
    assert!(
        got.contains("GLOBEX") && got.contains("# from database sqlite://data/config.db"),
        "{got}"
    );
    host.deliver("buyer@globex.example", "<after@globex>");
    assert_eq!(host.ordered_by("<after@globex>"), "GLOBEX");
    bot.signal("TERM");
    wait_until(DEADLINE, "the bot stopped", || bot.exited().is_some());
}

#[test]
fn an_admin_changes_a_value_from_the_console_and_the_history_names_them() {
    const PASSWORD: &str = "root's long password";
    let root = tempfile::tempdir().unwrap();
    let host = Host::edited(
        root.path(),
        "console",
        "sqlite://data/config.db",
        false,
        |text: String| with_users(&text, ""),
    );
    add_user(&host.dir, &host.config, "root", "admin", PASSWORD);
    let mut bot = host.start();

    // A browser's change needs its CSRF token, as every change does.
    let (cookie, _) = session_of(&password_sign_in(host.addr, "root", PASSWORD));
    let forged = http_request(
        host.addr,
        "POST",
        "/config/values",
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
    )
    .unwrap();
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("csrf"), "{}", forged.body);

    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let url = format!("http://{}", host.addr);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let console = Console::open(&driver, 1280, 900, &url).await;
        console.sign_in_as("root", PASSWORD, "root (admin)").await;
        console.show("config", "Configuration").await;
        console
            .wait_for(Locator::XPath("//td/span[text()='current']"))
            .await;
        let type_into = |id: &'static str, text: &'static str| {
            let console = &console;
            async move {
                let field = console.wait_for(Locator::Id(id)).await;
                field.clear().await.unwrap();
                field.send_keys(text).await.unwrap();
            }
        };
        // An invalid value is refused with the key named, and nothing is committed.
        type_into("config-key", "mail_order_bot.workers").await;
        type_into("config-value", "many").await;
        console.click(Locator::Id("config-set")).await;
        let refusal = console
            .wait_for(Locator::XPath(
                "//p[@id='message' and contains(@class, 'error') and string-length(text()) > 0]",
            ))
            .await
            .text()
            .await
            .unwrap();
        assert!(refusal.contains("mail_order_bot.workers"), "{refusal}");

        type_into("config-key", "mail_order_bot.customers").await;
        type_into("config-value", WITH_GLOBEX).await;
        type_into("config-comment", "GLOBEX signed").await;
        console.click(Locator::Id("config-set")).await;
        console
            .wait_for(Locator::XPath(
                "//p[@id='message' and text()='revision 1: set mail_order_bot.customers']",
            ))
            .await;
        // Each value shows its layer; the history says who changed it and why.
        console
            .wait_for(Locator::XPath(
                "//tr[td[text()='GLOBEX'] and td[starts-with(text(), 'database sqlite://data/config.db revision 1')]]",
            ))
            .await;
        console
            .wait_for(Locator::XPath(
                "//tr[td[text()='root (control plane)'] and td[text()='mail_order_bot.customers'] and td[text()='GLOBEX signed']]",
            ))
            .await;
        console
            .wait_for(Locator::XPath(
                "//tr[td[text()='mail_order_bot.limits.max_lines'] and td[starts-with(text(), 'file ')]]",
            ))
            .await;
        console.close().await;
    });

    let history: serde_json::Value =
        serde_json::from_str(&host.config_ok(&["history", "--json"])).unwrap();
    assert_eq!(
        history.as_array().unwrap().len(),
        1,
        "only the valid change: {history}"
    );
    assert_eq!(history[0]["actor"], "root (control plane)");
    let audit = http_request(host.addr, "GET", "/audit", &[("Cookie", &cookie)]).unwrap();
    assert!(
        audit.body.contains(r#""action":"set-config""#) && audit.body.contains(r#""who":"root""#),
        "{}",
        audit.body
    );
    host.deliver("buyer@globex.example", "<console@globex>");
    assert_eq!(host.ordered_by("<console@globex>"), "GLOBEX");
    bot.signal("TERM");
    wait_until(DEADLINE, "the bot stopped", || bot.exited().is_some());
}

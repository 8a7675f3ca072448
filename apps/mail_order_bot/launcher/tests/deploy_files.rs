//! Every file under `deploy/` that configures the bot, run the way an operator runs it: the
//! built binary, the shipped file with only the server addresses and secrets filled in, real
//! servers (Dovecot, Redis) on loopback. Each run processes the sample mails end to end and
//! is checked where the operator would look: the mailbox, the order store, `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::net::SocketAddr;
use std::path::Path;

use plba_testkit::process::{http_get, wait_until};
use plba_testkit::servers::{Dovecot, IMAP_USER, RedisServer};
use support::{
    DEADLINE, cli_ok, control_addr, example_with_customers, listed, metric, repo_file, samples,
    start_bot, wait_ready,
};

const DEMO_CUSTOMERS: &str = "    \"@acme.example\": ACME\n    \"buyer@globex.example\": GLOBEX\n";

fn cur_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("data/Maildir/cur"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The systemd unit's command line (`ExecStart`), with its configuration path pointing at
/// `config` instead of `/etc/mail_order_bot/config.yaml`.
fn unit_command_line(config: &Path) -> Vec<String> {
    let unit = std::fs::read_to_string(repo_file("deploy/mail_order_bot.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/mail_order_bot"));
    words
        .map(|w| {
            if w == "/etc/mail_order_bot/config.yaml" {
                config.display().to_string()
            } else {
                w.to_owned()
            }
        })
        .collect()
}

#[test]
fn the_systemd_unit_runs_the_maildir_example_and_every_mail_gets_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, example_with_customers(DEMO_CUSTOMERS)).unwrap();
    let config_arg = config.display().to_string();
    let addr = control_addr();
    let env = [("PLBA__PLATFORM__CONTROL__BIND", addr.to_string())];

    let checked = cli_ok(dir.path(), &["--config", &config_arg, "check-config"], &env);
    assert!(
        checked.contains("buyer@globex.example -> GLOBEX"),
        "{checked}"
    );
    let mut deliver = vec![
        "--config".to_owned(),
        config_arg.clone(),
        "deliver".to_owned(),
    ];
    deliver.extend(samples().iter().map(|p| p.display().to_string()));
    let deliver: Vec<&str> = deliver.iter().map(String::as_str).collect();
    cli_ok(dir.path(), &deliver, &env);

    let args = unit_command_line(&config);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bot = start_bot(dir.path(), &args, &env);
    wait_ready(&bot, addr);
    wait_until(DEADLINE, "the eight samples completed", || {
        cur_count(dir.path()) == 8
    });
    let metrics = http_get(addr, "/metrics").unwrap().body;
    let status = http_get(addr, "/status").unwrap().body;
    let traces = http_get(addr, "/traces").unwrap().body;
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "exit {exit:?}:\n{log}");

    assert_eq!(
        metric(&metrics, "plba_mail_outcomes_total{outcome=\"order\"}"),
        4.0,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "plba_mail_outcomes_total{outcome=\"duplicate\"}"),
        1.0
    );
    assert_eq!(
        metric(&metrics, "plba_mail_outcomes_total{outcome=\"rejected\"}"),
        3.0
    );
    assert_eq!(
        metric(&metrics, "plba_tasks_failed_total"),
        0.0,
        "a rejection is a handled outcome, not a failure"
    );
    assert_eq!(metric(&metrics, "plba_queue_dead_letters"), 0.0);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["queues"][0]["stats"]["dead"], 0, "{status}");
    // No exporter is configured, so no span is made; every mail's task still has a trace id
    // and its whole story in the recent traces an operator reads.
    let traces: serde_json::Value = serde_json::from_str(&traces).unwrap();
    let traces = traces["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 8, "{traces:#?}");
    for trace in traces {
        let trace_id = trace["trace_id"].as_str().unwrap_or_default();
        assert!(
            trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{trace}"
        );
        let steps: Vec<&str> = trace["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|step| step["step"].as_str())
            .collect();
        assert_eq!(steps, ["published", "received", "succeeded"], "{trace}");
    }
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file:\n{log}"
    );
    assert!(
        !log.contains(" WARN "),
        "a clean run warns about nothing:\n{log}"
    );

    let config_args = ["--config", config_arg.as_str()];
    assert_eq!(listed(dir.path(), "orders", &config_args, &[]).len(), 4);
    let rejections = listed(dir.path(), "rejections", &config_args, &[]);
    assert_eq!(rejections.len(), 3);
    let flagged = std::fs::read_dir(dir.path().join("data/Maildir/cur"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(":2,FS")
        })
        .count();
    assert_eq!(flagged, 3, "each rejected mail is flagged in the mailbox");
}

/// What an operator fills in through the environment to point a shipped IMAP configuration
/// at a server: the control address, the private Dovecot (implicit TLS), its CA, the user.
fn server_env(addr: SocketAddr, dovecot: &Dovecot, ca: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("PLBA__PLATFORM__CONTROL__BIND", addr.to_string()),
        ("PLBA__MAIL_ORDER_BOT__SOURCE__HOST", "localhost".to_owned()),
        (
            "PLBA__MAIL_ORDER_BOT__SOURCE__PORT",
            dovecot.tls_port().unwrap().to_string(),
        ),
        (
            "PLBA__MAIL_ORDER_BOT__SOURCE__CA_FILE",
            ca.display().to_string(),
        ),
        ("PLBA__MAIL_ORDER_BOT__SOURCE__USER", IMAP_USER.0.to_owned()),
    ]
}

/// The IMAP example as shipped (`imap_idle`, implicit TLS), or with `kind` edited to
/// `imap_poll`, against a private Dovecot with TLS: only the server, the CA and the
/// password file are supplied, through the environment.
fn run_imap_example(kind: &str) {
    let certificates = plba_testkit::tls::certificates();
    let Some(dovecot) = Dovecot::start_tls(&certificates.cert_pem, &certificates.key_pem) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &certificates.ca_pem).unwrap();
    let password = dir.path().join("imap-password");
    std::fs::write(&password, format!("{}\n", IMAP_USER.1)).unwrap();
    let example =
        std::fs::read_to_string(repo_file("deploy/mail_order_bot.imap.example.yaml")).unwrap();
    assert!(example.contains("kind: imap_idle"));
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        example.replace("kind: imap_idle", &format!("kind: {kind}")),
    )
    .unwrap();
    let addr = control_addr();
    let mut env = server_env(addr, &dovecot, &ca);
    env.push((
        "PLBA__MAIL_ORDER_BOT__SOURCE__PASSWORD_FILE",
        password.display().to_string(),
    ));
    // A poll every second keeps the polling variant quick; IDLE runs with the shipped
    // interval (a minute), so only a working IDLE finishes in time.
    if kind == "imap_poll" {
        env.push((
            "PLBA__MAIL_ORDER_BOT__SOURCE__POLL_INTERVAL_MS",
            "1000".to_owned(),
        ));
    }
    let config_arg = config.display().to_string();
    let checked = cli_ok(dir.path(), &["--config", &config_arg, "check-config"], &env);
    assert!(
        !checked.contains(IMAP_USER.1),
        "the password is never shown"
    );
    for sample in samples() {
        dovecot.append("INBOX", &std::fs::read(sample).unwrap());
    }
    let bot = start_bot(dir.path(), &["--config", &config_arg, "run"], &env);
    wait_ready(&bot, addr);
    // The example names only @acme.example: its three orders and its duplicate stay in the
    // INBOX, seen; GLOBEX's order is rejected like the unknown sender and the two bad mails,
    // and the example moves rejections to its `Rejected` folder.
    // Well under the shipped one-minute poll interval: IDLE must do it.
    let deadline = if kind == "imap_idle" {
        std::time::Duration::from_secs(20)
    } else {
        DEADLINE
    };
    wait_until(deadline, "every sample completed", || {
        dovecot.message_counts("INBOX") == Some((4, 0))
            && dovecot.message_counts("Rejected") == Some((4, 0))
    });
    let metrics = http_get(addr, "/metrics").unwrap().body;
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "exit {exit:?}:\n{log}");
    let config_args = ["--config", config_arg.as_str()];
    assert_eq!(listed(dir.path(), "orders", &config_args, &env).len(), 3);
    assert_eq!(
        listed(dir.path(), "rejections", &config_args, &env).len(),
        4
    );
    assert_eq!(
        metric(&metrics, "plba_tasks_failed_total"),
        0.0,
        "{metrics}"
    );
}

#[test]
fn the_imap_example_runs_as_shipped_over_idle_and_tls() {
    run_imap_example("imap_idle");
}

#[test]
fn the_imap_example_runs_with_polling() {
    run_imap_example("imap_poll");
}

#[test]
fn the_kubernetes_manifest_configuration_runs_with_its_secrets_mounted() {
    let manifest =
        std::fs::read_to_string(repo_file("deploy/kubernetes/mail_order_bot.yaml")).unwrap();
    let certificates = plba_testkit::tls::certificates();
    let Some(dovecot) = Dovecot::start_tls(&certificates.cert_pem, &certificates.key_pem) else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The manifest mounts secrets at /etc/mail_order_bot/secrets: here, a directory of ours.
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("control-token"), "admin-token-0123456789\n").unwrap();
    std::fs::write(secrets.join("imap-password"), format!("{}\n", IMAP_USER.1)).unwrap();
    std::fs::write(secrets.join("oidc-client-secret"), "the-client-secret\n").unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &certificates.ca_pem).unwrap();
    let yaml = manifest_config(&manifest, &secrets);
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    let addr = control_addr();
    let mut env = server_env(addr, &dovecot, &ca);
    env.push(("PLBA__MAIL_ORDER_BOT__QUEUE__URL", redis.url()));
    env.push((
        "PLBA__MAIL_ORDER_BOT__STORE__SQLITE_PATH",
        dir.path().join("orders.db").display().to_string(),
    ));
    env.push((
        "PLBA__PLATFORM__CONTROL__USERS__PATH",
        dir.path().join("users.db").display().to_string(),
    ));
    let config_arg = config.display().to_string();
    cli_ok(dir.path(), &["--config", &config_arg, "check-config"], &env);
    for sample in samples() {
        dovecot.append("INBOX", &std::fs::read(sample).unwrap());
    }
    // The container's arguments.
    let bot = start_bot(dir.path(), &["--config", &config_arg, "run"], &env);
    wait_ready(&bot, addr);
    // No rejected_folder in the manifest: rejected mails are flagged where they are.
    wait_until(DEADLINE, "every sample completed", || {
        dovecot.message_counts("INBOX") == Some((8, 0))
    });
    let reload =
        plba_testkit::process::http_post(addr, "/actions/reload", "admin-token-0123456789")
            .unwrap();
    assert_eq!(reload.status, 200, "{}", reload.body);
    // The console offers the provider (its secret read from the mounted file); nothing is
    // asked of the provider until someone signs in.
    let methods = http_get(addr, "/ui/session/methods").unwrap();
    assert!(
        methods
            .body
            .contains(r#""single_sign_on":{"label":"single sign-on"}"#),
        "{}",
        methods.body
    );
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "exit {exit:?}:\n{log}");
    assert!(
        log.lines().all(|l| l.starts_with('{')),
        "format: json:\n{log}"
    );
    let config_args = ["--config", config_arg.as_str()];
    assert_eq!(listed(dir.path(), "orders", &config_args, &env).len(), 3);
}

/// Extracts the bot configuration a manifest's ConfigMap embeds, with its secrets directory
/// moved to `secrets`.
fn manifest_config(manifest: &str, secrets: &Path) -> String {
    let config_map = manifest
        .split("\n---\n")
        .find(|doc| doc.contains("kind: ConfigMap"))
        .unwrap();
    let embedded = config_map.split("config.yaml: |\n").nth(1).unwrap();
    embedded
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "/etc/mail_order_bot/secrets",
            &secrets.display().to_string(),
        )
}

#[test]
fn the_scaled_kubernetes_manifest_runs_its_replicas_on_one_mailbox_and_one_database() {
    let manifest =
        std::fs::read_to_string(repo_file("deploy/kubernetes/mail_order_bot.scaled.yaml")).unwrap();
    let documents: Vec<serde_yaml::Value> = manifest
        .split("\n---\n")
        .map(|doc| serde_yaml::from_str(doc).unwrap())
        .collect();
    let kind = |name: &str| {
        documents
            .iter()
            .find(|d| d["kind"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("the manifest has a {name}"))
    };
    let deployment = kind("Deployment");
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(3));
    let budget = kind("PodDisruptionBudget");
    assert_eq!(budget["spec"]["minAvailable"].as_u64(), Some(2));
    assert_eq!(
        budget["spec"]["selector"]["matchLabels"],
        deployment["spec"]["template"]["metadata"]["labels"],
        "the budget covers the bot's pods"
    );

    let certificates = plba_testkit::tls::certificates();
    let Some(dovecot) = Dovecot::start_tls(&certificates.cert_pem, &certificates.key_pem) else {
        return;
    };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let Some(pg) = plba_testkit::postgres::PostgresServer::start() else {
        return;
    };
    for sample in samples() {
        dovecot.append("INBOX", &std::fs::read(sample).unwrap());
    }
    // Two of the replicas, each in a directory of its own (its own pod).
    let root = tempfile::tempdir().unwrap();
    let mut replicas = Vec::new();
    for n in 0..2 {
        let dir = root.path().join(format!("pod-{n}"));
        let secrets = dir.join("secrets");
        std::fs::create_dir_all(&secrets).unwrap();
        std::fs::write(secrets.join("control-token"), "admin-token-0123456789\n").unwrap();
        std::fs::write(secrets.join("imap-password"), format!("{}\n", IMAP_USER.1)).unwrap();
        std::fs::write(secrets.join("pg-password"), format!("{}\n", pg.password())).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &certificates.ca_pem).unwrap();
        let config = dir.join("config.yaml");
        // The pod's /tmp is its own: here, a directory of the replica's.
        let pod_cache = dir.join("config-cache.json").display().to_string();
        std::fs::write(
            &config,
            manifest_config(&manifest, &secrets).replace("/tmp/config-cache.json", &pod_cache),
        )
        .unwrap();
        let addr = control_addr();
        let mut env = server_env(addr, &dovecot, &ca);
        env.push(("PLBA__MAIL_ORDER_BOT__QUEUE__URL", redis.url()));
        env.push(("PLBA__MAIL_ORDER_BOT__SOURCE_LEASE__URL", redis.url()));
        env.push(("PLBA__MAIL_ORDER_BOT__STORE__URL", pg.url()));
        env.push(("PLBA__PLATFORM__CONFIG_STORE__URL", pg.url()));
        let config_arg = config.display().to_string();
        cli_ok(&dir, &["--config", &config_arg, "check-config"], &env);
        let bot = start_bot(&dir, &["--config", &config_arg, "run"], &env);
        wait_ready(&bot, addr);
        replicas.push((bot, dir, config_arg, env, addr));
    }
    wait_until(DEADLINE, "every sample completed", || {
        dovecot.message_counts("INBOX") == Some((8, 0))
    });
    // Orders from either replica are in the one database: any replica lists them all.
    for (_, dir, config_arg, env, _) in &replicas {
        let args = ["--config", config_arg.as_str()];
        let orders = listed(dir, "orders", &args, env);
        assert_eq!(orders.len(), 3, "the three ACME orders");
        assert_eq!(listed(dir, "rejections", &args, env).len(), 4);
        let id = orders[0]["id"].to_string();
        let shown = cli_ok(
            dir,
            &["orders", "show", &id, "--json", "--config", config_arg],
            env,
        );
        let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(shown, orders[0], "show answers what list listed");
    }
    assert_eq!(pg.query("SELECT count(*) FROM orders"), "3");
    // A customer added on one replica, in the shared configuration database, reaches both.
    let (_, dir, config_arg, env, _) = &replicas[0];
    cli_ok(
        dir,
        &[
            "--config",
            config_arg,
            "config",
            "set",
            "mail_order_bot.customers",
            r#"{"@acme.example": ACME, "@globex.example": GLOBEX}"#,
        ],
        env,
    );
    for (.., addr) in &replicas {
        wait_until(DEADLINE, "the shared configuration applied", || {
            let status = http_get(*addr, "/status").unwrap().body;
            let status: serde_json::Value = serde_json::from_str(&status).unwrap();
            status["config_store"]["revision"] == 1
        });
    }
    for (bot, ..) in replicas {
        let (exit, log) = bot.stop(DEADLINE);
        assert!(exit.success(), "exit {exit:?}:\n{log}");
    }
}

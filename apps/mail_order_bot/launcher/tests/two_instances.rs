//! Two bot processes on one mailbox and one Redis: each mail gives exactly one order; when
//! the process holding the mailbox lease is killed, the other takes over within the lease time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use plba_testkit::mail::MailBuilder;
use plba_testkit::process::wait_until;
use plba_testkit::servers::RedisServer;

const BIN: &str = env!("CARGO_BIN_EXE_mail_order_bot");

fn config(dir: &Path, redis_url: &str) -> std::path::PathBuf {
    let file = dir.join("bot.yaml");
    std::fs::write(
        &file,
        format!(
            "platform:\n  control:\n    bind: 127.0.0.1:0\nlog:\n  level: warn\nmail_order_bot:\n  customers:\n    \"@acme.example\": ACME\n    \"buyer@globex.example\": GLOBEX\n  queue:\n    kind: redis\n    url: {redis_url}\n    block_ms: 200\n    visibility_timeout_ms: 3000\n  source_lease:\n    url: {redis_url}\n    ttl_ms: 1000\n  source:\n    kind: maildir\n    path: data/Maildir\n    rescan_interval_ms: 200\n"
        ),
    )
    .unwrap();
    file
}

fn cli(dir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn start_bot(dir: &Path, config: &Path) -> Child {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("run")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn cur_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("data/Maildir/cur"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn orders(dir: &Path, config: &Path) -> Vec<serde_json::Value> {
    let listed = cli(
        dir,
        config,
        &["orders", "list", "--json", "--limit", "1000"],
    );
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&listed.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn two_bots_share_a_mailbox_and_the_survivor_takes_over() {
    let redis = RedisServer::start().expect("redis-server is needed");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &redis.url());
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    let mut files: Vec<String> = std::fs::read_dir(&samples)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    files.sort();
    let mut deliver = vec!["deliver"];
    deliver.extend(files.iter().map(String::as_str));
    assert!(cli(dir.path(), &config, &deliver).status.success());

    let mut bots = vec![
        start_bot(dir.path(), &config),
        start_bot(dir.path(), &config),
    ];
    wait_until(Duration::from_secs(60), "every sample completed", || {
        cur_count(dir.path()) == 8
    });
    let first = orders(dir.path(), &config);
    assert_eq!(
        first.len(),
        4,
        "each sample gives exactly one order across both bots"
    );

    // Kill the lease holder (its pid is part of the holder id), without a chance to release.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let holder: String = redis::cmd("GET")
        .arg("plba:lease:{mail-source:data/Maildir}")
        .query(&mut conn)
        .unwrap();
    // The holder's id names its process (`host-pid-…`): find which bot that is.
    let index = bots
        .iter()
        .position(|b| holder.split('-').any(|part| part == b.id().to_string()))
        .expect("the holder is one of the bots");
    let mut holder = bots.remove(index);
    holder.kill().unwrap();
    holder.wait().unwrap();

    let fresh = dir.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    let mut new_files = Vec::new();
    for n in 0..5 {
        let path = fresh.join(format!("{n}.eml"));
        let mail = MailBuilder::new(
            "orders@acme.example",
            &format!("<after-kill-{n}@acme.example>"),
        )
        .attachment(
            "o.csv",
            "text/csv",
            format!("sku,quantity\nA-100,{}\n", n + 1).as_bytes(),
        )
        .build();
        std::fs::write(&path, mail).unwrap();
        new_files.push(path.display().to_string());
    }
    let mut deliver = vec!["deliver"];
    deliver.extend(new_files.iter().map(String::as_str));
    assert!(cli(dir.path(), &config, &deliver).status.success());
    let took = wait_until(
        Duration::from_secs(60),
        "the survivor processes new mail",
        || cur_count(dir.path()) == 13,
    );
    eprintln!("the survivor took over and completed the new mail in {took:?} (lease ttl 1 s)");

    let all = orders(dir.path(), &config);
    let mut ids: Vec<&str> = all
        .iter()
        .map(|o| o["message_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (all.len(), ids.len()),
        (9, 9),
        "one order per mail, none twice"
    );
    for mut bot in bots {
        bot.kill().unwrap();
        bot.wait().unwrap();
    }
}

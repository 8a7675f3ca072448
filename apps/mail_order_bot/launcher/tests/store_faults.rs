//! The order store failing under the running binary: a full disk, a read-only filesystem.
//! A mail is marked seen only after its order is durably committed; while the store cannot
//! write, the bot says so (not ready) and keeps the mail unseen; once the fault clears it
//! finishes every mail without a restart. Each fault is real: a small tmpfs filled up or
//! remounted read-only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use plba_testkit::disk::SmallDisk;
use plba_testkit::mail::MailBuilder;
use plba_testkit::process::{http_get, wait_until};
use support::{DEADLINE, control_addr, listed, start_bot, wait_ready};

// The read-only test starts the bot through setpriv itself; `support::BIN` names the binary.

const MAILS: usize = 20;

fn config(dir: &Path, addr: SocketAddr) -> String {
    let path = dir.join("bot.yaml");
    std::fs::write(
        &path,
        format!(
            "platform:\n  control:\n    bind: {addr}\nmail_order_bot:\n  source:\n    kind: maildir\n    path: data/Maildir\n    rescan_interval_ms: 200\n  store:\n    sqlite_path: data/orders.db\n  retry:\n    initial_ms: 50\n    max_ms: 500\n  customers:\n    \"@acme.example\": ACME\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Orders big enough (a hundred lines) that storing them needs fresh disk space.
fn stage_mails(maildir: &Path) -> Vec<String> {
    let lines: String = (0..100)
        .map(|i| format!("SKU-{i:04},{}\n", i + 1))
        .collect();
    let csv = format!("sku,quantity\n{lines}");
    (0..MAILS)
        .map(|n| {
            let mail = MailBuilder::new("orders@acme.example", &format!("<fault-{n}@x>"))
                .attachment("o.csv", "text/csv", csv.as_bytes())
                .build();
            let name = format!("fault-{n}.eml");
            std::fs::write(maildir.join("tmp").join(&name), mail).unwrap();
            name
        })
        .collect()
}

/// Moves staged mails into `new/` (a rename: it needs no space), as an MTA delivers.
fn deliver_staged(maildir: &Path, names: &[String]) {
    for name in names {
        std::fs::rename(
            maildir.join("tmp").join(name),
            maildir.join("new").join(name),
        )
        .unwrap();
    }
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn ready(addr: SocketAddr) -> u16 {
    http_get(addr, "/health/ready")
        .map(|r| r.status)
        .unwrap_or(0)
}

/// Every mail marked seen has its order in the database, as another process reads it.
fn seen_are_stored(dir: &Path, config: &str) {
    let seen = count(&dir.join("data/Maildir/cur"));
    let stored = listed(dir, "orders", &["--config", config], &[]).len();
    assert!(
        seen <= stored,
        "{seen} mails marked seen but only {stored} orders in the database"
    );
}

#[test]
fn a_full_disk_loses_no_order_and_the_bot_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("data"), 3 << 20) else {
        return;
    };
    let addr = control_addr();
    let config = config(dir.path(), addr);
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);
    let maildir = dir.path().join("data/Maildir");
    let names = stage_mails(&maildir);

    disk.fill();
    deliver_staged(&maildir, &names);
    wait_until(DEADLINE, "the store reported unable to write", || {
        ready(addr) == 503
    });
    seen_are_stored(dir.path(), &config);
    assert!(
        count(&maildir.join("new")) > 0,
        "mails whose order could not be stored stay unseen"
    );

    disk.free();
    wait_until(DEADLINE, "every mail completed once space returned", || {
        count(&maildir.join("cur")) == MAILS
    });
    wait_until(DEADLINE, "ready again", || ready(addr) == 200);
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
    let orders = listed(dir.path(), "orders", &["--config", &config], &[]);
    assert_eq!(orders.len(), MAILS, "every order durable after the stop");
}

/// Runs as an unprivileged user (root ignores file modes), with `dir` handed to that user.
fn as_nobody(dir: &Path, args: &[&str]) -> Vec<String> {
    let chown = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(chown.success());
    let mut all = vec![
        "--reuid=nobody".to_owned(),
        "--regid=nogroup".to_owned(),
        "--clear-groups".to_owned(),
        "--".to_owned(),
        support::BIN.to_owned(),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    all
}

#[test]
fn a_store_opened_read_only_recovers_without_a_restart_once_writable() {
    if !plba_testkit::servers::running_as_root("an unprivileged bot process (setpriv)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let config = config(dir.path(), addr);
    // Create the database, then make it read-only before the bot opens it.
    listed(dir.path(), "orders", &["--config", &config], &[]);
    let db = dir.path().join("data/orders.db");
    let maildir = dir.path().join("data/Maildir");
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let names = stage_mails(&maildir);
    let args = as_nobody(dir.path(), &["--config", &config, "run"]);
    let chmod = |mode: &str| {
        for file in std::fs::read_dir(dir.path().join("data")).unwrap() {
            let file = file.unwrap().path();
            if file.to_string_lossy().contains("orders.db") {
                assert!(
                    Command::new("chmod")
                        .arg(mode)
                        .arg(&file)
                        .status()
                        .unwrap()
                        .success()
                );
            }
        }
    };
    chmod("0444");
    let mut command = Command::new("setpriv");
    command.args(&args).current_dir(dir.path());
    let bot = plba_testkit::process::AppProcess::spawn(command, &dir.path().join("bot.log"));
    wait_until(DEADLINE, "the control plane up", || ready(addr) != 0);
    deliver_staged(&maildir, &names);
    wait_until(DEADLINE, "the store reported unable to write", || {
        ready(addr) == 503
    });
    seen_are_stored(dir.path(), &config);
    assert!(db.exists());

    chmod("0644");
    // Seen timing out once on a loaded machine and never since: the bot's log and the
    // files' modes go with such a failure, to find why.
    plba_testkit::process::wait_until_explained(
        DEADLINE,
        "every mail completed without a restart",
        || count(&maildir.join("cur")) == MAILS,
        || {
            let modes = Command::new("ls")
                .arg("-la")
                .arg(dir.path().join("data"))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            format!(
                "{} of {MAILS} seen\n{modes}\n{}",
                count(&maildir.join("cur")),
                bot.log()
            )
        },
    );
    wait_until(DEADLINE, "ready again", || ready(addr) == 200);
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
    assert_eq!(
        listed(dir.path(), "orders", &["--config", &config], &[]).len(),
        MAILS
    );
}

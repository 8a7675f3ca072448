//! The Maildir misbehaving under the running binary: deleted while the bot runs (it is
//! created again and watched again, so a new mail is noticed without waiting for a rescan),
//! and a mail whose file name is not UTF-8 (it becomes an order, with one warning, not a
//! warning on every rescan).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use plba_testkit::mail::MailBuilder;
use plba_testkit::process::wait_until;
use support::{DEADLINE, control_addr, listed, start_bot, wait_ready};

fn config(dir: &Path, addr: SocketAddr, rescan_ms: u64) -> String {
    let path = dir.join("bot.yaml");
    std::fs::write(
        &path,
        format!(
            "platform:\n  control:\n    bind: {addr}\nmail_order_bot:\n  source:\n    kind: maildir\n    path: data/Maildir\n    rescan_interval_ms: {rescan_ms}\n  store:\n    sqlite_path: data/orders.db\n  customers:\n    \"@acme.example\": ACME\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Delivers mail `n` into `maildir` under the file name `name`, the Maildir way.
fn deliver(maildir: &Path, n: usize, name: &OsStr) {
    let mail = MailBuilder::new("orders@acme.example", &format!("<maildir-fault-{n}@x>"))
        .attachment("o.csv", "text/csv", b"sku,quantity\nA-1,2\n")
        .build();
    let staged = maildir.join("tmp").join(format!("staged-{n}"));
    std::fs::write(&staged, mail).unwrap();
    std::fs::rename(&staged, maildir.join("new").join(name)).unwrap();
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_maildir_deleted_under_the_running_bot_is_created_and_watched_again() {
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    // No rescan within the test: only the watch can bring the new mail in.
    let config = config(dir.path(), addr, 3_600_000);
    let maildir = dir.path().join("data/Maildir");
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);

    // `rm -rf`, repeated should the bot already be making the directories again (the
    // removal then finds a directory not empty).
    let removed = (0..100).any(|_| match std::fs::remove_dir_all(&maildir) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    });
    assert!(removed, "the Maildir could not be removed");
    wait_until(DEADLINE, "the bot to create the Maildir again", || {
        ["tmp", "new", "cur"]
            .iter()
            .all(|sub| maildir.join(sub).is_dir())
    });
    deliver(&maildir, 0, OsStr::new("1.M1P1.after-delete"));
    wait_until(DEADLINE, "the new mail completed", || {
        count(&maildir.join("cur")) == 1
    });
    assert_eq!(
        listed(dir.path(), "orders", &["--config", &config], &[]).len(),
        1
    );
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
    assert!(log.contains("created them again"), "{log}");
}

#[test]
fn a_file_name_that_is_not_utf8_becomes_an_order_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let config = config(dir.path(), addr, 100);
    let maildir = dir.path().join("data/Maildir");
    let bot = start_bot(dir.path(), &["--config", &config, "run"], &[]);
    wait_ready(&bot, addr);

    deliver(&maildir, 0, OsStr::from_bytes(b"1.M1P1.bad\xff.host"));
    wait_until(DEADLINE, "the oddly named mail completed", || {
        count(&maildir.join("cur")) == 1
    });
    // Later mails, one at a time: each takes at least one more scan of new/.
    for n in 1..3 {
        deliver(&maildir, n, OsStr::new(&format!("{n}.M{n}P1.host")));
        wait_until(DEADLINE, "the next mail completed", || {
            count(&maildir.join("cur")) == n + 1
        });
    }
    assert_eq!(
        listed(dir.path(), "orders", &["--config", &config], &[]).len(),
        3
    );
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
    assert_eq!(
        log.matches("not UTF-8").count(),
        1,
        "one warning for the odd name, not one per rescan:\n{log}"
    );
}

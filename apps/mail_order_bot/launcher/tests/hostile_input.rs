//! Hostile mail through the built binary: nothing crashes the bot or loops it, every mail
//! ends with a recorded outcome, and the good mail beside it is processed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use plba_testkit::mail::MailBuilder;
use plba_testkit::process::wait_until;
use plba_testkit::xlsx::xlsx;
use support::{DEADLINE, control_addr, deliver, listed, start_bot};

#[test]
fn a_sparse_xlsx_and_an_oversized_mail_are_recorded_rejections_and_the_bot_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bot.yaml");
    std::fs::write(
        &config,
        format!(
            "platform:\n  control:\n    bind: {}\nmail_order_bot:\n  source:\n    kind: maildir\n    path: data/Maildir\n    rescan_interval_ms: 100\n    max_message_bytes: 20000\n  customers:\n    \"@acme.example\": ACME\n",
            control_addr()
        ),
    )
    .unwrap();
    let path = config.display().to_string();
    // Only A1 and XFD1048576: its dense range would be 17 billion cells.
    let corner = MailBuilder::new("orders@acme.example", "<corner@x>")
        .attachment(
            "corner.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &xlsx(&[("A1", "sku"), ("XFD1048576", "1")]),
        )
        .build();
    let oversized = MailBuilder::new("orders@acme.example", "<big@x>")
        .attachment("big.csv", "text/csv", &b"A-1,1\n".repeat(10_000))
        .build();
    let good = MailBuilder::new("orders@acme.example", "<good@x>")
        .attachment("o.csv", "text/csv", b"sku,quantity\nA-1,2\n")
        .build();
    for (name, mail) in [("corner", &corner), ("big", &oversized), ("good", &good)] {
        deliver(dir.path(), &path, name, mail);
    }
    let bot = start_bot(dir.path(), &["--config", &path, "run"], &[]);
    let args = ["--config", path.as_str()];
    wait_until(DEADLINE, "all three mails completed", || {
        std::fs::read_dir(dir.path().join("data/Maildir/cur")).is_ok_and(|d| d.count() == 3)
    });
    let (exit, log) = bot.stop(DEADLINE);
    assert!(
        exit.success(),
        "the bot survived and stopped cleanly:\n{log}"
    );
    assert_eq!(listed(dir.path(), "orders", &args, &[]).len(), 1);
    let rejections = listed(dir.path(), "rejections", &args, &[]).to_vec();
    let reasons: Vec<String> = rejections
        .iter()
        .map(|r| r["reasons"].to_string())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("column 16384")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("over the 20000-byte limit")),
        "the oversized mail is recorded too: {reasons:?}"
    );
}

/// `mail` with its Message-ID header value replaced by raw `id` bytes.
fn with_raw_message_id(mail: &[u8], id: &[u8]) -> Vec<u8> {
    let marker = b"<PLACEHOLDER>";
    let at = mail
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap();
    let mut patched = mail[..at].to_vec();
    patched.extend_from_slice(id);
    patched.extend_from_slice(&mail[at + marker.len()..]);
    patched
}

#[test]
fn message_ids_keep_their_bytes_a_reused_id_is_recorded_and_charsets_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bot.yaml");
    std::fs::write(
        &config,
        format!(
            "platform:\n  control:\n    bind: {}\nmail_order_bot:\n  source:\n    kind: maildir\n    path: data/Maildir\n    rescan_interval_ms: 100\n  workers: 1\n  customers:\n    \"@acme.example\": ACME\n    \"@globex.example\": GLOBEX\n",
            control_addr()
        ),
    )
    .unwrap();
    let path = config.display().to_string();
    let csv = b"sku,quantity\nA-1,1\n";
    let placeholder = |from: &str| {
        MailBuilder::new(from, "<PLACEHOLDER>")
            .attachment("o.csv", "text/csv", csv)
            .build()
    };
    // "テスト-1" in Shift_JIS, declared as such.
    let sjis = MailBuilder::new("orders@acme.example", "<sjis@x>")
        .attachment(
            "o.csv",
            "text/csv; charset=Shift_JIS",
            b"sku,quantity\n\x83\x65\x83\x58\x83\x67-1,2\n",
        )
        .build();
    let mails = [
        (
            "ff",
            with_raw_message_id(&placeholder("orders@acme.example"), b"<dup\xff@rt>"),
        ),
        (
            "fe",
            with_raw_message_id(&placeholder("orders@acme.example"), b"<dup\xfe@rt>"),
        ),
        ("sjis", sjis),
    ];
    for (name, mail) in &mails {
        deliver(dir.path(), &path, name, mail);
    }
    let bot = start_bot(dir.path(), &["--config", &path, "run"], &[]);
    let cur = dir.path().join("data/Maildir/cur");
    wait_until(DEADLINE, "the first mails completed", || {
        std::fs::read_dir(&cur).is_ok_and(|d| d.count() == 3)
    });
    // Another customer reusing an existing Message-ID, after the first order exists.
    let reuse = MailBuilder::new("buyer@globex.example", "<sjis@x>")
        .attachment("o.csv", "text/csv", csv)
        .build();
    deliver(dir.path(), &path, "reuse", &reuse);
    wait_until(DEADLINE, "the reused Message-ID handled", || {
        std::fs::read_dir(&cur).is_ok_and(|d| d.count() == 4)
    });
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");

    let args = ["--config", path.as_str()];
    let orders = listed(dir.path(), "orders", &args, &[]);
    let mut ids: Vec<String> = orders
        .iter()
        .map(|o| o["message_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["dup\\xFE@rt", "dup\\xFF@rt", "sjis@x"],
        "two different IDs, two orders"
    );
    let sjis_order = orders.iter().find(|o| o["message_id"] == "sjis@x").unwrap();
    assert_eq!(sjis_order["lines"][0]["sku"], "テスト-1");
    let rejections = listed(dir.path(), "rejections", &args, &[]);
    assert_eq!(rejections.len(), 1, "{rejections:?}");
    assert!(
        rejections[0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("already used by order"),
        "{rejections:?}"
    );
}

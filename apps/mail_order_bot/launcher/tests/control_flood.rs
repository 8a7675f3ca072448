//! A connection flood against the built binary's control plane: the connections it holds
//! stay at `platform.control.max_connections`, the readiness probe still answers and mails
//! are still processed; a cap that leaves nothing for the probes is refused by name.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use plba_testkit::mail::MailBuilder;
use plba_testkit::process::{http_get, wait_until};
use support::{DEADLINE, cli, cli_ok, control_addr, listed, metric, start_bot, text, wait_ready};

/// The cap the flooded bot runs with.
const CAP: usize = 20;
/// Idle connections the flood opens: five times the cap.
const FLOOD: usize = 100;

/// Whether the server closes `stream` (end of file or reset) before the client gives up
/// after `limit`, far below the minute of header timeout the bot runs with.
fn closed_by_server(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0_u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => !matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn a_flood_of_idle_connections_is_capped_and_probes_and_mails_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let addr = control_addr();
    let config = dir.path().join("bot.yaml");
    // A minute of header timeout: only the cap can close the idle connections in time.
    std::fs::write(
        &config,
        format!(
            "platform:\n  control:\n    bind: {addr}\n    max_connections: {CAP}\n    header_timeout_ms: 60000\nmail_order_bot:\n  source:\n    kind: maildir\n    path: data/Maildir\n    rescan_interval_ms: 100\n  customers:\n    \"@acme.example\": ACME\n"
        ),
    )
    .unwrap();
    let path = config.display().to_string();
    let bot = start_bot(dir.path(), &["--config", &path, "run"], &[]);
    wait_ready(&bot, addr);

    let mut flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    // The oldest connections are closed to make room for the newer ones.
    for (i, stream) in flood.iter_mut().take(FLOOD - CAP).enumerate() {
        assert!(
            closed_by_server(stream, Duration::from_secs(10)),
            "idle connection {i} of {FLOOD} is still open beyond a cap of {CAP}"
        );
    }

    let ready = http_get(addr, "/health/ready").unwrap();
    assert_eq!(ready.status, 200, "{}", ready.body);
    let metrics = http_get(addr, "/metrics").unwrap();
    assert_eq!(metrics.status, 200);
    let open = metric(&metrics.body, "plba_control_connections ");
    assert!(
        (1.0..=CAP as f64).contains(&open),
        "{open} control connections open with a cap of {CAP}"
    );

    // The bot still does its job while the flood's connections are held.
    let mail = MailBuilder::new("orders@acme.example", "<flood@x>")
        .attachment("o.csv", "text/csv", b"sku,quantity\nA-1,2\n")
        .build();
    let file = dir.path().join("flood.eml");
    std::fs::write(&file, mail).unwrap();
    cli_ok(
        dir.path(),
        &["--config", &path, "deliver", &file.display().to_string()],
        &[],
    );
    let args = ["--config", path.as_str()];
    wait_until(DEADLINE, "the order stored", || {
        listed(dir.path(), "orders", &args, &[]).len() == 1
    });
    assert_eq!(http_get(addr, "/health/ready").unwrap().status, 200);
    drop(flood);
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

#[test]
fn a_cap_that_leaves_no_slot_for_the_probes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bot.yaml");
    std::fs::write(&config, "platform:\n  control:\n    max_connections: 1\n").unwrap();
    let path = config.display().to_string();
    let checked = cli(dir.path(), &["--config", &path, "check-config"], &[]);
    assert!(!checked.status.success());
    let error = text(&checked.stderr);
    assert!(
        error.contains("`platform.control.max_connections`")
            && error.contains("line 3")
            && error.contains("kept for the health probes"),
        "{error}"
    );
}

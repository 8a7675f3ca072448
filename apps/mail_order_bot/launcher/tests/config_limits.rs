//! What a configuration may hold, as an operator meets it: an alias bomb, a file far larger
//! than any configuration, a FIFO or endless secret file or a huge environment value is refused
//! with the limit named, at once and in little memory; a running bot asked to reload such a
//! file keeps its configuration and goes on working.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::path::Path;

use plba_testkit::process::{http_get, http_post, wait_until};
use support::{DEADLINE, cli, control_addr, example_with_customers, listed, start_bot, text};

const ADMIN: &str = "admin-token-for-limit-tests";

/// A 1 MB anchored value referenced 2,000 times: a 1 MB file that is 2 GB written out.
fn alias_bomb() -> String {
    let value = "x".repeat(1 << 20);
    let mut customers = format!("    anchor@x.example: &big {value}\n");
    for n in 0..2000 {
        customers.push_str(&format!("    c{n}@x.example: *big\n"));
    }
    example_with_customers(&customers)
}

/// A FIFO in `dir`, which blocks whoever opens it for reading until someone writes.
fn mkfifo(dir: &Path) -> std::path::PathBuf {
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    fifo
}

fn check_config(dir: &Path, file: &Path, env: &[(&str, String)]) -> String {
    let output = cli(
        dir,
        &["--config", &file.display().to_string(), "check-config"],
        env,
    );
    assert!(!output.status.success(), "check-config accepted it");
    text(&output.stderr)
}

#[test]
fn an_alias_bomb_a_huge_file_an_endless_secret_file_and_a_huge_variable_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot.yaml");

    std::fs::write(&file, alias_bomb()).unwrap();
    let error = check_config(dir.path(), &file, &[]);
    assert!(
        error.contains("bot.yaml") && error.contains("expands to more than 16 MiB"),
        "{error}"
    );

    // Open brackets, which the YAML parser reads in time that grows with their depth.
    let deep = example_with_customers("    orders@acme.example: ACME\n")
        + &format!("unused: {}\n", "[".repeat(200_000));
    std::fs::write(&file, deep).unwrap();
    let error = check_config(dir.path(), &file, &[]);
    assert!(error.contains("nest more than 512 deep"), "{error}");

    // A key nested thousands deep, which took the process down with a stack overflow.
    std::fs::write(
        &file,
        example_with_customers("    orders@acme.example: ACME\n"),
    )
    .unwrap();
    let deep_key = format!("--set=mail_order_bot{}=1", ".a".repeat(4_000));
    let output = cli(
        dir.path(),
        &[
            "--config",
            &file.display().to_string(),
            &deep_key,
            "check-config",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("at most 32"),
        "{}",
        text(&output.stderr)
    );

    // 5 MB of valid customers: larger than any configuration a person writes.
    let customers: String = (0..160_000)
        .map(|n| format!("    c{n}@x.example: C{n}\n"))
        .collect();
    std::fs::write(&file, example_with_customers(&customers)).unwrap();
    let error = check_config(dir.path(), &file, &[]);
    assert!(
        error.contains("cannot read configuration file") && error.contains("limit of 4 MiB"),
        "{error}"
    );

    let example = example_with_customers("    orders@acme.example: ACME\n");
    let with_token_file = |token_file: &str| {
        example.replace(
            "    tokens: []\n",
            &format!(
                "    tokens:\n      - name: ops\n        token_file: {token_file}\n        role: admin\n"
            ),
        )
    };
    let big = dir.path().join("big-token");
    std::fs::write(&big, "t".repeat(65 * 1024)).unwrap();
    std::fs::write(&file, with_token_file(&big.display().to_string())).unwrap();
    let error = check_config(dir.path(), &file, &[]);
    assert!(
        error.contains("platform.control.tokens.0.token") && error.contains("limit of 64 KiB"),
        "{error}"
    );
    // A device or a FIFO (which would block the reader until someone writes to it) is
    // refused at once, as a secret file and as the configuration file.
    let fifo = mkfifo(dir.path());
    for special in ["/dev/urandom", &fifo.display().to_string()] {
        std::fs::write(&file, with_token_file(special)).unwrap();
        let error = check_config(dir.path(), &file, &[]);
        assert!(
            error.contains("platform.control.tokens.0.token")
                && error.contains(special)
                && error.contains("not a regular file"),
            "{error}"
        );
    }
    let error = check_config(dir.path(), &fifo, &[]);
    assert!(error.contains("not a regular file"), "{error}");

    // One environment value that expands 1,000 times over inside the parser.
    std::fs::write(&file, &example).unwrap();
    let refs = vec!["*a"; 1000].join(", ");
    let bomb = format!("[&a {}, {refs}]", "y".repeat(100_000));
    let error = check_config(
        dir.path(),
        &file,
        &[("PLBA__MAIL_ORDER_BOT__LIMITS__MAX_LINES", bomb)],
    );
    assert!(
        error.contains("PLBA__MAIL_ORDER_BOT__LIMITS__MAX_LINES")
            && error.contains("expands to more than 16 MiB"),
        "{error}"
    );
}

#[test]
fn a_running_bot_refuses_to_reload_an_alias_bomb_and_goes_on_working() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin-token");
    std::fs::write(&token, format!("{ADMIN}\n")).unwrap();
    let addr = control_addr();
    let with_control = |text: String| {
        text.replace("127.0.0.1:9090", &addr.to_string()).replace(
            "    tokens: []\n",
            &format!(
                "    tokens:\n      - name: ops\n        token_file: {}\n        role: admin\n",
                token.display()
            ),
        )
    };
    let file = dir.path().join("bot.yaml");
    let path = file.display().to_string();
    let good = with_control(example_with_customers("    orders@acme.example: ACME\n"));
    std::fs::write(&file, &good).unwrap();
    // The operator's copy of the working file, for the commands run after the bad edit.
    let kept = dir.path().join("kept.yaml");
    std::fs::write(&kept, &good).unwrap();
    let bot = start_bot(dir.path(), &["--config", &path, "run"], &[]);
    support::wait_ready(&bot, addr);

    std::fs::write(&file, with_control(alias_bomb())).unwrap();
    let reply = http_post(addr, "/actions/reload", ADMIN).unwrap();
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(
        reply.body.contains("expands to more than 16 MiB"),
        "{}",
        reply.body
    );
    // The action's refusal is logged before its answer; the SIGHUP's is the second line. The
    // file must not change before it is read, or the signal would reload the next edit.
    bot.signal("HUP");
    wait_until(DEADLINE, "the SIGHUP reload refused too", || {
        bot.log().matches("configuration reload rejected").count() == 2
    });

    // A FIFO named as a secret file is refused at once, not waited on.
    let fifo = mkfifo(dir.path());
    std::fs::write(
        &file,
        good.replace(&token.display().to_string(), &fifo.display().to_string()),
    )
    .unwrap();
    let reply = http_post(addr, "/actions/reload", ADMIN).unwrap();
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(reply.body.contains("not a regular file"), "{}", reply.body);

    let status: serde_json::Value =
        serde_json::from_str(&http_get(addr, "/status").unwrap().body).unwrap();
    assert_eq!(status["config_generation"], 0, "{status}");
    assert_eq!(http_get(addr, "/health/ready").unwrap().status, 200);
    support::deliver_orders(&dir.path().join("data/Maildir"), 1, "after-bomb");
    wait_until(
        DEADLINE,
        "an order stored after the refused reloads",
        || {
            listed(
                dir.path(),
                "orders",
                &["--config", &kept.display().to_string()],
                &[],
            )
            .len()
                == 1
        },
    );
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

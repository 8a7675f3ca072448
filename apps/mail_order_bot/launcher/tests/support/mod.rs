//! What the binary tests share: the built `mail_order_bot`, the shipped files and samples,
//! and the operator commands that read the results.

#![allow(dead_code)] // each test binary uses its own part

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use plba_testkit::process::{AppProcess, http_get, wait_until};

/// The built binary, as users run it.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_mail_order_bot");

/// How long a test waits for the bot to get through a handful of mails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// A file of the repository, from the workspace root (`deploy/…`).
pub(crate) fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .join(relative)
}

/// The bundled sample mails, sorted: 4 orders, 3 rejections, 1 duplicate.
pub(crate) fn samples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_file("apps/mail_order_bot/samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// The binary in `dir` with `args`, no inherited configuration variables (nor the
/// allocator's huge-page choice).
pub(crate) fn command(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env_remove("MAIL_ORDER_BOT_CONFIG");
    for (name, _) in std::env::vars() {
        if name.starts_with("PLBA__") || name == "NO_COLOR" || name == "MIMALLOC_ALLOW_THP" {
            command.env_remove(name);
        }
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Runs a command to completion (check-config, deliver, orders, …).
pub(crate) fn cli(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    command(dir, args, env).output().unwrap()
}

/// Runs a command that must end by itself (a refused `run`), killing it and failing the test
/// if it is still running after `DEADLINE`; returns its exit status and what it printed.
pub(crate) fn run_to_exit(
    dir: &Path,
    args: &[&str],
    env: &[(&str, String)],
    log: &str,
) -> (std::process::ExitStatus, String) {
    let mut process = AppProcess::spawn(command(dir, args, env), &dir.join(log));
    let mut status = None;
    wait_until(DEADLINE, "the command to end by itself", || {
        status = process.exited();
        status.is_some()
    });
    (status.unwrap(), process.log())
}

/// Standard output of a command that must succeed.
pub(crate) fn cli_ok(dir: &Path, args: &[&str], env: &[(&str, String)]) -> String {
    let output = cli(dir, args, env);
    assert!(
        output.status.success(),
        "mail_order_bot {args:?} failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Writes `mail` as `dir/<name>.eml` and delivers it with `mail_order_bot deliver`, as an
/// operator would.
pub(crate) fn deliver(dir: &Path, config: &str, name: &str, mail: &[u8]) {
    let file = dir.join(format!("{name}.eml"));
    std::fs::write(&file, mail).unwrap();
    cli_ok(
        dir,
        &["--config", config, "deliver", &file.display().to_string()],
        &[],
    );
}

/// Lossy text.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Starts `mail_order_bot … run` in `dir`, its output in `dir/bot.log`.
pub(crate) fn start_bot(dir: &Path, args: &[&str], env: &[(&str, String)]) -> AppProcess {
    AppProcess::spawn(command(dir, args, env), &dir.join("bot.log"))
}

/// Writes `config` to `dir/bot.yaml`, runs the bot on it and waits until its control plane
/// at `addr` says ready.
pub(crate) fn run_ready(dir: &Path, config: &str, addr: SocketAddr) -> AppProcess {
    let file = dir.join("bot.yaml");
    std::fs::write(&file, config).unwrap();
    let bot = start_bot(dir, &["--config", &file.display().to_string(), "run"], &[]);
    wait_ready(&bot, addr);
    bot
}

/// A control-plane address on loopback at a free port.
pub(crate) fn control_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], plba_testkit::servers::free_port()))
}

/// Waits until the control plane at `addr` says ready.
pub(crate) fn wait_ready(bot: &AppProcess, addr: SocketAddr) {
    wait_until(DEADLINE, "the bot to be ready", || {
        assert!(bot_alive(bot), "the bot exited early:\n{}", bot.log());
        http_get(addr, "/health/ready").is_ok_and(|r| r.status == 200)
    });
}

pub(crate) fn bot_alive(bot: &AppProcess) -> bool {
    Command::new("kill")
        .args(["-0", &bot.id().to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// `orders list --json` / `rejections list --json` as JSON values.
pub(crate) fn listed(
    dir: &Path,
    what: &str,
    args: &[&str],
    env: &[(&str, String)],
) -> Vec<serde_json::Value> {
    let mut all = vec![what, "list", "--json", "--limit", "1000"];
    all.extend_from_slice(args);
    let out = cli_ok(dir, &all, env);
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The value of the first sample line that starts with `series` (a name and, optionally,
/// the start of its labels), 0 when there is none.
pub(crate) fn metric(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(series))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The shipped Maildir example with the customers filled in, as a user would edit it.
pub(crate) fn example_with_customers(customers: &str) -> String {
    let example = std::fs::read_to_string(repo_file("deploy/mail_order_bot.example.yaml")).unwrap();
    assert!(
        example.contains("  customers: {}\n"),
        "the example's allowlist line changed"
    );
    example.replace("  customers: {}\n", &format!("  customers:\n{customers}"))
}

/// Delivers `count` one-line ACME orders (Message-IDs `<{tag}-{n}@x>`) into the Maildir at
/// `maildir`, each written to `tmp/` and renamed into `new/`, as an MTA delivers.
pub(crate) fn deliver_orders(maildir: &Path, count: usize, tag: &str) {
    for n in 0..count {
        let mail =
            plba_testkit::mail::MailBuilder::new("orders@acme.example", &format!("<{tag}-{n}@x>"))
                .attachment("o.csv", "text/csv", b"sku,quantity\nA-1,2\n")
                .build();
        let name = format!("{tag}-{n}");
        std::fs::write(maildir.join("tmp").join(&name), mail).unwrap();
        std::fs::rename(
            maildir.join("tmp").join(&name),
            maildir.join("new").join(&name),
        )
        .unwrap();
    }
}

/// `text` (a configuration) with the block that starts at the line `header` (e.g.
/// `"  queue:"`) and goes on over the lines indented deeper replaced by `block`, as a user
/// swaps one setting block for another. Panics when the header is missing: the shipped file
/// changed and the test must follow.
pub(crate) fn replace_block(text: &str, header: &str, block: &str) -> String {
    let indent = header.len() - header.trim_start().len();
    let mut out = String::new();
    let mut inside = false;
    let mut found = false;
    for line in text.lines() {
        if line == header {
            inside = true;
            found = true;
            out.push_str(block);
            continue;
        }
        if inside {
            let deeper = line.len() - line.trim_start().len() > indent;
            if deeper && !line.trim().is_empty() {
                continue;
            }
            inside = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(found, "no block {header:?} in the configuration");
    out
}

/// `mail_order_bot --config <file> users <args>` with `stdin` on standard input (where
/// the `users` commands read a password).
pub(crate) fn users_cli(dir: &Path, file: &str, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut all = vec!["--config", file, "users"];
    all.extend_from_slice(args);
    let mut child = command(dir, &all, &[])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// [`users_cli`] that must succeed; its standard output.
pub(crate) fn users_ok(dir: &Path, file: &str, args: &[&str], stdin: &str) -> String {
    let output = users_cli(dir, file, args, stdin);
    assert!(output.status.success(), "users {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `users add <name> --role <role>` with `password` typed in, as an admin does; must succeed.
pub(crate) fn add_user(dir: &Path, file: &str, name: &str, role: &str, password: &str) {
    users_ok(
        dir,
        file,
        &["add", name, "--role", role],
        &format!("{password}\n"),
    );
}

/// An HTTP Basic `Authorization` value for `user` and `password`.
pub(crate) fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// `POST /ui/session` with `user`'s password.
pub(crate) fn password_sign_in(
    addr: SocketAddr,
    user: &str,
    password: &str,
) -> plba_testkit::process::HttpReply {
    let auth = basic(user, password);
    plba_testkit::process::http_request(addr, "POST", "/ui/session", &[("Authorization", &auth)])
        .unwrap()
}

/// `(cookie, csrf)` of a signed-in session's answer.
pub(crate) fn session_of(reply: &plba_testkit::process::HttpReply) -> (String, String) {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let cookie = reply
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    (cookie, body["csrf"].as_str().unwrap().to_owned())
}

/// The example with a SQLite users' database under `data/` (and `extra` lines after it in
/// `platform.control`).
pub(crate) fn with_users(config: &str, extra: &str) -> String {
    config.replace(
        "    protect_reads: false\n",
        &format!(
            "    protect_reads: false\n    users:\n      kind: sqlite\n      path: data/users.db\n{extra}"
        ),
    )
}

/// The example (ACME allowed) with a SQLite users' database, listening on `addr`, written
/// to `dir/bot.yaml`: the configuration and the file's path, for the `users` command line.
pub(crate) fn users_config(dir: &Path, addr: SocketAddr) -> (String, String) {
    let config = with_users(
        &example_with_customers("    orders@acme.example: ACME\n"),
        "",
    )
    .replace("127.0.0.1:9090", &addr.to_string());
    let file = dir.join("bot.yaml");
    std::fs::write(&file, &config).unwrap();
    (config, file.display().to_string())
}

/// Adds an admin `root` with the users CLI and signs them in with their password: the
/// session cookie, for reading what only an admin may.
pub(crate) fn password_admin(dir: &Path, file: &str, addr: SocketAddr) -> String {
    const PASSWORD: &str = "root's long password";
    add_user(dir, file, "root", "admin", PASSWORD);
    session_of(&password_sign_in(addr, "root", PASSWORD)).0
}

/// `config` (the shipped example, say) with its commented `platform.config_store` block
/// turned on, as a user does, pointing at `url` with the password in `password_file` (no
/// password line without one); `start_from_cache` as given.
pub(crate) fn with_config_store(
    config: &str,
    url: &str,
    password_file: Option<&str>,
    start_from_cache: bool,
) -> String {
    let mut out = String::new();
    let mut inside = false;
    let mut found = false;
    for line in config.lines() {
        if line == "  # config_store:" {
            inside = true;
            found = true;
            out.push_str("  config_store:\n");
            continue;
        }
        if inside && let Some(setting) = line.strip_prefix("  #   ") {
            let setting = setting.split("   #").next().unwrap_or(setting);
            let setting = if setting.starts_with("url:") {
                format!("url: {url}")
            } else if setting.starts_with("password_file:") {
                match password_file {
                    Some(file) => format!("password_file: {file}"),
                    None => continue,
                }
            } else if setting.starts_with("start_from_cache:") {
                format!("start_from_cache: {start_from_cache}")
            } else {
                setting.to_owned()
            };
            out.push_str(&format!("    {setting}\n"));
            continue;
        }
        inside = false;
        out.push_str(line);
        out.push('\n');
    }
    assert!(
        found,
        "no commented config_store block in the configuration"
    );
    out
}

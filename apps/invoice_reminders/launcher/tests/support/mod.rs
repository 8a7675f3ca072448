//! What the binary tests share: the built `invoice_reminders`, the shipped example made to
//! point at the test's own servers, and a sender of signed webhooks.

#![allow(dead_code)] // each test binary uses its own part

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plba_testkit::process::{AppProcess, HttpReply, http_get, http_send, wait_until};
use plba_testkit::servers::free_port;

/// The built binary, as users run it.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_invoice_reminders");

/// How long a test waits for the application to get through its work.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// The shared secret and the bearer token the tests' configurations use.
pub(crate) const SECRET: &str = "test-invoices-secret-0123456789";
pub(crate) const TOKEN: &str = "test-payments-token-0123456789";
/// The control plane token the tests read the console's pages with.
pub(crate) const VIEWER: &str = "test-viewer-token-0123456789";

/// A file of the repository, from the workspace root (`deploy/…`).
pub(crate) fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .join(relative)
}

/// Where a test's instance listens.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ports {
    pub(crate) webhooks: SocketAddr,
    pub(crate) control: SocketAddr,
}

impl Ports {
    pub(crate) fn free() -> Self {
        let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            webhooks: at(free_port()),
            control: at(free_port()),
        }
    }
}

/// The shipped example `file` with its example values replaced by the test's: the ports,
/// the secret files (written into `dir`), the store, the SMTP port, the Redis URL, and
/// `stages` (YAML list items, indented as in the file).
pub(crate) fn example(
    file: &str,
    dir: &Path,
    ports: Ports,
    smtp_port: u16,
    redis_url: &str,
    stages: &str,
) -> String {
    std::fs::write(dir.join("invoices.secret"), format!("{SECRET}\n")).unwrap();
    std::fs::write(dir.join("payments.token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(dir.join("viewer.token"), format!("{VIEWER}\n")).unwrap();
    let text = std::fs::read_to_string(repo_file(file)).unwrap();
    let start = text
        .find("  stages:   # example\n")
        .expect("the example has stages");
    let end = text[start..].find("  time_zone:").unwrap() + start;
    let text = format!("{}  stages:\n{stages}{}", &text[..start], &text[end..]);
    let viewer = format!(
        "    tokens:\n      - name: tests\n        token_file: {}\n        role: viewer\n",
        dir.join("viewer.token").display()
    );
    text.replace("    tokens: []\n", &viewer)
        .replace("127.0.0.1:9090", &ports.control.to_string())
        .replace("127.0.0.1:8088", &ports.webhooks.to_string())
        .replace(
            "/etc/invoice_reminders/invoices.secret",
            &dir.join("invoices.secret").display().to_string(),
        )
        .replace(
            "/etc/invoice_reminders/payments.token",
            &dir.join("payments.token").display().to_string(),
        )
        .replace(
            "/var/lib/invoice_reminders/reminders.db",
            &dir.join("data/reminders.db").display().to_string(),
        )
        .replace("    port: 25\n", &format!("    port: {smtp_port}\n"))
        .replace("redis://127.0.0.1:6379/", redis_url)
        // A task taken by a killed process comes back within seconds, not half a minute.
        .replace(
            "visibility_timeout_ms: 30000",
            "visibility_timeout_ms: 3000",
        )
}

/// The binary in `dir` with `args`, no inherited configuration variables.
pub(crate) fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env_remove("INVOICE_REMINDERS_CONFIG");
    for (name, _) in std::env::vars() {
        if name.starts_with("PLBA__") || name == "NO_COLOR" {
            command.env_remove(name);
        }
    }
    command
}

/// Starts `invoice_reminders --config <config> run` in `dir` and waits until it is ready.
pub(crate) fn start(dir: &Path, config: &Path, ports: Ports, log: &str) -> AppProcess {
    start_with_env(dir, config, ports, log, &[])
}

/// [`start`] with environment variables (a database password, say).
pub(crate) fn start_with_env(
    dir: &Path,
    config: &Path,
    ports: Ports,
    log: &str,
    env: &[(&str, String)],
) -> AppProcess {
    let config = config.display().to_string();
    let mut command = command(dir, &["--config", &config, "run"]);
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let mut app = AppProcess::spawn(command, &dir.join(log));
    wait_until(DEADLINE, "the application ready", || {
        assert!(app.exited().is_none(), "it stopped: {}", app.log());
        http_get(ports.control, "/health/ready").is_ok_and(|r| r.status == 200)
    });
    app
}

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An invoice's JSON, due at `due` (RFC 3339 or a date).
pub(crate) fn invoice(id: &str, due: &str) -> String {
    serde_json::json!({
        "invoice_id": id, "customer": "ACME Corp", "email": "ap@acme.example",
        "amount": "120.00", "currency": "EUR", "due": due,
    })
    .to_string()
}

/// An RFC 3339 time `seconds` from now (negative: in the past).
pub(crate) fn in_seconds(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// POSTs `body` to the invoices route, signed at `at` (unix seconds) with `secret`.
pub(crate) fn post_invoice(addr: SocketAddr, body: &str, secret: &str, at: u64) -> HttpReply {
    let signature = plba_webhook::sign(secret.as_bytes(), at, body.as_bytes());
    http_send(
        addr,
        "POST",
        "/hooks/invoices",
        &[
            ("Content-Type", "application/json"),
            ("Webhook-Signature", &signature),
        ],
        body.as_bytes(),
    )
    .unwrap()
}

/// POSTs a payment of `invoice_id` with the bearer token.
pub(crate) fn post_payment(addr: SocketAddr, invoice_id: &str) -> HttpReply {
    let body = serde_json::json!({ "invoice_id": invoice_id }).to_string();
    http_send(
        addr,
        "POST",
        "/hooks/payments",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &format!("Bearer {TOKEN}")),
        ],
        body.as_bytes(),
    )
    .unwrap()
}

/// The rows of console view `view`, as the console's API answers them.
pub(crate) fn view_rows(control: SocketAddr, view: &str) -> Vec<Vec<String>> {
    let auth = format!("Bearer {VIEWER}");
    let reply = plba_testkit::process::http_request(
        control,
        "GET",
        &format!("/views/{view}?limit=500"),
        &[("Authorization", &auth)],
    )
    .unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    let table: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row["cells"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// The reminders' states, `(invoice, stage, state)`, sorted.
pub(crate) fn reminder_states(control: SocketAddr) -> Vec<(String, String, String)> {
    let mut states: Vec<_> = view_rows(control, "reminders")
        .into_iter()
        .map(|cells| (cells[0].clone(), cells[1].clone(), cells[3].clone()))
        .collect();
    states.sort();
    states
}

/// The Message-IDs of the mails the SMTP server holds, sorted (duplicates kept).
pub(crate) fn message_ids(messages: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = messages
        .iter()
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("Message-ID: "))
                .map(|id| id.trim().to_owned())
        })
        .collect();
    ids.sort();
    ids
}

//! An account locked after repeated wrong passwords, as a guesser spreading attempts over
//! several addresses meets it: the third wrong password locks the account, the right one is
//! then refused too (with the same answer), and the audit and `/metrics` show the lockout
//! with the account and the address.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use plba_testkit::process::{HttpReply, http_request, http_request_from};
use support::{DEADLINE, add_user, basic, control_addr, example_with_customers};

const ADMIN: &str = "admin-token-0123456789";
const ANA: &str = "ana's long password";

fn sign_in_from(source: IpAddr, addr: SocketAddr, user: &str, password: &str) -> HttpReply {
    let auth = basic(user, password);
    http_request_from(
        source,
        addr,
        "POST",
        "/ui/session",
        &[("Authorization", &auth)],
    )
    .unwrap()
}

#[test]
fn the_third_wrong_password_locks_the_account_from_any_address() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin"), ADMIN).unwrap();
    let addr = control_addr();
    let config = example_with_customers("    orders@acme.example: ACME\n")
        .replace("127.0.0.1:9090", &addr.to_string())
        .replace(
            "    tokens: []\n",
            "    tokens:\n      - name: ops\n        token_file: admin\n        role: admin\n",
        )
        .replace(
            "    protect_reads: false\n",
            "    protect_reads: true\n    users:\n      kind: sqlite\n      path: data/users.db\n    lockout:\n      failures: 3\n      window_ms: 300000\n      lock_ms: 600000\n",
        );
    let file = dir.path().join("bot.yaml");
    std::fs::write(&file, &config).unwrap();
    let file = file.display().to_string();
    add_user(dir.path(), &file, "ana", "viewer", ANA);
    add_user(dir.path(), &file, "ben", "viewer", "ben's long password");
    let bot = support::run_ready(dir.path(), &config, addr);

    let here = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let there = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let wrong = sign_in_from(here, addr, "ana", "guess one");
    assert_eq!(wrong.status, 401);
    assert_eq!(sign_in_from(there, addr, "ana", "guess two").status, 401);
    assert_eq!(sign_in_from(here, addr, "ana", "guess three").status, 401);
    // Locked: the right password gets the same refusal, from any address.
    let locked = sign_in_from(there, addr, "ana", ANA);
    assert_eq!(locked.status, 401);
    assert_eq!(locked.body, wrong.body);

    let auth = format!("Bearer {ADMIN}");
    let audit = http_request(addr, "GET", "/audit", &[("Authorization", &auth)]).unwrap();
    let audit: serde_json::Value = serde_json::from_str(&audit.body).unwrap();
    let entries = audit["audit"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["who"] == "ana"
            && e["action"] == "account-locked"
            && e["client"] == "127.0.0.1"),
        "{audit}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["who"] == "ana" && e["action"] == "sign-in" && e["client"] == "127.0.0.2"),
        "{audit}"
    );
    // The lockout counter is for those who may read: only known accounts lock.
    assert_eq!(
        http_request(addr, "GET", "/metrics", &[]).unwrap().status,
        401
    );
    let metrics = http_request(addr, "GET", "/metrics", &[("Authorization", &auth)])
        .unwrap()
        .body;
    assert!(
        metrics.contains("plba_control_account_lockouts_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("plba_control_password_sign_ins_refused_total 4"),
        "{metrics}"
    );
    // Wrong passwords sent all at once, from as many addresses: each is counted before it
    // is checked, so no more than the limit are checked and the account still locks.
    let guesses: Vec<_> = (0..8_u8)
        .map(|n| {
            std::thread::spawn(move || {
                let source = IpAddr::V4(Ipv4Addr::new(127, 0, 1, n + 1));
                sign_in_from(source, addr, "ben", &format!("guess number {n}")).status
            })
        })
        .collect();
    for guess in guesses {
        let status = guess.join().unwrap();
        assert!(status == 401 || status == 503, "{status}");
    }
    let after = sign_in_from(
        IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1)),
        addr,
        "ben",
        "ben's long password",
    );
    assert_eq!(after.status, 401, "the burst locked ben: {}", after.body);
    let (exit, log) = bot.stop(DEADLINE);
    assert!(exit.success(), "{log}");
}

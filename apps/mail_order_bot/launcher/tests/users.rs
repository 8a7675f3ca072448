//! The kit's `users` commands as an admin uses them on a fresh deployment: accounts in the
//! SQLite database `platform.control.users` names, passwords from standard input or a
//! file (never the command line), stored only as Argon2id hashes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::path::Path;
use std::process::Output;

use support::example_with_customers;

fn config(dir: &Path, users: bool) -> String {
    let mut text = example_with_customers("    orders@acme.example: ACME\n");
    if users {
        text = support::with_users(&text, "");
    }
    let file = dir.join("bot.yaml");
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

fn users(dir: &Path, file: &str, args: &[&str], stdin: &str) -> Output {
    support::users_cli(dir, file, args, stdin)
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn an_admin_adds_lists_disables_and_resets_users() {
    let dir = tempfile::tempdir().unwrap();
    let file = config(dir.path(), true);

    let added = users(
        dir.path(),
        &file,
        &["add", "ana", "--role", "operator"],
        "a long enough password\n",
    );
    assert!(added.status.success(), "{}", said(&added));
    assert!(
        said(&added).contains("added: ana (operator)"),
        "{}",
        said(&added)
    );
    let again = users(
        dir.path(),
        &file,
        &["add", "ana", "--role", "viewer"],
        "another long password\n",
    );
    assert!(!again.status.success());
    assert!(said(&again).contains("exists already"), "{}", said(&again));
    let weak = users(
        dir.path(),
        &file,
        &["add", "carl", "--role", "admin"],
        "short\n",
    );
    assert!(!weak.status.success());
    assert!(said(&weak).contains("at least 12"), "{}", said(&weak));
    // A password on the command line is not an option.
    let flagged = users(
        dir.path(),
        &file,
        &[
            "add",
            "dan",
            "--role",
            "viewer",
            "--password",
            "a long enough password",
        ],
        "",
    );
    assert!(!flagged.status.success(), "{}", said(&flagged));

    let secret = dir.path().join("bob.password");
    std::fs::write(&secret, "bob's long password\n").unwrap();
    let bob = users(
        dir.path(),
        &file,
        &[
            "add",
            "bob",
            "--role",
            "viewer",
            "--password-file",
            &secret.display().to_string(),
        ],
        "",
    );
    assert!(bob.status.success(), "{}", said(&bob));
    assert!(
        users(dir.path(), &file, &["disable", "bob"], "")
            .status
            .success()
    );
    assert!(
        users(dir.path(), &file, &["set-role", "ana", "admin"], "")
            .status
            .success()
    );
    let reset = users(
        dir.path(),
        &file,
        &["reset-password", "ana"],
        "a new long password\n",
    );
    assert!(reset.status.success(), "{}", said(&reset));

    let listed = users(dir.path(), &file, &["list", "--json"], "");
    assert!(listed.status.success(), "{}", said(&listed));
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let summary: Vec<(String, String, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_owned(),
                u["role"].as_str().unwrap().to_owned(),
                u["disabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("ana".to_owned(), "admin".to_owned(), false),
            ("bob".to_owned(), "viewer".to_owned(), true),
        ]
    );
    assert!(
        !listed.stdout.windows(7).any(|w| w == b"argon2i"),
        "a hash is never shown"
    );

    // The database holds hashes, never a password.
    let database = std::fs::read(dir.path().join("data/users.db")).unwrap();
    let holds = |text: &str| database.windows(text.len()).any(|w| w == text.as_bytes());
    assert!(holds("$argon2id$v=19$"));
    for password in [
        "a long enough password",
        "a new long password",
        "bob's long password",
    ] {
        assert!(!holds(password), "{password} stored in clear");
    }
}

#[test]
fn without_a_users_database_the_commands_say_what_to_configure() {
    let dir = tempfile::tempdir().unwrap();
    let file = config(dir.path(), false);
    let listed = users(dir.path(), &file, &["list"], "");
    assert!(!listed.status.success());
    assert!(
        said(&listed).contains("platform.control.users"),
        "{}",
        said(&listed)
    );
}

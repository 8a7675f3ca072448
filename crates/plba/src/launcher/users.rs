//! `users add|list|disable|enable|set-role|reset-password|token-add|tokens|token-revoke`:
//! the control plane's users and their API tokens, in the database the configuration names,
//! changed directly (no running instance needed; every instance sees it at once).

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command line's job is to print

use std::io::{BufRead, Read};
use std::process::ExitCode;

use plba_auth::{User, UserStore};
use plba_config::ConfigSource;

use super::CommandResult;
use super::cli::{PasswordSource, UsersCommand};

/// Names the audit gives callers that are not users.
const RESERVED_NAMES: [&str; 4] = ["anonymous", "unknown-token", "user-token", "(invalid name)"];

/// The shortest and the longest a token may last.
const MIN_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);
const MAX_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(2 * 365 * 86_400);

/// The largest password file read, in bytes.
const PASSWORD_FILE_BYTES: u64 = 4096;

pub(super) async fn users(source: &ConfigSource, command: UsersCommand) -> CommandResult {
    let snapshot = source.load()?;
    let Some(config) = &snapshot.platform().control.users else {
        return Err(
            "no users' database is configured: set platform.control.users \
                    (kind: sqlite with a path, or kind: postgres with a url)"
                .into(),
        );
    };
    let store = UserStore::open(config).await?;
    match command {
        UsersCommand::Add {
            name,
            role,
            password,
        } => {
            // A user must not pass for a configured token, nor for the audit's own words.
            let control = &snapshot.platform().control;
            if control.tokens.iter().any(|token| token.name == name)
                || RESERVED_NAMES.contains(&name.as_str())
            {
                return Err(format!(
                    "{name:?} is taken: a configured token or the audit uses this name"
                )
                .into());
            }
            let password = password_of(password).await?;
            let user = store.add(&name, role.into(), &password).await?;
            record(&store, "add-user", &subject(&user)).await?;
            print_user("added", &user)?;
        }
        UsersCommand::List { json } => {
            let users = store.list().await?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&users)?)?;
            } else {
                for user in &users {
                    let state = if user.disabled { "disabled" } else { "enabled" };
                    crate::outln!("{}\t{}\t{state}", user.name, user.role.as_str())?;
                }
            }
        }
        UsersCommand::Disable { name } => {
            let user = store.set_disabled(&name, true).await?;
            record(&store, "disable-user", &subject(&user)).await?;
            print_user("disabled", &user)?;
        }
        UsersCommand::Enable { name } => {
            let user = store.set_disabled(&name, false).await?;
            record(&store, "enable-user", &subject(&user)).await?;
            print_user("enabled", &user)?;
        }
        UsersCommand::SetRole { name, role } => {
            let user = store.set_role(&name, role.into()).await?;
            record(&store, "set-user-role", &subject(&user)).await?;
            print_user("role changed", &user)?;
        }
        UsersCommand::TokenAdd {
            user,
            token_name,
            expires_in,
        } => {
            let lifetime = humantime::parse_duration(&expires_in)
                .map_err(|error| format!("--expires-in {expires_in:?}: {error}"))?;
            if lifetime < MIN_TOKEN_LIFETIME || lifetime > MAX_TOKEN_LIFETIME {
                return Err(format!(
                    "--expires-in {expires_in:?}: a token lasts from 1 minute to 2 years"
                )
                .into());
            }
            let made = store.add_token(&user, &token_name, lifetime).await?;
            let about = format!("{user}: token {} ({})", made.info.name, made.info.id);
            record(&store, "create-token", &about).await?;
            crate::outln!("{}", made.token.expose())?;
            eprintln!(
                "token {} ({}) for {}: shown once, keep it now",
                made.info.id, made.info.name, made.info.user
            );
        }
        UsersCommand::Tokens { user, json } => {
            let tokens = store.tokens(user.as_deref()).await?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&tokens)?)?;
            } else {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                for token in &tokens {
                    let state = if token.revoked {
                        "revoked"
                    } else if token.expires_ms <= now {
                        "expired"
                    } else {
                        "live"
                    };
                    crate::outln!("{}\t{}\t{}\t{state}", token.id, token.user, token.name)?;
                }
            }
        }
        UsersCommand::TokenRevoke { user, id } => {
            let revoked = store.revoke_token(&user, &id).await?;
            let about = format!("{user}: token {} ({id})", revoked.name);
            record(&store, "revoke-token", &about).await?;
            crate::outln!("revoked: {id} ({user})")?;
        }
        UsersCommand::ResetPassword { name, password } => {
            let password = read_password(&password)?;
            let user = store.set_password(&name, &password).await?;
            record(&store, "reset-password", &subject(&user)).await?;
            print_user("password reset", &user)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Records a change in the users' database, where every instance's `/audit` shows it, as
/// made from the command line by this operating-system account.
async fn record(
    store: &UserStore,
    action: &str,
    subject: &str,
) -> Result<(), plba_auth::AuthError> {
    let account = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    let account: String = account.chars().take(64).collect();
    let actor = format!("{} (command line)", plba_util::printable(&account));
    store.record_change(&actor, None, action, subject).await
}

/// A user as a change's subject: the name and the role.
fn subject(user: &User) -> String {
    format!("{} ({})", user.name, user.role.as_str())
}

fn print_user(what: &str, user: &User) -> std::io::Result<()> {
    crate::outln!("{what}: {} ({})", user.name, user.role.as_str())
}

/// The password, read off the runtime's threads (standard input may be a terminal).
async fn password_of(
    source: PasswordSource,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    tokio::task::spawn_blocking(move || read_password(&source)).await?
}

/// The password from `--password-file` (its first line) or standard input.
fn read_password(
    source: &PasswordSource,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let text = match &source.password_file {
        Some(path) => {
            let bytes = plba_util::read_limited(path, PASSWORD_FILE_BYTES).map_err(|error| {
                format!("cannot read the password file {}: {error}", path.display())
            })?;
            String::from_utf8(bytes)
                .map_err(|_| format!("the password file {} is not UTF-8 text", path.display()))?
        }
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .take(PASSWORD_FILE_BYTES)
                .read_line(&mut line)?;
            line
        }
    };
    let password = text.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        return Err("no password was given (on standard input or with --password-file)".into());
    }
    Ok(password)
}

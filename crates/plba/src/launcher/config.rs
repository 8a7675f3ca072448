//! `config get|set|unset|history|diff|rollback`: the configuration database
//! `platform.config_store` names, changed directly (no running instance needed). A change is
//! checked as `check-config` checks it, the application's own checks included, against the
//! values it is made on, and committed only if the database is still at those values, so
//! nothing invalid is ever committed.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command line's job is to print

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use plba_config::{ConfigSource, StoredLayer};
use plba_config_store::{Change, ConfigStore, ConfigStoreError, changes_setting, shadowed};
use plba_contracts::ApplicationModule;
use plba_util::printable;

use super::CommandResult;
use super::cli::ConfigCommand;

/// The most history entries one command lists.
const MAX_HISTORY: usize = 1_000;

/// The largest value read from standard input: the store's own limit.
const MAX_VALUE_BYTES: u64 = 64 * 1024;

/// How long a command waits on the database: a database that is away or holds a lock is
/// reported, not waited on.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) async fn config(
    module: &dyn ApplicationModule,
    source: &ConfigSource,
    command: ConfigCommand,
) -> CommandResult {
    let snapshot = source.load()?;
    let Some(settings) = &snapshot.platform().config_store else {
        return Err(
            "no configuration database is configured: set platform.config_store.url \
                    (sqlite://PATH, or postgres://user@host/database)"
                .into(),
        );
    };
    let application = settings
        .application
        .clone()
        .unwrap_or_else(|| module.name().to_owned());
    // Read before the deadline starts: standard input waits on the operator.
    let command = match command {
        ConfigCommand::Set {
            key,
            value,
            comment,
        } if value == "-" => ConfigCommand::Set {
            key,
            value: stdin_value()?,
            comment,
        },
        other => other,
    };
    let work = async {
        let password = settings.password.as_ref().map(|p| p.expose().as_str());
        let store = ConfigStore::open_as(&settings.url, password).await?;
        let target = Target {
            module,
            source,
            store: &store,
            application: &application,
        };
        target.run(command).await
    };
    tokio::time::timeout(DATABASE_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the configuration database did not answer within {DATABASE_TIMEOUT:?}; nothing was changed by this command after that"
            )
            .into())
        })
}

/// The application whose values a command reads or changes.
struct Target<'a> {
    module: &'a dyn ApplicationModule,
    source: &'a ConfigSource,
    store: &'a ConfigStore,
    application: &'a str,
}

impl Target<'_> {
    async fn run(&self, command: ConfigCommand) -> CommandResult {
        match command {
            ConfigCommand::Get { key } => self.get(&key).await,
            ConfigCommand::Set {
                key,
                value,
                comment,
            } => {
                let value = Some(value);
                self.commit(comment.as_deref(), async |layer: StoredLayer| {
                    Ok(changes_setting(&layer, &key, value.clone()))
                })
                .await
            }
            ConfigCommand::Unset { key, comment } => {
                self.commit(comment.as_deref(), async |layer: StoredLayer| {
                    let changes = changes_setting(&layer, &key, None);
                    if changes.is_empty() {
                        return Err(ConfigStoreError::NotSet {
                            key: printable(&key).into_owned(),
                            database: self.store.name().to_owned(),
                        });
                    }
                    Ok(changes)
                })
                .await
            }
            ConfigCommand::History { key, limit, json } => {
                self.history(key.as_deref(), limit, json).await
            }
            ConfigCommand::Diff { revision } => self.diff(revision).await,
            ConfigCommand::Rollback { revision, comment } => {
                let comment = comment.unwrap_or_else(|| format!("rollback to revision {revision}"));
                self.commit(Some(&comment), async |_: StoredLayer| {
                    self.store.changes_back_to(self.application, revision).await
                })
                .await
            }
        }
    }

    /// Who changed what, newest first.
    async fn history(&self, key: Option<&str>, limit: usize, json: bool) -> CommandResult {
        let history = self
            .store
            .history(self.application, key, limit.min(MAX_HISTORY))
            .await?;
        if json {
            let entries: Vec<serde_json::Value> = history
                .iter()
                .map(crate::config_store::history_entry)
                .collect();
            crate::outln!("{}", serde_json::to_string_pretty(&entries)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        if history.is_empty() {
            eprintln!("no change recorded in {} yet", self.store.name());
        }
        for entry in &history {
            let comment = entry
                .comment
                .as_deref()
                .map(|c| format!("  # {}", printable(c)))
                .unwrap_or_default();
            crate::outln!(
                "revision {}  {}  {}  {}{comment}",
                entry.revision,
                crate::config_store::rfc3339(entry.at_ms),
                printable(&entry.actor),
                printable(&entry.key)
            )?;
            crate::outln!("  was: {}", shown(entry.old_value.as_deref()))?;
            crate::outln!("  now: {}", shown(entry.new_value.as_deref()))?;
        }
        Ok(ExitCode::SUCCESS)
    }

    /// What changed since `revision`: what a rollback to it would undo.
    async fn diff(&self, revision: u64) -> CommandResult {
        let layer = self.store.layer(self.application).await?;
        let changes = self
            .store
            .changes_back_to(self.application, revision)
            .await?;
        if changes.is_empty() {
            crate::outln!(
                "nothing changed since revision {revision} (now at revision {})",
                layer.revision
            )?;
        }
        for change in &changes {
            let now = layer
                .values
                .iter()
                .find(|(key, _)| *key == change.key)
                .map(|(_, value)| value.as_str());
            crate::outln!("{}", printable(&change.key))?;
            crate::outln!(
                "  at revision {revision}: {}",
                shown(change.value.as_deref())
            )?;
            crate::outln!("  now (revision {}): {}", layer.revision, shown(now))?;
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The value in force at `key` (every layer merged) and where it comes from.
    async fn get(&self, key: &str) -> CommandResult {
        let layer = self.store.layer(self.application).await?;
        let snapshot = self.source.clone().with_stored_layer(layer).load()?;
        let value = key
            .split('.')
            .try_fold(snapshot.redacted(), |value, part| value.get(part).cloned())
            .ok_or_else(|| {
                format!(
                    "{} is not set in any layer (the application's built-in default applies)",
                    printable(key)
                )
            })?;
        crate::outln!("{key}: {}", printable(&serde_json::to_string(&value)?))?;
        if let Some(origin) = snapshot.origin_of(key) {
            crate::outln!("# from {origin}")?;
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Makes the changes `plan` computes from the values in the database a new revision,
    /// once the configuration with them passes `check-config`'s checks.
    async fn commit(
        &self,
        comment: Option<&str>,
        plan: impl AsyncFn(StoredLayer) -> Result<Vec<Change>, ConfigStoreError>,
    ) -> CommandResult {
        let check = |candidate: StoredLayer, changes: Vec<Change>| {
            let checked = crate::check_config(
                self.module,
                self.source.clone().with_stored_layer(candidate),
            )
            .map_err(|error| plba_util::error_chain(&error))
            .and_then(|snapshot| match shadowed(&snapshot, &changes) {
                Some(why) => Err(why),
                None => Ok(()),
            });
            std::future::ready(checked)
        };
        let plan = |layer: StoredLayer| plan(layer);
        let committed = self
            .store
            .commit_checked(self.application, &actor(), comment, plan, check)
            .await?;
        if committed.changes.is_empty() {
            crate::outln!(
                "nothing to change: revision {} already has these values",
                committed.revision
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        for change in &committed.changes {
            let what = if change.value.is_some() {
                "set"
            } else {
                "unset"
            };
            crate::outln!(
                "revision {}: {what} {}",
                committed.revision,
                printable(&change.key)
            )?;
        }
        eprintln!(
            "every instance following {} applies it as soon as it hears of it (`status` shows each one's revision, and what needs a restart)",
            self.store.name()
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// Who the history says made a change from this command line: the operating system's
/// user (`$USER`, `$LOGNAME`, else the name `/etc/passwd` gives this process's user id).
fn actor() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .or_else(user_of_process)
        .unwrap_or_else(|| "unknown".to_owned());
    format!("{} (command line)", user.trim())
}

/// The name of the user this process runs as, from `/etc/passwd`.
#[cfg(unix)]
fn user_of_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse() == Ok(uid)).then(|| name.to_owned())
    })
}

#[cfg(not(unix))]
fn user_of_process() -> Option<String> {
    None
}

fn stdin_value() -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let mut value = String::new();
    std::io::stdin()
        .take(MAX_VALUE_BYTES + 1)
        .read_to_string(&mut value)
        .map_err(|e| format!("cannot read the value from standard input: {e}"))?;
    if value.len() as u64 > MAX_VALUE_BYTES {
        return Err(format!("the value is over {MAX_VALUE_BYTES} bytes").into());
    }
    Ok(value)
}

/// A stored value on one line, safe for a terminal.
fn shown(value: Option<&str>) -> String {
    match value {
        Some(value) => printable(value.trim_end()).into_owned(),
        None => "(not set)".to_owned(),
    }
}

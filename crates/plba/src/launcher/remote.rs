//! The commands that talk to a running instance through its control plane.

#![allow(clippy::print_stdout)] // a command line's job is to print

use std::process::ExitCode;

use plba_config::ConfigSource;
use plba_contracts::Secret;
use plba_control::{ClientReply, ControlClient, ControlError};

use super::CommandResult;
use super::cli::{DeadLettersCommand, Remote};

/// Runs `call` against the control plane `remote` names (or the configuration's bind
/// address), prints the answer (JSON pretty-printed) and exits 0 on a success status.
pub(super) async fn call(
    source: &ConfigSource,
    remote: Remote,
    call: impl AsyncFnOnce(&ControlClient) -> Result<ClientReply, ControlError>,
) -> CommandResult {
    let url = match remote.url {
        Some(url) => url,
        None => format!("http://{}", source.load()?.platform().control.bind),
    };
    let mut client = ControlClient::new(url);
    if let Some(token) = remote.token {
        client = client.with_token(Secret::new(token));
    }
    let reply = call(&client).await?;
    let body = serde_json::from_str::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(reply.body.clone());
    crate::outln!("{body}")?;
    Ok(if reply.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `dead-letters list|replay|purge`, on `--queue` or the application's main queue.
pub(super) async fn dead_letters(
    source: &ConfigSource,
    command: DeadLettersCommand,
    main_queue: Option<&str>,
) -> CommandResult {
    // `--queue` has the main queue as its default, or is required without one.
    let queue = |given: Option<String>| {
        given
            .or_else(|| main_queue.map(str::to_owned))
            .unwrap_or_default()
    };
    match command {
        DeadLettersCommand::List { limit, target } => {
            let queue = queue(target.queue);
            call(source, target.remote, async |c| {
                c.dead_letters(&queue, limit).await
            })
            .await
        }
        DeadLettersCommand::Replay(selection) => {
            let queue = queue(selection.target.queue);
            let task = selection.task;
            call(source, selection.target.remote, async |c| {
                c.replay_dead_letters(&queue, task.as_deref()).await
            })
            .await
        }
        DeadLettersCommand::Purge(selection) => {
            let queue = queue(selection.target.queue);
            let task = selection.task;
            call(source, selection.target.remote, async |c| {
                c.purge_dead_letters(&queue, task.as_deref()).await
            })
            .await
        }
    }
}

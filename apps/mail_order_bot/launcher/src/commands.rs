//! What each command does.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI's job is to print

use plba::util::printable;
use std::process::ExitCode;
use std::sync::Arc;

#[cfg(feature = "maildir")]
use anyhow::Context;
#[cfg(feature = "maildir")]
use mail_order_bot::SourceConfig;
use mail_order_bot::{AppConfig, MODULE, OrderStore, format_cents, open_store, read_config};
use plba::config::{ConfigSnapshot, ConfigSource};
use plba::launcher::{CommandResult, ConfigArgs};
#[cfg(feature = "maildir")]
use plba_mail_maildir::Maildir;

use crate::cli::{Command, Listing, OrdersCommand, RejectionsCommand};

/// The configuration every command reads: `--config` (or, for a bare run, the embedded demo
/// configuration), then env, then `--set`. The demo never sits under anything a user wrote
/// for the bot: its sample customers must not reach a real allowlist, nor its samples a real
/// mailbox. It applies only when no file is given and no env variable or `--set` touches the
/// `mail_order_bot` section.
pub(crate) fn source(args: &ConfigArgs) -> ConfigSource {
    let mut source = ConfigSource::new()
        .with_whole_value(CUSTOMERS)
        .with_tagged("mail_order_bot.source", "maildir")
        .with_tagged("mail_order_bot.queue", "memory");
    let configures_the_bot = args
        .overrides
        .iter()
        .any(|o| o.trim_start().starts_with("mail_order_bot."))
        || std::env::vars_os().any(|(name, _)| {
            name.to_string_lossy()
                .to_ascii_uppercase()
                .starts_with("PLBA__MAIL_ORDER_BOT__")
        });
    source = match &args.file {
        Some(file) => source.with_file(file),
        None if configures_the_bot => source,
        None => source.with_defaults(
            "the embedded demo configuration",
            include_str!("../../config/default.yaml"),
        ),
    };
    for assignment in &args.overrides {
        source = source.with_override(assignment.clone());
    }
    source
}

/// The allowlist: each source states it whole.
const CUSTOMERS: &str = "mail_order_bot.customers";

fn app_config(snapshot: &ConfigSnapshot) -> anyhow::Result<AppConfig> {
    Ok(read_config(snapshot)?)
}

/// The section decoded but not checked: for the commands that only read the store or write
/// into the Maildir, which must work on an operator's machine that lacks, say, the catalog.
fn app_section(snapshot: &ConfigSnapshot) -> anyhow::Result<AppConfig> {
    Ok(AppConfig::from_config(snapshot)?.unwrap_or_default())
}

/// What `check-config` prints above the effective configuration: where the allowlist came
/// from, and each entry; the module's own checks run first, so a bad section fails it.
pub(crate) fn allowlist_header(
    snapshot: &ConfigSnapshot,
) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let app = app_config(snapshot)?;
    if app.customers.is_empty() {
        return Ok(vec![format!(
            "{CUSTOMERS}: none configured: every mail will be rejected (unknown sender)"
        )]);
    }
    let origin = snapshot
        .origin_of(CUSTOMERS)
        .unwrap_or_else(|| "an unknown source".to_owned());
    let mut lines = vec![format!(
        "{CUSTOMERS}: {} from {origin}:",
        app.customers.len()
    )];
    lines.extend(
        app.customers
            .iter()
            .map(|(address, customer)| format!("  {address} -> {customer}")),
    );
    Ok(lines)
}

/// Runs one of mail_order_bot's own commands.
pub(crate) async fn dispatch(command: Command, source: ConfigSource) -> CommandResult {
    let done = match command {
        Command::Deliver { files } => deliver(&source.load()?, &files).await,
        Command::Orders(OrdersCommand::List(listing)) => {
            list_orders(&*store(&source)?, &listing).await
        }
        Command::Orders(OrdersCommand::Show { id, json }) => {
            show_order(&*store(&source)?, id, json).await
        }
        Command::Rejections(RejectionsCommand::List(listing)) => {
            list_rejections(&*store(&source)?, &listing).await
        }
    };
    done.map_err(Into::into)
}

/// The store the configuration names, its settings checked first (a typo in them is a
/// clear error, not a connection failure).
fn store(source: &ConfigSource) -> anyhow::Result<Arc<dyn OrderStore>> {
    let config = app_section(&source.load()?)?;
    config
        .store
        .check()
        .map_err(|e| anyhow::Error::new(e.within(MODULE)))?;
    Ok(open_store(&config.store)?)
}

#[cfg(feature = "maildir")]
async fn deliver(
    snapshot: &ConfigSnapshot,
    files: &[std::path::PathBuf],
) -> anyhow::Result<ExitCode> {
    let config = app_section(snapshot)?;
    let SourceConfig::Maildir { maildir } = config.source else {
        anyhow::bail!("`deliver` writes into a Maildir; the configured source is not a maildir");
    };
    let maildir = Maildir::open(maildir)?;
    let mut failed = false;
    for file in files {
        let delivered = async {
            let bytes = tokio::fs::read(file)
                .await
                .with_context(|| format!("cannot read {}", file.display()))?;
            Ok::<_, anyhow::Error>(maildir.deliver(bytes.into()).await?)
        };
        // Every file is delivered even when the report's reader has gone away: the
        // report is lost, not the mail.
        match delivered.await {
            Ok(key) => {
                let _ = plba::outln!("delivered {} as {key}", file.display());
            }
            Err(error) => {
                let _ = plba::outln!("not delivered {}: {error:#}", file.display());
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `deliver` in a build without the Maildir adapter.
#[cfg(not(feature = "maildir"))]
async fn deliver(
    _snapshot: &ConfigSnapshot,
    _files: &[std::path::PathBuf],
) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "`deliver` writes into a Maildir: it needs a mail_order_bot built with the `maildir` feature"
    );
}

fn when(ms: i64) -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm), UTC.
    let seconds = ms.div_euclid(1000);
    let (days, rem) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn list_orders(store: &dyn OrderStore, listing: &Listing) -> anyhow::Result<ExitCode> {
    let orders = store.list_orders(listing.limit).await?;
    if listing.json {
        plba::outln!("{}", serde_json::to_string_pretty(&orders)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    plba::outln!(
        "{:>5}  {:<10}  {:<32}  {:>5}  {:>5}  {:>10}  created",
        "id",
        "customer",
        "message-id",
        "lines",
        "qty",
        "total"
    )?;
    for order in &orders {
        plba::outln!(
            "{:>5}  {:<10}  {:<32}  {:>5}  {:>5}  {:>10}  {}",
            order.id,
            printable(&order.order.customer_id),
            printable(&order.order.message_id),
            order.order.lines.len(),
            order.total_quantity,
            order
                .total_cents
                .map(format_cents)
                .unwrap_or_else(|| "-".to_owned()),
            when(order.created_at_ms)
        )?;
    }
    plba::outln!("{} order(s)", orders.len())?;
    Ok(ExitCode::SUCCESS)
}

async fn show_order(store: &dyn OrderStore, id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let Some(order) = store.get_order(id).await? else {
        plba::outln!("no order {id}")?;
        return Ok(ExitCode::FAILURE);
    };
    if json {
        plba::outln!("{}", serde_json::to_string_pretty(&order)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    plba::outln!(
        "order {} for {} ({})",
        order.id,
        printable(&order.order.customer_id),
        printable(&order.order.sender)
    )?;
    plba::outln!(
        "message-id {}  subject {:?}",
        printable(&order.order.message_id),
        order.order.subject.as_deref().unwrap_or("")
    )?;
    for line in &order.order.lines {
        let price = line
            .unit_price_cents
            .map(format_cents)
            .unwrap_or_else(|| "-".to_owned());
        plba::outln!(
            "  {:<16} {:>6} × {:>10}   ({})",
            printable(&line.sku),
            line.quantity,
            price,
            printable(&line.attachment)
        )?;
    }
    let total = order
        .total_cents
        .map(format_cents)
        .unwrap_or_else(|| "-".to_owned());
    plba::outln!("total quantity {}  total {total}", order.total_quantity)?;
    Ok(ExitCode::SUCCESS)
}

async fn list_rejections(store: &dyn OrderStore, listing: &Listing) -> anyhow::Result<ExitCode> {
    let rejections = store.list_rejections(listing.limit).await?;
    if listing.json {
        plba::outln!("{}", serde_json::to_string_pretty(&rejections)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for rejection in &rejections {
        let r = &rejection.rejection;
        plba::outln!(
            "{:>5}  {}  from {}  {}",
            rejection.id,
            printable(&r.message_key),
            printable(r.sender.as_deref().unwrap_or("?")),
            when(rejection.created_at_ms)
        )?;
        for reason in &r.reasons {
            plba::outln!("         - {}", printable(reason))?;
        }
    }
    plba::outln!("{} rejection(s)", rejections.len())?;
    Ok(ExitCode::SUCCESS)
}

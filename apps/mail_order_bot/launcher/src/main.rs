//! The `mail_order_bot` binary: the PLBA runtime with the mail_order_bot module, the
//! platform's operator commands, and the bot's own (`deliver`, `orders`, `rejections`).

mod cli;
mod commands;

use std::process::ExitCode;

use mail_order_bot::MailOrderBot;
use plba::launcher::Launcher;
plba::platform_allocator!();

fn main() -> ExitCode {
    Launcher::new(
        "mail_order_bot",
        env!("CARGO_PKG_VERSION"),
        MailOrderBot::new(),
    )
    .about("mail_order_bot: turns order mails (CSV or XLSX attachments) into orders")
    .config_file(
        "MAIL_ORDER_BOT_CONFIG",
        "A YAML configuration file. Without one, the embedded demo configuration runs \
             (Maildir, memory queue and SQLite under ./data, sample customers and mails)",
    )
    .config_source(commands::source)
    .check_config_header(commands::allowlist_header)
    .main_queue("mail")
    .help_words("bot", "mail_order_bot.workers=5")
    .running_message(
        "mail_order_bot running; `mail_order_bot orders list` shows stored orders; Ctrl-C stops",
    )
    .launch(commands::dispatch)
}

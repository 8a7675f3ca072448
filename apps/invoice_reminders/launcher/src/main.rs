//! The `invoice_reminders` binary: the platform's launcher around the module, nothing else.

use invoice_reminders::InvoiceReminders;
use plba::launcher::Launcher;
use std::process::ExitCode;
plba::platform_allocator!();

fn main() -> ExitCode {
    Launcher::new(
        "invoice_reminders",
        env!("CARGO_PKG_VERSION"),
        InvoiceReminders,
    )
    .about("invoice_reminders: payment reminders by e-mail for invoices announced by webhook")
    .config_file(
        "INVOICE_REMINDERS_CONFIG",
        "A YAML configuration file. Without one, the embedded demo configuration runs \
             (webhooks on 127.0.0.1:8088, memory queue, SQLite and e-mail files under ./data)",
    )
    .embedded_config(
        "the embedded demo configuration",
        include_str!("../../config/default.yaml"),
    )
    .main_queue("reminders")
    .running_message("invoice_reminders running; `invoice_reminders status` shows it; Ctrl-C stops")
    .launch_without_commands()
}

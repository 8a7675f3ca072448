//! The `mail_order_bot` binary: the PLBA runtime with the mail_order_bot module, and
//! operator commands around it.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::dispatch(cli).await {
        Ok(code) => code,
        Err(error) => {
            // For the operator: the whole chain of causes, each once, no backtrace.
            #[allow(clippy::print_stderr)]
            {
                let chain: &(dyn std::error::Error + 'static) = error.as_ref();
                eprintln!("mail_order_bot: {}", plba::util::error_chain(chain));
            }
            ExitCode::FAILURE
        }
    }
}

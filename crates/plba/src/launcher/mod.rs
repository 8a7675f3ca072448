//! The operator's command line, for any application: `run` (the default), `check-config`,
//! `status`, `health`, `stop`, `start`, `reload`, `shutdown`, `log-level`,
//! `dead-letters list|replay|purge`, `users …` and `config get|set|unset|history|diff|rollback`,
//! with `--config`, `--set`, the environment and
//! `--token`/`PLBA_CONTROL_TOKEN`, plus the application's own commands.
//!
//! ```no_run
//! use plba::launcher::{Launcher, NoCommands};
//! # struct Shop;
//! # #[plba::contracts::async_trait]
//! # impl plba::contracts::ApplicationModule for Shop {
//! #     fn name(&self) -> &str { "shop" }
//! #     async fn register(&self, _: &mut dyn plba::contracts::Registry) -> Result<(), plba::contracts::RegistryError> { Ok(()) }
//! # }
//!
//! fn main() -> std::process::ExitCode {
//!     Launcher::new("shop", env!("CARGO_PKG_VERSION"), Shop)
//!         .about("shop: sells things")
//!         .launch_without_commands()
//! }
//! ```
//!
//! [`Launcher::launch`] builds the tokio runtime itself, after preparing the process (huge
//! pages off, `huge_pages.rs`); [`Launcher::main`] is the same from an `async fn main`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command line's job is to print

mod cli;
mod config;
mod huge_pages;
mod output;
mod remote;
mod users;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Subcommand};
use plba_config::{ConfigSnapshot, ConfigSource};
use plba_contracts::ApplicationModule;

pub use cli::NoCommands;
use cli::{Cli, Command};
pub use output::write_stdout;

/// What an application's own command returns: its exit code, or an error for the operator.
pub type CommandResult = Result<ExitCode, Box<dyn Error + Send + Sync>>;

/// What the command line says about the configuration: `--config` and each `--set`.
#[derive(Clone, Debug, Default)]
pub struct ConfigArgs {
    /// The file given with `--config` (or the application's environment variable).
    pub file: Option<PathBuf>,
    /// The `--set key=value` assignments, in order.
    pub overrides: Vec<String>,
}

impl ConfigArgs {
    /// The plain source: the file, the `PLBA__` environment, then the overrides.
    pub fn source(&self) -> ConfigSource {
        let mut source = ConfigSource::new();
        if let Some(file) = &self.file {
            source = source.with_file(file);
        }
        self.overrides
            .iter()
            .fold(source, |source, o| source.with_override(o.clone()))
    }
}

type SourceFn = Box<dyn Fn(&ConfigArgs) -> ConfigSource>;
type CheckHeader =
    Box<dyn Fn(&ConfigSnapshot) -> Result<Vec<String>, Box<dyn Error + Send + Sync>>>;

/// An application's command line around its module `M`: built once in `main`, then
/// [`main`](Self::main) parses the arguments and runs the command.
pub struct Launcher<M> {
    name: &'static str,
    version: &'static str,
    about: Option<String>,
    module: M,
    config_env: Option<&'static str>,
    config_help: Option<String>,
    source: SourceFn,
    check_header: Option<CheckHeader>,
    main_queue: Option<&'static str>,
    running: Option<String>,
    noun: &'static str,
    set_example: &'static str,
}

// By hand: the hooks are closures.
impl<M> std::fmt::Debug for Launcher<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launcher")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<M: ApplicationModule> Launcher<M> {
    /// The command line of `name` (the binary's name, which every message starts with) at
    /// `version`, running `module`.
    pub fn new(name: &'static str, version: &'static str, module: M) -> Self {
        Self {
            name,
            version,
            about: None,
            module,
            config_env: None,
            config_help: None,
            source: Box::new(ConfigArgs::source),
            check_header: None,
            main_queue: None,
            running: None,
            noun: "instance",
            set_example: "section.key=value",
        }
    }

    /// What the help calls a running process of the application (`instance` by default;
    /// mail_order_bot says `bot`), and an example of `--set` (`section.key=value`).
    #[must_use]
    pub fn help_words(mut self, noun: &'static str, set_example: &'static str) -> Self {
        self.noun = noun;
        self.set_example = set_example;
        self
    }

    /// The one-line description `--help` starts with.
    #[must_use]
    pub fn about(mut self, about: impl Into<String>) -> Self {
        self.about = Some(about.into());
        self
    }

    /// An environment variable that names the configuration file when `--config` is not
    /// given, and the help text of `--config`.
    #[must_use]
    pub fn config_file(mut self, env: &'static str, help: impl Into<String>) -> Self {
        self.config_env = Some(env);
        self.config_help = Some(help.into());
        self
    }

    /// How the configuration is read from the command line's file and overrides (an
    /// embedded demo configuration, whole-value and tagged keys); by default
    /// [`ConfigArgs::source`].
    #[must_use]
    pub fn config_source(mut self, source: impl Fn(&ConfigArgs) -> ConfigSource + 'static) -> Self {
        self.source = Box::new(source);
        self
    }

    /// A configuration the application runs on when it is given none (a demo that works on
    /// a fresh machine): it applies when no file is named and no environment variable or
    /// `--set` touches the module's own section (`<module>.…`), so it never mixes with what
    /// an operator wrote for the application. `description` names it in errors and in
    /// `check-config` (`the embedded demo configuration`).
    #[must_use]
    pub fn embedded_config(mut self, description: &'static str, yaml: &'static str) -> Self {
        let section = self.module.name().to_owned();
        self.source = Box::new(move |args: &ConfigArgs| {
            let prefix = format!("{section}.");
            let env_prefix = format!("PLBA__{}__", section.to_ascii_uppercase());
            let configured = args
                .overrides
                .iter()
                .any(|o| o.trim_start().starts_with(&prefix))
                || std::env::vars_os().any(|(name, _)| {
                    name.to_string_lossy()
                        .to_ascii_uppercase()
                        .starts_with(&env_prefix)
                });
            if args.file.is_none() && !configured {
                args.source().with_defaults(description, yaml)
            } else {
                args.source()
            }
        });
        self
    }

    /// Lines `check-config` prints as YAML comments above the effective configuration
    /// (where an allowlist came from, say); an error fails the check.
    #[must_use]
    pub fn check_config_header(
        mut self,
        header: impl Fn(&ConfigSnapshot) -> Result<Vec<String>, Box<dyn Error + Send + Sync>> + 'static,
    ) -> Self {
        self.check_header = Some(Box::new(header));
        self
    }

    /// The queue `dead-letters` acts on when `--queue` is not given.
    #[must_use]
    pub fn main_queue(mut self, queue: &'static str) -> Self {
        self.main_queue = Some(queue);
        self
    }

    /// The line logged once the application runs (a hint for the operator).
    #[must_use]
    pub fn running_message(mut self, message: impl Into<String>) -> Self {
        self.running = Some(message.into());
        self
    }

    /// [`main`](Self::main) on a tokio runtime of its own, from a synchronous `fn main`:
    /// the process is prepared before the runtime's threads exist (their first memory
    /// already in ordinary pages, `huge_pages.rs`). How an application's binary starts.
    pub fn launch<A: Subcommand>(
        self,
        app: impl AsyncFnOnce(A, ConfigSource) -> CommandResult,
    ) -> ExitCode {
        huge_pages::keep_to_small_pages();
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("{}: cannot start the async runtime: {error}", self.name);
                return ExitCode::FAILURE;
            }
        };
        runtime.block_on(self.main(app))
    }

    /// [`launch`](Self::launch) for an application without commands of its own.
    pub fn launch_without_commands(self) -> ExitCode {
        self.launch(async |never: NoCommands, _| match never {})
    }

    /// Parses the arguments and runs the command; for an application without commands of
    /// its own.
    pub async fn main_without_commands(self) -> ExitCode {
        self.main(async |never: NoCommands, _| match never {}).await
    }

    /// Parses the arguments and runs the command: the platform's, or one of the
    /// application's `A`, which `app` runs with the configuration source. Errors are
    /// printed for the operator (`name: cause: cause`) with exit code 1.
    pub async fn main<A: Subcommand>(
        self,
        app: impl AsyncFnOnce(A, ConfigSource) -> CommandResult,
    ) -> ExitCode {
        huge_pages::keep_to_small_pages();
        let cli = match self.parse::<A>() {
            Ok(cli) => cli,
            Err(error) => error.exit(),
        };
        match self.dispatch(cli, app).await {
            Ok(code) => code,
            // The reader of the output went away (`| head`): no message for anyone to read,
            // and the exit status a process killed by SIGPIPE would have, as other tools.
            Err(_) if output::reader_gone() => ExitCode::from(output::READER_GONE_EXIT),
            Err(error) => {
                // An error may quote what a file or a database holds: never raw.
                let text = plba_util::error_chain(&*error);
                eprintln!("{}: {}", self.name, plba_util::printable(&text));
                ExitCode::FAILURE
            }
        }
    }

    fn parse<A: Subcommand>(&self) -> Result<Cli<A>, clap::Error> {
        let about = self.about.clone().unwrap_or_else(|| self.name.to_owned());
        let mut command = Cli::<A>::command()
            .name(self.name)
            .version(self.version)
            .about(about)
            .mut_arg("overrides", |arg| {
                arg.help(format!(
                    "Override one setting: `--set {}` (repeatable)",
                    self.set_example
                ))
            });
        // The platform's commands in the application's words ("a running bot").
        let noun = self.noun;
        let names: Vec<String> = command
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        for name in names {
            command = command.mut_subcommand(name, |sub| {
                let about = sub.get_about().map(ToString::to_string);
                match about {
                    Some(text) if text.starts_with("Run until") && noun != "instance" => {
                        sub.about(text.replacen("Run", &format!("Run the {noun}"), 1))
                    }
                    Some(text) if text.contains("running instance") => {
                        sub.about(text.replace("running instance", &format!("running {noun}")))
                    }
                    _ => sub,
                }
            });
        }
        if let Some(env) = self.config_env {
            let help = self.config_help.clone().unwrap_or_default();
            command = command.mut_arg("config", |arg| arg.env(env).help(help));
        }
        if let Some(queue) = self.main_queue {
            command = command.mut_subcommand("dead-letters", |letters| {
                ["list", "replay", "purge"]
                    .into_iter()
                    .fold(letters, |letters, action| {
                        letters.mut_subcommand(action, |c| {
                            c.mut_arg("queue", |arg| arg.default_value(queue).help("The queue"))
                        })
                    })
            });
        } else {
            command = command.mut_subcommand("dead-letters", |letters| {
                ["list", "replay", "purge"]
                    .into_iter()
                    .fold(letters, |letters, action| {
                        letters.mut_subcommand(action, |c| {
                            c.mut_arg("queue", |arg| arg.required(true))
                        })
                    })
            });
        }
        let matches = command.try_get_matches()?;
        Cli::<A>::from_arg_matches(&matches)
    }

    async fn dispatch<A: Subcommand>(
        &self,
        cli: Cli<A>,
        app: impl AsyncFnOnce(A, ConfigSource) -> CommandResult,
    ) -> CommandResult {
        let args = ConfigArgs {
            file: cli.config,
            overrides: cli.overrides,
        };
        let source = (self.source)(&args);
        let queue = self.main_queue;
        match cli.command.unwrap_or(Command::Run) {
            Command::Run => self.run(source).await,
            Command::CheckConfig => self.check_config(source).await,
            // The application's commands read what `run` reads, the database's values too.
            Command::App(command) => app(command, self.for_command(source).await?).await,
            Command::DeadLetters(command) => remote::dead_letters(&source, command, queue).await,
            Command::Users(command) => users::users(&source, command).await,
            Command::Config(command) => config::config(&self.module, &source, command).await,
            Command::LogLevel { level, remote } => {
                remote::call(&source, remote, async |c| c.set_log_level(&level).await).await
            }
            Command::Status(remote) => {
                remote::call(&source, remote, async |c| c.status().await).await
            }
            Command::Health(remote) => {
                remote::call(&source, remote, async |c| c.health().await).await
            }
            Command::Stop(remote) => remote::call(&source, remote, async |c| c.stop().await).await,
            Command::Start(remote) => {
                remote::call(&source, remote, async |c| c.start().await).await
            }
            Command::Reload(remote) => {
                remote::call(&source, remote, async |c| c.reload().await).await
            }
            Command::Shutdown(remote) => {
                remote::call(&source, remote, async |c| c.shutdown().await).await
            }
        }
    }

    async fn run(&self, source: ConfigSource) -> CommandResult {
        let application =
            crate::create_runtime(&self.module, crate::PlbaOptions::from_source(source)).await?;
        match &self.running {
            Some(message) => tracing::info!("{message}"),
            None => tracing::info!("{} running; Ctrl-C stops", self.name),
        }
        let report = crate::run_runtime(&application).await?;
        tracing::info!(graceful = report.graceful, took = ?report.took, "{} stopped", self.name);
        Ok(ExitCode::SUCCESS)
    }

    /// `source` with the values of the configuration database it names, if any, read as
    /// `run` reads them (the cache standing in when allowed).
    async fn with_stored_layer(
        &self,
        source: ConfigSource,
    ) -> Result<ConfigSource, crate::PlbaError> {
        Ok(
            match crate::config_store::read_at_start(&source, self.module.name()).await? {
                Some(startup) => source.with_stored_layer(startup.layer),
                None => source,
            },
        )
    }

    /// `source` for one of the application's commands (`orders list`, `deliver`): with the
    /// configuration database's values, as [`with_stored_layer`](Self::with_stored_layer);
    /// but when the database is away or its values are refused, with the values this host
    /// last applied (its cache), as a running instance keeps them, so an operator's tools
    /// keep working during the incident.
    async fn for_command(&self, source: ConfigSource) -> Result<ConfigSource, crate::PlbaError> {
        let Some(store) = source.load()?.platform().config_store.clone() else {
            return Ok(source);
        };
        let fresh = match self.with_stored_layer(source.clone()).await {
            Ok(with_layer) => match crate::check_config(&self.module, with_layer.clone()) {
                Ok(_) => return Ok(with_layer),
                Err(refused) => refused,
            },
            Err(away) => away,
        };
        let Some(cache) = &store.cache_file else {
            return Err(fresh);
        };
        let database = plba_config_store::shown_url(&store.url);
        match plba_config_store::cache::load_of(cache, &database).await {
            Ok(layer) => {
                let why = plba_util::error_chain(&fresh);
                eprintln!(
                    "{}: warning: {}; using the values this host last applied ({})",
                    self.name,
                    plba_util::printable(&why),
                    cache.display()
                );
                Ok(source.with_stored_layer(layer))
            }
            Err(_) => Err(fresh),
        }
    }

    /// Validates as `run` would and prints the effective configuration (secrets redacted),
    /// headed by the application's lines as YAML comments.
    async fn check_config(&self, source: ConfigSource) -> CommandResult {
        // The configuration database's values are checked with the rest, as `run` reads them.
        let source = self.with_stored_layer(source).await?;
        let snapshot = crate::check_config(&self.module, source)?;
        let header = match &self.check_header {
            Some(header) => header(&snapshot)?,
            None => Vec::new(),
        };
        for warning in snapshot.warnings() {
            eprintln!("{}: warning: {warning}", self.name);
        }
        for line in header {
            crate::outln!("# {line}")?;
        }
        crate::out!("{}", snapshot.redacted_yaml())?;
        Ok(ExitCode::SUCCESS)
    }
}

//! `tributary`: the gateway binary.

mod bounded_values;
mod cache;
mod cache_admin;
mod cli;
mod config;
mod engine;
mod http;
mod limits;
mod output;
mod progress;
mod query;
mod sample;
mod secrets;
mod serve;
mod session_memory;
mod sources;
mod state;
mod tokens;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ConfigCommand};

/// How a command failed, and so which exit code it ends with.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad usage or config: exit code 2.
    #[error("{0}")]
    Usage(String),
    /// A query or runtime error: exit code 1.
    #[error("{0:#}")]
    Runtime(#[from] anyhow::Error),
}

impl From<config::ConfigError> for Failure {
    fn from(error: config::ConfigError) -> Self {
        Self::Usage(error.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Statements are parsed and planned by recursive code: the threads
    // that do it get the stack the depth bound was measured with.
    let outcome = std::thread::Builder::new()
        .name("tributary-main".to_owned())
        .stack_size(tributary_pgwire::PLANNING_STACK_BYTES)
        .spawn(move || run(cli))
        .map_err(|e| Failure::Runtime(anyhow::anyhow!("cannot start the main thread: {e}")))
        .and_then(|thread| {
            thread.join().unwrap_or_else(|_| {
                Err(Failure::Runtime(anyhow::anyhow!(
                    "the command stopped after a panic (a bug)"
                )))
            })
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("tributary: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("tributary: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    // Source errors carry their database's SQLSTATE to the client.
    tributary_pgwire::set_external_classifier(tributary_connectors::remote::classify_source_error);
    let settings = engine::Settings::load(cli.config.as_deref(), cli.data_dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(tributary_pgwire::PLANNING_STACK_BYTES)
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    match cli.command {
        Command::Serve(args) => {
            // Before anything opens the stores: a damaged one stops the
            // server here (or is moved aside with --repair), never
            // replaced by an empty one.
            engine::init_logging(&settings.log_filter("info"));
            state::check(&settings, args.repair)?;
            // Statements run on their own runtime so that heavy queries never
            // starve the threads that accept connections and read cancels.
            let execution = tokio::runtime::Builder::new_multi_thread()
                .thread_name("tributary-exec")
                .thread_stack_size(tributary_pgwire::PLANNING_STACK_BYTES)
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)?;
            let result = runtime.block_on(serve::run(settings, args, execution.handle().clone()));
            execution.shutdown_background();
            result
        }
        Command::Query(args) => runtime.block_on(query::run(settings, args)),
        Command::Config(ConfigCommand::Check) => engine::check(&settings),
        Command::Secrets(command) => secrets::run(&settings, command),
        Command::Tokens(command) => tokens::run(&settings, command),
        Command::Cache(command) => runtime.block_on(cache_admin::run(&settings, command)),
    }
}

//! `tributary`: the gateway binary.

mod cli;
mod config;
mod engine;
mod output;
mod progress;
mod query;
mod sample;
mod serve;

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
    match run(cli) {
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
    let settings = engine::Settings::load(cli.config.as_deref(), cli.data_dir.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve::run(settings, args)),
        Command::Query(args) => runtime.block_on(query::run(settings, args)),
        Command::Config(ConfigCommand::Check) => engine::check(&settings),
    }
}

//! The command line, as users type it. Each flag has a TRIBUTARY_* twin.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Tributary: one SQL gateway for PostgreSQL clients over files and databases.
///
/// With no config file, `tributary serve` and `tributary query` use the
/// embedded default: a sample dataset (sample.customers, sample.orders,
/// sample.events) written into the data dir at first start.
#[derive(Debug, Parser)]
#[command(
    name = "tributary",
    version,
    about,
    long_about,
    propagate_version = true
)]
pub struct Cli {
    /// Config file (TOML). Without one, the embedded sample source is served.
    #[arg(long, global = true, env = "TRIBUTARY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where Tributary keeps its state and the sample dataset
    /// [default: $XDG_DATA_HOME/tributary or ~/.local/share/tributary].
    #[arg(long, global = true, env = "TRIBUTARY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the PostgreSQL wire protocol (psql, JDBC, BI tools connect
    /// here) and the HTTP API (platforms and scripts).
    ///
    /// Until users and passwords can be configured, the server admits user
    /// `tributary` without a password and listens on loopback addresses only.
    /// Stop it with Ctrl-C or SIGTERM: running statements get a grace period.
    Serve(ServeArgs),
    /// Run SQL with the same engine and config, without a server.
    ///
    /// SQL comes from the argument, from -f FILE, or from standard input.
    /// Examples:
    ///   tributary query "SELECT count(*) FROM sample.orders"
    ///   tributary query --format csv -o out.csv -f report.sql
    ///   echo "SELECT * FROM sample.customers LIMIT 5" | tributary query --format json
    #[command(verbatim_doc_comment)]
    Query(QueryArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage the encrypted credentials store in the data dir.
    ///
    /// The master key comes from TRIBUTARY_MASTER_KEY (64 hex characters or
    /// base64) or from the file TRIBUTARY_MASTER_KEY_FILE names (mode 600).
    /// Sources reference a secret as `password = { secret = "NAME" }`.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Manage API tokens for the HTTP API (`Authorization: Bearer …`).
    /// Only a hash of each token is kept, in catalog.db in the data dir.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// The running server's result cache: counters, and dropping what it
    /// keeps. Talks to the server's HTTP API.
    #[command(subcommand)]
    Cache(CacheCommand),
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Drop kept results: all of them, or those that read SOURCE. The next
    /// query goes to the sources.
    Clear {
        source: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Hits, misses, evictions and the bytes held.
    Stats {
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// How to reach a running server's HTTP API.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The server's HTTP API [default: http:// and the config's http_addr].
    #[arg(long, env = "TRIBUTARY_URL", value_name = "URL")]
    pub url: Option<String>,
    /// An API token (`tributary tokens create NAME`), when the server asks
    /// for one.
    #[arg(
        long,
        env = "TRIBUTARY_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it (it is shown this once).
    Create {
        /// Letters, digits, '.', '_' and '-': who or what uses it.
        name: String,
    },
    /// List tokens: names and when each was created.
    List,
    /// Revoke a token; requests with it are refused at once.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Print a fresh random master key (64 hex characters).
    NewKey,
    /// Store a secret. The value is read from standard input, or asked for
    /// without echo on a terminal; never from the command line.
    Set {
        /// Letters, digits, '.', '_' and '-'.
        name: String,
    },
    /// List secrets: names, when each was created and updated, and which
    /// sources of the config use it. Never values.
    List,
    /// Remove a secret. Refused while a source of the config uses it.
    Rm {
        name: String,
        /// Remove it even if a source uses it.
        #[arg(long)]
        force: bool,
    },
    /// Re-seal the store under a new master key. The new key comes from
    /// TRIBUTARY_NEW_MASTER_KEY, from --new-key-file, or is generated and
    /// printed on standard output.
    RotateKey {
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address for the PostgreSQL wire protocol [default: 127.0.0.1:5433].
    /// Port 0 picks a free port; the log says which.
    #[arg(long, env = "TRIBUTARY_PG_ADDR", value_name = "HOST:PORT")]
    pub pg_addr: Option<SocketAddr>,

    /// Address for the HTTP API [default: 127.0.0.1:8080]. Port 0 picks a
    /// free port; the log says which.
    #[arg(long, env = "TRIBUTARY_HTTP_ADDR", value_name = "HOST:PORT")]
    pub http_addr: Option<SocketAddr>,

    /// Move a damaged catalog.db or credentials.json aside (to
    /// `<name>.damaged-<UTC time>`, logged) and start with a fresh one.
    /// Without it, a damaged file stops the server and is left as it is.
    #[arg(
        long,
        env = "TRIBUTARY_REPAIR",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub repair: bool,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL to run (several statements may be separated by `;`).
    #[arg(value_name = "SQL", conflicts_with = "file")]
    pub sql: Option<String>,

    /// Read the SQL from this file.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Output format [default: table on a terminal, csv otherwise].
    #[arg(long, value_enum, env = "TRIBUTARY_FORMAT")]
    pub format: Option<OutputFormat>,

    /// Write the results to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// A value for `@NAME` in the SQL (Grok Connect's syntax; types from
    /// `--input:` lines). Repeat for each parameter.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((
            name.trim().trim_start_matches('@').to_owned(),
            value.to_owned(),
        )),
        _ => Err(format!("{text:?}: write NAME=VALUE")),
    }
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config file and print the effective config (environment
    /// overrides applied, secrets shown only as references). Exit code 2 if
    /// it is invalid.
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns with a row count, like psql.
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Arrow IPC stream.
    Arrow,
    /// A Parquet file.
    Parquet,
}

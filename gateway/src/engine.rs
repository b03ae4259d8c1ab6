//! Settings shared by every command, and the engine built from them.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use tributary_catalog::SourceSpec;

use crate::Failure;
use crate::config::{ConfigFile, RawServer};
use crate::sample;
use crate::secrets::StoreSecret;
use crate::sources::Sources;
use tributary_connectors::remote::SecretSource;

pub const DEFAULT_PG_ADDR: &str = "127.0.0.1:5433";
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

/// What every command starts from: the config file (if any) and the data dir.
#[derive(Debug)]
pub struct Settings {
    pub config: Option<ConfigFile>,
    pub data_dir: PathBuf,
}

impl Settings {
    pub fn load(config_path: Option<&Path>, data_dir: Option<&Path>) -> Result<Self, Failure> {
        let config = config_path.map(ConfigFile::load).transpose()?;
        let data_dir = match data_dir {
            Some(dir) => dir.to_owned(),
            None => match config.as_ref().and_then(|c| c.raw.server.data_dir.clone()) {
                Some(dir) => dir,
                None => default_data_dir()?,
            },
        };
        // A files source outside the allowed roots is a config error, at
        // start and in `config check`, like any other.
        if let Some(config) = &config {
            config.check_file_access(&data_dir)?;
        }
        Ok(Self { config, data_dir })
    }

    /// Whether the HTTP API answers requests without a token.
    pub fn http_anonymous(&self) -> bool {
        match &self.config {
            Some(config) => config.raw.server.http_anonymous.unwrap_or(false),
            None => true,
        }
    }

    /// `[limits]`, or the defaults without a config file.
    pub fn limits(&self) -> Result<crate::limits::Limits, Failure> {
        match &self.config {
            Some(config) => Ok(config.limits()?),
            None => Ok(crate::limits::Limits::defaults()),
        }
    }

    /// The log filter from `TRIBUTARY_LOG`, then the config, then `fallback`.
    pub fn log_filter(&self, fallback: &str) -> String {
        std::env::var("TRIBUTARY_LOG")
            .ok()
            .or_else(|| self.config.as_ref().and_then(|c| c.raw.server.log.clone()))
            .unwrap_or_else(|| fallback.to_owned())
    }
}

fn default_data_dir() -> Result<PathBuf, Failure> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("tributary"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/tributary")),
        None => Err(Failure::Usage(
            "cannot choose a data dir: neither XDG_DATA_HOME nor HOME is set; pass --data-dir"
                .to_owned(),
        )),
    }
}

pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Builds the engine: every source opened (the config's or the sample, and
/// those created through the API), catalogs registered.
pub async fn build(settings: &Settings) -> anyhow::Result<(SessionContext, Arc<Sources>)> {
    Sources::open(settings).await
}

/// `tributary config check`.
pub fn check(settings: &Settings) -> Result<(), Failure> {
    let Some(config) = &settings.config else {
        println!("# no config file (--config or TRIBUTARY_CONFIG): the embedded default is used");
        println!("[server]");
        println!("pg_addr = {:?}", effective_pg_addr(None));
        println!("http_addr = {:?}", effective_http_addr(None));
        println!("data_dir = {:?}", settings.data_dir.display().to_string());
        println!(
            "\n# source \"sample\": {}",
            sample::sample_dir(&settings.data_dir).display()
        );
        return Ok(());
    };
    let server = RawServer {
        pg_addr: Some(effective_pg_addr(config.raw.server.pg_addr.as_deref())),
        http_addr: Some(effective_http_addr(config.raw.server.http_addr.as_deref())),
        data_dir: Some(settings.data_dir.clone()),
        log: Some(settings.log_filter("info")),
        http_anonymous: Some(settings.http_anonymous()),
        file_roots: config.raw.server.file_roots.clone(),
    };
    println!("# {}: valid", config.path.display());
    print!("{}", config.effective_toml(&server));
    let mut unavailable = Vec::new();
    for source in config.sources(&settings.data_dir) {
        if let SourceSpec::Unavailable { name, reason } = source {
            println!("# warning: source \"{name}\" will be unavailable: {reason}");
            unavailable.push(name);
        }
    }
    // Database passwords are looked up at each connection, so a missing
    // secret is only a warning: setting it later brings the source up.
    for (source, secret) in config.secret_references() {
        if unavailable.contains(&source) {
            continue;
        }
        if let Err(reason) = StoreSecret::new(&settings.data_dir, &secret).current() {
            println!("# warning: source \"{source}\": {reason}");
        }
    }
    Ok(())
}

/// `TRIBUTARY_PG_ADDR` over the config file over the default.
pub fn effective_pg_addr(from_config: Option<&str>) -> String {
    effective_addr("TRIBUTARY_PG_ADDR", from_config, DEFAULT_PG_ADDR)
}

/// `TRIBUTARY_HTTP_ADDR` over the config file over the default.
pub fn effective_http_addr(from_config: Option<&str>) -> String {
    effective_addr("TRIBUTARY_HTTP_ADDR", from_config, DEFAULT_HTTP_ADDR)
}

fn effective_addr(env: &str, from_config: Option<&str>, default: &str) -> String {
    std::env::var(env)
        .ok()
        .or_else(|| from_config.map(str::to_owned))
        .unwrap_or_else(|| default.to_owned())
}

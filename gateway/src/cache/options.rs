//! A session's side of the cache, kept in its engine options under the
//! prefix `tributary`, so that `SET tributary.cache = off` and `SHOW
//! tributary.last_cache` reach it through the pg wire's settings like any
//! engine option, and the planner finds it in the state it plans with.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::{DataFusionError, Result};

use super::{QueryTtl, ResultCache, parse_query_ttl};

/// Where a statement's result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    /// Not looked up: the session or request turned the cache off, or the
    /// result is not one that is kept.
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
        }
    }
}

// The pg wire answers SET of an option whose description starts with
// "Read-only." with 55P02, as PostgreSQL does for its read-only parameters.

/// What one session (pg wire) or request (HTTP) shares across the engine
/// states it plans with.
#[derive(Debug, Default)]
pub struct SessionCache {
    last: Mutex<Option<CacheStatus>>,
    /// Set by the analyzer when the statement calls a function that is not
    /// immutable: the optimizer folds `now()` into a constant before the
    /// planner sees the plan.
    non_immutable: AtomicBool,
}

impl SessionCache {
    pub fn last(&self) -> Option<CacheStatus> {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn record(&self, status: CacheStatus) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
    }

    pub(crate) fn note_non_immutable(&self) {
        self.non_immutable.store(true, Ordering::SeqCst);
    }

    pub(crate) fn take_non_immutable(&self) -> bool {
        self.non_immutable.swap(false, Ordering::SeqCst)
    }
}

#[derive(Debug, Clone)]
pub struct CacheOptions {
    pub cache: Arc<ResultCache>,
    /// Whose grants apply: entries are never shared between identities.
    pub identity: Arc<str>,
    /// `SET tributary.cache = on | off`.
    pub enabled: bool,
    /// False for `Cache-Control: no-cache`: run the query, keep its result.
    pub read: bool,
    /// False for `Cache-Control: no-store`.
    pub write: bool,
    /// A saved query's `--cache:` line, or `SET tributary.cache_ttl`.
    pub ttl: Option<QueryTtl>,
    pub session: Arc<SessionCache>,
}

impl CacheOptions {
    pub fn new(cache: Arc<ResultCache>, identity: &str) -> Self {
        Self {
            cache,
            identity: identity.into(),
            enabled: true,
            read: true,
            write: true,
            ttl: None,
            session: Arc::default(),
        }
    }
}

impl ConfigExtension for CacheOptions {
    const PREFIX: &'static str = "tributary";
}

impl ExtensionOptions for CacheOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "cache" => {
                self.enabled = match value.trim().to_ascii_lowercase().as_str() {
                    "on" | "true" | "yes" | "1" | "default" => true,
                    "off" | "false" | "no" | "0" => false,
                    _ => {
                        return Err(DataFusionError::Configuration(format!(
                            "tributary.cache takes on or off, not {value:?}"
                        )));
                    }
                };
                Ok(())
            }
            "cache_ttl" => {
                self.ttl = match value.trim() {
                    "" | "default" => None,
                    text => Some(parse_query_ttl(text).map_err(DataFusionError::Configuration)?),
                };
                Ok(())
            }
            "last_cache" | "cache_stats" => Err(DataFusionError::Configuration(format!(
                "parameter \"tributary.{key}\" cannot be changed"
            ))),
            _ => Err(DataFusionError::Configuration(format!(
                "unrecognized configuration parameter \"tributary.{key}\""
            ))),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        let on_off = if self.enabled { "on" } else { "off" };
        vec![
            ConfigEntry {
                key: "tributary.cache".to_owned(),
                value: Some(on_off.to_owned()),
                description: "Whether this session's queries are answered from and kept in the result cache.",
            },
            ConfigEntry {
                key: "tributary.cache_ttl".to_owned(),
                value: Some(match self.ttl {
                    None => "default".to_owned(),
                    Some(QueryTtl::Off) => "off".to_owned(),
                    Some(QueryTtl::For(ttl)) if ttl.subsec_millis() == 0 => {
                        format!("{}s", ttl.as_secs())
                    }
                    Some(QueryTtl::For(ttl)) => format!("{}ms", ttl.as_millis()),
                }),
                description: "How long this session's results are kept (e.g. 10m, or off), over the sources' cache_ttl; default: the sources'.",
            },
            ConfigEntry {
                key: "tributary.last_cache".to_owned(),
                value: Some(
                    self.session
                        .last()
                        .map_or("none", CacheStatus::as_str)
                        .to_owned(),
                ),
                description: "Read-only. Whether the last query came from the cache: hit, miss or bypass.",
            },
            ConfigEntry {
                key: "tributary.cache_stats".to_owned(),
                value: Some(self.cache.stats_line()),
                description: "Read-only. The result cache's hits, misses, evictions and bytes held.",
            },
        ]
    }
}

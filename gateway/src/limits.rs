//! `[limits]`: what bounds the server as a whole and each client, so that
//! one query or one client cannot take it down for everybody.
//!
//! - `memory`: DataFusion's memory pool for every query at once; sorts,
//!   aggregates and joins spill to `<data_dir>/spill` when it is full, and
//!   what cannot spill fails its query with 53200.
//! - `query_memory`: what one session's statements may hold at once (see
//!   `session_memory`), so that one query cannot take the whole pool.
//! - `max_value_bytes`: the largest single value a function may build
//!   (`repeat`, `lpad`, `rpad`): beyond it, 54000 as in PostgreSQL.
//! - `max_sessions`: pg wire clients at once (53300 beyond).
//! - `max_message_bytes`, `max_statement_depth`, `startup_timeout`: what
//!   bounds one client's input (see tributary-pgwire's `frames` and
//!   `complexity`).

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// `[limits]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// All queries' memory together: "4GiB", or a share of the machine's
    /// memory, "50%" (the default).
    pub memory: Option<Spanned<String>>,
    /// What one session's statements may hold at once, e.g. "1GiB", or a
    /// share of `memory`, "50%" (the default).
    pub query_memory: Option<Spanned<String>>,
    /// The largest value a function builds, e.g. "256MiB" (the default).
    pub max_value_bytes: Option<Spanned<String>>,
    /// pg wire sessions at once (default 100, PostgreSQL's max_connections).
    pub max_sessions: Option<Spanned<usize>>,
    /// The largest Query, Parse, Bind or CopyData message, e.g. "64MiB".
    pub max_message_bytes: Option<Spanned<String>>,
    /// The deepest statement planned (default 1000; see docs/differences.md).
    pub max_statement_depth: Option<Spanned<usize>>,
    /// How long a client has to finish start-up, e.g. "60s" (the default).
    pub startup_timeout: Option<Spanned<String>>,
    /// Named prepared statements one session keeps (default 1000).
    pub max_prepared_statements: Option<Spanned<usize>>,
    /// HTTP connections at once (default 256); 503 beyond.
    pub max_http_connections: Option<Spanned<usize>>,
    /// Time to send an HTTP request's headers, e.g. "10s" (the default).
    pub http_header_timeout: Option<Spanned<String>>,
}

/// The limits in force.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory: usize,
    pub query_memory: usize,
    pub max_value_bytes: usize,
    pub max_sessions: usize,
    pub max_message_bytes: usize,
    pub max_statement_depth: usize,
    pub startup_timeout: Duration,
    pub max_prepared_statements: usize,
    pub http: crate::http::HttpLimits,
}

pub const DEFAULT_MEMORY_SHARE: usize = 50;
pub const DEFAULT_QUERY_MEMORY_SHARE: usize = 50;
pub const DEFAULT_MAX_VALUE_BYTES: usize = 256 << 20;
pub const DEFAULT_MAX_SESSIONS: usize = 100;

impl Limits {
    /// The defaults, with `memory` a share of this machine's memory.
    pub fn defaults() -> Self {
        let memory = share_of_memory(DEFAULT_MEMORY_SHARE);
        Self {
            memory,
            query_memory: memory / 100 * DEFAULT_QUERY_MEMORY_SHARE,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_message_bytes: tributary_pgwire::DEFAULT_MAX_MESSAGE_BYTES,
            max_statement_depth: tributary_pgwire::DEFAULT_MAX_STATEMENT_DEPTH,
            startup_timeout: Duration::from_secs(60),
            max_prepared_statements: tributary_pgwire::DEFAULT_MAX_PREPARED_STATEMENTS,
            http: crate::http::HttpLimits::default(),
        }
    }

    /// `raw` over the defaults; `Err((span, message))` names the bad key.
    pub fn resolve(
        raw: &RawLimits,
        parse_bytes: impl Fn(&str) -> Result<u64, String>,
        parse_duration: impl Fn(&str) -> Result<Duration, String>,
    ) -> Result<Self, (std::ops::Range<usize>, String)> {
        let mut limits = Self::defaults();
        let bytes = |value: &Spanned<String>, key: &str| {
            parse_bytes(value.get_ref())
                .and_then(|n| usize::try_from(n).map_err(|_| "is too big".to_owned()))
                .and_then(|n| match n {
                    0 => Err("must be above 0".to_owned()),
                    n => Ok(n),
                })
                .map_err(|e| (value.span(), format!("limits.{key} {e}")))
        };
        // "50%" of `whole`, or a size.
        let share_or_bytes = |value: &Spanned<String>, key: &str, whole: usize| {
            let text = value.get_ref().trim();
            match text.strip_suffix('%') {
                Some(share) => match share.trim().parse::<usize>() {
                    Ok(share @ 1..=100) => Ok(whole / 100 * share),
                    _ => Err((
                        value.span(),
                        format!("limits.{key} {text:?}: a share is 1% to 100%"),
                    )),
                },
                None => bytes(value, key),
            }
        };
        if let Some(memory) = &raw.memory {
            limits.memory = share_or_bytes(memory, "memory", share_of_memory(100))?;
        }
        limits.query_memory = limits.memory / 100 * DEFAULT_QUERY_MEMORY_SHARE;
        if let Some(query_memory) = &raw.query_memory {
            limits.query_memory =
                share_or_bytes(query_memory, "query_memory", limits.memory)?.min(limits.memory);
        }
        if let Some(value) = &raw.max_value_bytes {
            limits.max_value_bytes = bytes(value, "max_value_bytes")?;
        }
        if let Some(value) = &raw.max_message_bytes {
            limits.max_message_bytes = bytes(value, "max_message_bytes")?;
        }
        let count = |value: &Spanned<usize>, key: &str| match *value.get_ref() {
            0 => Err((value.span(), format!("limits.{key} must be above 0"))),
            n => Ok(n),
        };
        if let Some(value) = &raw.max_sessions {
            limits.max_sessions = count(value, "max_sessions")?;
        }
        if let Some(value) = &raw.max_statement_depth {
            limits.max_statement_depth = count(value, "max_statement_depth")?;
        }
        if let Some(value) = &raw.max_prepared_statements {
            limits.max_prepared_statements = count(value, "max_prepared_statements")?;
        }
        if let Some(value) = &raw.max_http_connections {
            limits.http.max_connections = count(value, "max_http_connections")?;
        }
        if let Some(value) = &raw.http_header_timeout {
            limits.http.header_timeout = parse_duration(value.get_ref())
                .map_err(|e| (value.span(), format!("limits.http_header_timeout {e}")))?;
        }
        if let Some(value) = &raw.startup_timeout {
            limits.startup_timeout = parse_duration(value.get_ref())
                .map_err(|e| (value.span(), format!("limits.startup_timeout {e}")))?;
        }
        Ok(limits)
    }

    /// The HTTP front end's share of these limits.
    pub fn http(&self) -> crate::http::HttpLimits {
        self.http
    }

    /// The pg wire front end's share of these limits.
    pub fn wire(&self) -> tributary_pgwire::WireLimits {
        tributary_pgwire::WireLimits {
            max_message_bytes: self.max_message_bytes,
            startup_timeout: self.startup_timeout,
        }
    }
}

/// `share` percent of the memory this process may use: the machine's, or
/// its cgroup's (a container's) when that is lower.
fn share_of_memory(share: usize) -> usize {
    let total = usize::try_from(available_memory().unwrap_or(4 << 30)).unwrap_or(usize::MAX);
    total / 100 * share
}

fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let machine = meminfo.lines().find_map(|line| {
        let kib = line.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
        kib.trim().parse::<u64>().ok().map(|kib| kib * 1024)
    })?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    Some(cgroup.map_or(machine, |limit| limit.min(machine)))
}

/// The engine with its memory bounded: one pool for all queries, spill
/// files under `<data_dir>/spill` (each process in a temporary folder of
/// its own there, removed when it ends, so that a `tributary query` and a
/// server on the same data dir never touch each other's files). Object
/// stores and caches are the engine's own, shared.
pub fn install(
    context: &SessionContext,
    limits: &Limits,
    data_dir: &Path,
) -> anyhow::Result<SessionContext> {
    let spill = data_dir.join("spill");
    std::fs::create_dir_all(&spill)
        .map_err(|e| anyhow::anyhow!("cannot create the spill dir {}: {e}", spill.display()))?;
    // The five largest consumers are named when a query is refused memory.
    let pool = TrackConsumersPool::new(
        FairSpillPool::new(limits.memory),
        NonZeroUsize::new(5).unwrap_or(NonZeroUsize::MIN),
    );
    let state = context.state();
    let runtime = RuntimeEnvBuilder::from_runtime_env(state.runtime_env())
        .with_memory_pool(Arc::new(pool))
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![spill])),
        )
        .build_arc()?;
    let state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime)
        .build();
    let bounded = SessionContext::new_with_state(state);
    crate::bounded_values::register(&bounded, limits.max_value_bytes);
    Ok(bounded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<Limits, String> {
        let raw: RawLimits = toml::from_str(text).map_err(|e| e.to_string())?;
        let bytes = |t: &str| {
            t.trim_end_matches("MiB")
                .parse::<u64>()
                .map(|n| n << 20)
                .map_err(|e| e.to_string())
        };
        Limits::resolve(&raw, bytes, |_| Ok(Duration::from_secs(1))).map_err(|(_, m)| m)
    }

    #[test]
    fn shares_sizes_and_their_bounds() {
        let limits = resolve("memory = \"1024MiB\"\nquery_memory = \"25%\"").expect("valid");
        assert_eq!(
            (limits.memory, limits.query_memory),
            (1 << 30, (1 << 30) / 100 * 25)
        );
        // A session may not hold more than the whole pool.
        let limits = resolve("memory = \"64MiB\"\nquery_memory = \"128MiB\"").expect("valid");
        assert_eq!(limits.query_memory, 64 << 20);
        // Defaults: half the pool for one session.
        let limits = resolve("memory = \"100MiB\"").expect("valid");
        assert_eq!(limits.query_memory, (100 << 20) / 100 * 50);
        for bad in [
            "memory = \"150%\"",
            "memory = \"0MiB\"",
            "max_sessions = 0",
            "query_memory = \"0%\"",
        ] {
            let error = resolve(bad).expect_err(bad);
            assert!(error.starts_with("limits."), "{bad}: {error}");
        }
    }
}

//! The result cache, shared by the pg wire and the HTTP API.
//!
//! It sits under DataFusion as a query planner (see `planner`), so every
//! statement of every front end passes through it after optimization: the
//! key is the optimized logical plan with its parameter values already in
//! it, the identity that asked, the session's name resolution and, for
//! files, each file's size, modification time and ETag. A result is kept as
//! the Arrow batches the query produced, while they stream to the first
//! client; it is stored only when the query ends cleanly and stays under the
//! per-result limit.

mod key;
mod options;
mod planner;
mod store_exec;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use serde_json::{Value, json};
use tokio::sync::watch;

pub use key::CacheKey;
pub use options::{CacheOptions, CacheStatus, SessionCache};
pub use planner::{CachingQueryPlanner, NoteVolatileFunctions};

/// How long results over one source stay: `fresh_for` (`None`: until the
/// source changes), then `stale_for` more during which they are still
/// served while a fresh copy is fetched in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePolicy {
    pub fresh_for: Option<Duration>,
    pub stale_for: Duration,
    /// A files source: each file's stamp goes into the key.
    pub files: bool,
}

/// What a source's config says about keeping results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceCaching {
    /// `cache_ttl = "off"`: never, whatever a query asks.
    Off,
    /// No `cache_ttl` on a database: only when a saved query or session
    /// sets a time to live (`--cache: 10m`, `SET tributary.cache_ttl`).
    Unset,
    Keep(SourcePolicy),
}

/// A time to live a saved query or a session sets, over the sources'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryTtl {
    Off,
    For(Duration),
}

/// `--cache: 10m` or `--cache: off` among a saved query's leading comment
/// lines (beside its `--input:` lines).
pub fn saved_query_ttl(sql: &str) -> Result<Option<QueryTtl>, String> {
    for line in sql.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        if let Some(value) = comment.trim_start().strip_prefix("cache:") {
            return parse_query_ttl(value).map(Some);
        }
    }
    Ok(None)
}

pub(crate) fn parse_query_ttl(text: &str) -> Result<QueryTtl, String> {
    match text.trim() {
        "off" => Ok(QueryTtl::Off),
        duration => crate::config::parse_duration(duration)
            .map(QueryTtl::For)
            .map_err(|e| format!("cache time to live: {e} (or \"off\")")),
    }
}

/// `[cache]` in the config.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// The memory all results together may take.
    pub max_bytes: u64,
    /// A result bigger than this is streamed but not kept.
    pub max_result_bytes: u64,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 20,
            max_result_bytes: 16 << 20,
        }
    }
}

/// One kept result.
#[derive(Debug)]
pub struct CachedResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub bytes: usize,
    pub rows: usize,
    /// The sources it read, for invalidation.
    pub sources: Vec<String>,
    pub stored_at: Instant,
    pub policy: SourcePolicy,
}

impl CachedResult {
    fn is_fresh(&self) -> bool {
        self.policy
            .fresh_for
            .is_none_or(|fresh| self.stored_at.elapsed() < fresh)
    }

    /// How long it is kept at all.
    fn lifetime(&self) -> Option<Duration> {
        self.policy
            .fresh_for
            .map(|fresh| fresh + self.policy.stale_for)
    }
}

struct Lifetimes;

impl moka::Expiry<Arc<CacheKey>, Arc<CachedResult>> for Lifetimes {
    fn expire_after_create(
        &self,
        _key: &Arc<CacheKey>,
        value: &Arc<CachedResult>,
        _created_at: Instant,
    ) -> Option<Duration> {
        value.lifetime()
    }

    // A refreshed result starts its own lifetime (moka would keep the old
    // entry's remaining time).
    fn expire_after_update(
        &self,
        _key: &Arc<CacheKey>,
        value: &Arc<CachedResult>,
        _updated_at: Instant,
        _remaining: Option<Duration>,
    ) -> Option<Duration> {
        value.lifetime()
    }
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
    evictions: AtomicU64,
    oversized: AtomicU64,
}

type Flights = Mutex<HashMap<Arc<CacheKey>, watch::Receiver<()>>>;

pub struct ResultCache {
    entries: moka::sync::Cache<Arc<CacheKey>, Arc<CachedResult>>,
    /// Sources whose results may be kept, and for how long.
    policies: RwLock<HashMap<String, SourceCaching>>,
    /// Queries running now to fill an entry: later identical ones wait.
    flights: Arc<Flights>,
    /// Bumped by every invalidation: a query that started before one does
    /// not store what it read.
    generation: AtomicU64,
    counters: Arc<Counters>,
    limits: CacheLimits,
}

impl std::fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultCache")
            .field("entries", &self.entries.entry_count())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What a lookup found.
pub(crate) enum Lookup {
    Fresh(Arc<CachedResult>),
    /// Past its time to live, inside the stale-while-revalidate window.
    Stale(Arc<CachedResult>),
    Missing,
}

/// Joining the queries that fill an entry.
pub(crate) enum Flight {
    /// This query fills it; others wait until the guard is dropped.
    Leader(FlightGuard),
    /// Another query is filling it: wait for this to change or close.
    Follower(watch::Receiver<()>),
}

/// Held while a query fills an entry; dropping it lets the waiters go.
pub(crate) struct FlightGuard {
    flights: Arc<Flights>,
    key: Arc<CacheKey>,
    mine: watch::Receiver<()>,
    _done: watch::Sender<()>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut flights = lock(&self.flights);
        if flights
            .get(&self.key)
            .is_some_and(|receiver| receiver.same_channel(&self.mine))
        {
            flights.remove(&self.key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ResultCache {
    pub fn new(limits: CacheLimits) -> Arc<Self> {
        let counters = Arc::new(Counters::default());
        let evictions = counters.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(limits.max_bytes)
            .weigher(|_key, value: &Arc<CachedResult>| {
                u32::try_from(value.bytes).unwrap_or(u32::MAX)
            })
            // Plain LRU: a new result is always admitted (TinyLFU could
            // refuse it), which is what a dashboard's working set wants.
            .eviction_policy(EvictionPolicy::lru())
            .expire_after(Lifetimes)
            .support_invalidation_closures()
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    evictions.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Arc::new(Self {
            entries,
            policies: RwLock::default(),
            flights: Arc::default(),
            generation: AtomicU64::new(0),
            counters,
            limits,
        })
    }

    /// Results over `source` are kept as `caching` says (`None`: the
    /// source is gone). Whatever was kept for it before is dropped.
    pub fn set_policy(&self, source: &str, caching: Option<SourceCaching>) {
        {
            let mut policies = self
                .policies
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match caching {
                Some(caching) => policies.insert(source.to_owned(), caching),
                None => policies.remove(source),
            };
        }
        self.invalidate_source(source);
    }

    pub(crate) fn caching(&self, source: &str) -> Option<SourceCaching> {
        self.policies
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(source)
            .copied()
    }

    /// Drops every result that read `source`.
    pub fn invalidate_source(&self, source: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let source = source.to_owned();
        if let Err(error) = self
            .entries
            .invalidate_entries_if(move |_, value| value.sources.contains(&source))
        {
            // Only when closures were not enabled at build: clear it all.
            tracing::warn!("cannot invalidate one source's results ({error}): clearing the cache");
            self.entries.invalidate_all();
        }
        self.entries.run_pending_tasks();
    }

    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
        self.entries.run_pending_tasks();
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn lookup(&self, key: &CacheKey) -> Lookup {
        match self.entries.get(key) {
            Some(result) if result.is_fresh() => Lookup::Fresh(result),
            Some(result) => Lookup::Stale(result),
            None => Lookup::Missing,
        }
    }

    pub(crate) fn join_flight(&self, key: &Arc<CacheKey>) -> Flight {
        let mut flights = lock(&self.flights);
        if let Some(running) = flights.get(key) {
            return Flight::Follower(running.clone());
        }
        let (done, mine) = watch::channel(());
        flights.insert(key.clone(), mine.clone());
        Flight::Leader(FlightGuard {
            flights: self.flights.clone(),
            key: key.clone(),
            mine,
            _done: done,
        })
    }

    /// Keeps a finished result, unless the cache was invalidated since the
    /// query started (`generation`) or it is too big.
    pub(crate) fn store(&self, key: Arc<CacheKey>, result: CachedResult, generation: u64) {
        if result.bytes as u64 > self.limits.max_result_bytes {
            self.note_oversized();
            return;
        }
        if self.generation() != generation {
            return;
        }
        tracing::debug!(
            rows = result.rows,
            bytes = result.bytes,
            sources = ?result.sources,
            "result kept in the cache"
        );
        self.entries.insert(key, Arc::new(result));
        // Evict now, so that the bytes held never stay over the bound.
        self.entries.run_pending_tasks();
    }

    /// `[cache] max_bytes = "0"`: nothing is looked up or kept.
    pub(crate) fn is_off(&self) -> bool {
        self.limits.max_bytes == 0
    }

    pub(crate) fn max_result_bytes(&self) -> usize {
        usize::try_from(self.limits.max_result_bytes).unwrap_or(usize::MAX)
    }

    pub(crate) fn note_oversized(&self) {
        self.counters.oversized.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count(&self, status: CacheStatus) {
        let counter = match status {
            CacheStatus::Hit => &self.counters.hits,
            CacheStatus::Miss => &self.counters.misses,
            CacheStatus::Bypass => &self.counters.bypasses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Hits, misses, evictions and the bytes held, as `GET /v1/cache` and
    /// `SHOW tributary.cache_stats` report them.
    pub fn stats(&self) -> Value {
        self.entries.run_pending_tasks();
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        json!({
            "hits": read(&self.counters.hits),
            "misses": read(&self.counters.misses),
            "bypasses": read(&self.counters.bypasses),
            "evictions": read(&self.counters.evictions),
            "oversized": read(&self.counters.oversized),
            "entries": self.entries.entry_count(),
            "bytes": self.entries.weighted_size(),
            "max_bytes": self.limits.max_bytes,
            "max_result_bytes": self.limits.max_result_bytes,
        })
    }

    /// `stats` on one line: `hits=3 misses=1 …`.
    pub fn stats_line(&self) -> String {
        let stats = self.stats();
        let Some(fields) = stats.as_object() else {
            return String::new();
        };
        fields
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The engine `context` with the cache under its planner. Sessions see the
/// cache only once their options carry [`CacheOptions`] (see
/// [`SessionCaches`] for the pg wire, the HTTP API per request).
pub fn install(
    context: &datafusion::prelude::SessionContext,
) -> datafusion::prelude::SessionContext {
    let state = context.state();
    let planner = CachingQueryPlanner::new(state.query_planner().clone());
    let state = datafusion::execution::session_state::SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(planner))
        .with_analyzer_rule(Arc::new(NoteVolatileFunctions))
        .build();
    datafusion::prelude::SessionContext::new_with_state(state)
}

/// Gives every pg wire session its own cache options, under its user.
#[derive(Debug)]
pub struct SessionCaches(pub Arc<ResultCache>);

impl tributary_pgwire::SessionSetup for SessionCaches {
    fn setup(&self, session: &datafusion::prelude::SessionContext, user: &str) {
        let options = CacheOptions::new(self.0.clone(), &format!("pg:{user}"));
        let state = session.state_ref();
        let mut state = state.write();
        state.config_mut().options_mut().extensions.insert(options);
    }
}

#[cfg(test)]
mod tests;

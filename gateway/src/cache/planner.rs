//! The cache as DataFusion sees it: a query planner around the engine's
//! own, and an analyzer rule that notes calls `now()`-like functions make
//! before the optimizer folds them away.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::config::ConfigOptions;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;

use super::key::{Cacheable, analyze, calls_non_immutable};
use super::store_exec::{Pending, StoreExec};
use super::{CacheOptions, CacheStatus, CachedResult, Flight, Lookup, ResultCache};

/// How long a query waits for an identical one to fill the entry.
const FOLLOWER_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug)]
pub struct NoteVolatileFunctions;

impl AnalyzerRule for NoteVolatileFunctions {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        if let Some(options) = config.extensions.get::<CacheOptions>()
            && calls_non_immutable(&plan)
        {
            options.session.note_non_immutable();
        }
        Ok(plan)
    }

    fn name(&self) -> &str {
        "tributary_note_volatile_functions"
    }
}

#[derive(Debug)]
pub struct CachingQueryPlanner {
    inner: Arc<dyn QueryPlanner + Send + Sync>,
}

impl CachingQueryPlanner {
    pub fn new(inner: Arc<dyn QueryPlanner + Send + Sync>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl QueryPlanner for CachingQueryPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Sessions without cache options (the CLI, internal work) plan as
        // they always did.
        let Some(options) = session.config_options().extensions.get::<CacheOptions>() else {
            return self.inner.create_physical_plan(plan, session).await;
        };
        let options = options.clone();
        let non_immutable = options.session.take_non_immutable();
        let (status, physical) = self.plan(plan, session, &options, non_immutable).await?;
        options.session.record(status);
        options.cache.count(status);
        Ok(physical)
    }
}

impl CachingQueryPlanner {
    async fn plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn Session,
        options: &CacheOptions,
        non_immutable: bool,
    ) -> Result<(CacheStatus, Arc<dyn ExecutionPlan>)> {
        let cache = &options.cache;
        let bypass = || async {
            let physical = self.inner.create_physical_plan(plan, session).await?;
            Ok((CacheStatus::Bypass, physical))
        };
        if !options.enabled || cache.is_off() || non_immutable || (!options.read && !options.write)
        {
            return bypass().await;
        }
        // Whatever the reason a result is not kept, the query runs as usual.
        let Ok(entry) = analyze(plan, session, &options.identity, options.ttl, cache).await? else {
            return bypass().await;
        };
        if !options.read {
            // `no-cache`: a fresh answer, which then replaces the kept one.
            let generation = cache.generation();
            let physical = self.inner.create_physical_plan(plan, session).await?;
            let pending = Pending {
                cache: cache.clone(),
                entry,
                generation,
                flight: None,
            };
            return Ok((CacheStatus::Bypass, StoreExec::wrap(physical, pending)));
        }
        let mut waited = false;
        loop {
            match cache.lookup(&entry.key) {
                Lookup::Fresh(result) => return Ok((CacheStatus::Hit, replay(&result)?)),
                Lookup::Stale(result) => {
                    self.refresh_in_background(plan, session, cache, &entry);
                    return Ok((CacheStatus::Hit, replay(&result)?));
                }
                Lookup::Missing => {}
            }
            let generation = cache.generation();
            match cache.join_flight(&entry.key) {
                Flight::Leader(guard) => {
                    let physical = self.inner.create_physical_plan(plan, session).await?;
                    if !options.write {
                        return Ok((CacheStatus::Miss, physical));
                    }
                    let pending = Pending {
                        cache: cache.clone(),
                        entry,
                        generation,
                        flight: Some(guard),
                    };
                    return Ok((CacheStatus::Miss, StoreExec::wrap(physical, pending)));
                }
                // An identical query is filling the entry: wait for it,
                // once; if it kept nothing (too big, failed), run our own.
                // A leader whose client stalls (a cursor left open) must
                // not hold the others forever: they wait a bounded time.
                Flight::Follower(mut running) if !waited => {
                    let _ = tokio::time::timeout(FOLLOWER_WAIT, running.changed()).await;
                    waited = true;
                }
                Flight::Follower(_) => {
                    let physical = self.inner.create_physical_plan(plan, session).await?;
                    return Ok((CacheStatus::Miss, physical));
                }
            }
        }
    }

    /// Serves nothing: runs the query again on its own and stores what it
    /// reads, unless another refresh of the entry is already running.
    fn refresh_in_background(
        &self,
        plan: &LogicalPlan,
        session: &dyn Session,
        cache: &Arc<ResultCache>,
        entry: &Cacheable,
    ) {
        let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
            return;
        };
        let Flight::Leader(guard) = cache.join_flight(&entry.key) else {
            return;
        };
        let (state, plan, inner, cache) = (
            state.clone(),
            plan.clone(),
            self.inner.clone(),
            cache.clone(),
        );
        let entry = Cacheable {
            key: entry.key.clone(),
            sources: entry.sources.clone(),
            policy: entry.policy,
        };
        tokio::spawn(async move {
            let generation = cache.generation();
            let refreshed = async {
                let physical = inner.create_physical_plan(&plan, &state).await?;
                let pending = Pending {
                    cache,
                    entry,
                    generation,
                    flight: Some(guard),
                };
                let mut stream = StoreExec::wrap(physical, pending).execute(0, state.task_ctx())?;
                while let Some(batch) = stream.next().await {
                    batch?;
                }
                Ok::<_, datafusion::error::DataFusionError>(())
            };
            if let Err(error) = refreshed.await {
                tracing::warn!("refreshing a stale cached result failed: {error}");
            }
        });
    }
}

/// A kept result as a plan: its batches, one partition.
fn replay(result: &CachedResult) -> Result<Arc<dyn ExecutionPlan>> {
    let plan: Arc<dyn ExecutionPlan> = MemorySourceConfig::try_new_exec(
        std::slice::from_ref(&result.batches),
        result.schema.clone(),
        None,
    )?;
    Ok(plan)
}

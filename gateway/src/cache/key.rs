//! What a plan reads, and so whether and under which key its result may be
//! kept.

use std::sync::Arc;

use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion_federation::FederatedPlanNode;
use futures::TryStreamExt;
use tributary_catalog::DEFAULT_CATALOG;

use super::{QueryTtl, ResultCache, SourceCaching, SourcePolicy};

/// Everything a result depends on besides the sources' data.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// Optimized, with parameter values in it: formatting and spelling of
    /// the SQL do not matter, values do.
    plan: LogicalPlan,
    /// Whose grants applied.
    identity: Arc<str>,
    /// Every table read, fully qualified: the same bare name means another
    /// table under another default schema.
    tables: Vec<String>,
    /// What the session's time zone makes of timestamps.
    time_zone: Option<String>,
    /// Every file a files source would read.
    files: Vec<FileStamp>,
}

#[cfg(test)]
impl CacheKey {
    pub(crate) fn for_tests(plan: LogicalPlan, identity: &str) -> Self {
        Self {
            plan,
            identity: identity.into(),
            tables: Vec::new(),
            time_zone: None,
            files: Vec::new(),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FileStamp {
    location: String,
    size: u64,
    modified_ms: i64,
    e_tag: Option<String>,
}

/// A plan whose result may be kept.
pub(crate) struct Cacheable {
    pub key: Arc<CacheKey>,
    pub sources: Vec<String>,
    pub policy: SourcePolicy,
}

/// Why a plan's result is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Uncacheable {
    /// Not a query (EXPLAIN, a write).
    NotAQuery,
    /// `random()`, `now()`, …: another run gives another answer.
    Volatile,
    /// It reads no table, or a catalog table, or a source without caching.
    Unkept,
}

/// Reads plan nodes, federated sub-plans included.
#[derive(Default)]
struct Reads {
    scans: Vec<(datafusion::common::TableReference, Arc<dyn TableProvider>)>,
    not_a_query: bool,
    volatile: bool,
}

fn is_volatile(expression: &Expr) -> bool {
    expression
        .exists(|e| {
            Ok(match e {
                Expr::ScalarFunction(function) => {
                    function.func.signature().volatility != Volatility::Immutable
                }
                _ => false,
            })
        })
        .unwrap_or(true)
}

/// Whether `plan` calls a function that is not immutable (before the
/// optimizer folds `now()` into a constant).
pub(crate) fn calls_non_immutable(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        found = node.expressions().iter().any(is_volatile);
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

fn read(plan: &LogicalPlan, reads: &mut Reads) -> Result<()> {
    plan.apply_with_subqueries(|node| {
        match node {
            LogicalPlan::TableScan(scan) => {
                let provider = source_as_provider(&scan.source)?;
                reads.scans.push((scan.table_name.clone(), provider));
            }
            LogicalPlan::Extension(extension) => {
                match extension.node.as_any().downcast_ref::<FederatedPlanNode>() {
                    Some(federated) => read(federated.plan(), reads)?,
                    None => reads.not_a_query = true,
                }
            }
            LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::DescribeTable(_) => reads.not_a_query = true,
            _ => {}
        }
        if node.expressions().iter().any(is_volatile) {
            reads.volatile = true;
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(())
}

/// The key and policy of `plan`'s result, or why it is not kept.
pub(crate) async fn analyze(
    plan: &LogicalPlan,
    state: &dyn Session,
    identity: &Arc<str>,
    ttl: Option<QueryTtl>,
    cache: &ResultCache,
) -> Result<std::result::Result<Cacheable, Uncacheable>> {
    let mut reads = Reads::default();
    read(plan, &mut reads)?;
    if reads.not_a_query {
        return Ok(Err(Uncacheable::NotAQuery));
    }
    if reads.volatile {
        return Ok(Err(Uncacheable::Volatile));
    }
    if reads.scans.is_empty() {
        return Ok(Err(Uncacheable::Unkept));
    }
    let options = state.config_options();
    let (default_catalog, default_schema) = (
        options.catalog.default_catalog.as_str(),
        options.catalog.default_schema.as_str(),
    );
    let mut tables = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    let mut files = Vec::new();
    let mut policy: Option<SourcePolicy> = None;
    for (name, provider) in &reads.scans {
        let resolved = name.clone().resolve(default_catalog, default_schema);
        if matches!(&*resolved.schema, "pg_catalog" | "information_schema") {
            return Ok(Err(Uncacheable::Unkept));
        }
        // `tributary.<source>.<table>` is the source's default schema.
        let source = if &*resolved.catalog == DEFAULT_CATALOG {
            resolved.schema.to_string()
        } else {
            resolved.catalog.to_string()
        };
        let source_policy = match (cache.caching(&source), ttl) {
            (None | Some(SourceCaching::Off), _) | (_, Some(QueryTtl::Off)) => None,
            (Some(SourceCaching::Keep(kept)), None) => Some(kept),
            (Some(SourceCaching::Keep(kept)), Some(QueryTtl::For(ttl))) => Some(SourcePolicy {
                fresh_for: Some(ttl),
                ..kept
            }),
            (Some(SourceCaching::Unset), Some(QueryTtl::For(ttl))) => Some(SourcePolicy {
                fresh_for: Some(ttl),
                stale_for: std::time::Duration::ZERO,
                files: false,
            }),
            (Some(SourceCaching::Unset), None) => None,
        };
        let Some(source_policy) = source_policy else {
            return Ok(Err(Uncacheable::Unkept));
        };
        if source_policy.files {
            // Without the files' stamps a changed file could be served
            // from the cache: a table we cannot list is not kept.
            let Some(listing) = provider.downcast_ref::<ListingTable>() else {
                return Ok(Err(Uncacheable::Unkept));
            };
            files.extend(file_stamps(listing, state).await?);
        }
        policy = Some(match policy {
            None => source_policy,
            Some(kept) => SourcePolicy {
                fresh_for: match (kept.fresh_for, source_policy.fresh_for) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                stale_for: kept.stale_for.min(source_policy.stale_for),
                files: kept.files || source_policy.files,
            },
        });
        tables.push(resolved.to_string());
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    let Some(policy) = policy else {
        return Ok(Err(Uncacheable::Unkept));
    };
    files.sort();
    let key = CacheKey {
        plan: plan.clone(),
        identity: identity.clone(),
        tables,
        time_zone: options.execution.time_zone.clone(),
        files,
    };
    Ok(Ok(Cacheable {
        key: Arc::new(key),
        sources,
        policy,
    }))
}

/// Size, modification time and ETag of every file the table would read
/// now: a changed, added or removed file makes another key.
async fn file_stamps(listing: &ListingTable, state: &dyn Session) -> Result<Vec<FileStamp>> {
    let mut stamps = Vec::new();
    let extension = &listing.options().file_extension;
    for url in listing.table_paths() {
        let store = state.runtime_env().object_store(url)?;
        let found: Vec<_> = url
            .list_all_files(state, store.as_ref(), extension)
            .await?
            .try_collect()
            .await?;
        stamps.extend(found.into_iter().map(|meta| FileStamp {
            location: meta.location.to_string(),
            size: meta.size,
            modified_ms: meta.last_modified.timestamp_millis(),
            e_tag: meta.e_tag,
        }));
    }
    Ok(stamps)
}

//! The cache's own rules, without an engine: sizes, eviction, expiry,
//! invalidation and the flights identical queries share.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};

use super::*;

fn batch(rows: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let values = Int64Array::from_iter_values(0..rows);
    RecordBatch::try_new(schema, vec![Arc::new(values)]).expect("batch")
}

fn key(n: i64) -> Arc<CacheKey> {
    let plan: LogicalPlan = LogicalPlanBuilder::empty(false)
        .limit(0, Some(usize::try_from(n).unwrap_or(0)))
        .and_then(LogicalPlanBuilder::build)
        .expect("plan");
    Arc::new(CacheKey::for_tests(plan, "tester"))
}

fn result(rows: i64, source: &str, fresh_for: Option<Duration>) -> CachedResult {
    let batch = batch(rows);
    CachedResult {
        schema: batch.schema(),
        bytes: batch.get_array_memory_size(),
        rows: batch.num_rows(),
        batches: vec![batch],
        sources: vec![source.to_owned()],
        stored_at: Instant::now(),
        policy: SourcePolicy {
            fresh_for,
            stale_for: Duration::ZERO,
            files: false,
        },
    }
}

fn is_kept(cache: &ResultCache, key: &CacheKey) -> bool {
    matches!(cache.lookup(key), Lookup::Fresh(_))
}

#[test]
fn the_byte_bound_evicts_the_least_recently_used() {
    let one = result(1000, "s", None).bytes as u64;
    let cache = ResultCache::new(CacheLimits {
        max_bytes: one * 2 + one / 2,
        max_result_bytes: one * 2,
    });
    for n in 1..=3 {
        cache.store(key(n), result(1000, "s", None), cache.generation());
    }
    assert!(!is_kept(&cache, &key(1)), "the oldest went");
    assert!(is_kept(&cache, &key(2)) && is_kept(&cache, &key(3)));
    let stats = cache.stats();
    assert_eq!(stats["evictions"], 1);
    assert!(
        stats["bytes"].as_u64() <= Some(one * 2 + one / 2),
        "{stats}"
    );

    cache.store(key(4), result(3000, "s", None), cache.generation());
    assert!(!is_kept(&cache, &key(4)), "too big to keep");
    assert_eq!(cache.stats()["oversized"], 1);
}

#[test]
fn time_to_live_invalidation_and_generations() {
    let cache = ResultCache::new(CacheLimits::default());
    cache.store(
        key(1),
        result(10, "a", Some(Duration::from_millis(50))),
        cache.generation(),
    );
    cache.store(key(2), result(10, "b", None), cache.generation());
    assert!(is_kept(&cache, &key(1)));
    std::thread::sleep(Duration::from_millis(80));
    assert!(matches!(cache.lookup(&key(1)), Lookup::Missing), "expired");

    cache.store(key(1), result(10, "a", None), cache.generation());
    cache.invalidate_source("a");
    assert!(!is_kept(&cache, &key(1)), "a's results are dropped");
    assert!(is_kept(&cache, &key(2)), "b's stay");

    // A query that started before an invalidation does not store.
    let started = cache.generation();
    cache.clear();
    cache.store(key(3), result(10, "b", None), started);
    assert!(!is_kept(&cache, &key(3)));
    assert!(!is_kept(&cache, &key(2)), "cleared");
}

#[test]
fn one_flight_per_key_and_waiters_are_released() {
    let cache = ResultCache::new(CacheLimits::default());
    let Flight::Leader(guard) = cache.join_flight(&key(1)) else {
        panic!("the first query leads");
    };
    let Flight::Follower(mut waiting) = cache.join_flight(&key(1)) else {
        panic!("the second waits");
    };
    assert!(matches!(cache.join_flight(&key(2)), Flight::Leader(_)));
    drop(guard);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert!(
        runtime.block_on(waiting.changed()).is_err(),
        "the leader's end wakes the waiter"
    );
    assert!(matches!(cache.join_flight(&key(1)), Flight::Leader(_)));
}

#[test]
fn saved_query_lines_set_a_time_to_live() {
    assert_eq!(saved_query_ttl("SELECT 1"), Ok(None));
    assert_eq!(
        saved_query_ttl("--input: int n = 1\n--cache: 10m\nSELECT @n"),
        Ok(Some(QueryTtl::For(Duration::from_secs(600))))
    );
    assert_eq!(
        saved_query_ttl("-- cache: off\nSELECT 1"),
        Ok(Some(QueryTtl::Off))
    );
    assert_eq!(
        saved_query_ttl("SELECT 1\n--cache: 10m"),
        Ok(None),
        "only header lines"
    );
    assert!(saved_query_ttl("--cache: soon\nSELECT 1").is_err());
}

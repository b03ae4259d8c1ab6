//! A query's plan with its result kept on the way out: batches go to the
//! client as they come and are copied (by reference: Arrow arrays are
//! shared) into the entry, which is stored when the stream ends cleanly.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PhysicalExpr,
    PlanProperties,
};
use futures::{Stream, StreamExt};

use super::key::Cacheable;
use super::{CachedResult, FlightGuard, ResultCache};

/// What the result will be stored under, and the flight it fills.
pub(crate) struct Pending {
    pub cache: Arc<ResultCache>,
    pub entry: Cacheable,
    pub generation: u64,
    pub flight: Option<FlightGuard>,
}

pub(crate) struct StoreExec {
    input: Arc<dyn ExecutionPlan>,
    /// Taken by the one execution that fills the entry.
    pending: Mutex<Option<Pending>>,
}

impl fmt::Debug for StoreExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreExec")
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}

impl StoreExec {
    /// One output partition, so that one stream sees every batch.
    pub(crate) fn wrap(input: Arc<dyn ExecutionPlan>, pending: Pending) -> Arc<Self> {
        let input: Arc<dyn ExecutionPlan> = if input.output_partitioning().partition_count() > 1 {
            Arc::new(CoalescePartitionsExec::new(input))
        } else {
            input
        };
        Arc::new(Self {
            input,
            pending: Mutex::new(Some(pending)),
        })
    }
}

impl DisplayAs for StoreExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ResultCacheStore: ")?;
        self.input.fmt_as(t, f)
    }
}

impl ExecutionPlan for StoreExec {
    fn name(&self) -> &str {
        "ResultCacheStore"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    // A leaf to the rest of DataFusion: nothing rewrites the plan under it
    // once it is built.
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn apply_expressions(
        &self,
        _visit: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        Ok(Box::pin(StoringStream {
            schema: input.schema(),
            input,
            kept: pending.map(|pending| Kept {
                pending,
                batches: Vec::new(),
                bytes: 0,
                rows: 0,
            }),
        }))
    }
}

struct Kept {
    pending: Pending,
    batches: Vec<RecordBatch>,
    bytes: usize,
    rows: usize,
}

struct StoringStream {
    schema: SchemaRef,
    input: SendableRecordBatchStream,
    /// `None` once the result cannot be kept (too big, failed): the flight
    /// guard goes with it, so waiting queries run their own.
    kept: Option<Kept>,
}

impl Stream for StoringStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = std::task::ready!(self.input.poll_next_unpin(cx));
        match &next {
            Some(Ok(batch)) => {
                if let Some(kept) = self.kept.as_mut() {
                    kept.bytes += batch.get_array_memory_size();
                    kept.rows += batch.num_rows();
                    if kept.bytes > kept.pending.cache.max_result_bytes() {
                        kept.pending.cache.note_oversized();
                        self.kept = None;
                    } else {
                        kept.batches.push(batch.clone());
                    }
                }
            }
            Some(Err(_)) => self.kept = None,
            None => {
                if let Some(kept) = self.kept.take() {
                    let Pending {
                        cache,
                        entry,
                        generation,
                        flight,
                    } = kept.pending;
                    let result = CachedResult {
                        schema: self.schema.clone(),
                        batches: kept.batches,
                        bytes: kept.bytes,
                        rows: kept.rows,
                        sources: entry.sources,
                        stored_at: Instant::now(),
                        policy: entry.policy,
                    };
                    cache.store(entry.key, result, generation);
                    // Waiters look again once it is stored.
                    drop(flight);
                }
            }
        }
        Poll::Ready(next)
    }
}

impl RecordBatchStream for StoringStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

//! `[limits] query_memory`: what one session's statements may hold at
//! once, inside the server-wide pool (`[limits] memory`).
//!
//! DataFusion has one pool per runtime and no notion of a query; a session
//! (a pg wire connection, an HTTP request) runs one statement at a time, so
//! each gets a runtime of its own whose pool counts what that session
//! reserves and passes every reservation on to the shared pool. A session
//! over its bound fails with 53200 naming the limit; one that fits its own
//! bound can still be refused by the shared pool when the server is full.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};

#[derive(Debug)]
pub struct SessionPool {
    shared: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl SessionPool {
    pub fn new(shared: Arc<dyn MemoryPool>, limit: usize) -> Self {
        Self {
            shared,
            limit,
            used: AtomicUsize::new(0),
        }
    }
}

impl std::fmt::Display for SessionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "session pool ({} of {} bytes) in {}",
            self.used.load(Ordering::Relaxed),
            self.limit,
            self.shared
        )
    }
}

impl MemoryPool for SessionPool {
    fn name(&self) -> &str {
        "tributary session pool"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.shared.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        // Never below zero, whatever the order of concurrent updates.
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(shrink))
            });
        self.shared.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let admitted = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(additional)
                    .filter(|total| *total <= self.limit)
            });
        if admitted.is_err() {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{} wants {additional} more bytes while its session holds {} of \
                 [limits] query_memory ({} bytes)",
                reservation.consumer().name(),
                self.used.load(Ordering::Relaxed),
                self.limit
            )));
        }
        if let Err(error) = self.shared.try_grow(reservation, additional) {
            let _ = self
                .used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                    Some(used.saturating_sub(additional))
                });
            return Err(error);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// `state` with a runtime of its own whose pool bounds it by `limit`,
/// sharing the object stores, caches and spill files of the server's.
pub fn bounded_session(state: SessionState, limit: usize) -> SessionState {
    let shared = state.runtime_env().clone();
    let pool = Arc::new(SessionPool::new(shared.memory_pool.clone(), limit));
    // From the server's runtime: its disk manager (the spill folder), object
    // stores and caches, with only the pool replaced.
    match RuntimeEnvBuilder::from_runtime_env(&shared)
        .with_memory_pool(pool)
        .build_arc()
    {
        Ok(runtime) => SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(runtime)
            .build(),
        Err(error) => {
            tracing::warn!("cannot bound a session's memory: {error}");
            state
        }
    }
}

//! Which statements are running, so that shutdown can wait for them (and
//! only them: idle sessions are closed at once).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Clone, Default)]
pub(crate) struct InFlight {
    count: Arc<AtomicUsize>,
    idle: Arc<Notify>,
}

/// Held while a statement runs, including while its rows stream out.
#[derive(Debug)]
pub(crate) struct StatementGuard(InFlight);

impl InFlight {
    pub(crate) fn enter(&self) -> StatementGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        StatementGuard(self.clone())
    }

    pub(crate) fn running(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Resolves once no statement is running.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.running() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for StatementGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

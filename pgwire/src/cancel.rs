//! Cancellation of running statements.
//!
//! pgwire cancels a statement only while its handler plans it: the handler
//! returns a lazy row stream, and DataFusion does the real work while pgwire
//! sends the rows, where a CancelRequest no longer reaches. So each session
//! has a second handle, ours, that watches the rows as they stream; a
//! CancelRequest fires both.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::cancel::CancelHandler;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionGuard, ConnectionHandle, ConnectionManager,
};
use datafusion_postgres::pgwire::messages::cancel::CancelRequest;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

/// This session's handle for cancelling the rows of its current statement.
pub(crate) struct RowsCancelHandle(pub Arc<ConnectionHandle>);
/// Unregisters the session's row handle when the session ends.
pub(crate) struct RowsCancelGuard(#[allow(dead_code)] pub ConnectionGuard);

/// Resolves to `true` when the client cancelled the current statement,
/// `false` when the statement was superseded by the next one.
pub(crate) type CancelSignal = Shared<BoxFuture<'static, bool>>;

/// The two registries a CancelRequest is looked up in.
pub(crate) struct Cancellation {
    /// pgwire's: cancels a statement while it is planned.
    pub planning: Arc<ConnectionManager>,
    /// Ours: cancels a statement while its rows stream.
    pub rows: Arc<ConnectionManager>,
}

#[async_trait]
impl CancelHandler for Cancellation {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let planning = self.planning.cancel(request.pid, &request.secret_key).await;
        let rows = self.rows.cancel(request.pid, &request.secret_key).await;
        tracing::debug!(
            pid = request.pid,
            found = planning || rows,
            "cancel request"
        );
    }
}

/// Starts watching for a cancel of the statement about to run.
pub(crate) async fn statement_cancel_signal<C: ClientInfo>(client: &C) -> CancelSignal {
    match client.session_extensions().get::<RowsCancelHandle>() {
        Some(handle) => {
            let receiver = handle.0.start_query().await;
            receiver.map(|fired| fired.is_ok()).boxed().shared()
        }
        None => futures::future::pending::<bool>().boxed().shared(),
    }
}

/// Resolves only if the statement is cancelled.
pub(crate) async fn cancelled(signal: CancelSignal) {
    if !signal.await {
        futures::future::pending::<()>().await;
    }
}

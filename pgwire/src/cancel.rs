//! Cancellation of running statements.
//!
//! pgwire cancels a statement only while its handler plans it: the handler
//! returns a lazy row stream, and DataFusion does the real work while pgwire
//! sends the rows, where a CancelRequest no longer reaches. So each session
//! has a second handle, ours, that watches the rows as they stream; a
//! CancelRequest fires both.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::cancel::CancelHandler;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionGuard, ConnectionHandle, ConnectionManager,
};
use datafusion_postgres::pgwire::messages::cancel::CancelRequest;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use crate::settings::STATEMENT_TIMEOUT_KEY;

/// This session's handle for cancelling the rows of its current statement.
pub(crate) struct RowsCancelHandle(pub Arc<ConnectionHandle>);
/// Unregisters the session's row handle when the session ends.
pub(crate) struct RowsCancelGuard(#[allow(dead_code)] pub ConnectionGuard);

/// Why a statement is stopped before it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A CancelRequest from the client.
    UserRequest,
    /// The session's `statement_timeout` ran out.
    Timeout,
}

/// Resolves to `Some(stop)` when the current statement must stop, `None`
/// when it was superseded by the next one (and so needs no stopping).
pub(crate) type CancelSignal = Shared<BoxFuture<'static, Option<Stop>>>;

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

/// Starts watching for a cancel, or the end of `statement_timeout`, of the
/// statement about to run. Upstream applies the timeout to planning only; a
/// statement's work happens while its rows stream, so it is enforced here.
pub(crate) async fn statement_cancel_signal<C: ClientInfo>(client: &C) -> CancelSignal {
    let timeout = client
        .metadata()
        .get(STATEMENT_TIMEOUT_KEY)
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis);
    let cancel: BoxFuture<'static, Option<Stop>> =
        match client.session_extensions().get::<RowsCancelHandle>() {
            Some(handle) => {
                let receiver = handle.0.start_query().await;
                receiver
                    .map(|fired| fired.ok().map(|()| Stop::UserRequest))
                    .boxed()
            }
            None => futures::future::pending().boxed(),
        };
    match timeout {
        None => cancel.shared(),
        Some(timeout) => {
            let expiry = tokio::time::sleep(timeout)
                .map(|()| Some(Stop::Timeout))
                .boxed();
            futures::future::select(cancel, expiry)
                .map(|either| either.factor_first().0)
                .boxed()
                .shared()
        }
    }
}

/// Resolves only if the statement must stop, with the reason.
pub(crate) async fn stopped(signal: CancelSignal) -> Stop {
    match signal.await {
        Some(stop) => stop,
        None => futures::future::pending().await,
    }
}

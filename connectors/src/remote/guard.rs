//! A connection pool that fails fast when its database is down.
//!
//! The pools underneath wait for a connection as long as they are configured
//! to (bb8: 30 s) while they retry in the background, so a query on a stopped
//! database would hang, then fail with advice about pool sizes. Here, if no
//! connection comes within a moment, the database's address is probed; a
//! refused or silent address fails the query at once with class 08, naming
//! the source. A reachable database whose pool is merely busy is waited for.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion_table_providers::sql::db_connection_pool::dbconnection::DbConnection;
use datafusion_table_providers::sql::db_connection_pool::{DbConnectionPool, JoinPushDown};
use tokio::net::TcpStream;

use super::error::SourceError;

/// How long a connection may take before the address is probed.
const PROBE_AFTER: Duration = Duration::from_millis(150);

/// Where a source's database listens, for probes and messages.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub source_name: String,
    pub host: String,
    pub port: u16,
    pub connect_timeout: Duration,
}

impl Endpoint {
    /// Resolves only when the address cannot be connected to.
    async fn unreachable(&self) -> SourceError {
        tokio::time::sleep(PROBE_AFTER).await;
        let address = format!("{}:{}", self.host, self.port);
        let reason =
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(&address)).await {
                Ok(Ok(_)) => return std::future::pending().await,
                Ok(Err(e)) => format!("cannot connect to {address}: {e}"),
                Err(_) => format!(
                    "no answer from {address} within {} ms",
                    self.connect_timeout.as_millis()
                ),
            };
        self.unavailable(reason)
    }

    /// A failure to get a connection: a refused login as the database said
    /// it, anything else the source being unavailable.
    pub fn connect_failure(&self, error: &(dyn std::error::Error + 'static)) -> SourceError {
        match SourceError::from_query(&self.source_name, error) {
            refused if refused.refuses_login() => refused,
            SourceError::Remote { message, .. } => self.unavailable(message),
            unavailable => unavailable,
        }
    }

    pub fn unavailable(&self, reason: impl Into<String>) -> SourceError {
        SourceError::Unavailable {
            source_name: self.source_name.clone(),
            reason: reason.into(),
        }
    }
}

pub(crate) struct GuardedPool<T: 'static, P: 'static> {
    pub inner: Arc<dyn DbConnectionPool<T, P> + Send + Sync>,
    pub endpoint: Endpoint,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[async_trait]
impl<T: 'static, P: 'static> DbConnectionPool<T, P> for GuardedPool<T, P> {
    async fn connect(&self) -> Result<Box<dyn DbConnection<T, P>>, BoxError> {
        tokio::select! {
            connected = self.inner.connect() => connected.map_err(|e| {
                Box::new(self.endpoint.connect_failure(e.as_ref())) as BoxError
            }),
            unreachable = self.endpoint.unreachable() => Err(Box::new(unreachable)),
        }
    }

    fn join_push_down(&self) -> JoinPushDown {
        self.inner.join_push_down()
    }
}

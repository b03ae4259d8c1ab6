//! Connection start-up: who may connect, and what the server tells the client.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionManager, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::Sink;

use crate::cancel::{Cancellation, RowsCancelGuard, RowsCancelHandle};
use crate::sqlstate::codes;

/// The PostgreSQL version clients are told we speak: the protocol and catalog
/// behaviour we emulate. Drivers parse the leading number.
pub const EMULATED_SERVER_VERSION: &str = "16.6";

/// Accepts exactly one user, without a password, like PostgreSQL's `trust`
/// for local connections. The server refuses to listen beyond loopback while
/// this is the only authentication it has.
pub struct TrustStartup {
    user: String,
    planning: Arc<ConnectionManager>,
    rows: Arc<ConnectionManager>,
    pids: RandomPidSecretKeyGenerator,
    parameters: DefaultServerParameterProvider,
}

impl TrustStartup {
    pub(crate) fn new(user: impl Into<String>, cancellation: &Cancellation) -> Self {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = format!(
            "{EMULATED_SERVER_VERSION} (Tributary {})",
            env!("CARGO_PKG_VERSION")
        );
        Self {
            user: user.into(),
            planning: cancellation.planning.clone(),
            rows: cancellation.rows.clone(),
            pids: RandomPidSecretKeyGenerator::default(),
            parameters,
        }
    }
}

#[async_trait]
impl StartupHandler for TrustStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(ref startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);

        // The server only listens on loopback in this mode; checking the
        // peer too keeps that true whatever the listener is bound to.
        if !client.socket_addr().ip().is_loopback() {
            tracing::warn!(peer = %client.socket_addr(), "refused connection: trust authentication is for loopback clients only");
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_owned(),
                codes::INVALID_AUTHORIZATION.to_owned(),
                "no password authentication is configured: only loopback clients are admitted"
                    .to_owned(),
            ))));
        }
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        if user != self.user {
            tracing::info!(%user, peer = %client.socket_addr(), "refused connection: unknown user");
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_owned(),
                codes::INVALID_AUTHORIZATION.to_owned(),
                format!(
                    "role \"{user}\" does not exist: this server accepts only user \"{}\" until users are configured",
                    self.user
                ),
            ))));
        }

        let (pid, secret_key) = self.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret_key.clone());
        // The handles let a CancelRequest on another connection reach the
        // statement running on this one; the guards unregister them when
        // the session ends.
        let (handle, guard) = self.planning.register(pid, secret_key.clone());
        client.session_extensions().insert(handle);
        client.session_extensions().insert(guard);
        let (handle, guard) = self.rows.register(pid, secret_key);
        client.session_extensions().insert(RowsCancelHandle(handle));
        client.session_extensions().insert(RowsCancelGuard(guard));

        finish_authentication(client, &self.parameters).await
    }
}

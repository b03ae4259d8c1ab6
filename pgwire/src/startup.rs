//! Connection start-up: who may connect, and what the server tells the client.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

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
use crate::settings::Settings;
use crate::sqlstate::codes;

/// The PostgreSQL version clients are told we speak: the protocol and catalog
/// behaviour we emulate. Drivers parse the leading number.
pub const EMULATED_SERVER_VERSION: &str = "16.6";

/// The databases a client may ask for at connect time: each source's name,
/// mapped to the schema its unqualified names resolve in. Asked at each
/// connection, so that a source added while the server runs can be named.
pub trait DatabaseRoutes: Send + Sync + Debug {
    fn databases(&self) -> BTreeMap<String, String>;
}

impl DatabaseRoutes for BTreeMap<String, String> {
    fn databases(&self) -> BTreeMap<String, String> {
        self.clone()
    }
}

/// Database names that mean "the default catalog": ours, and what clients
/// send when told nothing (their user name, PostgreSQL's `postgres`).
const DEFAULT_DATABASES: [&str; 3] = ["", "tributary", "postgres"];

/// What start-up needs that all connections share.
pub(crate) struct StartupShared {
    user: String,
    planning: Arc<ConnectionManager>,
    rows: Arc<ConnectionManager>,
    pids: RandomPidSecretKeyGenerator,
    parameters: DefaultServerParameterProvider,
    databases: Arc<dyn DatabaseRoutes>,
}

impl StartupShared {
    pub(crate) fn new(
        user: impl Into<String>,
        cancellation: &Cancellation,
        databases: Arc<dyn DatabaseRoutes>,
    ) -> Self {
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
            databases,
        }
    }
}

/// Accepts exactly one user, without a password, like PostgreSQL's `trust`
/// for local connections. The server refuses to listen beyond loopback while
/// this is the only authentication it has. `dbname=<source>` makes that
/// source's catalog the connection's default.
pub struct TrustStartup {
    shared: Arc<StartupShared>,
    /// This connection's session, whose defaults the database decides.
    session: Arc<SessionContext>,
    settings: Arc<Settings>,
}

impl TrustStartup {
    pub(crate) fn new(
        shared: Arc<StartupShared>,
        session: Arc<SessionContext>,
        settings: Arc<Settings>,
    ) -> Self {
        Self {
            shared,
            session,
            settings,
        }
    }

    /// Points the session at `database`, or says it does not exist.
    fn route(&self, database: &str) -> PgWireResult<()> {
        if DEFAULT_DATABASES.contains(&database) || database == self.shared.user {
            return Ok(());
        }
        let databases = self.shared.databases.databases();
        let Some(schema) = databases.get(database) else {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_owned(),
                codes::INVALID_CATALOG_NAME.to_owned(),
                format!(
                    "database \"{database}\" does not exist: connect to \"tributary\" or to a source ({})",
                    databases.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ))));
        };
        {
            let state = self.session.state_ref();
            let mut state = state.write();
            let catalog = &mut state.config_mut().options_mut().catalog;
            catalog.default_catalog = database.to_owned();
            catalog.default_schema = schema.clone();
        }
        let name = database.to_owned();
        self.session.register_udf(create_udf(
            "current_database",
            vec![],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name.clone()))))),
        ));
        Ok(())
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
        if user != self.shared.user {
            tracing::info!(%user, peer = %client.socket_addr(), "refused connection: unknown user");
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_owned(),
                codes::INVALID_AUTHORIZATION.to_owned(),
                format!(
                    "role \"{user}\" does not exist: this server accepts only user \"{}\" until users are configured",
                    self.shared.user
                ),
            ))));
        }
        let database = client
            .metadata()
            .get("database")
            .cloned()
            .unwrap_or_default();
        self.route(&database)?;
        self.settings
            .begin(EMULATED_SERVER_VERSION, client.metadata(), &self.session);
        self.settings.sync_client(client);

        let (pid, secret_key) = self.shared.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret_key.clone());
        // The handles let a CancelRequest on another connection reach the
        // statement running on this one; the guards unregister them when
        // the session ends.
        let (handle, guard) = self.shared.planning.register(pid, secret_key.clone());
        client.session_extensions().insert(handle);
        client.session_extensions().insert(guard);
        let (handle, guard) = self.shared.rows.register(pid, secret_key);
        client.session_extensions().insert(RowsCancelHandle(handle));
        client.session_extensions().insert(RowsCancelGuard(guard));

        finish_authentication(client, &self.shared.parameters).await
    }
}

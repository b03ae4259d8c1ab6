//! The listener: accepts connections, runs each as a session, and shuts down
//! gracefully, letting running statements finish for a grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion::prelude::SessionContext;
use datafusion_postgres::DfSessionService;
use datafusion_postgres::hooks::QueryHook;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::CancelHandler;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionManager, ErrorHandler, PgWireServerHandlers,
};
use datafusion_postgres::pgwire::error::PgWireError;
use datafusion_postgres::pgwire::tokio::process_socket;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::cancel::Cancellation;
use crate::execution::Executor;
use crate::in_flight::InFlight;
use crate::read_only::ReadOnlyHook;
use crate::rewrite::ClientSqlHook;
use crate::session::ClientSession;
use crate::session_statements::SessionStatementHook;
use crate::settings::Settings;
use crate::sqlstate::assign_sqlstate;
use crate::startup::{DatabaseRoutes, StartupShared, TrustStartup};

/// How the front end admits clients and winds down.
#[derive(Debug, Clone)]
pub struct FrontEndOptions {
    /// The one user admitted without a password (trust, loopback only).
    pub trust_user: String,
    /// How long running statements may go on after shutdown starts.
    pub shutdown_grace: Duration,
    /// The runtime statements execute on, apart from the one that serves
    /// connections. `None` runs them on the caller's runtime.
    pub execution_runtime: Option<tokio::runtime::Handle>,
    /// The databases (`dbname`) clients may connect to besides the default.
    pub databases: Arc<dyn DatabaseRoutes>,
    /// Prepares each client session's engine before its first statement.
    pub session_setup: Option<Arc<dyn SessionSetup>>,
}

/// Something the embedding application puts into every client session's
/// engine (the gateway: the result cache's per-session options). Engine
/// options it registers under a prefix of its own (`prefix.name`) are set
/// with `SET` and read with `SHOW` like any parameter.
pub trait SessionSetup: Send + Sync + std::fmt::Debug {
    fn setup(&self, session: &SessionContext, user: &str);
}

impl Default for FrontEndOptions {
    fn default() -> Self {
        Self {
            trust_user: "tributary".to_owned(),
            shutdown_grace: Duration::from_secs(10),
            execution_runtime: None,
            databases: Arc::new(std::collections::BTreeMap::new()),
            session_setup: None,
        }
    }
}

struct Handlers {
    session: Arc<ClientSession>,
    startup: Arc<TrustStartup>,
    cancel: Arc<Cancellation>,
}

struct SqlStateErrors;

impl ErrorHandler for SqlStateErrors {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        assign_sqlstate(error);
        tracing::debug!(peer = %client.socket_addr(), "statement failed: {error}");
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(SqlStateErrors)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// What every connection shares.
struct Shared {
    context: Arc<SessionContext>,
    startup: Arc<StartupShared>,
    cancel: Arc<Cancellation>,
    in_flight: InFlight,
    executor: Executor,
    session_setup: Option<Arc<dyn SessionSetup>>,
    trust_user: String,
}

impl Shared {
    /// A connection's handlers: its own session over the shared engine.
    fn handlers(&self) -> Handlers {
        // upstream's default hook list is private; after ours come two of
        // its three (its SET/SHOW hook is replaced by our settings).
        let settings = Arc::new(Settings::default());
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ReadOnlyHook),
            Arc::new(SessionStatementHook::new(settings.clone())),
            Arc::new(CursorStatementHook),
            Arc::new(TransactionStatementHook),
            Arc::new(ClientSqlHook),
        ];
        // A copy of the state: catalogs, object stores and functions are
        // shared behind Arcs; settings changed with SET stay in this session.
        let context = Arc::new(SessionContext::new_with_state(self.context.state()));
        if let Some(setup) = &self.session_setup {
            setup.setup(&context, &self.trust_user);
        }
        let service = DfSessionService::new_with_hooks(context.clone(), hooks);
        Handlers {
            session: Arc::new(ClientSession::new(
                service,
                context.clone(),
                self.in_flight.clone(),
                self.executor.clone(),
            )),
            startup: Arc::new(TrustStartup::new(self.startup.clone(), context, settings)),
            cancel: self.cancel.clone(),
        }
    }
}

/// Serves `context` on `listener` until `shutdown` resolves. Then it stops
/// accepting, closes idle sessions, and gives running statements up to the
/// grace period before closing theirs too.
pub async fn serve(
    listener: TcpListener,
    context: Arc<SessionContext>,
    options: FrontEndOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cancellation = Cancellation {
        planning: Arc::new(ConnectionManager::new()),
        rows: Arc::new(ConnectionManager::new()),
    };
    let shared = Shared {
        context,
        startup: Arc::new(StartupShared::new(
            options.trust_user.clone(),
            &cancellation,
            options.databases.clone(),
        )),
        cancel: Arc::new(cancellation),
        in_flight: InFlight::default(),
        executor: Executor::new(options.execution_runtime.clone()),
        session_setup: options.session_setup.clone(),
        trust_user: options.trust_user.clone(),
    };

    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    if let Err(error) = socket.set_nodelay(true) {
                        tracing::debug!(%peer, "cannot set TCP_NODELAY: {error}");
                    }
                    sessions.spawn(run_session(socket, peer, Arc::new(shared.handlers())));
                }
                // Running out of file descriptors must not end the server.
                Err(error) => {
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished sessions so the set does not grow without bound.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);

    let running = shared.in_flight.running();
    if running > 0 {
        tracing::info!(running, grace = ?options.shutdown_grace, "waiting for running statements");
        if tokio::time::timeout(options.shutdown_grace, shared.in_flight.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!(
                running = shared.in_flight.running(),
                "grace period over: cancelling the statements still running"
            );
        }
    }
    tracing::info!(sessions = sessions.len(), "closing sessions");
    sessions.shutdown().await;
    Ok(())
}

async fn run_session(socket: tokio::net::TcpStream, peer: SocketAddr, handlers: Arc<Handlers>) {
    tracing::debug!(%peer, "session started");
    if let Err(error) = process_socket(socket, None, handlers).await {
        tracing::debug!(%peer, "session ended with an error: {error}");
    }
    tracing::debug!(%peer, "session ended");
}

//! The listener: accepts connections, runs each as a session, and shuts down
//! gracefully, letting running statements finish for a grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion::prelude::SessionContext;
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
use futures::FutureExt;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::cancel::Cancellation;
use crate::complexity::DEFAULT_MAX_STATEMENT_DEPTH;
use crate::connection::{Ended, Refusal, WireLimits, refuse_connection, serve_connection};
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
    /// Sessions served at once; the next client is refused with 53300
    /// before any start-up work. `None`: no bound.
    pub max_sessions: Option<usize>,
    /// What bounds each connection's input.
    pub wire: WireLimits,
    /// The deepest statement planned; deeper ones get 54001 (see `complexity`).
    pub max_statement_depth: usize,
    /// Named prepared statements one session keeps (54000 beyond).
    pub max_prepared_statements: usize,
}

/// Something the embedding application puts into every client session's
/// engine (the gateway: the result cache's per-session options). Engine
/// options it registers under a prefix of its own (`prefix.name`) are set
/// with `SET` and read with `SHOW` like any parameter.
pub trait SessionSetup: Send + Sync + std::fmt::Debug {
    fn setup(&self, session: &SessionContext, user: &str);

    /// The engine state a new session starts from (the gateway bounds each
    /// session's memory here). By default the shared state, copied.
    fn session_state(
        &self,
        state: datafusion::execution::session_state::SessionState,
    ) -> datafusion::execution::session_state::SessionState {
        state
    }
}

impl Default for FrontEndOptions {
    fn default() -> Self {
        Self {
            trust_user: "tributary".to_owned(),
            shutdown_grace: Duration::from_secs(10),
            execution_runtime: None,
            databases: Arc::new(std::collections::BTreeMap::new()),
            session_setup: None,
            max_sessions: None,
            wire: WireLimits::default(),
            max_statement_depth: DEFAULT_MAX_STATEMENT_DEPTH,
            max_prepared_statements: crate::prepared::DEFAULT_MAX_PREPARED_STATEMENTS,
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
    max_statement_depth: usize,
    max_prepared_statements: usize,
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
        let state = match &self.session_setup {
            Some(setup) => setup.session_state(self.context.state()),
            None => self.context.state(),
        };
        let context = Arc::new(SessionContext::new_with_state(state));
        if let Some(setup) = &self.session_setup {
            setup.setup(&context, &self.trust_user);
        }
        Handlers {
            session: Arc::new(ClientSession::new(
                hooks,
                context.clone(),
                self.in_flight.clone(),
                self.executor.clone(),
                self.max_statement_depth,
                self.max_prepared_statements,
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
        max_statement_depth: options.max_statement_depth,
        max_prepared_statements: options.max_prepared_statements,
    };

    let mut sessions = JoinSet::new();
    let session_slots = options.max_sessions.map(|n| Arc::new(Semaphore::new(n)));
    let wire = options.wire;
    // A descriptor held back to answer a client when every other is in use.
    let spare = Spare::default();
    spare.refill();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    if let Err(error) = socket.set_nodelay(true) {
                        tracing::debug!(%peer, "cannot set TCP_NODELAY: {error}");
                    }
                    let slot = match &session_slots {
                        None => None,
                        Some(slots) => match slots.clone().try_acquire_owned() {
                            Ok(slot) => Some(slot),
                            Err(_) => {
                                tracing::warn!(%peer, "connection refused: max_sessions reached");
                                sessions.spawn(refuse_connection(socket, peer, wire, Refusal::TooManySessions));
                                continue;
                            }
                        },
                    };
                    sessions.spawn(run_session(socket, peer, Arc::new(shared.handlers()), wire, slot));
                }
                // Running out of file descriptors must not end the server,
                // nor leave the waiting client hanging: the spare descriptor
                // is let go to accept it and tell it why.
                Err(error) => {
                    let out_of_descriptors = matches!(error.raw_os_error(), Some(23 | 24));
                    tracing::warn!("accept failed: {error}");
                    if out_of_descriptors
                        && spare.release()
                        && let Ok(Ok((socket, peer))) = tokio::time::timeout(
                            Duration::from_millis(10),
                            listener.accept(),
                        )
                        .await
                    {
                        tracing::warn!(%peer, "connection refused: out of file descriptors");
                        let spare = spare.clone();
                        sessions.spawn(async move {
                            refuse_connection(socket, peer, wire, Refusal::OutOfDescriptors).await;
                            // Its socket is closed: the descriptor becomes the
                            // spare again before a session can take it.
                            spare.refill();
                        });
                    }
                    spare.refill();
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

/// A descriptor held back (an open /dev/null) so that a client can still be
/// accepted and told why when every other descriptor is in use.
#[derive(Debug, Clone, Default)]
struct Spare(Arc<std::sync::Mutex<Option<std::fs::File>>>);

impl Spare {
    /// Lets the descriptor go; false if there was none to let go.
    fn release(&self) -> bool {
        self.0
            .lock()
            .map(|mut spare| spare.take().is_some())
            .unwrap_or(false)
    }

    fn refill(&self) {
        if let Ok(mut spare) = self.0.lock()
            && spare.is_none()
        {
            *spare = std::fs::File::open("/dev/null").ok();
        }
    }
}

async fn run_session(
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    handlers: Arc<Handlers>,
    wire: WireLimits,
    _slot: Option<OwnedSemaphorePermit>,
) {
    tracing::debug!(%peer, "session started");
    // A panic in a handler ends this session only: the socket and every
    // value the session held are dropped while unwinding, and the client
    // sees its connection close.
    let session = std::panic::AssertUnwindSafe(serve_connection(socket, peer, &*handlers, wire));
    match session.catch_unwind().await {
        Ok(Ok(())) => tracing::debug!(%peer, "session ended"),
        Ok(Err(Ended::Io(error))) => tracing::debug!(%peer, "session ended: {error}"),
        Ok(Err(ended)) => tracing::info!(%peer, "session ended: {ended}"),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(%peer, "session closed after a panic (a bug): {what}");
        }
    }
}

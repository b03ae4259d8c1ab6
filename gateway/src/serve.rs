//! `tributary serve`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tributary_catalog::LiveSources;
use tributary_pgwire::{DatabaseRoutes, FrontEndOptions};

use crate::Failure;
use crate::cache;
use crate::cli::ServeArgs;
use crate::engine::{self, Settings};
use crate::http;
use crate::limits;

const TRUST_USER: &str = "tributary";

pub async fn run(
    settings: Settings,
    args: ServeArgs,
    execution: tokio::runtime::Handle,
) -> Result<(), Failure> {
    engine::init_logging(&settings.log_filter("info"));
    let server = settings.config.as_ref().map(|c| &c.raw.server);
    let pg_addr = listen_addr(
        args.pg_addr,
        engine::effective_pg_addr(server.and_then(|s| s.pg_addr.as_deref())),
        "pg",
    )?;
    let http_addr = listen_addr(
        args.http_addr,
        engine::effective_http_addr(server.and_then(|s| s.http_addr.as_deref())),
        "HTTP",
    )?;
    // Trust authentication is only safe where only this machine can reach us.
    if !pg_addr.ip().is_loopback() {
        return Err(Failure::Usage(format!(
            "refusing to listen on {pg_addr}: without configured users the server admits \
             user \"{TRUST_USER}\" without a password, so it listens on loopback addresses only \
             (for example 127.0.0.1:5433)"
        )));
    }
    let anonymous = settings.http_anonymous();
    if anonymous && !http_addr.ip().is_loopback() {
        return Err(Failure::Usage(format!(
            "refusing to serve HTTP on {http_addr} without tokens: anonymous access \
             (the embedded default, or `http_anonymous = true`) listens on loopback \
             addresses only; set `[server] http_anonymous = false` in the config and create \
             tokens with `tributary tokens create NAME`"
        )));
    }

    let limits = settings.limits()?;
    tracing::info!(data_dir = %settings.data_dir.display(), "starting Tributary {}", env!("CARGO_PKG_VERSION"));
    let (context, sources) = engine::build(&settings).await?;
    // Every query's memory comes from one bounded pool.
    let context = limits::install(&context, &limits, &settings.data_dir)?;
    tracing::info!(
        memory = limits.memory,
        query_memory = limits.query_memory,
        max_sessions = limits.max_sessions,
        max_value_bytes = limits.max_value_bytes,
        "limits"
    );
    for status in &sources.live.statuses() {
        if status.problems.is_empty() {
            // A database may have thousands of tables: name a few.
            const SHOWN: usize = 20;
            let shown = &status.tables[..status.tables.len().min(SHOWN)];
            let more = status.tables.len().saturating_sub(SHOWN);
            if more > 0 {
                tracing::info!(source = %status.name, tables = ?shown, more, "source ready");
            } else {
                tracing::info!(source = %status.name, tables = ?shown, "source ready");
            }
        }
        for problem in &status.problems {
            tracing::warn!(source = %status.name, "{problem}");
        }
    }

    let listener = TcpListener::bind(pg_addr)
        .await
        .with_context(|| format!("cannot listen on {pg_addr}"))?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    tracing::info!(
        "authentication: trust for user \"{TRUST_USER}\" without a password, loopback connections only"
    );
    tracing::info!(
        "pg wire listening on {local} (psql -h {} -p {} -U {TRUST_USER})",
        local.ip(),
        local.port()
    );

    // Every statement, pg wire or HTTP, is planned through the result cache.
    let context = Arc::new(cache::install(&context));
    let http_listener = TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("cannot listen on {http_addr} for HTTP"))?;
    let http_local = http_listener
        .local_addr()
        .context("cannot read the HTTP listening address")?;
    tracing::info!("http listening on {http_local} (curl http://{http_local}/healthz)");
    if anonymous {
        tracing::info!("HTTP API: anonymous access (loopback only)");
    } else {
        tracing::info!(
            "HTTP API: requests need `Authorization: Bearer <token>` (tributary tokens create NAME)"
        );
    }

    // One signal stops both servers.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let api = Arc::new(http::ApiState {
        context: context.clone(),
        sources: sources.clone(),
        anonymous,
        execution: execution.clone(),
        queries: Default::default(),
        max_statement_depth: limits.max_statement_depth,
        max_body_bytes: limits.max_message_bytes,
        query_memory: limits.query_memory,
    });
    let http_server = tokio::spawn(http::serve(
        http_listener,
        api,
        limits.http(),
        stopped(stop_rx.clone()),
    ));

    tributary_pgwire::serve(
        listener,
        context,
        FrontEndOptions {
            trust_user: TRUST_USER.to_owned(),
            execution_runtime: Some(execution),
            databases: Arc::new(SourceDatabases(sources.live.clone())),
            session_setup: Some(Arc::new(GatewaySessions {
                caches: cache::SessionCaches(sources.cache.clone()),
                query_memory: limits.query_memory,
            })),
            max_sessions: Some(limits.max_sessions),
            wire: limits.wire(),
            max_statement_depth: limits.max_statement_depth,
            max_prepared_statements: limits.max_prepared_statements,
            ..FrontEndOptions::default()
        },
        stopped(stop_rx),
    )
    .await
    .context("the pg wire server failed")?;
    match http_server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!("the HTTP server failed: {error}"),
        Err(error) => tracing::warn!("the HTTP server stopped: {error}"),
    }
    tracing::info!("shut down");
    Ok(())
}

/// What the gateway puts into every pg wire session: its cache options and
/// its own memory bound.
#[derive(Debug)]
struct GatewaySessions {
    caches: cache::SessionCaches,
    query_memory: usize,
}

impl tributary_pgwire::SessionSetup for GatewaySessions {
    fn setup(&self, session: &datafusion::prelude::SessionContext, user: &str) {
        self.caches.setup(session, user);
    }

    fn session_state(
        &self,
        state: datafusion::execution::session_state::SessionState,
    ) -> datafusion::execution::session_state::SessionState {
        crate::session_memory::bounded_session(state, self.query_memory)
    }
}

/// Every source served now is a database clients can connect to.
#[derive(Debug)]
struct SourceDatabases(LiveSources);

impl DatabaseRoutes for SourceDatabases {
    fn databases(&self) -> BTreeMap<String, String> {
        self.0
            .statuses()
            .into_iter()
            .map(|s| (s.name, s.default_schema))
            .collect()
    }
}

/// The flag's address, else `effective` (environment, config, default).
fn listen_addr(
    flag: Option<SocketAddr>,
    effective: String,
    what: &str,
) -> Result<SocketAddr, Failure> {
    match flag {
        Some(addr) => Ok(addr),
        None => effective
            .parse::<SocketAddr>()
            .map_err(|e| Failure::Usage(format!("{what} address {effective:?}: {e}"))),
    }
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!("cannot watch SIGTERM: {error}");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown requested");
}

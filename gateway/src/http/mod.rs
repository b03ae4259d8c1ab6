//! The HTTP API for platforms and scripts (axum): health, the OpenAPI
//! document, browsing, and `POST /v1/query` streaming JSON, NDJSON, CSV,
//! Arrow IPC or Parquet. Every error is JSON with a SQLSTATE.

mod auth;
mod browse;
mod cache;
mod error;
mod listener;
mod query;
mod registry;
mod sources;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use datafusion::prelude::SessionContext;
use tokio::net::TcpListener;

use crate::sources::Sources;

pub use error::ApiError;
pub use listener::HttpLimits;

/// The OpenAPI document, checked against the routes by the e2e tests.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// What every request reads: the engine, its sources, and the runtime
/// statements run on.
pub struct ApiState {
    pub context: Arc<SessionContext>,
    pub sources: Arc<Sources>,
    /// Whether requests without a token are answered.
    pub anonymous: bool,
    pub execution: tokio::runtime::Handle,
    pub queries: registry::Registry,
    /// The deepest statement planned (`[limits] max_statement_depth`).
    pub max_statement_depth: usize,
    /// The largest request body read (`[limits] max_message_bytes`): 413 beyond.
    pub max_body_bytes: usize,
    /// What one request's statement may hold (`[limits] query_memory`).
    pub query_memory: usize,
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(sources::ready))
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/v1/sources", get(sources::list).post(sources::create))
        .route(
            "/v1/sources/{source}",
            get(sources::read)
                .put(sources::replace)
                .delete(sources::delete),
        )
        .route("/v1/sources/{source}/test", post(sources::test))
        .route("/v1/sources/{source}/schemas", get(browse::schemas))
        .route(
            "/v1/sources/{source}/schemas/{schema}/tables",
            get(browse::tables),
        )
        .route(
            "/v1/sources/{source}/schemas/{schema}/tables/{table}",
            get(browse::table),
        )
        .route("/v1/cache", get(cache::stats).delete(cache::clear))
        .route(
            "/v1/cache/{source}",
            axum::routing::delete(cache::clear_source),
        )
        .route("/v1/query", post(query::run))
        .route("/v1/queries", get(registry::list))
        .route("/v1/queries/{id}", axum::routing::delete(registry::cancel))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "42704",
                "no such path: see /openapi.json",
            )
            .into_response()
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "0A000",
                "method not allowed on this path: see /openapi.json",
            )
            .into_response()
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(state.max_body_bytes))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then lets running responses finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ApiState>,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve(listener, router(state), limits, shutdown).await
}

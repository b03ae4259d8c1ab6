//! `POST /v1/query`: one read-only statement, its rows streamed in the
//! format the `Accept` header asks for, batch by batch, so that the first
//! rows leave before the query finishes and memory stays bounded (a slow
//! client slows the query down rather than piling rows up).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::ApiState;
use super::auth::Identity;
use super::error::ApiError;
use super::registry::{Chunk, Outcome, body_stream};
use crate::cache::{CacheOptions, CacheStatus, QueryTtl, SessionCache, saved_query_ttl};
use crate::cli::OutputFormat;
use crate::output::ResultWriter;
use tributary_pgwire::parameters::{self, BoundQuery};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    sql: String,
    #[serde(default)]
    params: BTreeMap<String, serde_json::Value>,
    limit: Option<usize>,
    timeout_ms: Option<u64>,
}

/// A response format: what `Accept` names and the writer that makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Csv,
    Arrow,
    Parquet,
}

const FORMATS: [(&str, Format); 5] = [
    ("application/json", Format::Json),
    ("application/x-ndjson", Format::Ndjson),
    ("text/csv", Format::Csv),
    ("application/vnd.apache.arrow.stream", Format::Arrow),
    ("application/vnd.apache.parquet", Format::Parquet),
];

impl Format {
    /// The first type in `Accept` that we make; JSON for `*/*` or none.
    pub fn negotiate(accept: Option<&str>) -> Result<Self, ApiError> {
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
            return Ok(Self::Json);
        };
        for item in accept.split(',') {
            let media = item.split(';').next().unwrap_or_default().trim();
            if media == "*/*" || media == "application/*" {
                return Ok(Self::Json);
            }
            if let Some((_, format)) = FORMATS.iter().find(|(name, _)| *name == media) {
                return Ok(*format);
            }
        }
        Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "0A000",
            format!(
                "cannot answer in {accept}: ask for one of {}",
                FORMATS.map(|(name, _)| name).join(", ")
            ),
        ))
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Arrow => "application/vnd.apache.arrow.stream",
            Self::Parquet => "application/vnd.apache.parquet",
        }
    }

    fn output(self) -> OutputFormat {
        match self {
            Self::Json => OutputFormat::Json,
            Self::Ndjson => OutputFormat::Ndjson,
            Self::Csv => OutputFormat::Csv,
            Self::Arrow => OutputFormat::Arrow,
            Self::Parquet => OutputFormat::Parquet,
        }
    }
}

/// Bytes the result writer produced and the producer has not sent yet.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn take(&self) -> Vec<u8> {
        match self.0.lock() {
            Ok(mut bytes) => std::mem::take(&mut *bytes),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut bytes) => bytes.extend_from_slice(data),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(data),
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn run(
    State(state): State<Arc<ApiState>>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let format = Format::negotiate(
        headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok()),
    )?;
    let request: QueryRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?;
    // Before anything parses it: a deep statement must not reach a parser.
    tributary_pgwire::check_statement_depth(&request.sql, state.max_statement_depth)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.sqlstate(), e.to_string()))?;
    // `@name`s become placeholders before anything runs: a bad value is
    // the request's error, not the stream's.
    let bound = parameters::bind(&request.sql, &request.params)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.sqlstate(), e.to_string()))?;
    let ttl = saved_query_ttl(&request.sql)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "22023", e))?;
    let context = SessionContext::new_with_state(crate::session_memory::bounded_session(
        state.context.state(),
        state.query_memory,
    ));
    let cache_session = cache_options(&context, &state, &identity, &headers, ttl);
    let (first_tx, first_rx) = oneshot::channel();
    // A few chunks in flight at most: the rest wait in the engine.
    let (chunk_tx, chunk_rx) = mpsc::channel::<Chunk>(4);
    let (outcome, broken) = Outcome::new(first_tx, chunk_tx);
    let id = state.queries.register(&request.sql, outcome.clone());
    let timeout = request.timeout_ms.map(Duration::from_millis);
    let task_state = state.clone();
    let task = state.execution.spawn(async move {
        let work = produce(context, bound, request.limit, format, &outcome);
        match timeout {
            Some(limit) => {
                if tokio::time::timeout(limit, work).await.is_err() {
                    outcome.fail(ApiError::new(
                        StatusCode::GATEWAY_TIMEOUT,
                        "57014",
                        "canceling statement due to statement timeout (timeout_ms)",
                    ));
                }
            }
            None => work.await,
        }
        // The last sender goes with the registry entry: the body ends.
        task_state.queries.finish(id);
    });
    state.queries.attach(id, task.abort_handle());
    match first_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(error),
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "XX000",
                "the query stopped without an answer",
            ));
        }
    }
    let mut response = Body::from_stream(body_stream(chunk_rx, broken)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(id) = HeaderValue::from_str(&id.to_string()) {
        headers.insert("tributary-query-id", id);
    }
    // Planned by now: the planner has recorded where the rows come from.
    let status = cache_session.last().unwrap_or(CacheStatus::Bypass);
    headers.insert("tributary-cache", HeaderValue::from_static(status.as_str()));
    Ok(response)
}

/// This request's cache options: its identity, the saved query's
/// `--cache:` time to live, and what `Cache-Control` asks (`no-cache`: a
/// fresh answer, kept for the next; `no-store`: the cache is not used).
fn cache_options(
    context: &SessionContext,
    state: &ApiState,
    identity: &Identity,
    headers: &HeaderMap,
    ttl: Option<QueryTtl>,
) -> Arc<SessionCache> {
    let mut options =
        CacheOptions::new(state.sources.cache.clone(), &format!("http:{}", identity.0));
    options.ttl = ttl;
    let directives = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|directive| directive.trim().to_ascii_lowercase())
        .collect::<Vec<_>>();
    if directives
        .iter()
        .any(|d| d == "no-cache" || d == "max-age=0")
    {
        options.read = false;
    }
    if directives.iter().any(|d| d == "no-store") {
        options.read = false;
        options.write = false;
    }
    let session = options.session.clone();
    let shared = context.state_ref();
    let mut engine = shared.write();
    engine.config_mut().options_mut().extensions.insert(options);
    session
}

/// Plans and runs the statement, then writes its batches as chunks.
/// Planning errors and errors before the first batch become the response's
/// status; later ones break the body.
async fn produce(
    context: SessionContext,
    bound: BoundQuery,
    limit: Option<usize>,
    format: Format,
    outcome: &Outcome,
) {
    let started = async {
        let frame = context
            .sql_with_options(&bound.sql, tributary_pgwire::query_only())
            .await
            .map_err(|e| refused_or_engine(&e))?;
        let frame = bound.bind(frame).map_err(|e| ApiError::from_engine(&e))?;
        // DataFusion reads a limit past i64::MAX as negative; no result
        // can be that long, so such a limit is no limit at all.
        let frame = match limit.filter(|l| i64::try_from(*l).is_ok()) {
            Some(limit) => frame
                .limit(0, Some(limit))
                .map_err(|e| ApiError::from_engine(&e))?,
            None => frame,
        };
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let mut stream = frame
            .execute_stream()
            .await
            .map_err(|e| ApiError::from_engine(&e))?;
        let first_batch = match stream.next().await {
            Some(Ok(batch)) => Some(batch),
            Some(Err(error)) => return Err(ApiError::from_engine(&error)),
            None => None,
        };
        let buffer = SharedBuffer::default();
        let writer = ResultWriter::new(format.output(), Box::new(buffer.clone()), schema.clone())
            .map_err(|e| ApiError::from_engine(&e))?;
        Ok((schema, stream, first_batch, buffer, writer))
    };
    let (schema, mut stream, first_batch, buffer, mut writer) = match started.await {
        Ok(started) => started,
        Err(error) => return outcome.fail(error),
    };
    if format == Format::Json {
        let _ = write!(
            buffer.clone(),
            "{{\"columns\":{},\"rows\":",
            columns_json(&schema)
        );
    }
    if !outcome.started() {
        return;
    }
    let mut next = first_batch.map(Ok);
    while let Some(batch) = next {
        let written = match batch {
            Ok(batch) => writer.write(&batch).map_err(|e| ApiError::from_engine(&e)),
            Err(error) => Err(ApiError::from_engine(&error)),
        };
        if let Err(error) = written {
            // The status is sent: the body breaks off, and the log says why.
            tracing::warn!(
                sqlstate = %error.sqlstate,
                "HTTP query failed while streaming: {}",
                error.message
            );
            return outcome.fail(error);
        }
        // The client went away: returning drops the stream, which stops
        // the query.
        if !outcome.send(buffer.take()).await {
            return;
        }
        next = stream.next().await;
    }
    if let Err(error) = writer.finish() {
        return outcome.fail(ApiError::from_engine(&error));
    }
    if format == Format::Json {
        let _ = buffer.clone().write_all(b"}\n");
    }
    outcome.send(buffer.take()).await;
}

/// Writes and session statements are refused as on the pg wire: Tributary
/// is read-only (25006).
fn refused_or_engine(error: &datafusion::error::DataFusionError) -> ApiError {
    let text = error.to_string();
    let refused = [
        "DDL not supported",
        "DML not supported",
        "Statement not supported",
    ]
    .iter()
    .any(|prefix| text.contains(prefix));
    if refused {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "25006",
            "cannot execute this statement: Tributary is read-only, and the HTTP API runs queries only",
        )
    } else {
        ApiError::from_engine(error)
    }
}

/// `[{"name": …, "type": …, "nullable": …}, …]`, the type as Arrow names it.
fn columns_json(schema: &SchemaRef) -> serde_json::Value {
    schema
        .fields()
        .iter()
        .map(|field| {
            serde_json::json!({
                "name": field.name(),
                "type": field.data_type().to_string(),
                "nullable": field.is_nullable(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_first_known_type() {
        assert_eq!(Format::negotiate(None).ok(), Some(Format::Json));
        assert_eq!(
            Format::negotiate(Some("text/html, text/csv;q=0.9")).ok(),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::negotiate(Some("application/vnd.apache.arrow.stream")).ok(),
            Some(Format::Arrow)
        );
        assert_eq!(Format::negotiate(Some("*/*")).ok(), Some(Format::Json));
        let refused = Format::negotiate(Some("text/html")).err();
        assert_eq!(refused.map(|e| e.status), Some(StatusCode::NOT_ACCEPTABLE));
    }
}

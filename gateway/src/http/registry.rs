//! The queries the HTTP API is running: listed by `GET /v1/queries`,
//! cancelled by `DELETE /v1/queries/{id}`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::ApiState;
use super::error::ApiError;

pub type Chunk = Result<Bytes, std::io::Error>;

/// How a running query reports its end: before its first rows through the
/// response status, after them by breaking the body (the only way a
/// streamed response can say it is incomplete). A break overtakes the
/// chunks still queued, so it never waits on a slow client.
pub struct Outcome {
    first: Mutex<Option<oneshot::Sender<Result<(), ApiError>>>>,
    broken: Mutex<Option<oneshot::Sender<String>>>,
    chunks: mpsc::Sender<Chunk>,
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    match slot.lock() {
        Ok(mut value) => value.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    }
}

impl Outcome {
    /// The outcome, and what the response body listens to for a break.
    pub fn new(
        first: oneshot::Sender<Result<(), ApiError>>,
        chunks: mpsc::Sender<Chunk>,
    ) -> (Arc<Self>, oneshot::Receiver<String>) {
        let (broken, broken_rx) = oneshot::channel();
        let outcome = Arc::new(Self {
            first: Mutex::new(Some(first)),
            broken: Mutex::new(Some(broken)),
            chunks,
        });
        (outcome, broken_rx)
    }

    /// The rows may start: the response goes out with status 200.
    pub fn started(&self) -> bool {
        take(&self.first).is_some_and(|first| first.send(Ok(())).is_ok())
    }

    pub fn fail(&self, error: ApiError) {
        match take(&self.first) {
            Some(first) => {
                let _ = first.send(Err(error));
            }
            None => {
                if let Some(broken) = take(&self.broken) {
                    let _ = broken.send(format!("{} ({})", error.message, error.sqlstate));
                }
            }
        }
    }

    pub async fn send(&self, bytes: Vec<u8>) -> bool {
        bytes.is_empty() || self.chunks.send(Ok(Bytes::from(bytes))).await.is_ok()
    }
}

/// The response body: the chunks, unless a break comes first.
pub fn body_stream(
    chunks: mpsc::Receiver<Chunk>,
    broken: oneshot::Receiver<String>,
) -> impl futures::Stream<Item = Chunk> {
    futures::stream::unfold(
        (chunks, Some(broken), false),
        |(mut chunks, broken, done)| async move {
            if done {
                return None;
            }
            let Some(mut broken) = broken else {
                return chunks
                    .recv()
                    .await
                    .map(|chunk| (chunk, (chunks, None, false)));
            };
            tokio::select! {
                biased;
                message = &mut broken => match message {
                    Ok(message) => Some((Err(std::io::Error::other(message)), (chunks, None, true))),
                    // Finished without a break: the rest of the chunks.
                    Err(_) => chunks.recv().await.map(|chunk| (chunk, (chunks, None, false))),
                },
                chunk = chunks.recv() => chunk.map(|chunk| (chunk, (chunks, Some(broken), false))),
            }
        },
    )
}

struct Running {
    sql: String,
    started_at: SystemTime,
    started: Instant,
    outcome: Arc<Outcome>,
    task: Option<tokio::task::AbortHandle>,
}

#[derive(Default)]
pub struct Registry {
    next: AtomicU64,
    running: Mutex<BTreeMap<u64, Running>>,
}

impl Registry {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<u64, Running>) -> R) -> R {
        match self.running.lock() {
            Ok(mut running) => f(&mut running),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    pub fn register(&self, sql: &str, outcome: Arc<Outcome>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let sql: String = sql.chars().take(1000).collect();
        self.with(|running| {
            running.insert(
                id,
                Running {
                    sql,
                    started_at: SystemTime::now(),
                    started: Instant::now(),
                    outcome,
                    task: None,
                },
            )
        });
        id
    }

    pub fn attach(&self, id: u64, task: tokio::task::AbortHandle) {
        self.with(|running| {
            if let Some(query) = running.get_mut(&id) {
                query.task = Some(task);
            }
        });
    }

    pub fn finish(&self, id: u64) {
        self.with(|running| running.remove(&id));
    }
}

pub async fn list(State(state): State<Arc<ApiState>>) -> Json<Value> {
    let queries: Vec<Value> = state.queries.with(|running| {
        running
            .iter()
            .map(|(id, query)| {
                json!({
                    "id": id.to_string(),
                    "sql": query.sql,
                    "started": chrono::DateTime::<chrono::Utc>::from(query.started_at).to_rfc3339(),
                    "elapsed_ms": query.started.elapsed().as_millis() as u64,
                })
            })
            .collect()
    });
    Json(json!({ "queries": queries }))
}

pub async fn cancel(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let query = id
        .parse::<u64>()
        .ok()
        .and_then(|number| state.queries.with(|running| running.remove(&number)))
        .ok_or_else(|| ApiError::not_found(format!("no running query has id {id}")))?;
    query.outcome.fail(ApiError::new(
        StatusCode::BAD_REQUEST,
        "57014",
        "canceling statement due to user request",
    ));
    // Stopping the task drops the plan: scans stop and connections go back.
    if let Some(task) = query.task {
        task.abort();
    }
    Ok(Json(json!({ "cancelled": id })))
}

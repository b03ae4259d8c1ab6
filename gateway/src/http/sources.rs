//! `/v1/sources`: list, create, read, replace, delete and test sources, and
//! `/readyz`, which is ready when the catalog and credentials stores can
//! be read.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ApiState;
use super::error::ApiError;
use crate::sources::{SourceError, status_json};

impl From<SourceError> for ApiError {
    fn from(error: SourceError) -> Self {
        let message = error.to_string();
        match error {
            SourceError::NotFound(_) => ApiError::not_found(message),
            SourceError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "42710", message),
            SourceError::Fixed(..) => ApiError::new(StatusCode::CONFLICT, "55000", message),
            SourceError::Invalid(_) => ApiError::new(StatusCode::BAD_REQUEST, "22023", message),
            SourceError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "42501", message),
            SourceError::NoCredentials(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "55000", message)
            }
            SourceError::Internal(error) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "XX000",
                format!("{error:#}"),
            ),
        }
    }
}

fn body(body: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    body.map(|Json(value)| value)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

/// 503 names the store and why it cannot be read; `sqlstate` and
/// `message` make the body an API error like every other.
pub async fn ready(State(state): State<Arc<ApiState>>) -> Response {
    match state.sources.ready() {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(not_ready) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "store": not_ready.store.display().to_string(),
                "reason": not_ready.reason,
                "sqlstate": "58030",
                "message": not_ready.reason,
            })),
        )
            .into_response(),
    }
}

pub async fn list(State(state): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let sources: Vec<Value> = state.sources.list()?.iter().map(|v| v.to_json()).collect();
    Ok(Json(json!({ "sources": sources })))
}

pub async fn read(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.sources.get(&name)?.to_json()))
}

pub async fn create(
    State(state): State<Arc<ApiState>>,
    definition: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let definition = body(definition)?;
    let Some(name) = definition.get("name").and_then(Value::as_str) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "22023",
            "a source needs a \"name\"",
        ));
    };
    let name = name.to_owned();
    let (_, view) = state.sources.define(&name, definition, false).await?;
    Ok((StatusCode::CREATED, Json(view.to_json())).into_response())
}

pub async fn replace(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    definition: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let definition = body(definition)?;
    let (created, view) = state.sources.define(&name, definition, true).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view.to_json())).into_response())
}

pub async fn delete(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.sources.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connects and lists the source afresh. A source that cannot be reached
/// answers 502 with the reason (SQLSTATE 08001), as a query would.
pub async fn test(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let status = state.sources.test(&name).await?;
    if !status.problems.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "08001",
            format!("source \"{name}\": {}", status.problems.join("; ")),
        ));
    }
    let mut result = status_json(&status);
    result["ok"] = json!(true);
    result["table"] = json!(status.tables.first());
    Ok(Json(result))
}

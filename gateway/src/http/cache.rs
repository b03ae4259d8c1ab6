//! `/v1/cache`: the result cache's counters, and dropping what it keeps,
//! all of it or one source's (what `tributary cache clear` calls).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::ApiState;
use super::error::ApiError;

pub async fn stats(State(state): State<Arc<ApiState>>) -> Json<Value> {
    Json(state.sources.cache.stats())
}

pub async fn clear(State(state): State<Arc<ApiState>>) -> Json<Value> {
    state.sources.cache.clear();
    tracing::info!("result cache cleared through the API");
    Json(json!({"cleared": "all", "stats": state.sources.cache.stats()}))
}

pub async fn clear_source(
    State(state): State<Arc<ApiState>>,
    Path(source): Path<String>,
) -> Result<Json<Value>, ApiError> {
    // A name that is no source is a mistake worth telling.
    state.sources.get(&source)?;
    state.sources.cache.invalidate_source(&source);
    tracing::info!(%source, "cached results of one source cleared through the API");
    Ok(Json(
        json!({"cleared": source, "stats": state.sources.cache.stats()}),
    ))
}

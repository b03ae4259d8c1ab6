//! Browsing: sources, their schemas, tables and columns, as the engine
//! sees them (the source's own catalog, so schemas keep their names).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use serde_json::{Value, json};
use tributary_connectors::remote::KeyKind;

use super::ApiState;
use super::error::ApiError;

/// Schemas every catalog has that are the gateway's, not the source's.
const OWN_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

fn catalog(state: &ApiState, source: &str) -> Result<Arc<dyn CatalogProvider>, ApiError> {
    if state.sources.live.status(source).is_none() {
        return Err(ApiError::not_found(format!(
            "source \"{source}\" does not exist"
        )));
    }
    state
        .context
        .catalog(source)
        .ok_or_else(|| ApiError::not_found(format!("source \"{source}\" does not exist")))
}

fn schema(
    state: &ApiState,
    source: &str,
    schema: &str,
) -> Result<Arc<dyn SchemaProvider>, ApiError> {
    let catalog = catalog(state, source)?;
    if OWN_SCHEMAS.contains(&schema) || !catalog.schema_names().iter().any(|s| s == schema) {
        return Err(ApiError::not_found(format!(
            "schema \"{schema}\" does not exist in source \"{source}\""
        )));
    }
    catalog.schema(schema).ok_or_else(|| {
        ApiError::not_found(format!(
            "schema \"{schema}\" does not exist in source \"{source}\""
        ))
    })
}

pub async fn schemas(
    State(state): State<Arc<ApiState>>,
    Path(source): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut names: Vec<String> = catalog(&state, &source)?
        .schema_names()
        .into_iter()
        .filter(|name| !OWN_SCHEMAS.contains(&name.as_str()))
        .collect();
    names.sort();
    Ok(Json(json!({ "source": source, "schemas": names })))
}

pub async fn tables(
    State(state): State<Arc<ApiState>>,
    Path((source, schema_name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let mut names = schema(&state, &source, &schema_name)?.table_names();
    names.sort();
    Ok(Json(
        json!({ "source": source, "schema": schema_name, "tables": names }),
    ))
}

pub async fn table(
    State(state): State<Arc<ApiState>>,
    Path((source, schema_name, table_name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let provider = schema(&state, &source, &schema_name)?
        .table(&table_name)
        .await
        .map_err(|e| ApiError::from_engine(&e))?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "table \"{schema_name}.{table_name}\" does not exist in source \"{source}\""
            ))
        })?;
    let columns: Vec<Value> = provider
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(at, field)| {
            json!({
                "name": field.name(),
                "position": at + 1,
                "type": field.data_type().to_string(),
                "nullable": field.is_nullable(),
            })
        })
        .collect();
    let keys = state.sources.live.keys(&source, &schema_name, &table_name);
    let primary_key = keys
        .iter()
        .find(|key| matches!(key.kind, KeyKind::Primary))
        .map(|key| json!({"name": key.name, "columns": key.columns}));
    let unique: Vec<Value> = keys
        .iter()
        .filter(|key| matches!(key.kind, KeyKind::Unique))
        .map(|key| json!({"name": key.name, "columns": key.columns}))
        .collect();
    let foreign_keys: Vec<Value> = keys
        .iter()
        .filter_map(|key| match &key.kind {
            KeyKind::Foreign {
                schema,
                table,
                columns,
            } => Some(json!({
                "name": key.name,
                "columns": key.columns,
                "references": {"schema": schema, "table": table, "columns": columns},
            })),
            _ => None,
        })
        .collect();
    Ok(Json(json!({
        "source": source,
        "schema": schema_name,
        "table": table_name,
        "columns": columns,
        "primary_key": primary_key,
        "unique": unique,
        "foreign_keys": foreign_keys,
    })))
}

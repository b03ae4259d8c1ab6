//! API tokens: every request but health and the OpenAPI document carries
//! `Authorization: Bearer <token>`, unless the config allows anonymous
//! access. Tokens are looked up by their SHA-256 hash in the catalog store,
//! so a token revoked by the CLI is refused at the next request.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tributary_credentials::hash_token;

use super::ApiState;
use super::error::ApiError;

/// Open to anyone: a load balancer's probes and the API's description.
const OPEN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/openapi.json"];

/// Who sent a request: the name of its token, or `anonymous`. Results
/// kept in the cache are never shared between two of them.
#[derive(Debug, Clone)]
pub struct Identity(pub String);

pub async fn require_token(
    State(state): State<Arc<ApiState>>,
    mut request: Request,
    next: Next,
) -> Response {
    if state.anonymous || OPEN_PATHS.contains(&request.uri().path()) {
        request
            .extensions_mut()
            .insert(Identity("anonymous".to_owned()));
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    let Some(token) = presented else {
        return refused(
            "this request needs an API token: send `Authorization: Bearer <token>` (create one with `tributary tokens create NAME`)",
        );
    };
    match state.sources.store().token_by_hash(&hash_token(&token)) {
        Ok(Some(token)) => {
            request.extensions_mut().insert(Identity(token));
            next.run(request).await
        }
        Ok(None) => refused("the API token is not valid: it was revoked, or never created"),
        Err(error) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "58030",
            format!("cannot check the API token: {error}"),
        )
        .into_response(),
    }
}

fn refused(message: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "28000", message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tributary\""),
    );
    response
}

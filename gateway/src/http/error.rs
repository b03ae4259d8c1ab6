//! Errors as the HTTP API reports them: a status and a JSON body with the
//! SQLSTATE a pg wire client would get for the same failure.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub sqlstate: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, sqlstate: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            sqlstate: sqlstate.to_owned(),
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "42704", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "08P01", message)
    }

    /// An error of planning or execution, classified as the pg wire does.
    pub fn from_engine(error: &(dyn std::error::Error + 'static)) -> Self {
        let classified = tributary_pgwire::classify(error);
        Self::new(
            status_of(&classified.code),
            &classified.code,
            classified.message,
        )
    }
}

/// The HTTP status that says the same as a SQLSTATE.
fn status_of(sqlstate: &str) -> StatusCode {
    match sqlstate {
        "57014" => StatusCode::GATEWAY_TIMEOUT,
        "25006" | "42501" => StatusCode::FORBIDDEN,
        code if code.starts_with("08") => StatusCode::BAD_GATEWAY,
        code if code.starts_with("53") => StatusCode::SERVICE_UNAVAILABLE,
        code if code.starts_with("XX") => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_statuses() {
        assert_eq!(status_of("57014"), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(status_of("08001"), StatusCode::BAD_GATEWAY);
        assert_eq!(status_of("42P01"), StatusCode::BAD_REQUEST);
        assert_eq!(status_of("25006"), StatusCode::FORBIDDEN);
        assert_eq!(status_of("XX000"), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

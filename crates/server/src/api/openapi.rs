//! The OpenAPI document of this API, made from `wicket-api`'s types: what the console and
//! other clients build on. Served to signed-in users like every other route.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// `GET /v1/openapi.json`. The document is the same for the life of the process: serialised
/// once.
pub async fn document() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let text = DOCUMENT.get_or_init(|| {
        // Serialising plain maps and strings cannot fail; an empty object is still JSON.
        serde_json::to_string(&wicket_api::openapi()).unwrap_or_else(|_| "{}".into())
    });
    ([(header::CONTENT_TYPE, "application/json")], text.as_str()).into_response()
}

#[cfg(test)]
mod tests;

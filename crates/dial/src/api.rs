//! The JSON API client, with the same trust as the link.

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;
use wicket_tls::Trust;

use crate::server_url::ServerUrl;
use crate::websocket::error_message;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("cannot reach {server}: {reason}")]
    Unreachable { server: String, reason: String },
    /// 401: missing, wrong, expired or revoked token.
    #[error("{0}")]
    Unauthorized(String),
    /// 401 from a login whose password was right but which needs (or got a wrong) one-time code.
    #[error("{0}")]
    MfaRequired(String),
    #[error("{message}")]
    Status { status: u16, message: String },
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The server's certificate leads to no CA the OS trusts and none was pinned (see
    /// [`wicket_tls::UnknownCa`]): a person needs to be told what to pin, not `UnknownIssuer`.
    #[error("{}", unknown_ca_message(server, ca.as_ref()))]
    UnknownCa {
        server: String,
        /// The top of the chain the server sent (wicketd's own CA).
        ca: Option<wicket_tls::Fingerprint>,
    },
}

/// The one wording of [`ApiError::UnknownCa`] and [`crate::DialError::UnknownCa`].
pub(crate) fn unknown_ca_message(server: &str, ca: Option<&wicket_tls::Fingerprint>) -> String {
    let mut s = format!("the certificate of {server} is not signed by a CA this machine trusts");
    if let Some(ca) = ca {
        s.push_str(&format!(" (the server presented CA {ca})"));
    }
    s
}

/// A client for one server, optionally carrying a bearer token.
#[derive(Clone)]
pub struct ApiClient {
    server: ServerUrl,
    http: reqwest::Client,
    token: Option<String>,
    /// A limit on each whole request shorter than the client's own (see [`Self::with_timeout`]).
    timeout: Option<std::time::Duration>,
}

impl ApiClient {
    pub fn new(server: ServerUrl, trust: &Trust, token: Option<String>) -> Result<Self, ApiError> {
        let tls = wicket_tls::client_config(trust).map_err(|e| ApiError::Tls(e.to_string()))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(std::sync::Arc::unwrap_or_clone(tls))
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .user_agent(concat!("wicket/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Tls(e.to_string()))?;
        Ok(ApiClient {
            server,
            http,
            token,
            timeout: None,
        })
    }

    /// The same client, with each request (connecting included) given at most `limit`: for
    /// answers that are worthless late, such as a shell completion or a reachability check.
    pub fn with_timeout(mut self, limit: std::time::Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    pub fn server(&self) -> &ServerUrl {
        &self.server
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        self.call(Method::GET, path, None::<&()>).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        let mut req = self.http.request(method, self.server.https(path));
        if let Some(limit) = self.timeout {
            req = req.timeout(limit);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.send_error(&e))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| ApiError::Decode(e.to_string()))?;
        check_status(status, &text)?;
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text).map_err(|e| ApiError::Decode(e.to_string()))
    }

    /// A GET whose body is read as it arrives (a recording, a live session's output), with no
    /// overall time limit.
    pub async fn get_stream(&self, path: &str) -> Result<ByteStream, ApiError> {
        // A year: reqwest has no per-request way to lift the client's overall timeout.
        let mut req = self
            .http
            .get(self.server.https(path))
            .timeout(std::time::Duration::from_secs(365 * 24 * 3600));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| self.send_error(&e))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            check_status(status, &text)?;
            return Err(ApiError::Status {
                status: status.as_u16(),
                message: error_message(&text),
            });
        }
        Ok(ByteStream { resp })
    }
}

impl ApiClient {
    /// A request that got no answer: a CA we do not trust, or a server we cannot reach.
    fn send_error(&self, e: &reqwest::Error) -> ApiError {
        if let Some(unknown) = wicket_tls::UnknownCa::find(e) {
            return ApiError::UnknownCa {
                server: self.server.to_string(),
                ca: unknown.top(),
            };
        }
        ApiError::Unreachable {
            server: self.server.to_string(),
            reason: describe(e),
        }
    }
}

/// The body of [`ApiClient::get_stream`].
pub struct ByteStream {
    resp: reqwest::Response,
}

impl ByteStream {
    /// A response header, if present and text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.resp
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The next piece of the body; `None` at its end.
    pub async fn next(&mut self) -> Result<Option<bytes::Bytes>, ApiError> {
        self.resp
            .chunk()
            .await
            .map_err(|e| ApiError::Decode(describe(&e)))
    }
}

/// Turns an error status and its JSON body into the matching [`ApiError`].
fn check_status(status: StatusCode, text: &str) -> Result<(), ApiError> {
    {
        if status == StatusCode::UNAUTHORIZED {
            let mfa =
                serde_json::from_str::<wicket_api::ErrorBody>(text).is_ok_and(|e| e.mfa_required);
            let message = error_message(text);
            return Err(if mfa {
                ApiError::MfaRequired(message)
            } else {
                ApiError::Unauthorized(message)
            });
        }
        if !status.is_success() {
            return Err(ApiError::Status {
                status: status.as_u16(),
                message: error_message(text),
            });
        }
        Ok(())
    }
}

/// reqwest hides the useful part of an error in its source chain.
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

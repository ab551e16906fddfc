//! The console's sign-in: a password login whose token goes into the session cookie, single
//! sign-on with wicketd's own redirect URI, who is signed in (with the CSRF token the page
//! sends back), and signing out.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use wicket_api::{
    BeginRequest, CompleteRequest, ConsoleConfig, ConsoleSession, LoginRequest, SsoCallback,
};

use crate::api::login::{login as password_login, logout as revoke};
use crate::auth::{cookie_token, csrf_token, Caller, SESSION_COOKIE};
use crate::error::ApiError;
use crate::secrets::sha256;
use crate::state::AppState;

/// `POST /v1/console/login`: the password login of `POST /v1/auth/login`, with its limits,
/// second factor and audit; the token is set as the cookie, never shown to the page.
pub async fn login(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(req): Json<LoginRequest>,
) -> Response {
    let done = match password_login(State(state), connect, Json(req)).await {
        Ok(Json(done)) => done,
        Err(e) => return e.into_response(),
    };
    let max_age = ((done.expires_at - crate::now_ms()) / 1000).max(0);
    let session = ConsoleSession {
        user: done.user,
        is_admin: done.is_admin,
        mfa: done.mfa,
        expires_at: done.expires_at,
        csrf: csrf_token(&done.token),
    };
    with_cookie(&format!("{}; Max-Age={max_age}", done.token), Json(session))
}

/// `GET /v1/console/me`.
pub async fn me(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Json<ConsoleSession>, ApiError> {
    let token = cookie_token(&headers)
        .ok_or_else(|| ApiError::bad_request("this route is the console's: sign in there"))?;
    let stored = state
        .store()
        .token_by_hash(&sha256(token.as_bytes()))
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid token; sign in again"))?;
    Ok(Json(ConsoleSession {
        is_admin: caller.user.is_admin,
        user: caller.user.name,
        mfa: caller.mfa,
        expires_at: stored.expires_at,
        csrf: csrf_token(&token),
    }))
}

/// `POST /v1/console/logout`: revokes the token and clears the cookie.
pub async fn logout(state: State<AppState>, caller: Extension<Caller>) -> Response {
    match revoke(state, caller).await {
        Ok(done) => with_cookie("; Max-Age=0", done),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/console/config`.
pub async fn config(State(state): State<AppState>) -> Json<ConsoleConfig> {
    Json(ConsoleConfig {
        sso: state.sso().is_some(),
    })
}

/// The cookie that carries a console SSO login from its start to the provider's redirect back:
/// the login request's id and the PKCE verifier, which never leave wicketd and the browser.
/// `SameSite=Lax`, as the way back is a top-level navigation from the provider's site.
const SSO_COOKIE: &str = "__Host-wicket-sso";

/// How long a console SSO login may take at the provider (the server keeps the request as
/// long).
const SSO_COOKIE_SECS: u32 = 300;

/// `GET /v1/console/sso`: begins single sign-on as `POST /v1/auth/sso/begin` does (same
/// limits), with the console's callback on this server as the redirect URI, and sends the
/// browser to the provider.
pub async fn sso_begin(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    // The provider accepts only the redirect URIs registered for wicketd's client, so a Host
    // header naming another server gets the login refused there.
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| h.len() <= 255 && !h.contains(['/', '@', '?', '#']))
    else {
        return ApiError::bad_request("no usable Host header").into_response();
    };
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(crate::secrets::random_bytes::<32>());
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
    let request = BeginRequest {
        redirect_uri: format!("https://{host}/{}", crate::oidc::CONSOLE_CALLBACK),
        code_challenge: challenge,
    };
    match crate::api::sso::begin(State(state), connect, Json(request)).await {
        Ok(Json(begun)) => {
            let cookie = format!(
                "{SSO_COOKIE}={}.{verifier}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={SSO_COOKIE_SECS}",
                begun.request_id
            );
            redirect(&begun.auth_url, &[cookie])
        }
        Err(e) => back_to_console(e.into_response().status()),
    }
}

/// `GET /v1/console/sso/callback`: completes the login begun by [`sso_begin`] as `POST
/// /v1/auth/sso/complete` does (same checks, user mapping, limits and audit), sets the session
/// cookie and sends the browser to the console.
pub async fn sso_callback(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(back): Query<SsoCallback>,
) -> Response {
    let clear = format!("{SSO_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
    let pending = crate::auth::cookie(&headers, SSO_COOKIE, 512).and_then(|v| {
        v.split_once('.')
            .map(|(id, ver)| (id.to_string(), ver.to_string()))
    });
    let failed = |message: String| redirect(&login_page(&message), std::slice::from_ref(&clear));
    if let Some(error) = back.error {
        let said = back.error_description.unwrap_or(error);
        return failed(format!(
            "the identity provider refused the sign-in: {}",
            crate::limits::shown(&said)
        ));
    }
    let (Some((request_id, code_verifier)), Some(code), Some(sso_state)) =
        (pending, back.code, back.state)
    else {
        return failed("the single sign-on did not come back complete: try again".into());
    };
    let request = CompleteRequest {
        request_id,
        state: sso_state,
        code,
        code_verifier,
    };
    match crate::api::sso::complete(State(state), connect, Json(request)).await {
        Ok(Json(done)) => {
            let max_age = ((done.expires_at - crate::now_ms()) / 1000).max(0);
            let session = format!(
                "{SESSION_COOKIE}={}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Strict",
                done.token
            );
            redirect("/#/targets", &[session, clear])
        }
        Err(e) => {
            let response = e.into_response();
            failed(error_text(response).await)
        }
    }
}

/// The sign-in page with `message` shown (the page reads it from its address).
fn login_page(message: &str) -> String {
    format!(
        "/#/login?error={}",
        url::form_urlencoded::byte_serialize(message.as_bytes()).collect::<String>()
    )
}

/// A refusal before the browser left for the provider: back to the sign-in page, saying why.
fn back_to_console(status: StatusCode) -> Response {
    let message = match status {
        StatusCode::NOT_FOUND => "single sign-on is not configured on this server".to_string(),
        status => format!("single sign-on could not start ({status})"),
    };
    redirect(&login_page(&message), &[])
}

/// The `error` of an [`ApiError`] response's JSON body.
async fn error_text(response: Response) -> String {
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    serde_json::from_slice::<wicket_api::ErrorBody>(&body)
        .map(|b| b.error)
        .unwrap_or_else(|_| "the single sign-on failed".into())
}

/// A 303 to `location`, setting `cookies`.
fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, v);
    }
    for cookie in cookies {
        if let Ok(v) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `body` with the session cookie set to `value` (the token and its attributes).
fn with_cookie(value: &str, body: impl IntoResponse) -> Response {
    let cookie = format!("{SESSION_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Strict");
    let mut response = body.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

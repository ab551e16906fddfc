//! The two layers around every route ([`crate::routes`]): [`audit`] outside, so refusals are
//! recorded too, and [`require`] inside, which authenticates and, for admin routes, authorizes
//! before the handler runs.

use axum::extract::Request;
use axum::http::header::AUTHORIZATION;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wicket_audit::Outcome;

use crate::audit::Actor;
use crate::auth::{self, authenticate, Access};
use crate::authz::{authorize, Facts, Resource};
use crate::error::ApiError;
use crate::state::AppState;

/// Middleware: authenticates the bearer token when `access` needs one and stores the caller.
pub async fn require(access: Access, state: AppState, mut req: Request, next: Next) -> Response {
    match access {
        Access::Public | Access::SelfAuthenticated => next.run(req).await,
        Access::User | Access::Admin(_) => {
            let header = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let source_ip = req
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip());
            // A bearer token wins; without one, the console's cookie, which must prove the
            // request came from the console's own page.
            let cookie = match header {
                Some(_) => None,
                None => auth::cookie_token(req.headers()),
            };
            let authenticated = match &cookie {
                Some(token) => match console_request(req.method(), req.headers(), token) {
                    Ok(()) => auth::authenticate_token(&state, token).await,
                    Err(e) => Err(e),
                },
                None => authenticate(&state, header.as_deref()).await,
            };
            let mut caller = match authenticated {
                Ok(c) => c,
                Err(e) => return e.into_response(),
            };
            if cookie.is_some() {
                caller.via = auth::Via::Console;
            }
            caller.source_ip = source_ip;
            // The audit middleware around this one records who made the request.
            let actor = Actor(caller.user.name.clone());
            if let Access::Admin(action) = access {
                if let Err(e) =
                    authorize(&state, &caller, action, Resource::Server, &Facts::default()).await
                {
                    let mut response = ApiError::from(e).into_response();
                    response.extensions_mut().insert(actor);
                    return response;
                }
            }
            req.extensions_mut().insert(caller);
            let mut response = next.run(req).await;
            response.extensions_mut().insert(actor);
            response
        }
    }
}

/// What a request authenticated by the console's cookie must show besides the cookie: a
/// state-changing request carries the session's CSRF token, a WebSocket upgrade an `Origin`
/// that is this server's. `SameSite=Strict` already keeps the cookie off other sites'
/// requests; these checks also hold against pages on the same site (another port or host
/// name of the same domain) and browsers that ignore `SameSite`.
fn console_request(
    method: &Method,
    headers: &axum::http::HeaderMap,
    token: &str,
) -> Result<(), ApiError> {
    let upgrade = headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        let origin = headers
            .get(axum::http::header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok());
        return match (origin, host) {
            (Some(origin), Some(host)) if origin == format!("https://{host}") => Ok(()),
            _ => Err(ApiError::forbidden(
                "a console WebSocket must come from the console's own page (Origin differs)",
            )),
        };
    }
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let csrf = headers.get(auth::CSRF_HEADER).and_then(|v| v.to_str().ok());
    let expected = auth::csrf_token(token);
    let matches = csrf.is_some_and(|c| {
        aws_lc_rs::constant_time::verify_slices_are_equal(c.as_bytes(), expected.as_bytes()).is_ok()
    });
    if safe || matches {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "missing or wrong CSRF token: reload the console and try again",
        ))
    }
}

/// Middleware: one `api.request` event per API call (method, route, status, actor), appended
/// before the response leaves. Health probes are not recorded.
pub async fn audit(
    access: Access,
    route: &'static str,
    state: AppState,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    if route == "/healthz" || route == "/readyz" {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    let source = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let response = next.run(req).await;
    let status = response.status();
    let actor = response
        .extensions()
        .get::<Actor>()
        .cloned()
        .unwrap_or_else(Actor::nobody);
    let outcome = match status.as_u16() {
        100..=399 => Outcome::Success,
        401 | 403 | 429 => Outcome::Denied,
        _ => Outcome::Failure,
    };
    let action = match access {
        Access::Admin(a) => format!("admin.{}", a.as_str()),
        _ => "api.request".to_string(),
    };
    let e = crate::audit::event(
        &actor.0,
        source,
        &action,
        &format!("{method} {path}"),
        outcome,
        serde_json::json!({
            "method": method.as_str(),
            "route": route,
            "status": status.as_u16(),
        }),
    );
    // A change must be on record before the caller hears it succeeded, so a successful
    // change is waited for. It has happened already and cannot be refused here: the decision
    // that allowed it was recorded, fail closed, by the authorization check before the handler
    // ran, and a failure now is logged by `append`.
    if method != Method::GET && outcome == Outcome::Success {
        let _ = state.audit().append(e).await;
    } else {
        state.audit().record(e).await;
    }
    response
}

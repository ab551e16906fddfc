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
use crate::auth::{authenticate, Access};
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
            let mut caller = match authenticate(&state, header.as_deref()).await {
                Ok(c) => c,
                Err(e) => return e.into_response(),
            };
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

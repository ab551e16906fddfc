//! Every route, with the access it demands. A route cannot be added without naming its access
//! level, and the list is public so tests can walk it and prove each is enforced.

use axum::http::Method;
use axum::routing::{get, post, MethodRouter};
use axum::{middleware, Router};

use crate::auth::{require, Access};
use crate::state::AppState;
use crate::{agent_link, api, client_link};

/// One route of the API.
#[derive(Clone, Debug)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    /// A WebSocket endpoint (GET with an upgrade).
    pub websocket: bool,
}

fn spec(method: Method, path: &'static str, access: Access) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        websocket: false,
    }
}

fn ws(path: &'static str, access: Access) -> RouteSpec {
    RouteSpec {
        method: Method::GET,
        path,
        access,
        websocket: true,
    }
}

/// The route table.
pub fn table() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use Access::*;
    vec![
        (
            spec(Method::GET, "/healthz", Public),
            get(api::health::healthz),
        ),
        (
            spec(Method::GET, "/readyz", Public),
            get(api::health::readyz),
        ),
        (
            spec(Method::POST, "/v1/auth/login", Public),
            post(api::login::login),
        ),
        (
            spec(Method::POST, "/v1/auth/logout", User),
            post(api::login::logout),
        ),
        (
            spec(Method::GET, "/v1/whoami", User),
            get(api::login::whoami),
        ),
        (
            spec(Method::GET, "/v1/targets", User),
            get(api::targets::list),
        ),
        (
            spec(Method::GET, "/v1/activations", Admin),
            get(api::activations::list),
        ),
        (
            spec(Method::POST, "/v1/activations", Admin),
            post(api::activations::create),
        ),
        (
            spec(Method::POST, "/v1/agents/register", SelfAuthenticated),
            post(api::enroll::register),
        ),
        (
            ws("/v1/agent/link", SelfAuthenticated),
            get(agent_link::upgrade),
        ),
        (ws("/v1/link", User), get(client_link::upgrade)),
    ]
}

/// The application: every route behind its access check.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (spec, handler) in table() {
        let access = spec.access;
        let guarded = handler.layer(middleware::from_fn_with_state(
            state.clone(),
            move |axum::extract::State(s): axum::extract::State<AppState>, req, next| {
                require(access, s, req, next)
            },
        ));
        router = router.route(spec.path, guarded);
    }
    router
        .fallback(|| async { crate::error::ApiError::not_found("no such route") })
        .with_state(state)
}

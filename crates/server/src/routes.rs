//! Every route, with the access it demands. A route cannot be added without naming its access
//! level, and the list is public so tests walk it and prove each is enforced. The console's
//! static page and files are merged beside the table (`console::assets`): they carry no data
//! and take no input.

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{middleware, Router};
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::auth::Access;
use crate::authz::Action;
use crate::middleware::{audit, require};
use crate::state::AppState;
use crate::{agent_link, api, client_link, console};

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
    use Method as M;
    vec![
        (spec(M::GET, "/healthz", Public), get(api::health::healthz)),
        (spec(M::GET, "/readyz", Public), get(api::health::readyz)),
        (
            spec(M::POST, "/v1/auth/login", Public),
            post(api::login::login),
        ),
        (
            spec(M::POST, "/v1/auth/sso/begin", Public),
            post(api::sso::begin),
        ),
        (
            spec(M::POST, "/v1/auth/sso/complete", Public),
            post(api::sso::complete),
        ),
        (
            spec(M::POST, "/v1/auth/logout", User),
            post(api::login::logout),
        ),
        (spec(M::GET, "/v1/whoami", User), get(api::login::whoami)),
        (spec(M::GET, "/v1/mfa", User), get(api::mfa::status)),
        (
            spec(M::POST, "/v1/mfa/enroll", User),
            post(api::mfa::enroll),
        ),
        (
            spec(M::POST, "/v1/mfa/confirm", User),
            post(api::mfa::confirm),
        ),
        (spec(M::GET, "/v1/targets", User), get(api::targets::list)),
        (
            spec(M::GET, "/v1/activations", Admin(Action::ManageActivations)),
            get(api::activations::list),
        ),
        (
            spec(M::POST, "/v1/activations", Admin(Action::ManageActivations)),
            post(api::activations::create),
        ),
        (
            spec(M::POST, "/v1/agents/register", SelfAuthenticated),
            post(api::enroll::register),
        ),
        (
            spec(
                M::POST,
                "/v1/agents/{id}/revoke",
                Admin(Action::ManageAgents),
            ),
            post(api::agents::revoke),
        ),
        (
            spec(M::GET, "/v1/agents", Admin(Action::ManageAgents)),
            get(api::agents::list),
        ),
        (
            spec(M::PUT, "/v1/agents/{id}/tags", Admin(Action::ManageAgents)),
            put(api::agents::retag),
        ),
        (
            spec(M::DELETE, "/v1/agents/{id}", Admin(Action::ManageAgents)),
            delete(api::agents::remove),
        ),
        (
            spec(M::GET, "/v1/users", Admin(Action::ManageUsers)),
            get(api::users::list),
        ),
        (
            spec(M::POST, "/v1/users", Admin(Action::ManageUsers)),
            post(api::users::create),
        ),
        (
            spec(
                M::POST,
                "/v1/users/{name}/disable",
                Admin(Action::ManageUsers),
            ),
            post(api::users::disable),
        ),
        (
            spec(
                M::POST,
                "/v1/users/{name}/enable",
                Admin(Action::ManageUsers),
            ),
            post(api::users::enable),
        ),
        (
            spec(
                M::POST,
                "/v1/users/{name}/reset-mfa",
                Admin(Action::ManageUsers),
            ),
            post(api::mfa::reset),
        ),
        (
            spec(M::DELETE, "/v1/users/{name}", Admin(Action::ManageUsers)),
            delete(api::users::delete),
        ),
        (
            spec(M::GET, "/v1/groups", Admin(Action::ManageGroups)),
            get(api::groups::list),
        ),
        (
            spec(M::POST, "/v1/groups", Admin(Action::ManageGroups)),
            post(api::groups::create),
        ),
        (
            spec(M::DELETE, "/v1/groups/{name}", Admin(Action::ManageGroups)),
            delete(api::groups::delete),
        ),
        (
            spec(
                M::POST,
                "/v1/groups/{name}/members",
                Admin(Action::ManageGroups),
            ),
            post(api::groups::add_member),
        ),
        (
            spec(
                M::DELETE,
                "/v1/groups/{name}/members/{user}",
                Admin(Action::ManageGroups),
            ),
            delete(api::groups::remove_member),
        ),
        (
            spec(M::GET, "/v1/policies", Admin(Action::ManagePolicies)),
            get(api::policies::get),
        ),
        (
            spec(M::PUT, "/v1/policies", Admin(Action::ManagePolicies)),
            put(api::policies::set),
        ),
        (
            spec(
                M::POST,
                "/v1/policies/validate",
                Admin(Action::ManagePolicies),
            ),
            post(api::policies::validate),
        ),
        (
            spec(
                M::POST,
                "/v1/policies/explain",
                Admin(Action::ManagePolicies),
            ),
            post(api::policies::explain),
        ),
        (
            spec(M::GET, "/v1/tokens", Admin(Action::ManageTokens)),
            get(api::tokens::list),
        ),
        (
            spec(
                M::POST,
                "/v1/tokens/{id}/revoke",
                Admin(Action::ManageTokens),
            ),
            post(api::tokens::revoke),
        ),
        (spec(M::GET, "/v1/sessions", User), get(api::sessions::list)),
        (
            spec(M::POST, "/v1/sessions/{id}/terminate", User),
            post(api::sessions::terminate),
        ),
        (
            spec(M::GET, "/v1/sessions/{id}/recording", User),
            get(api::sessions::recording),
        ),
        (
            spec(M::GET, "/v1/sessions/{id}/watch", User),
            get(api::sessions::watch),
        ),
        (
            spec(M::GET, "/v1/audit/events", Admin(Action::ViewAudit)),
            get(api::audit::events),
        ),
        (
            spec(M::GET, "/v1/audit/checkpoints", Admin(Action::ViewAudit)),
            get(api::audit::checkpoints),
        ),
        (
            spec(M::GET, "/v1/audit/public-key", Admin(Action::ViewAudit)),
            get(api::audit::public_key),
        ),
        (
            spec(M::POST, "/v1/audit/seal", Admin(Action::ViewAudit)),
            post(api::audit::seal),
        ),
        (
            ws("/v1/agent/link", SelfAuthenticated),
            get(agent_link::upgrade),
        ),
        (ws("/v1/link", User), get(client_link::upgrade)),
        (
            spec(M::GET, "/v1/openapi.json", User),
            get(api::openapi::document),
        ),
        (
            spec(M::POST, "/v1/console/login", Public),
            post(api::console::login),
        ),
        (
            spec(M::POST, "/v1/console/logout", User),
            post(api::console::logout),
        ),
        (spec(M::GET, "/v1/console/me", User), get(api::console::me)),
        (
            spec(M::GET, "/v1/console/config", Public),
            get(api::console::config),
        ),
        (
            spec(M::GET, "/v1/console/sso", Public),
            get(api::console::sso_begin),
        ),
        (
            spec(M::GET, "/v1/console/sso/callback", Public),
            get(api::console::sso_callback),
        ),
        (
            ws("/v1/console/terminal", User),
            get(console::terminal::upgrade),
        ),
    ]
}

/// How long a request's body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The application: every route behind its access check. Routes sharing a path (GET and POST
/// of one collection) are merged, each method keeping its own guard.
pub fn router(state: AppState) -> Router {
    let mut merged: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for (spec, handler) in table() {
        let access = spec.access;
        let path = spec.path;
        // Bodies are bounded before any handler reads them; only the policy routes take a
        // policy set's text.
        let body_limit = if path.starts_with("/v1/policies") {
            crate::limits::POLICY_TEXT + crate::limits::BODY
        } else {
            crate::limits::BODY
        };
        // Layers run outside in: the audit record wraps the access check, so refusals are
        // recorded too.
        let guarded = handler
            .layer(DefaultBodyLimit::max(body_limit))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                move |axum::extract::State(s): axum::extract::State<AppState>, req, next| {
                    require(access, s, req, next)
                },
            ))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                move |axum::extract::State(s): axum::extract::State<AppState>, req, next| {
                    audit(access, path, s, req, next)
                },
            ));
        match merged.iter_mut().find(|(p, _)| *p == spec.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(guarded),
            None => merged.push((spec.path, guarded)),
        }
    }
    let mut router = Router::new();
    for (path, handler) in merged {
        router = router.route(path, handler);
    }
    // A client that trickles a request body is cut off like one that trickles its headers
    // (see `server::HEADER_TIMEOUT`).
    // The console's page and files: public and static (every call they make is a route
    // above), so they sit beside the table rather than in it.
    router
        .merge(console::assets::router())
        .fallback(|| async { crate::error::ApiError::not_found("no such route") })
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .with_state(state)
}

//! The OpenAPI 3.1 document of the HTTP API, made from this crate's types by utoipa.
//!
//! Each route is one `#[utoipa::path]` item below, in the order of the server's route table;
//! the items are bodiless functions that exist only to carry the description. Routes that
//! take a bearer token say so (`security: bearer`); the others (health, login, single
//! sign-on, enrolment, the agent link) authenticate otherwise or not at all. Every operation
//! also answers errors as [`ErrorBody`] (the `default` response). The server's tests hold
//! this list to its route table, method for method.

// The functions below are never called: the derive reads their attributes.
#![allow(dead_code)]

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use self::schemas::*;
use crate::*;

#[cfg(any(test, feature = "test-util"))]
pub mod check;

/// The document, as `GET /v1/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    Document::openapi()
}

/// The name of the bearer-token security scheme.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wicket",
        description = "The wicketd HTTP API. Every route but health, login, single sign-on, \
            enrolment and the agent link takes `Authorization: Bearer <token>` from a login. \
            Times are unix milliseconds. The two WebSocket routes carry the binary link \
            protocol (docs/PROTOCOL.md)."
    ),
    paths(
        healthz, readyz, login, sso_begin, sso_complete, logout, whoami, mfa_status, mfa_enroll,
        mfa_confirm, targets, activations_list, activations_create, agent_register,
        agent_revoke, agents_list, agent_retag, agent_remove, users_list, users_create,
        users_disable, users_enable, users_reset_mfa, users_delete, groups_list, groups_create,
        groups_delete, groups_add_member, groups_remove_member,
        policies_get, policies_set, policies_validate, policies_explain, tokens_list,
        tokens_revoke, sessions_list, sessions_terminate, sessions_recording, sessions_watch,
        audit_events, audit_checkpoints, audit_public_key, audit_seal, agent_link, user_link,
        document, console_login, console_logout, console_me, console_terminal, console_config,
        console_sso, console_sso_callback,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Conventions),
)]
struct Document;

/// What holds for every operation: the bearer scheme, and errors as [`ErrorBody`].
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `POST /v1/auth/login` or single sign-on.",
                    ))
                    .build(),
            ),
        );
        let error: Response = ResponseBuilder::new()
            .description(
                "A refusal or failure (4xx, 5xx): `{\"error\": \"...\"}`, the message written \
                 for the user.",
            )
            .content(
                "application/json",
                Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    ErrorBody::name(),
                )))),
            )
            .build();
        components.responses.insert("Error".into(), error.into());
        for item in doc.paths.paths.values_mut() {
            let operations: [&mut Option<Operation>; 4] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                op.responses.responses.insert(
                    "default".into(),
                    RefOr::Ref(utoipa::openapi::Ref::from_response_name("Error")),
                );
            }
        }
    }
}

/// Schemas for bodies that are not this crate's structs: `wicket-audit`'s types (described
/// here; tests hold them to what those types serialise) and raw bytes.
pub mod schemas {
    use utoipa::ToSchema;

    /// How the recorded action ended.
    #[derive(ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub enum Outcome {
        /// It happened.
        Success,
        /// It was attempted and failed.
        Failure,
        /// A policy or an access check refused it.
        Denied,
    }

    /// One audit event with its place in the chain (`wicket_audit::ChainedEvent`); see
    /// docs/AUDIT.md for how `hash` is computed.
    #[derive(ToSchema)]
    pub struct ChainedEvent {
        /// Position in the chain, from 1, without gaps.
        pub seq: u64,
        /// When it was recorded, unix milliseconds.
        pub time: i64,
        /// Who: a user name, `agent:<target id>`, or `-` when nobody authenticated.
        pub actor: String,
        /// The peer address the request came from, or empty.
        pub source: String,
        /// What, as a dotted name: `auth.login`, `api.request`, `session.start`...
        pub action: String,
        /// On what: a route, `target:<name>`, `user:<name>`, `server`...
        pub resource: String,
        /// How it ended.
        pub outcome: Outcome,
        /// Anything else, as JSON text (an object), hashed byte for byte.
        pub details: String,
        /// The hash of the event before (32 zero bytes for the first), hex.
        pub prev_hash: String,
        /// `SHA-256(prev_hash || canonical event)`, hex.
        pub hash: String,
    }

    /// A signed statement that event `seq` had hash `head` at `time`
    /// (`wicket_audit::Checkpoint`).
    #[derive(ToSchema)]
    pub struct Checkpoint {
        /// The event signed for.
        pub seq: u64,
        /// Its hash, hex.
        pub head: String,
        /// When it was signed, unix milliseconds.
        pub time: i64,
        /// Ed25519 signature by the audit key, hex.
        pub signature: String,
    }

    /// The signed closing line of an export segment (`wicket_audit::Seal`).
    #[derive(ToSchema)]
    pub struct Seal {
        /// The segment's first event.
        pub first_seq: u64,
        /// Its last event.
        pub last_seq: u64,
        /// The `prev_hash` of event `first_seq`, hex.
        pub first_prev: String,
        /// The hash of event `last_seq`, hex.
        pub last_hash: String,
        /// When it was sealed, unix milliseconds.
        pub time: i64,
        /// Ed25519 signature by the audit key, hex.
        pub signature: String,
    }

    /// Bytes that are not JSON: a recording, a live session's output.
    #[derive(ToSchema)]
    #[schema(value_type = String, format = Binary)]
    pub struct Binary(pub Vec<u8>);

    /// The OpenAPI document itself.
    #[derive(ToSchema)]
    #[schema(value_type = Object)]
    pub struct OpenApiDocument(pub ());
}

// ---- health ---------------------------------------------------------------------------------

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Health)))]
fn healthz() {}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = Health),
        (status = 503, description = "`{\"status\": \"database unavailable\"}`", body = Health),
    ))]
fn readyz() {}

// ---- auth -----------------------------------------------------------------------------------

/// Sign in with a password (and a second factor, for users who enrolled one).
///
/// A user with multi-factor login who sends only the password gets a 401 with
/// `mfa_required: true`. Failed logins are rate limited: a 429 says when to retry.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "A token", body = LoginResponse),
        (status = 401, description = "Wrong credentials, or a one-time code is needed (`mfa_required`)", body = ErrorBody),
        (status = 429, description = "Rate limited (`retry_after`, and `Retry-After`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
fn login() {}

/// Begin single sign-on: where to send the browser.
#[utoipa::path(post, path = "/v1/auth/sso/begin", tag = "auth", request_body = BeginRequest,
    responses((status = 200, description = "The provider's sign-in URL", body = BeginResponse)))]
fn sso_begin() {}

/// Complete single sign-on: the provider's code for a wicket token.
#[utoipa::path(post, path = "/v1/auth/sso/complete", tag = "auth", request_body = CompleteRequest,
    responses((status = 200, description = "A token", body = LoginResponse)))]
fn sso_complete() {}

/// Revoke the token this request carries.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    responses((status = 200, description = "Revoked", body = LoggedOut)),
    security(("bearer" = [])))]
fn logout() {}

/// Whose token this is.
#[utoipa::path(get, path = "/v1/whoami", tag = "auth",
    responses((status = 200, description = "The caller", body = WhoAmI)),
    security(("bearer" = [])))]
fn whoami() {}

// ---- mfa ------------------------------------------------------------------------------------

/// The caller's multi-factor enrolment.
#[utoipa::path(get, path = "/v1/mfa", tag = "mfa",
    responses((status = 200, description = "Enrolment state", body = MfaStatus)),
    security(("bearer" = [])))]
fn mfa_status() {}

/// Start enrolment: a new pending TOTP secret (needs the account's password).
#[utoipa::path(post, path = "/v1/mfa/enroll", tag = "mfa", request_body = EnrollRequest,
    responses((status = 200, description = "The secret, for the authenticator app", body = EnrollResponse)),
    security(("bearer" = [])))]
fn mfa_enroll() {}

/// Confirm enrolment with a code from the app; returns the recovery codes, once.
#[utoipa::path(post, path = "/v1/mfa/confirm", tag = "mfa", request_body = ConfirmRequest,
    responses((status = 200, description = "Enrolled", body = ConfirmResponse)),
    security(("bearer" = [])))]
fn mfa_confirm() {}

// ---- targets, activations, agents -----------------------------------------------------------

/// The targets, if the policy lets the caller list them.
#[utoipa::path(get, path = "/v1/targets", tag = "targets",
    responses((status = 200, description = "Enrolled, unrevoked targets", body = Vec<TargetView>)),
    security(("bearer" = [])))]
fn targets() {}

/// The activations (admin: `manage_activations`).
#[utoipa::path(get, path = "/v1/activations", tag = "activations",
    responses((status = 200, description = "Every activation, without its code", body = Vec<ActivationView>)),
    security(("bearer" = [])))]
fn activations_list() {}

/// Create an activation (admin: `manage_activations`); its code is returned only now.
#[utoipa::path(post, path = "/v1/activations", tag = "activations", request_body = CreateActivation,
    responses((status = 200, description = "The activation and its code", body = CreatedActivation)),
    security(("bearer" = [])))]
fn activations_create() {}

/// Enrol a host: an activation code and the agent's public key for a target id.
///
/// No bearer token: the activation code is the credential.
#[utoipa::path(post, path = "/v1/agents/register", tag = "agents", request_body = RegisterRequest,
    responses((status = 200, description = "Enrolled", body = RegisterResponse)))]
fn agent_register() {}

/// Revoke an agent (admin: `manage_agents`): its link is cut and refused from then on.
#[utoipa::path(post, path = "/v1/agents/{id}/revoke", tag = "agents",
    params(("id" = String, Path, description = "Target id or name")),
    responses((status = 200, description = "Revoked", body = AgentRevoked)),
    security(("bearer" = [])))]
fn agent_revoke() {}

/// Every enrolled agent, revoked ones too (admin: `manage_agents`).
#[utoipa::path(get, path = "/v1/agents", tag = "agents",
    responses((status = 200, description = "Every agent, by name", body = Vec<AgentView>)),
    security(("bearer" = [])))]
fn agents_list() {}

/// Replace a target's tags (admin: `manage_agents`); sessions the old tags allowed and the new
/// ones do not end.
#[utoipa::path(put, path = "/v1/agents/{id}/tags", tag = "agents", request_body = SetTags,
    params(("id" = String, Path, description = "Target id or name")),
    responses((status = 200, description = "Retagged", body = AgentTags)),
    security(("bearer" = [])))]
fn agent_retag() {}

/// Remove a target and its agent's identity (admin: `manage_agents`): its link is cut, the
/// agent is refused from then on, and the name may be enrolled again.
#[utoipa::path(delete, path = "/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "Target id or name")),
    responses((status = 200, description = "Removed", body = AgentRemoved)),
    security(("bearer" = [])))]
fn agent_remove() {}

// ---- users ----------------------------------------------------------------------------------

/// The users (admin: `manage_users`).
#[utoipa::path(get, path = "/v1/users", tag = "users",
    responses((status = 200, description = "Every user", body = Vec<UserView>)),
    security(("bearer" = [])))]
fn users_list() {}

/// Create a user (admin: `manage_users`).
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 200, description = "Created; a generated password is returned once", body = CreatedUser)),
    security(("bearer" = [])))]
fn users_create() {}

/// Disable a user (admin: `manage_users`); their live sessions end.
#[utoipa::path(post, path = "/v1/users/{name}/disable", tag = "users",
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, description = "Disabled", body = UserDisabled)),
    security(("bearer" = [])))]
fn users_disable() {}

/// Enable a user (admin: `manage_users`), or let a deleted single sign-on identity back in.
#[utoipa::path(post, path = "/v1/users/{name}/enable", tag = "users",
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, description = "Enabled", body = UserDisabled)),
    security(("bearer" = [])))]
fn users_enable() {}

/// Remove a user's multi-factor enrolment and recovery codes (admin: `manage_users`).
#[utoipa::path(post, path = "/v1/users/{name}/reset-mfa", tag = "users",
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, description = "Reset", body = MfaReset)),
    security(("bearer" = [])))]
fn users_reset_mfa() {}

/// Delete a user (admin: `manage_users`); their live sessions end.
#[utoipa::path(delete, path = "/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, description = "Deleted", body = UserDeleted)),
    security(("bearer" = [])))]
fn users_delete() {}

// ---- groups ---------------------------------------------------------------------------------

/// The groups and their members (admin: `manage_groups`).
#[utoipa::path(get, path = "/v1/groups", tag = "groups",
    responses((status = 200, description = "Every group", body = Vec<Group>)),
    security(("bearer" = [])))]
fn groups_list() {}

/// Create a group (admin: `manage_groups`).
#[utoipa::path(post, path = "/v1/groups", tag = "groups", request_body = CreateGroup,
    responses((status = 200, description = "Created", body = Group)),
    security(("bearer" = [])))]
fn groups_create() {}

/// Delete a group and its memberships (admin: `manage_groups`); sessions a membership of it
/// allowed end.
#[utoipa::path(delete, path = "/v1/groups/{name}", tag = "groups",
    params(("name" = String, Path, description = "Group name")),
    responses((status = 200, description = "Deleted", body = GroupDeleted)),
    security(("bearer" = [])))]
fn groups_delete() {}

/// Add a member (admin: `manage_groups`).
#[utoipa::path(post, path = "/v1/groups/{name}/members", tag = "groups", request_body = AddMember,
    params(("name" = String, Path, description = "Group name")),
    responses((status = 200, description = "Added", body = Membership)),
    security(("bearer" = [])))]
fn groups_add_member() {}

/// Remove a member (admin: `manage_groups`); sessions the membership allowed end.
#[utoipa::path(delete, path = "/v1/groups/{name}/members/{user}", tag = "groups",
    params(
        ("name" = String, Path, description = "Group name"),
        ("user" = String, Path, description = "User name"),
    ),
    responses((status = 200, description = "Removed", body = Membership)),
    security(("bearer" = [])))]
fn groups_remove_member() {}

// ---- policies -------------------------------------------------------------------------------

/// The active policy set (admin: `manage_policies`).
#[utoipa::path(get, path = "/v1/policies", tag = "policies",
    responses((status = 200, description = "The active set", body = ActivePolicy)),
    security(("bearer" = [])))]
fn policies_get() {}

/// Validate, store and activate a policy set (admin: `manage_policies`); sessions it no longer
/// allows end. A set that fails validation is refused (400) and never activated.
#[utoipa::path(put, path = "/v1/policies", tag = "policies", request_body = PolicyText,
    responses((status = 200, description = "Activated", body = PolicyActivated)),
    security(("bearer" = [])))]
fn policies_set() {}

/// Validate a policy set without activating it (admin: `manage_policies`).
#[utoipa::path(post, path = "/v1/policies/validate", tag = "policies", request_body = PolicyText,
    responses((status = 200, description = "What validation found", body = Validation)),
    security(("bearer" = [])))]
fn policies_validate() {}

/// What the active set decides for a hypothetical request, and why (admin: `manage_policies`).
#[utoipa::path(post, path = "/v1/policies/explain", tag = "policies", request_body = ExplainRequest,
    responses((status = 200, description = "The decision and the policies that made it", body = Explanation)),
    security(("bearer" = [])))]
fn policies_explain() {}

// ---- tokens ---------------------------------------------------------------------------------

/// The live tokens (admin: `manage_tokens`).
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses((status = 200, description = "Live tokens", body = Vec<TokenView>)),
    security(("bearer" = [])))]
fn tokens_list() {}

/// Revoke a token (admin: `manage_tokens`); the sessions opened with it end.
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", tag = "tokens",
    params(("id" = String, Path, description = "Token id (`tok_...`)")),
    responses((status = 200, description = "Revoked", body = TokenRevoked)),
    security(("bearer" = [])))]
fn tokens_revoke() {}

// ---- sessions -------------------------------------------------------------------------------

/// The session history the caller may see: their own sessions, and those on targets the
/// policy lets them replay or watch.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", params(SessionQuery),
    responses((status = 200, description = "Sessions, newest first", body = Vec<SessionView>)),
    security(("bearer" = [])))]
fn sessions_list() {}

/// End a live session (policy: `terminate` on its target).
#[utoipa::path(post, path = "/v1/sessions/{id}/terminate", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "Ended by this server", body = Terminated),
        (status = 202, description = "The replica relaying it was asked to end it", body = Terminated),
    ),
    security(("bearer" = [])))]
fn sessions_terminate() {}

/// A session's recording as stored (policy: `replay` on its target), streamed.
///
/// zstd frames, or plain asciicast v2 for recordings made before compression, as
/// `x-wicket-recording-encoding` says. The client hashes what it receives against
/// `x-wicket-recording-sha256`, the hash sealed when the session ended.
#[utoipa::path(get, path = "/v1/sessions/{id}/recording", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "The stored recording", content_type = "application/x-asciicast", body = Binary,
        headers(
            ("x-wicket-recording-encoding" = String, description = "`zstd` or `identity`"),
            ("x-wicket-recording-sha256" = String, description = "The sealed SHA-256 of the stored bytes, hex; absent while the session runs or if its recording failed"),
        ))),
    security(("bearer" = [])))]
fn sessions_recording() {}

/// Follow a live session's output, read-only (policy: `watch` on its target), as raw terminal
/// bytes until it ends or the watcher's access is taken away.
#[utoipa::path(get, path = "/v1/sessions/{id}/watch", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "The session's output from now on", content_type = "application/octet-stream", body = Binary)),
    security(("bearer" = [])))]
fn sessions_watch() {}

// ---- audit ----------------------------------------------------------------------------------

/// Audit events, oldest first, a page at a time (admin: `view_audit`).
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", params(EventQuery),
    responses((status = 200, description = "A page of events", body = EventPage)),
    security(("bearer" = [])))]
fn audit_events() {}

/// Signed checkpoints of the chain's head (admin: `view_audit`).
#[utoipa::path(get, path = "/v1/audit/checkpoints", tag = "audit", params(CheckpointQuery),
    responses((status = 200, description = "Checkpoints, oldest first", body = Vec<Checkpoint>)),
    security(("bearer" = [])))]
fn audit_checkpoints() {}

/// The audit key's public half (admin: `view_audit`).
#[utoipa::path(get, path = "/v1/audit/public-key", tag = "audit",
    responses((status = 200, description = "The Ed25519 public key", body = PublicKey)),
    security(("bearer" = [])))]
fn audit_public_key() {}

/// Seal a stretch of events for an export segment, after checking it chains (admin:
/// `view_audit`).
#[utoipa::path(post, path = "/v1/audit/seal", tag = "audit", request_body = SealRequest,
    responses((status = 200, description = "The signed seal", body = Seal)),
    security(("bearer" = [])))]
fn audit_seal() {}

// ---- console --------------------------------------------------------------------------------

/// Sign in to the web console: a password login whose token goes into an HttpOnly,
/// `Secure`, `SameSite=Strict` cookie (`__Host-wicket`) instead of the body.
///
/// Same checks, second factor, rate limits and audit as `POST /v1/auth/login`.
#[utoipa::path(post, path = "/v1/console/login", tag = "console", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the cookie is set", body = ConsoleSession),
        (status = 401, description = "Wrong credentials, or a one-time code is needed (`mfa_required`)", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
fn console_login() {}

/// Sign out of the web console: the cookie's token is revoked and the cookie cleared.
///
/// Takes the console's cookie with its CSRF token in `X-Wicket-CSRF` (or a bearer token).
#[utoipa::path(post, path = "/v1/console/logout", tag = "console",
    responses((status = 200, description = "Revoked", body = LoggedOut)),
    security(("bearer" = [])))]
fn console_logout() {}

/// Who is signed in to the console, and the CSRF token for its requests.
#[utoipa::path(get, path = "/v1/console/me", tag = "console",
    responses((status = 200, description = "The console's session", body = ConsoleSession)),
    security(("bearer" = [])))]
fn console_me() {}

/// The console's terminal: a WebSocket whose binary messages are keystrokes (to the server)
/// and output (from it), and whose text messages are [`TerminalControl`] and
/// [`TerminalEvent`] as JSON. The session goes through the same broker, policy, recording
/// and audit as `wicket connect`.
///
/// Taken with the console's cookie, the upgrade must carry this server's own `Origin`.
#[utoipa::path(get, path = "/v1/console/terminal", tag = "console", params(TerminalQuery),
    responses((status = 101, description = "Switching Protocols: the terminal")),
    security(("bearer" = [])))]
fn console_terminal() {}

/// What the console's sign-in page offers.
#[utoipa::path(get, path = "/v1/console/config", tag = "console",
    responses((status = 200, description = "The offer", body = ConsoleConfig)))]
fn console_config() {}

/// Begin single sign-on from the console: a redirect to the provider.
///
/// wicketd makes the PKCE verifier and keeps it, with the login request's id, in a short-lived
/// HttpOnly cookie (`__Host-wicket-sso`, `SameSite=Lax` so it survives the provider's redirect
/// back); the provider sends the browser to `https://HOST/v1/console/sso/callback`, which must
/// be registered with it as a redirect URI of wicketd's client.
#[utoipa::path(get, path = "/v1/console/sso", tag = "console",
    responses((status = 303, description = "To the provider's sign-in page")))]
fn console_sso() {}

/// Where the provider sends the browser back: the code is traded as `POST
/// /v1/auth/sso/complete` would, the session cookie set, and the browser sent to the console
/// (with the reason in the page's address when the sign-in failed).
#[utoipa::path(get, path = "/v1/console/sso/callback", tag = "console", params(SsoCallback),
    responses((status = 303, description = "To the console")))]
fn console_sso_callback() {}

// ---- links ----------------------------------------------------------------------------------

/// The agent link: a WebSocket carrying the binary link protocol (docs/PROTOCOL.md).
///
/// No bearer token: the agent proves its enrolled Ed25519 key in the handshake.
#[utoipa::path(get, path = "/v1/agent/link", tag = "links",
    responses((status = 101, description = "Switching Protocols: binary WebSocket messages, one frame each")))]
fn agent_link() {}

/// The user link: a WebSocket carrying the binary link protocol (docs/PROTOCOL.md); sessions,
/// forwards and copies are channels on it.
#[utoipa::path(get, path = "/v1/link", tag = "links",
    responses((status = 101, description = "Switching Protocols: binary WebSocket messages, one frame each")),
    security(("bearer" = [])))]
fn user_link() {}

// ---- the document ---------------------------------------------------------------------------

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = OpenApiDocument)),
    security(("bearer" = [])))]
fn document() {}

#[cfg(test)]
mod tests;

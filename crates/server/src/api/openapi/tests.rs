//! The document against the route table, and real answers against the document and the
//! `wicket-api` types.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tower::ServiceExt;
use wicket_api::openapi::check::conforms;
use wicket_api::openapi::BEARER;
use wicket_api::*;

use crate::auth::Access;
use crate::routes::table;

fn document() -> Value {
    serde_json::to_value(wicket_api::openapi()).expect("the document serialises")
}

/// Every route of the table is in the document with its method, takes a bearer token there
/// exactly when its access needs one, declares its path parameters, and (a WebSocket) answers
/// 101; and the document describes no route the table lacks.
#[test]
fn the_document_describes_every_route_and_no_other() {
    let doc = document();
    let mut described = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            described.insert((method.to_uppercase(), path.clone()));
        }
    }
    let mut routed = BTreeSet::new();
    for (spec, _) in table() {
        let (method, path) = (spec.method.as_str(), spec.path);
        let op = &doc["paths"][path][method.to_lowercase()];
        assert!(
            op.is_object(),
            "{method} {path} is in the route table but not in the OpenAPI document"
        );
        let bearer = op["security"]
            .as_array()
            .is_some_and(|all| all.iter().any(|r| r.get(BEARER).is_some()));
        assert_eq!(
            bearer,
            matches!(spec.access, Access::User | Access::Admin(_)),
            "{method} {path}: the document's security does not match its access {:?}",
            spec.access
        );
        assert_eq!(
            op["responses"].get("101").is_some(),
            spec.websocket,
            "{method} {path}: a WebSocket route answers 101, and only one"
        );
        for name in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            let declared = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == name && p["in"] == "path");
            assert!(
                declared,
                "{method} {path}: path parameter {name} undeclared"
            );
        }
        routed.insert((method.to_string(), path.to_string()));
    }
    let extra: Vec<_> = described.difference(&routed).collect();
    assert!(
        extra.is_empty(),
        "in the OpenAPI document but not in the route table: {extra:?}"
    );
}

/// A wicketd on a temporary SQLite database, served in memory (no TLS, no socket).
struct Api {
    app: Router,
    state: crate::AppState,
    doc: Value,
    token: Option<String>,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start() -> Api {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = crate::ServerConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: dir.path().join("data"),
            ..Default::default()
        };
        let server = crate::Server::bind(config).await.expect("server");
        let state = server.state().clone();
        Api {
            app: crate::routes::router(state.clone()),
            state,
            doc: document(),
            token: None,
            _dir: dir,
        }
    }

    /// Calls `method path` (`route` is its template in the document) and checks the answer:
    /// its status is `status`, its body fits what the document says of that status, and it
    /// reads as a `T` that writes back to the very same JSON.
    async fn call<T: Serialize + DeserializeOwned>(
        &self,
        method: Method,
        route: &str,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> T {
        let mut req = Request::builder().method(method.clone()).uri(path);
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("response");
        let got = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let value: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert_eq!(got, status, "{method} {path}: {value}");
        let schema = self.response_schema(&method, route, status);
        conforms(&self.doc, &schema, &value)
            .unwrap_or_else(|e| panic!("{method} {path}: {value} does not fit the document: {e}"));
        let typed: T = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{method} {path}: {value} does not read: {e}"));
        let again = serde_json::to_value(&typed).expect("serialises");
        assert_eq!(
            again, value,
            "{method} {path}: not the same JSON written back"
        );
        typed
    }

    /// The JSON schema of the answer `status` to `method route`, or of its `default` answer.
    fn response_schema(&self, method: &Method, route: &str, status: StatusCode) -> Value {
        let responses = &self.doc["paths"][route][method.as_str().to_lowercase()]["responses"];
        let mut response = responses
            .get(status.as_str())
            .or_else(|| responses.get("default"))
            .unwrap_or_else(|| panic!("{method} {route}: no response {status} documented"));
        if let Some(r) = response["$ref"].as_str() {
            let name = r.trim_start_matches("#/components/responses/");
            response = &self.doc["components"]["responses"][name];
        }
        response["content"]["application/json"]["schema"].clone()
    }
}

fn body(v: impl Serialize) -> Option<Value> {
    Some(serde_json::to_value(v).expect("serialises"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_read_as_their_api_types_and_fit_the_document() {
    use Method as M;
    use StatusCode as S;
    let mut api = Api::start().await;
    let store = api.state.store().clone();
    let hash = crate::secrets::hash_password("admin-password-1").expect("hash");
    let admin = store
        .create_user("admin", &hash, true, crate::now_ms())
        .await
        .expect("admin");

    // Health, and refusals before signing in.
    let h: Health = api.call(M::GET, "/healthz", "/healthz", None, S::OK).await;
    assert_eq!(h.status, "ok");
    let _: Health = api.call(M::GET, "/readyz", "/readyz", None, S::OK).await;
    let e: ErrorBody = api
        .call(
            M::GET,
            "/v1/openapi.json",
            "/v1/openapi.json",
            None,
            S::UNAUTHORIZED,
        )
        .await;
    assert!(e.error.contains("missing bearer token"), "{e:?}");
    let login = |password: &str| {
        body(LoginRequest {
            user: "admin".into(),
            password: password.into(),
            totp: None,
            recovery_code: None,
        })
    };
    let e: ErrorBody = api
        .call(
            M::POST,
            "/v1/auth/login",
            "/v1/auth/login",
            login("wrong"),
            S::UNAUTHORIZED,
        )
        .await;
    assert!(!e.mfa_required && e.retry_after.is_none(), "{e:?}");

    // Signed in.
    let l: LoginResponse = api
        .call(
            M::POST,
            "/v1/auth/login",
            "/v1/auth/login",
            login("admin-password-1"),
            S::OK,
        )
        .await;
    assert!(l.is_admin && !l.mfa);
    api.token = Some(l.token);
    let w: WhoAmI = api
        .call(M::GET, "/v1/whoami", "/v1/whoami", None, S::OK)
        .await;
    assert_eq!(w.user, "admin");
    let served: Value = api
        .call(M::GET, "/v1/openapi.json", "/v1/openapi.json", None, S::OK)
        .await;
    assert_eq!(served, api.doc, "the served document is the generated one");
    let m: MfaStatus = api.call(M::GET, "/v1/mfa", "/v1/mfa", None, S::OK).await;
    assert!(!m.enrolled);

    // A target, through an activation.
    let a: CreatedActivation = api
        .call(
            M::POST,
            "/v1/activations",
            "/v1/activations",
            body(CreateActivation {
                tags: [("env".to_string(), "test".to_string())].into(),
                expires_in_secs: Some(600),
                max_registrations: Some(2),
            }),
            S::OK,
        )
        .await;
    let listed: Vec<ActivationView> = api
        .call(M::GET, "/v1/activations", "/v1/activations", None, S::OK)
        .await;
    assert_eq!(listed.len(), 1);
    let enrolled: RegisterResponse = api
        .call(
            M::POST,
            "/v1/agents/register",
            "/v1/agents/register",
            body(RegisterRequest {
                activation_id: a.id.clone(),
                activation_code: a.code.clone(),
                name: "web-1".into(),
                public_key: "11".repeat(32),
                tags: Default::default(),
            }),
            S::OK,
        )
        .await;
    let targets: Vec<TargetView> = api
        .call(M::GET, "/v1/targets", "/v1/targets", None, S::OK)
        .await;
    assert_eq!(targets.len(), 1);
    assert!(targets[0].hostname.is_none() && !targets[0].online);

    // A finished session on it.
    let record = wicket_store::SessionRecord {
        id: "ses_test".into(),
        user_id: admin.id.clone(),
        user_name: "admin".into(),
        target_id: enrolled.target_id.clone(),
        target_name: "web-1".into(),
        action: "connect".into(),
        run_as: Some("root".into()),
        command: Some("uptime".into()),
        tty: false,
        source_ip: Some("192.0.2.1".into()),
        started_at: crate::now_ms(),
        ended_at: None,
        end_reason: None,
        exit_status: None,
        bytes_in: 0,
        bytes_out: 0,
        recording: "recorded".into(),
        recording_sha256: None,
        recording_bytes: None,
        replica: Some(api.state.replica().to_string()),
    };
    store.insert_session(&record).await.expect("session");
    let end = wicket_store::SessionEnd {
        ended_at: crate::now_ms(),
        reason: "exited".into(),
        exit_status: Some("code 0".into()),
        bytes_in: 1,
        bytes_out: 2,
        recording: "recorded".into(),
        recording_sha256: Some("ab".repeat(32)),
        recording_bytes: Some(3),
    };
    store.end_session("ses_test", &end).await.expect("end");
    let sessions: Vec<SessionView> = api
        .call(M::GET, "/v1/sessions", "/v1/sessions?limit=5", None, S::OK)
        .await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].replica.as_deref(), Some(api.state.replica()));
    let e: ErrorBody = api
        .call(
            M::POST,
            "/v1/sessions/{id}/terminate",
            "/v1/sessions/ses_test/terminate",
            None,
            S::CONFLICT,
        )
        .await;
    assert!(e.error.contains("already ended"), "{e:?}");

    // Users and groups.
    let u: CreatedUser = api
        .call(
            M::POST,
            "/v1/users",
            "/v1/users",
            body(CreateUser {
                name: "bob".into(),
                password: Some("bob-password-1".into()),
                admin: false,
            }),
            S::OK,
        )
        .await;
    assert!(u.password.is_none());
    let g: Group = api
        .call(
            M::POST,
            "/v1/groups",
            "/v1/groups",
            body(CreateGroup { name: "ops".into() }),
            S::OK,
        )
        .await;
    assert!(g.members.is_empty());
    let added: Membership = api
        .call(
            M::POST,
            "/v1/groups/{name}/members",
            "/v1/groups/ops/members",
            body(AddMember { user: "bob".into() }),
            S::OK,
        )
        .await;
    assert_eq!(added.sessions_ended, None);
    let groups: Vec<Group> = api
        .call(M::GET, "/v1/groups", "/v1/groups", None, S::OK)
        .await;
    assert_eq!(groups[0].members, ["bob"]);
    let users: Vec<UserView> = api
        .call(M::GET, "/v1/users", "/v1/users", None, S::OK)
        .await;
    assert_eq!(users.len(), 2);
    let removed: Membership = api
        .call(
            M::DELETE,
            "/v1/groups/{name}/members/{user}",
            "/v1/groups/ops/members/bob",
            None,
            S::OK,
        )
        .await;
    assert_eq!(removed.sessions_ended, Some(0));
    let d: UserDisabled = api
        .call(
            M::POST,
            "/v1/users/{name}/disable",
            "/v1/users/bob/disable",
            None,
            S::OK,
        )
        .await;
    assert!(d.disabled);
    let r: MfaReset = api
        .call(
            M::POST,
            "/v1/users/{name}/reset-mfa",
            "/v1/users/bob/reset-mfa",
            None,
            S::OK,
        )
        .await;
    assert!(!r.reset);
    let _: UserDeleted = api
        .call(M::DELETE, "/v1/users/{name}", "/v1/users/bob", None, S::OK)
        .await;
    let deleted: GroupDeleted = api
        .call(
            M::DELETE,
            "/v1/groups/{name}",
            "/v1/groups/ops",
            None,
            S::OK,
        )
        .await;
    assert!(deleted.deleted);

    // Policies.
    let p: ActivePolicy = api
        .call(M::GET, "/v1/policies", "/v1/policies", None, S::OK)
        .await;
    assert_eq!(p.version, 0);
    let v: Validation = api
        .call(
            M::POST,
            "/v1/policies/validate",
            "/v1/policies/validate",
            body(PolicyText {
                text: "permit(".into(),
            }),
            S::OK,
        )
        .await;
    assert!(!v.valid && !v.errors.is_empty());
    let x: Explanation = api
        .call(
            M::POST,
            "/v1/policies/explain",
            "/v1/policies/explain",
            body(ExplainRequest {
                user: "admin".into(),
                action: "connect".into(),
                target: Some("web-1".into()),
                run_as: Some("deploy".into()),
                mfa: false,
            }),
            S::OK,
        )
        .await;
    assert_eq!(x.resource, "target web-1");
    let set: PolicyActivated = api
        .call(
            M::PUT,
            "/v1/policies",
            "/v1/policies",
            body(PolicyText { text: p.text }),
            S::OK,
        )
        .await;
    assert_eq!(set.version, 1);

    // The audit log.
    let page: EventPage = api
        .call(
            M::GET,
            "/v1/audit/events",
            "/v1/audit/events?limit=2",
            None,
            S::OK,
        )
        .await;
    assert_eq!(page.events.len(), 2);
    let _: Vec<wicket_audit::Checkpoint> = api
        .call(
            M::GET,
            "/v1/audit/checkpoints",
            "/v1/audit/checkpoints",
            None,
            S::OK,
        )
        .await;
    let k: PublicKey = api
        .call(
            M::GET,
            "/v1/audit/public-key",
            "/v1/audit/public-key",
            None,
            S::OK,
        )
        .await;
    assert_eq!(k.algorithm, "ed25519");
    let seal: wicket_audit::Seal = api
        .call(
            M::POST,
            "/v1/audit/seal",
            "/v1/audit/seal",
            body(SealRequest {
                first_seq: 1,
                last_seq: 2,
            }),
            S::OK,
        )
        .await;
    assert_eq!(seal.last_hash, page.events[1].hash);

    // Revocations and logout.
    let revoked: AgentRevoked = api
        .call(
            M::POST,
            "/v1/agents/{id}/revoke",
            "/v1/agents/web-1/revoke",
            None,
            S::OK,
        )
        .await;
    assert_eq!(revoked.id, enrolled.target_id);
    let agents: Vec<AgentView> = api
        .call(M::GET, "/v1/agents", "/v1/agents", None, S::OK)
        .await;
    assert_eq!(agents.len(), 1);
    assert!(agents[0].revoked_at.is_some() && !agents[0].online);
    let retagged: AgentTags = api
        .call(
            M::PUT,
            "/v1/agents/{id}/tags",
            "/v1/agents/web-1/tags",
            body(SetTags {
                tags: [("env".to_string(), "prod".to_string())].into(),
            }),
            S::OK,
        )
        .await;
    assert_eq!(retagged.tags.get("env").map(String::as_str), Some("prod"));
    let removed: AgentRemoved = api
        .call(
            M::DELETE,
            "/v1/agents/{id}",
            &format!("/v1/agents/{}", enrolled.target_id),
            None,
            S::OK,
        )
        .await;
    assert!(removed.removed && removed.name == "web-1");
    let second = crate::secrets::new_token();
    let now = crate::now_ms();
    let stored = store
        .insert_token(
            &admin.id,
            &crate::secrets::sha256(second.as_bytes()),
            now,
            now + 60_000,
        )
        .await
        .expect("token");
    let tokens: Vec<TokenView> = api
        .call(M::GET, "/v1/tokens", "/v1/tokens", None, S::OK)
        .await;
    assert_eq!(tokens.len(), 2);
    let t: TokenRevoked = api
        .call(
            M::POST,
            "/v1/tokens/{id}/revoke",
            &format!("/v1/tokens/{}/revoke", stored.id),
            None,
            S::OK,
        )
        .await;
    assert!(t.revoked);
    let o: LoggedOut = api
        .call(M::POST, "/v1/auth/logout", "/v1/auth/logout", None, S::OK)
        .await;
    assert!(o.revoked);
    let _: ErrorBody = api
        .call(M::GET, "/v1/whoami", "/v1/whoami", None, S::UNAUTHORIZED)
        .await;
}

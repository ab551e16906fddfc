use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::check::conforms_to;
use super::*;

fn doc() -> Value {
    serde_json::to_value(openapi()).expect("the document serialises")
}

#[test]
fn the_document_is_openapi_3_1_and_reads_back() {
    let text = openapi().to_json().expect("serialises");
    let back: utoipa::openapi::OpenApi = serde_json::from_str(&text).expect("reads back");
    assert!(matches!(
        back.openapi,
        utoipa::openapi::OpenApiVersion::Version31
    ));
    assert_eq!(doc()["openapi"], "3.1.0");
    assert_eq!(
        serde_json::to_value(&back).expect("serialises"),
        doc(),
        "nothing lost reading the document back"
    );
}

/// Every `$ref` anywhere in the document names something the document defines.
#[test]
fn every_reference_resolves() {
    fn walk(doc: &Value, v: &Value, seen: &mut usize) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    let mut target = doc;
                    for part in r.trim_start_matches("#/").split('/') {
                        target = &target[part];
                    }
                    assert!(!target.is_null(), "dangling reference {r}");
                    *seen += 1;
                }
                m.values().for_each(|v| walk(doc, v, seen));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(doc, v, seen)),
            _ => {}
        }
    }
    let doc = doc();
    let mut seen = 0;
    walk(&doc, &doc, &mut seen);
    assert!(seen > 50, "only {seen} references");
}

/// Every operation answers errors as [`ErrorBody`], and those that take a token name the
/// bearer scheme, which the document defines.
#[test]
fn operations_have_the_error_response_and_a_known_security_scheme() {
    let doc = doc();
    assert_eq!(
        doc["components"]["securitySchemes"][BEARER]["scheme"],
        "bearer"
    );
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            assert_eq!(
                op["responses"]["default"]["$ref"], "#/components/responses/Error",
                "{method} {path}"
            );
            for requirement in op["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().expect("requirement").keys() {
                    assert_eq!(scheme, BEARER, "{method} {path}");
                }
            }
        }
    }
    assert!(operations >= 40, "only {operations} operations");
}

/// The schemas of `wicket-audit`'s types say what those types really serialise: every field,
/// no other, of the right JSON type.
#[test]
fn the_audit_schemas_match_wicket_audit() {
    let doc = doc();
    let event = wicket_audit::ChainedEvent::new(
        wicket_audit::Event {
            seq: 1,
            time: 1_700_000_000_000,
            actor: "alice".into(),
            source: "192.0.2.1".into(),
            action: "auth.login".into(),
            resource: "user:alice".into(),
            outcome: wicket_audit::Outcome::Denied,
            details: "{}".into(),
        },
        wicket_audit::GENESIS,
    );
    let checkpoint = wicket_audit::Checkpoint {
        seq: 1,
        head: event.hash,
        time: 1_700_000_000_001,
        signature: vec![7; 64],
    };
    let seal = wicket_audit::Seal {
        first_seq: 1,
        last_seq: 1,
        first_prev: wicket_audit::GENESIS,
        last_hash: event.hash,
        time: 1_700_000_000_002,
        signature: vec![7; 64],
    };
    for (name, value) in [
        ("ChainedEvent", serde_json::to_value(&event)),
        ("Checkpoint", serde_json::to_value(&checkpoint)),
        ("Seal", serde_json::to_value(&seal)),
    ] {
        let value = value.expect("serialises");
        conforms_to(&doc, name, &value).unwrap_or_else(|e| panic!("{e}"));
        let listed: Vec<&String> = doc["components"]["schemas"][name]["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        let sent: Vec<&String> = value.as_object().expect("an object").keys().collect();
        let (mut listed, mut sent) = (listed, sent);
        listed.sort();
        sent.sort();
        assert_eq!(listed, sent, "{name}");
    }
    for outcome in [
        wicket_audit::Outcome::Success,
        wicket_audit::Outcome::Failure,
        wicket_audit::Outcome::Denied,
    ] {
        let v = serde_json::to_value(outcome).expect("serialises");
        conforms_to(&doc, "Outcome", &v).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `value` survives JSON unchanged, and fits the schema of its type.
fn fits<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + ToSchema>(value: T) {
    let json = serde_json::to_value(&value).expect("serialises");
    let back: T = serde_json::from_value(json.clone()).expect("reads back");
    assert_eq!(back, value);
    conforms_to(&doc(), &T::name(), &json).unwrap_or_else(|e| panic!("{e}"));
}

fn tags() -> BTreeMap<String, String> {
    BTreeMap::from([("env".to_string(), "prod".to_string())])
}

#[test]
fn every_body_fits_its_schema_with_and_without_its_optional_fields() {
    let s = |v: &str| v.to_string();
    fits(ErrorBody::new("no"));
    fits(ErrorBody {
        mfa_required: true,
        retry_after: Some(3),
        ..ErrorBody::new("no")
    });
    fits(Health { status: s("ok") });
    for (totp, recovery_code) in [(None, None), (Some(s("123456")), Some(s("AAAA-BBBB")))] {
        fits(LoginRequest {
            user: s("alice"),
            password: s("pw"),
            totp,
            recovery_code,
        });
    }
    fits(LoginResponse {
        token: s("wkt_x"),
        expires_at: 1,
        user: s("alice"),
        is_admin: true,
        mfa: true,
    });
    fits(LoggedOut { revoked: true });
    fits(WhoAmI {
        user: s("alice"),
        is_admin: false,
        mfa: false,
    });
    fits(BeginRequest {
        redirect_uri: s("http://127.0.0.1:1/callback"),
        code_challenge: s("c"),
    });
    fits(BeginResponse {
        auth_url: s("https://idp/"),
        request_id: s("r"),
    });
    fits(CompleteRequest {
        request_id: s("r"),
        state: s("st"),
        code: s("c"),
        code_verifier: s("v"),
    });
    fits(EnrollRequest { password: s("pw") });
    fits(EnrollResponse {
        secret: s("GEZD"),
        uri: s("otpauth://"),
    });
    fits(ConfirmRequest { code: s("123456") });
    fits(ConfirmResponse {
        enrolled: true,
        recovery_codes: vec![s("A-B")],
    });
    fits(MfaStatus {
        user: s("alice"),
        enrolled: true,
        pending: false,
        recovery_codes_left: 10,
        token_mfa: true,
    });
    fits(MfaReset {
        user: s("alice"),
        reset: true,
    });
    for some in [false, true] {
        let o = |v: &str| some.then(|| v.to_string());
        fits(TargetView {
            id: s("tgt_1"),
            name: s("web-1"),
            tags: tags(),
            online: some,
            last_seen: some.then_some(5),
            agent_version: o("0.1.0"),
            hostname: o("web-1"),
            os: o("linux"),
            may_connect: true,
        });
        fits(CreateActivation {
            tags: tags(),
            expires_in_secs: some.then_some(60),
            max_registrations: some.then_some(2),
        });
        fits(CreateUser {
            name: s("bob"),
            password: o("long-password"),
            admin: some,
        });
        fits(CreatedUser {
            name: s("bob"),
            password: o("generated"),
        });
        fits(Membership {
            group: s("ops"),
            user: s("bob"),
            member: !some,
            sessions_ended: some.then_some(1),
        });
        fits(Problem {
            line: 1,
            column: 2,
            message: s("bad"),
            policy_id: o("p1"),
        });
        fits(ExplainRequest {
            user: s("bob"),
            action: s("connect"),
            target: o("web-1"),
            run_as: o("root"),
            mfa: some,
        });
        fits(Explanation {
            allowed: some,
            policy_ids: vec![s("p1")],
            errors: vec![],
            user: s("bob"),
            groups: vec![s("ops")],
            action: s("connect"),
            resource: s("target web-1"),
            run_as: o("root"),
            policy_version: 2,
        });
        fits(SessionView {
            id: s("ses_1"),
            user_id: s("usr_1"),
            user_name: s("bob"),
            target_id: s("tgt_1"),
            target_name: s("web-1"),
            action: s("connect"),
            run_as: o("root"),
            command: o("uptime"),
            tty: some,
            source_ip: o("192.0.2.1"),
            started_at: 1,
            ended_at: some.then_some(2),
            end_reason: o("exited"),
            exit_status: o("code 0"),
            bytes_in: 3,
            bytes_out: 4,
            recording: s("recorded"),
            recording_sha256: o("ab"),
            recording_bytes: some.then_some(5),
            replica: o("rep_1"),
            live: !some,
        });
        fits(Terminated {
            id: s("ses_1"),
            terminated: !some,
            requested: some,
        });
        fits(EventPage {
            events: vec![],
            next_after: some.then_some(9),
            next_before: some.then_some(3),
        });
    }
    fits(CreatedActivation {
        id: s("act_1"),
        code: s("c"),
        expires_at: 1,
        max_registrations: 1,
        tags: tags(),
        ca_fingerprint: s("SHA256:x"),
    });
    fits(ActivationView {
        id: s("act_1"),
        tags: tags(),
        expires_at: 1,
        max_registrations: 2,
        registrations: 1,
        created_by: s("admin"),
        created_at: 0,
    });
    fits(RegisterRequest {
        activation_id: s("act_1"),
        activation_code: s("c"),
        name: s("web-1"),
        public_key: s("00"),
        tags: tags(),
    });
    fits(RegisterResponse {
        target_id: s("tgt_1"),
        name: s("web-1"),
        tags: tags(),
    });
    fits(AgentRevoked {
        id: s("tgt_1"),
        name: s("web-1"),
        revoked: true,
    });
    for (revoked_at, version) in [(None, None), (Some(5), Some(s("0.1.0")))] {
        fits(AgentView {
            id: s("tgt_1"),
            name: s("web-1"),
            tags: tags(),
            online: revoked_at.is_none(),
            created_at: 1,
            last_seen: revoked_at,
            revoked_at,
            activation_id: s("act_1"),
            agent_version: version.clone(),
            hostname: version.clone(),
            os: version,
        });
    }
    fits(SetTags { tags: tags() });
    fits(SetTags {
        tags: BTreeMap::new(),
    });
    fits(AgentTags {
        id: s("tgt_1"),
        name: s("web-1"),
        tags: tags(),
        sessions_ended: 1,
    });
    fits(AgentRemoved {
        id: s("tgt_1"),
        name: s("web-1"),
        removed: true,
    });
    fits(UserView {
        name: s("bob"),
        is_admin: false,
        disabled: true,
        sso: false,
        groups: vec![s("ops")],
        created_at: 1,
    });
    fits(UserDisabled {
        name: s("bob"),
        disabled: true,
        sessions_ended: 2,
    });
    fits(UserDeleted {
        name: s("bob"),
        deleted: true,
        sessions_ended: 0,
    });
    fits(Group {
        id: s("grp_1"),
        name: s("ops"),
        created_at: 1,
        members: vec![s("bob")],
    });
    fits(CreateGroup { name: s("ops") });
    fits(GroupDeleted {
        name: s("ops"),
        deleted: true,
        sessions_ended: 0,
    });
    fits(AddMember { user: s("bob") });
    fits(ActivePolicy {
        version: 0,
        text: s("permit(principal, action, resource);"),
        policy_ids: vec![s("policy0")],
    });
    fits(PolicyText { text: s("") });
    fits(Validation {
        valid: false,
        errors: vec![],
        policy_ids: vec![],
    });
    fits(PolicyActivated {
        version: 3,
        policy_ids: vec![],
        sessions_ended: 1,
    });
    fits(TokenView {
        id: s("tok_1"),
        user: s("bob"),
        created_at: 1,
        expires_at: 2,
    });
    fits(TokenRevoked {
        id: s("tok_1"),
        revoked: true,
        sessions_ended: 0,
    });
    fits(PublicKey {
        algorithm: s("ed25519"),
        public_key: s("00"),
    });
    fits(SealRequest {
        first_seq: 1,
        last_seq: 2,
    });
}

/// Fields the server always sends but older servers did not, and optional fields a client
/// leaves out, read as before.
#[test]
fn older_and_sparser_bodies_still_read() {
    let t: TargetView = serde_json::from_value(json!({
        "id": "tgt_1", "name": "web-1", "tags": {}, "online": false,
        "last_seen": null, "agent_version": null,
    }))
    .expect("a target without inventory fields");
    assert_eq!((t.hostname, t.os), (None, None));
    let l: LoginResponse = serde_json::from_value(json!({
        "token": "t", "expires_at": 1, "user": "u", "is_admin": false,
    }))
    .expect("a login without mfa");
    assert!(!l.mfa);
    let e: ErrorBody = serde_json::from_value(json!({ "error": "no" })).expect("a plain error");
    assert_eq!(e, ErrorBody::new("no"));
    // What a client omits is not sent as null.
    let r = serde_json::to_value(LoginRequest {
        user: "u".into(),
        password: "p".into(),
        totp: None,
        recovery_code: None,
    })
    .expect("serialises");
    assert_eq!(r, json!({ "user": "u", "password": "p" }));
    let t = serde_json::to_value(Terminated {
        id: "ses_1".into(),
        terminated: true,
        requested: false,
    })
    .expect("serialises");
    assert_eq!(t, json!({ "id": "ses_1", "terminated": true }));
}

//! Authorization: the one function that decides whether a caller may do something.
//!
//! Every decision goes through [`authorize`], which asks the active Cedar policy set
//! (`wicket-policy`), logs the decision and appends it to the audit chain with the ids of the
//! policies that made it. The append fails closed: a decision that cannot be recorded is a
//! refusal. Default deny: what no policy permits is refused.

use std::net::IpAddr;
use std::sync::Arc;

use wicket_policy::{PolicySet, PrincipalInfo, RequestContext, TargetInfo};
use wicket_store::Target;

pub use wicket_policy::{Action, Decision};

use crate::audit::AuditUnavailable;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Why [`authorize`] refused: a policy's no, or a decision that could not be recorded. The
/// two stay apart all the way to the user (a 403 and a 503 over HTTP).
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// The text names who may not do what, and the policy that says so when one does.
    #[error("{0}")]
    Denied(String),
    #[error(transparent)]
    AuditUnavailable(#[from] AuditUnavailable),
}

impl From<AuthzError> for ApiError {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::Denied(why) => ApiError::forbidden(why),
            AuthzError::AuditUnavailable(e) => e.into(),
        }
    }
}

/// What an action is done to.
#[derive(Clone, Copy)]
pub enum Resource<'a> {
    /// The control plane itself: the resource of every admin action.
    Server,
    Target(&'a Target),
}

/// The per-request facts a policy may look at besides who and what.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub run_as: Option<String>,
    pub dest_host: Option<String>,
    pub dest_port: Option<u16>,
    /// Whether the caller's login proved a second factor. [`authorize`] always takes it from
    /// the [`Caller`]; a value set here by a handler is overridden.
    pub mfa: bool,
}

/// Decides, logs and records the decision (an `authz.decision` audit event, waited for), and
/// turns a refusal into [`AuthzError::Denied`] naming what was refused. If the decision cannot
/// be recorded, the request is refused ([`AuthzError::AuditUnavailable`]) whatever it was.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    action: Action,
    resource: Resource<'_>,
    facts: &Facts,
) -> Result<Decision, AuthzError> {
    let facts = &Facts {
        mfa: caller.mfa,
        ..facts.clone()
    };
    let decision = evaluate(
        &state.policies(),
        &principal(caller),
        action,
        resource,
        caller.source_ip,
        facts,
    );
    let what = describe(resource);
    tracing::info!(
        user = %caller.user.name,
        action = action.as_str(),
        resource = %what,
        run_as = facts.run_as.as_deref().unwrap_or(""),
        allowed = decision.allowed,
        policies = ?decision.policy_ids,
        "authorization decision"
    );
    let audit_resource = match resource {
        Resource::Server => "server".to_string(),
        Resource::Target(t) => format!("target:{}", t.name),
    };
    let mut details = serde_json::json!({
        "action": action.as_str(),
        "policies": decision.policy_ids,
        "mfa": facts.mfa,
    });
    if let Some(r) = facts.run_as.as_deref() {
        details["run_as"] = r.into();
    }
    state
        .audit()
        .append(crate::audit::event(
            &caller.user.name,
            caller.source_ip,
            "authz.decision",
            &audit_resource,
            if decision.allowed {
                wicket_audit::Outcome::Success
            } else {
                wicket_audit::Outcome::Denied
            },
            details,
        ))
        .await?;
    if decision.allowed {
        Ok(decision)
    } else {
        let as_user = facts
            .run_as
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|r| format!(" as {r}"))
            .unwrap_or_default();
        // A forbid that matched is named: the user then knows a rule says no, rather than
        // that a permit is missing, and what to ask an administrator about.
        let why = if decision.policy_ids.is_empty() {
            "no policy permits it".to_string()
        } else {
            format!("forbidden by policy {}", decision.policy_ids.join(", "))
        };
        let request = match (action, resource, &facts.dest_host) {
            (Action::Forward, Resource::Target(t), Some(host)) => format!(
                "forward to {} through target {}",
                crate::limits::host_port(host, facts.dest_port.unwrap_or(0)),
                t.name
            ),
            (Action::Copy, Resource::Target(t), _) => format!("copy files on target {}", t.name),
            _ => format!("{} {what}", action.as_str()),
        };
        Err(AuthzError::Denied(format!(
            "{} may not {request}{as_user}: {why}",
            caller.user.name,
        )))
    }
}

/// The decision alone, for `policies explain` and for re-checking live sessions.
pub fn evaluate(
    policies: &PolicySet,
    principal: &PrincipalInfo,
    action: Action,
    resource: Resource<'_>,
    source_ip: Option<IpAddr>,
    facts: &Facts,
) -> Decision {
    let ctx = RequestContext {
        run_as: facts.run_as.clone(),
        mfa: facts.mfa,
        source_ip,
        time: crate::now_ms() / 1000,
        dest_host: facts.dest_host.clone(),
        dest_port: facts.dest_port,
    };
    match resource {
        Resource::Server => {
            policies.authorize(principal, action, wicket_policy::Resource::Server, &ctx)
        }
        Resource::Target(t) => {
            let info = target_info(t);
            policies.authorize(
                principal,
                action,
                wicket_policy::Resource::Target(&info),
                &ctx,
            )
        }
    }
}

pub fn principal(caller: &Caller) -> PrincipalInfo {
    PrincipalInfo {
        name: caller.user.name.clone(),
        admin: caller.user.is_admin,
        groups: caller.groups.clone(),
    }
}

pub fn target_info(t: &Target) -> TargetInfo {
    TargetInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        os: t
            .inventory
            .as_ref()
            .map(|i| i.os.clone())
            .unwrap_or_default(),
        hostname: t
            .inventory
            .as_ref()
            .map(|i| i.hostname.clone())
            .unwrap_or_default(),
        tags: t.tags.clone(),
    }
}

fn describe(resource: Resource<'_>) -> String {
    match resource {
        Resource::Server => "the server".into(),
        Resource::Target(t) => format!("target {}", t.name),
    }
}

/// The policy set in force when the store has none: [`wicket_policy::DEFAULT_POLICIES`].
pub fn default_policies() -> Arc<PolicySet> {
    match PolicySet::parse(wicket_policy::DEFAULT_POLICIES) {
        Ok(p) => Arc::new(p),
        // The built-in set is tested in wicket-policy; failing here is a build defect.
        Err(e) => panic!("built-in policies do not validate: {e}"),
    }
}

//! Answering requests: turning the plain request into Cedar's and the answer into a [`Decision`].

use cedar_policy::{Authorizer, Request};

use crate::action::Action;
use crate::entities::{self, PrincipalInfo, RequestContext, Resource};
use crate::policy_set::PolicySet;
use crate::schema::schema;

/// The answer to one request, with what an audit event and `policies explain` need to say why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go ahead. Anything that is not an explicit permit (no policy
    /// applies, a forbid applies, the request is malformed) is a deny.
    pub allowed: bool,
    /// The determining policies, in file order: the permits that allowed the request, or the
    /// forbids that denied it. Empty for a default deny.
    pub policy_ids: Vec<String>,
    /// Policies that failed to evaluate (Cedar skips them), or why the request could not be
    /// built. Not shown to the user being denied; for operators explaining a decision.
    pub errors: Vec<String>,
}

impl Decision {
    /// A deny with no determining policy, because the request could not be evaluated.
    fn refused(error: String) -> Decision {
        Decision {
            allowed: false,
            policy_ids: Vec::new(),
            errors: vec![error],
        }
    }
}

impl PolicySet {
    /// Decides whether `principal` may do `action` on `resource` in circumstances `ctx`.
    /// Default deny: only an applicable `permit` with no applicable `forbid` allows. A request
    /// that does not fit the schema (a target action on [`Resource::Server`], say) is denied
    /// with the reason in [`Decision::errors`].
    pub fn authorize(
        &self,
        principal: &PrincipalInfo,
        action: Action,
        resource: Resource<'_>,
        ctx: &RequestContext,
    ) -> Decision {
        match self.try_authorize(principal, action, resource, ctx) {
            Ok(decision) => decision,
            Err(error) => Decision::refused(error),
        }
    }

    fn try_authorize(
        &self,
        principal: &PrincipalInfo,
        action: Action,
        resource: Resource<'_>,
        ctx: &RequestContext,
    ) -> Result<Decision, String> {
        let schema = schema()?;
        let request = Request::new(
            entities::uid("User", &principal.name)?,
            entities::action_uid(action)?,
            entities::resource_uid(resource)?,
            entities::context(action, ctx)?,
            Some(schema),
        )
        .map_err(|e| format!("request: {e}"))?;
        let entities = entities::entities(principal, resource, schema)?;
        let response = Authorizer::new().is_authorized(&request, &self.inner.cedar, &entities);
        let diagnostics = response.diagnostics();
        let mut policy_ids: Vec<String> = diagnostics.reason().map(|id| id.to_string()).collect();
        let ids = &self.inner.ids;
        policy_ids.sort_by_key(|id| ids.iter().position(|known| known == id));
        Ok(Decision {
            allowed: response.decision() == cedar_policy::Decision::Allow,
            policy_ids,
            errors: diagnostics.errors().map(|e| e.to_string()).collect(),
        })
    }
}

#[cfg(test)]
mod tests;

//! Finding a target, its live agent link, and the OS user a request will run as there.

use crate::registry::AgentConn;
use crate::state::AppState;

use super::Refusal;

/// A target by name, else by id; revoked targets do not exist for users.
pub async fn find_target(state: &AppState, wanted: &str) -> Result<wicket_store::Target, Refusal> {
    let target = state.store().target_by_name_or_id(wanted).await?;
    target
        .filter(|t| t.revoked_at.is_none())
        .ok_or_else(|| Refusal::UnknownTarget(wanted.to_owned()))
}

/// The OS user a session, command or copy on `target` will really run as, resolved before
/// the policy is asked, so that what the policy decides on (and the audit records) is what
/// then runs: the user the request names, else the configured `default_run_as`, else the user
/// the target's agent runs as, which it reports when it connects (for an agent running as
/// root, `root`). The agent is then always told the user explicitly. An agent too old to
/// report its user gets no session without a named one: "nobody named" must never slip past
/// a `forbid ... context.run_as == "root"`.
pub fn resolve_run_as(
    state: &AppState,
    target: &wicket_store::Target,
    requested: Option<String>,
) -> Result<String, Refusal> {
    let agent_user = || {
        state
            .agents()
            .get(&target.id)
            .map(|a| a.user)
            .or_else(|| target.inventory.as_ref().map(|i| i.user.clone()))
            .filter(|u| !u.is_empty())
    };
    requested
        .filter(|r| !r.is_empty())
        .or_else(|| state.config().default_run_as.clone())
        .or_else(agent_user)
        .ok_or_else(|| match online_agent(state, target, 1, "sessions") {
            // Never connected: offline is what the user needs to hear.
            Err(offline) => offline,
            Ok(_) => Refusal::Denied(format!(
                "target {}'s agent does not say which user it runs as (it predates that): \
                 name the user to run as (--user), or upgrade wicket-agent there",
                target.name
            )),
        })
}

/// The target's live agent link, refused with a clear reason when the agent is offline or
/// speaks a protocol older than `needed` (`feature` names what that version brings).
pub(super) fn online_agent(
    state: &AppState,
    target: &wicket_store::Target,
    needed: u16,
    feature: &'static str,
) -> Result<AgentConn, Refusal> {
    let agent = state
        .agents()
        .get(&target.id)
        .ok_or_else(|| Refusal::Offline(target.name.clone()))?;
    if agent.version < needed {
        return Err(Refusal::AgentTooOld {
            target: target.name.clone(),
            version: agent.version,
            needed,
            feature,
        });
    }
    Ok(agent)
}

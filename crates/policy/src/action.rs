//! The actions a policy can permit or forbid, named as in the schema.

use std::fmt;
use std::str::FromStr;

/// One thing a user asks wicketd to do. The variants mirror the `action` declarations of the
/// schema one for one, so a request can never name an action the policies cannot talk about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Open an interactive shell on a target.
    Connect,
    /// Run a command on a target without a shell (`wicket exec`, `wicket connect t -- cmd`).
    Exec,
    /// Open a TCP connection from a target (`wicket forward`, `wicket proxy`).
    Forward,
    /// Read or write files on a target (`wicket cp`).
    Copy,
    /// Watch another user's live session on a target.
    Watch,
    /// Replay a recorded session that ran on a target.
    Replay,
    /// End another user's session on a target.
    Terminate,
    /// Create, change and remove users.
    ManageUsers,
    /// Create, change and remove groups and their members.
    ManageGroups,
    /// Read and replace the policy set.
    ManagePolicies,
    /// Create and revoke activations used to enrol hosts.
    ManageActivations,
    /// Revoke, retag and remove enrolled agents.
    ManageAgents,
    /// Issue and revoke API tokens of other users.
    ManageTokens,
    /// Read and verify the audit log.
    ViewAudit,
    /// See the list of targets.
    ListTargets,
}

impl Action {
    /// Every action, target actions first, in schema order. Handy for "explain" listings and tests.
    pub const ALL: [Action; 15] = [
        Action::Connect,
        Action::Exec,
        Action::Forward,
        Action::Copy,
        Action::Watch,
        Action::Replay,
        Action::Terminate,
        Action::ManageUsers,
        Action::ManageGroups,
        Action::ManagePolicies,
        Action::ManageActivations,
        Action::ManageAgents,
        Action::ManageTokens,
        Action::ViewAudit,
        Action::ListTargets,
    ];

    /// The Cedar name: policies say `action == Wicket::Action::"<name>"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::Exec => "exec",
            Action::Forward => "forward",
            Action::Copy => "copy",
            Action::Watch => "watch",
            Action::Replay => "replay",
            Action::Terminate => "terminate",
            Action::ManageUsers => "manage_users",
            Action::ManageGroups => "manage_groups",
            Action::ManagePolicies => "manage_policies",
            Action::ManageActivations => "manage_activations",
            Action::ManageAgents => "manage_agents",
            Action::ManageTokens => "manage_tokens",
            Action::ViewAudit => "view_audit",
            Action::ListTargets => "list_targets",
        }
    }

    /// True for the actions that run as an OS user on the target (a session, a command, a
    /// copy): their requests carry `context.run_as`. The others (a forward, watching, admin
    /// actions) name no user, and a policy's conditions on `run_as` do not apply to them.
    pub fn runs_as_user(self) -> bool {
        matches!(self, Action::Connect | Action::Exec | Action::Copy)
    }

    /// True for actions whose resource is a target; false for those on `Wicket::Server`.
    /// The two kinds take different contexts, so the engine needs to tell them apart.
    pub fn is_target_action(self) -> bool {
        matches!(
            self,
            Action::Connect
                | Action::Exec
                | Action::Forward
                | Action::Copy
                | Action::Watch
                | Action::Replay
                | Action::Terminate
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given to [`Action::from_str`] is not one of the schema's actions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{0}`; expected one of connect, exec, forward, copy, watch, replay, terminate, manage_users, manage_groups, manage_policies, manage_activations, manage_agents, manage_tokens, view_audit, list_targets")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>(), Ok(action));
        }
        assert!("conect".parse::<Action>().is_err());
    }

    #[test]
    fn every_action_is_in_the_schema() {
        for action in Action::ALL {
            let needle = action.as_str();
            assert!(
                crate::schema_text().contains(needle),
                "{needle} missing from schema"
            );
        }
    }
}

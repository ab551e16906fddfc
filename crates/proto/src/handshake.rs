//! Messages exchanged once, at the start of a link, before any channel opens.
//!
//! The server speaks first with [`ServerHello`]: the versions it speaks and a fresh nonce. The
//! dialer answers with [`ClientHello`]: the version it picked and, for an agent, a signature over
//! the nonce that proves it holds the key enrolled for its target id. The server ends the
//! handshake with [`Welcome`], or with an error frame and a close. These are JSON so that fields
//! can be added without a version bump; unknown fields are ignored.

use serde::{Deserialize, Serialize};

/// Domain separation for the agent's proof signature, so that the signature can never be
/// mistaken for one made for another purpose.
pub const AGENT_PROOF_CONTEXT: &[u8] = b"wicket-agent-link-v1\0";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerHello {
    /// Protocol versions the server speaks.
    pub versions: Vec<u16>,
    /// 32 random bytes, hex; an agent signs them so a recorded proof cannot be replayed.
    pub nonce: String,
    /// The server's build, for diagnostics.
    #[serde(default)]
    pub server_version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientHello {
    /// The version the dialer picked from [`ServerHello::versions`].
    pub version: u16,
    /// The dialer's build, for diagnostics.
    #[serde(default)]
    pub client_version: String,
    /// Present when the dialer is an agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentProof>,
}

/// An agent's claim to be a target, and its proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProof {
    pub target_id: String,
    /// Ed25519 signature, hex, over [`agent_proof_message`].
    pub signature: String,
    /// What the host looks like now; reported on every connect.
    #[serde(default)]
    pub inventory: Inventory,
}

/// Facts about an agent's host, reported at connect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub arch: String,
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub agent_version: String,
    /// The user the agent runs as, which is who a session runs as when no one is named. The
    /// server resolves the run-as user with it before asking the policy, so that the policy
    /// decides on the user that will really run the session. Empty from agents that predate
    /// it: the server then asks the user to name one.
    #[serde(default)]
    pub user: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The version both sides now speak.
    pub version: u16,
    /// How often the dialer should send a ping; the server drops a link silent for three times
    /// this long.
    pub heartbeat_secs: u32,
}

/// The bytes an agent signs: context, nonce, target id. Fixed layout, never JSON, so both
/// sides compute exactly the same bytes.
pub fn agent_proof_message(nonce: &str, target_id: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(AGENT_PROOF_CONTEXT.len() + nonce.len() + 1 + target_id.len());
    m.extend_from_slice(AGENT_PROOF_CONTEXT);
    m.extend_from_slice(nonce.as_bytes());
    m.push(0);
    m.extend_from_slice(target_id.as_bytes());
    m
}

/// The newest version both sides speak, if any.
pub fn negotiate(ours: &[u16], theirs: &[u16]) -> Option<u16> {
    ours.iter().copied().filter(|v| theirs.contains(v)).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_newest_common() {
        assert_eq!(negotiate(&[1, 2, 3], &[2, 3, 4]), Some(3));
        assert_eq!(negotiate(&[1], &[2]), None);
    }

    #[test]
    fn proof_message_separates_fields() {
        assert_ne!(
            agent_proof_message("ab", "c"),
            agent_proof_message("a", "bc")
        );
    }
}

//! Enrolment: trade an activation code and a fresh public key for a target id.

use std::collections::BTreeMap;
use std::path::Path;

use wicket_api::{RegisterRequest, RegisterResponse};
use wicket_dial::{ApiClient, ApiError, ServerUrl};
use wicket_tls::{Fingerprint, Trust};

use crate::error::AgentError;
use crate::identity::{generate_key, Identity};

pub struct RegisterOptions {
    pub server: ServerUrl,
    pub activation_id: String,
    pub activation_code: String,
    /// Pin the server's CA; `None` trusts the OS store.
    pub ca_fingerprint: Option<Fingerprint>,
    pub tags: BTreeMap<String, String>,
    /// Defaults to the host name.
    pub name: Option<String>,
    /// Replace an existing identity.
    pub force: bool,
}

/// Enrols this host and stores the identity in `state_dir`.
pub async fn register(opts: RegisterOptions, state_dir: &Path) -> Result<Identity, AgentError> {
    if !opts.force {
        if let Ok(existing) = Identity::load(state_dir) {
            return Err(AgentError::Identity(format!(
                "already enrolled as {} ({}) with {}; pass --force to enrol again",
                existing.name, existing.target_id, existing.server
            )));
        }
    }
    let name = match opts.name {
        Some(n) => n,
        None => crate::inventory::collect().hostname,
    };
    let (pkcs8, public) = generate_key()?;
    let trust = match opts.ca_fingerprint {
        Some(fp) => Trust::Pinned(fp),
        None => Trust::System,
    };
    let api = ApiClient::new(opts.server.clone(), &trust, None)?;
    let req = RegisterRequest {
        activation_id: opts.activation_id,
        activation_code: opts.activation_code,
        name,
        public_key: hex::encode(&public),
        tags: opts.tags,
    };
    let resp: RegisterResponse =
        api.post("/v1/agents/register", &req)
            .await
            .map_err(|e| match e {
                ApiError::Status { message, .. } | ApiError::Unauthorized(message) => {
                    AgentError::Enrolment(message)
                }
                other => AgentError::Api(other),
            })?;
    let identity = Identity::new(
        opts.server.to_string(),
        resp.target_id,
        resp.name,
        opts.ca_fingerprint.map(|f| f.to_string()),
        &pkcs8,
    );
    identity.save(state_dir)?;
    Ok(identity)
}

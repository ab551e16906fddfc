//! An enrolled agent that speaks an older protocol version, done by hand: for tests that the
//! server refuses, clearly, to open a channel type such an agent cannot decode.

use std::time::Duration;

use anyhow::{bail, ensure, Result};
use wicket_proto::handshake::{agent_proof_message, AgentProof};
use wicket_proto::{ClientHello, Frame, OpenSpec};

use crate::Harness;

/// The old agent's link. Every channel the server opens on it is reported on `seen`; a test
/// expects none.
pub struct OldAgent {
    pub mux: wicket_mux::Mux,
    pub seen: tokio::sync::mpsc::UnboundedReceiver<OpenSpec>,
}

impl Harness {
    /// Enrols `name` and connects it as an agent offering only protocol `version`, then waits
    /// until the server lists it online.
    pub async fn old_agent(&self, name: &str, version: u16) -> Result<OldAgent> {
        let (id, code) = self.activation(&[]).await?;
        let out = self.register(name, &id, &code).await?;
        ensure!(out.status.success(), "{}", crate::cli::show(&out));
        let identity = wicket_agent::Identity::load(&self.agent_dir(name))?;
        let server = wicket_dial::ServerUrl::parse(&identity.server)?;
        let mut t = wicket_dial::dial(
            &server,
            "/v1/agent/link",
            &identity.trust()?,
            None,
            Duration::from_secs(10),
        )
        .await?;
        let Frame::ServerHello(hello) = t.recv_frame(Duration::from_secs(5)).await? else {
            bail!("no server hello");
        };
        ensure!(
            hello.versions.contains(&version),
            "the server no longer offers version {version}: {:?}",
            hello.versions
        );
        let signature = identity.sign(&agent_proof_message(&hello.nonce, &identity.target_id))?;
        t.send_frame(&Frame::ClientHello(ClientHello {
            version,
            client_version: format!("0.0.{version}-old"),
            agent: Some(AgentProof {
                target_id: identity.target_id.clone(),
                signature: signature.iter().map(|b| format!("{b:02x}")).collect(),
                inventory: Default::default(),
            }),
        }))
        .await?;
        let Frame::Welcome(w) = t.recv_frame(Duration::from_secs(5)).await? else {
            bail!("no welcome");
        };
        ensure!(w.version == version, "welcomed at version {}", w.version);
        let (mux, mut incoming) = wicket_mux::Mux::start(
            t,
            wicket_mux::Role::Dialer,
            wicket_mux::MuxConfig {
                ping_interval: Some(Duration::from_secs(1)),
                ..Default::default()
            },
        );
        let (seen_tx, seen) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(ch) = incoming.recv().await {
                let _ = seen_tx.send(ch.spec().clone());
            }
        });
        ensure!(
            self.wait_online(name, true, Duration::from_secs(10))
                .await?,
            "{name} never came online"
        );
        Ok(OldAgent { mux, seen })
    }
}

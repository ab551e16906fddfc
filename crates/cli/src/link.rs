//! The user's link to wicketd: dial `/v1/link` with the token, handshake, start the mux.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use wicket_dial::DialError;
use wicket_mux::{Mux, MuxConfig, Role};
use wicket_proto::handshake::negotiate;
use wicket_proto::{ClientHello, Frame, SUPPORTED_VERSIONS};

use crate::profile::Profile;

const TIMEOUT: Duration = Duration::from_secs(15);

pub async fn open(profile: &Profile) -> Result<Mux> {
    Ok(open_versioned(profile).await?.0)
}

/// [`open`], and the protocol version the link agreed on, for a command that uses what a
/// newer version adds only when the server speaks it.
pub async fn open_versioned(profile: &Profile) -> Result<(Mux, u16)> {
    let token = profile.live_token()?;
    let server = profile.server_url()?;
    let mut t = match wicket_dial::dial(
        &server,
        "/v1/link",
        &profile.trust()?,
        Some(&token),
        TIMEOUT,
    )
    .await
    {
        Ok(t) => t,
        Err(DialError::Http {
            status: 401,
            message,
        }) => {
            bail!("{message}");
        }
        Err(e) => return Err(e.into()),
    };
    let hello = match t.recv_frame(TIMEOUT).await.context("handshake")? {
        Frame::ServerHello(h) => h,
        other => bail!(
            "unexpected {:?} from the server during the handshake",
            other.kind()
        ),
    };
    let Some(version) = negotiate(SUPPORTED_VERSIONS, &hello.versions) else {
        bail!(
            "this wicket speaks protocol {:?} and the server {:?}; upgrade the older side",
            SUPPORTED_VERSIONS,
            hello.versions
        );
    };
    t.send_frame(&Frame::ClientHello(ClientHello {
        version,
        client_version: env!("CARGO_PKG_VERSION").into(),
        agent: None,
    }))
    .await?;
    let welcome = match t.recv_frame(TIMEOUT).await.context("handshake")? {
        Frame::Welcome(w) => w,
        other => bail!(
            "unexpected {:?} from the server during the handshake",
            other.kind()
        ),
    };
    let hb = Duration::from_secs(u64::from(welcome.heartbeat_secs.max(1)));
    let config = MuxConfig {
        ping_interval: Some(hb),
        idle_timeout: Some(hb * 3),
        ..MuxConfig::default()
    };
    let (mux, _incoming) = Mux::start(t, Role::Dialer, config);
    Ok((mux, version))
}

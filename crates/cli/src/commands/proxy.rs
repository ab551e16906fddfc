//! `wicket proxy TARGET PORT [--host HOST]`: stdin and stdout bridged to HOST:PORT on the target,
//! for `ProxyCommand wicket proxy %h %p` in ssh_config.
//!
//! End of stdin is sent as `EOF` (a half-close at the destination); the destination's end of
//! stream closes stdout, so ssh, scp and rsync see each direction end on its own. The command
//! exits once both directions have ended, or at once when either side fails.

use anyhow::Result;
use wicket_mux::MuxError;
use wicket_proto::{OpenSpec, TcpSpec};

use crate::args::ProxyArgs;
use crate::commands::connect::ConnectFailed;
use crate::profile::Config;
use crate::stdio;

pub async fn proxy(profile_name: Option<&str>, args: ProxyArgs) -> Result<i32> {
    let fail = |e: String| anyhow::Error::from(ConnectFailed(e));
    let (_, profile) = Config::load()
        .and_then(|c| c.selected(profile_name))
        .map_err(|e| fail(format!("{e:#}")))?;
    if args.port == 0 {
        return Err(fail("port 0 is not a destination".into()));
    }
    let mux = crate::link::open(&profile)
        .await
        .map_err(|e| fail(format!("{e:#}")))?;
    let dest = if args.host.contains(':') {
        format!("[{}]:{}", args.host, args.port)
    } else {
        format!("{}:{}", args.host, args.port)
    };
    let channel = mux
        .open(OpenSpec::Tcp(TcpSpec {
            target: Some(args.target.clone()),
            host: args.host.clone(),
            port: args.port,
            peer: Some("stdio".into()),
            ..TcpSpec::default()
        }))
        .await
        .map_err(|e| match e {
            MuxError::Rejected { reason, .. } => {
                fail(format!("{dest} via {}: {reason}", args.target))
            }
            other => fail(format!("{dest} via {}: {other}", args.target)),
        })?;
    let done = wicket_mux::splice(channel, stdio::stdin(), stdio::stdout_owned()?, drop).await;
    match done.error {
        None => Ok(0),
        Some(e) => Err(fail(format!("{dest} via {}: {e}", args.target))),
    }
}

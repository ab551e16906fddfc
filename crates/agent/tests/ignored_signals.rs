//! A process inherits the signals its parent ignores. This test binary ignores SIGINT and
//! SIGQUIT, as an agent started by `nohup` or a script's `&` does, and checks that the
//! sessions it starts still get the default actions (its own binary: the setting is global).

use std::time::Duration;

use nix::sys::signal::{signal, SigHandler, Signal};
use tokio::time::timeout;
use wicket_agent::process::{spawn, ExitStatus, PtySize, SessionRequest, Spawned};

#[allow(unsafe_code)]
fn ignore_interrupts() {
    for sig in [Signal::SIGINT, Signal::SIGQUIT] {
        // SAFETY: installs SIG_IGN, no handler; the test threads do not rely on these signals.
        unsafe { signal(sig, SigHandler::SigIgn) }.expect("ignore");
    }
}

async fn interrupted(pty: bool) -> ExitStatus {
    let mut req = SessionRequest {
        command: Some("sleep 30".to_owned()),
        ..SessionRequest::default()
    };
    if pty {
        req.pty = Some(("xterm".to_owned(), PtySize { cols: 80, rows: 24 }));
    }
    let spawned = spawn(&req).await.expect("spawn");
    tokio::time::sleep(Duration::from_millis(200)).await;
    spawned.control().signal(Signal::SIGINT).expect("signal");
    let wait = async {
        match spawned {
            Spawned::Pty(p) => p.into_parts().2.wait().await,
            Spawned::Pipes(p) => p.into_parts().3.wait().await,
        }
    };
    timeout(Duration::from_secs(5), wait)
        .await
        .expect("SIGINT did not end the command: the ignored disposition was inherited")
        .expect("wait")
}

#[tokio::test]
async fn sessions_do_not_inherit_the_agents_ignored_signals() {
    ignore_interrupts();
    for pty in [false, true] {
        let status = interrupted(pty).await;
        assert!(
            status == ExitStatus::Signal(Signal::SIGINT as i32) || status == ExitStatus::Code(130),
            "pty {pty}: unexpected status {status:?}"
        );
    }
}

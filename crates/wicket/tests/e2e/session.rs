//! Enrol, list, connect and run commands: exit statuses, stdout and stderr kept apart, stdin
//! streamed, `-t` from a pipe, clear errors for unknown and offline targets.

use anyhow::Result;
use wicket_testkit::cli::show;
use wicket_testkit::{bins, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_list_connect_and_run() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;

    // Listed, online, with its version and default tags.
    let list = h.admin.ok(&["targets", "--output", "json"]).await?;
    let targets: serde_json::Value = serde_json::from_str(&list)?;
    let t = &targets[0];
    assert_eq!(t["name"], "web-1");
    assert_eq!(t["online"], true);
    assert_eq!(t["agent_version"], env!("CARGO_PKG_VERSION"));
    let table = h.admin.ok(&["targets"]).await?;
    assert!(
        table.contains("web-1") && table.contains("online"),
        "{table}"
    );
    // A reader that has gone (`wicket targets | head -0`) ends the command quietly, with
    // status 0 and no panic.
    let (read_end, write_end) = nix::unistd::pipe()?;
    drop(read_end);
    let out = h
        .admin
        .command()
        .args(["targets", "--output", "json"])
        .stdout(std::process::Stdio::from(write_end))
        .output()
        .await?;
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(out.stderr.is_empty(), "{}", show(&out));

    // Exit status and stream separation.
    let out = h
        .admin
        .run(
            &["connect", "web-1", "--", "echo out; echo err >&2; exit 42"],
            None,
        )
        .await?;
    assert_eq!(out.status.code(), Some(42), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "out\n",
        "{}",
        show(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "err\n",
        "{}",
        show(&out)
    );

    // `-t` gives a command a terminal on the target even when stdin is not one (a pipe
    // here); without it the command has none.
    let out = h
        .admin
        .run(&["connect", "-t", "web-1", "--", "tty"], None)
        .await?;
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("/dev/pts/"),
        "{}",
        show(&out)
    );
    let out = h
        .admin
        .run(&["connect", "web-1", "--", "tty"], None)
        .await?;
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "not a tty\n");

    // By id as well as by name; stdin streamed through, end of input delivered.
    let id = t["id"].as_str().unwrap_or_default().to_string();
    let input: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let out = h
        .admin
        .run(&["connect", &id, "--", "sha256sum"], Some(&input))
        .await?;
    assert!(out.status.success(), "{}", show(&out));
    let expected = {
        let mut c = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        use std::io::Write;
        c.stdin.take().map(|mut s| s.write_all(&input));
        c.wait_with_output()?.stdout
    };
    assert_eq!(out.stdout, expected, "{}", show(&out));

    // A signal-killed command reports 128 + signal, as a shell would.
    let out = h
        .admin
        .run(&["connect", "web-1", "--", "kill -TERM $$"], None)
        .await?;
    assert_eq!(out.status.code(), Some(128 + 15), "{}", show(&out));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_offline_targets_are_clear_errors() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    let out = h
        .admin
        .run(&["connect", "nope", "--", "true"], None)
        .await?;
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown target \"nope\""),
        "{}",
        show(&out)
    );

    let i = h.add_agent("db-1").await?;
    h.agents[i].kill();
    assert!(
        h.wait_online("db-1", false, std::time::Duration::from_secs(10))
            .await?,
        "agent still listed online after being killed"
    );
    let out = h
        .admin
        .run(&["connect", "db-1", "--", "true"], None)
        .await?;
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("offline"),
        "{}",
        show(&out)
    );

    // Not logged in at all.
    let stranger = h.cli("stranger");
    let out = stranger.run(&["targets"], None).await?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not logged in"),
        "{}",
        show(&out)
    );

    // A server that is not there.
    let out = stranger
        .login("https://127.0.0.1:1", &h.server.fingerprint, "admin", "x")
        .await?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach"),
        "{}",
        show(&out)
    );
    Ok(())
}

//! Session settings from the configuration: a banner, a shell profile (environment, working
//! directory), an idle timeout and a maximum duration, globally and per target tag; the user
//! is told why a session ended; a command's output kept out of its recording.

use std::time::{Duration, Instant};

use anyhow::Result;
use wicket_testkit::cli::show;
use wicket_testkit::{bins, Harness};

const CONFIG: &str = r#"
[session]
idle_timeout = "1s"
banner = "Authorized use only."

[session.env]
WICKET_GREETING = "hello"

[[session_overrides]]
tag = "env=prod"
banner = "PRODUCTION"
working_dir = "/tmp"
idle_timeout = "30s"
max_duration = "2s"
record_exec_output = false
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_profile_idle_timeout_and_max_duration() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("wicketd.toml");
    std::fs::write(&config, CONFIG)?;
    let mut h = Harness::start_with(
        bins!(),
        &[("WICKET_CONFIG", config.to_str().unwrap_or_default())],
    )
    .await?;
    h.add_agent("dev-1").await?;
    h.add_agent_tagged("web-1", &["env=prod"]).await?;

    // Global layer: banner on stderr, the profile's environment, and an idle session ends.
    let started = Instant::now();
    let out = h
        .admin
        .run(
            &["connect", "dev-1", "--", "echo $WICKET_GREETING; sleep 10"],
            None,
        )
        .await?;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello\n",
        "{}",
        show(&out)
    );
    assert!(err.starts_with("Authorized use only.\n"), "{}", show(&out));
    assert!(err.contains("idle for 1s (idle timeout)"), "{}", show(&out));
    assert_eq!(out.status.code(), Some(255));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "idle session lasted {:?}",
        started.elapsed()
    );

    // Activity keeps a session alive past the idle timeout.
    let out = h
        .admin
        .run(
            &[
                "connect",
                "dev-1",
                "--",
                "for i in 1 2 3 4 5; do echo $i; sleep 0.4; done",
            ],
            None,
        )
        .await?;
    assert!(out.status.success(), "{}", show(&out));

    // The prod override: its banner, working directory, and maximum duration despite activity.
    let started = Instant::now();
    let out = h
        .admin
        .run(
            &[
                "connect",
                "web-1",
                "--",
                "pwd; while true; do echo tick; sleep 0.3; done",
            ],
            None,
        )
        .await?;
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(stdout.starts_with("/tmp\ntick\n"), "{}", show(&out));
    assert!(err.starts_with("PRODUCTION\n"), "{}", show(&out));
    assert!(
        err.contains("maximum session duration of 2s"),
        "{}",
        show(&out)
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "took {took:?}"
    );

    // A command's output: recorded by default, binary or not; kept out where the settings say
    // so (env=prod), with a marker saying so, while its input is still recorded.
    let dev_out = run_and_replay(&h, "dev-1", "printf 'bin\\377\\376ary-output-kept\\n'").await?;
    assert!(
        dev_out.contains("bin\u{fffd}\u{fffd}ary-output-kept"),
        "{dev_out}"
    );
    assert!(!dev_out.contains("not recorded"), "{dev_out}");
    let prod_out = run_and_replay(&h, "web-1", "read x; echo output-left-out-$x").await?;
    assert!(!prod_out.contains("output-left-out"), "{prod_out}");
    assert!(prod_out.contains("typed-input"), "{prod_out}");
    assert!(
        prod_out.contains("output not recorded: record_exec_output is false"),
        "{prod_out}"
    );
    Ok(())
}

/// Runs `command` on `target` with a line of input, then returns its recording as
/// `wicket replay --raw` prints it.
async fn run_and_replay(h: &Harness, target: &str, command: &str) -> Result<String> {
    let out = h
        .admin
        .run(&["connect", target, "--", command], Some(b"typed-input\n"))
        .await?;
    assert!(out.status.success(), "{}", show(&out));
    let list: Vec<serde_json::Value> = serde_json::from_str(
        &h.admin
            .ok(&[
                "sessions", "--target", target, "--limit", "1", "--output", "json",
            ])
            .await?,
    )?;
    let id = list[0]["id"].as_str().unwrap_or_default().to_owned();
    // The history completes (and the recording is sealed) just after the client sees the exit.
    for _ in 0..100 {
        let raw = h.admin.run(&["replay", &id, "--raw"], None).await?;
        if raw.status.success() {
            return Ok(String::from_utf8_lossy(&raw.stdout).into_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the recording of {id} never became readable")
}

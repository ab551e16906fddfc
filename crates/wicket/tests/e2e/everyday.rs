//! The everyday commands of issue #20, through the real CLI on one server: logging in again
//! with just `wicket login`, an untrusted CA explained, `status`, `profiles`, `targets`
//! filters, target-name completion, `exec` (ssh's argument shape, binary-clean, statuses),
//! `connect` without `--`, and `admin agents list|retag|remove`. rsync and git over
//! `wicket exec` need those tools ([`rsync_and_git_over_exec`]).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use wicket_testkit::cli::show;
use wicket_testkit::harness::ADMIN_PASSWORD;
use wicket_testkit::{bins, Cli, Harness};

/// `wicket ARGS` with `stdin`, its output as text.
async fn run(cli: &Cli, args: &[&str], stdin: Option<&[u8]>) -> Result<(i32, String, String)> {
    let out = cli.run(args, stdin).await?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The names in a JSON list of targets or agents.
fn names(json: &str) -> Result<Vec<String>> {
    let v: Vec<Value> = serde_json::from_str(json)?;
    Ok(v.iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect())
}

/// The user this test runs as: the agent's own, so `-l` needs no user switching.
fn me() -> Result<String> {
    Ok(nix::unistd::User::from_uid(nix::unistd::getuid())?
        .context("no passwd entry for this user")?
        .name)
}

/// Enrols a host named `name` from a state directory of its own (`dir`).
fn enrol_as(
    h: &Harness,
    dir: &str,
    name: &str,
    id: &str,
    code: &str,
) -> Result<std::process::Output> {
    wicket_testkit::AgentProc::register(
        &h.bins.agent,
        &h.agent_dir(dir),
        &[
            "--server",
            &h.server.url,
            "--activation-id",
            id,
            "--activation-code",
            code,
            "--ca-fingerprint",
            &h.server.fingerprint,
            "--name",
            name,
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyday_commands() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent_tagged("web-1", &["env=prod"]).await?;
    // Enrolled, never run: offline targets to filter, retag and remove.
    for (name, tag) in [("db-1", "env=dev"), ("db-2", "env=prod")] {
        let (id, code) = h.activation(&["--tag", tag]).await?;
        let out = h.register(name, &id, &code).await?;
        anyhow::ensure!(out.status.success(), "{}", show(&out));
    }
    let (url, fp) = (h.server.url.clone(), h.server.fingerprint.clone());
    let admin = h.admin.clone();

    // ---- status
    let (code, table, _) = run(&admin, &["status"], None).await?;
    assert_eq!(code, 0, "{table}");
    for want in [
        "Profile:  default (current)",
        &format!("Server:   {url} (reachable; CA pinned)"),
        "User:     admin (administrator)",
        "Token:    expires at ",
        "MFA:      this login did not use a second factor; enrolled: no",
    ] {
        assert!(table.contains(want), "status lacks {want:?}:\n{table}");
    }
    let (code, json, _) = run(&admin, &["status", "--output", "json"], None).await?;
    assert_eq!(code, 0);
    let s: Value = serde_json::from_str(&json)?;
    assert_eq!(s["user"], "admin");
    assert_eq!(s["server"], url.as_str());
    assert_eq!(
        (s["logged_in"].as_bool(), s["reachable"].as_bool()),
        (Some(true), Some(true))
    );
    let left = s["expires_in_secs"].as_u64().context("expires_in_secs")?;
    assert!(left > 60 && s["expires_at"].as_i64().is_some(), "{s}");
    // A server that is not there: what the profile holds, the problem, and status 1.
    let away = h.cli("away");
    std::fs::create_dir_all(away.config_home.join("wicket"))?;
    std::fs::write(
        away.config_home.join("wicket/config.toml"),
        format!(
            "current = \"gone\"\n[profiles.gone]\nserver = \"https://127.0.0.1:1\"\n\
             user = \"alice\"\nca_fingerprint = \"{fp}\"\ntoken = \"wkt_x\"\n\
             expires_at = 99999999999999\n"
        ),
    )?;
    let (code, json, _) = run(&away, &["status", "-o", "json"], None).await?;
    assert_eq!(code, 1, "{json}");
    let s: Value = serde_json::from_str(&json)?;
    assert_eq!(
        (s["reachable"].as_bool(), s["user"].as_str()),
        (Some(false), Some("alice"))
    );
    assert!(
        s["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot reach"),
        "{s}"
    );

    // ---- logging in again, and profiles
    // No --server, no --ca-fingerprint, no --user: the profile has them.
    let (code, _, err) = run(
        &admin,
        &["login", "--password-stdin"],
        Some(format!("{ADMIN_PASSWORD}\n").as_bytes()),
    )
    .await?;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("Logged in to {url} as admin")),
        "{err}"
    );
    // A second profile does not become current behind the user's back.
    let (code, _, err) = run(
        &admin,
        &[
            "--profile",
            "other",
            "login",
            "--server",
            &url,
            "--ca-fingerprint",
            &fp,
            "--user",
            "admin",
            "--password-stdin",
        ],
        Some(format!("{ADMIN_PASSWORD}\n").as_bytes()),
    )
    .await?;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("The current profile is still default") && err.contains("profiles use other"),
        "{err}"
    );
    let listed = admin.ok(&["profiles"]).await?;
    let current: Vec<&str> = listed.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(current.len(), 1, "{listed}");
    assert!(
        current[0].contains("default") && listed.contains("other"),
        "{listed}"
    );
    admin.ok(&["profiles", "use", "other"]).await?;
    let v: Vec<Value> = serde_json::from_str(&admin.ok(&["profiles", "-o", "json"]).await?)?;
    let current: Vec<&str> = v
        .iter()
        .filter(|p| p["current"] == true)
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(current, ["other"]);
    assert!(
        v.iter().all(|p| p.get("token").is_none()),
        "a token was printed"
    );
    let (code, table, _) = run(&admin, &["status"], None).await?;
    assert!(
        code == 0 && table.contains("Profile:  other (current)"),
        "{table}"
    );
    let (code, _, err) = run(&admin, &["profiles", "use", "nope"], None).await?;
    assert!(
        code != 0 && err.contains("no profile named \"nope\""),
        "{err}"
    );
    admin.ok(&["profiles", "use", "default"]).await?;

    // A CA this machine does not trust, and no pin: what to do, not `UnknownIssuer`.
    let (code, _, err) = run(
        &h.cli("fresh"),
        &[
            "login",
            "--server",
            &url,
            "--user",
            "admin",
            "--password-stdin",
        ],
        Some(format!("{ADMIN_PASSWORD}\n").as_bytes()),
    )
    .await?;
    assert_ne!(code, 0);
    assert!(!err.contains("UnknownIssuer"), "{err}");
    for want in [
        "not signed by a CA this machine trusts",
        "--ca-fingerprint",
        "wicketd prints",
        "wicketd dev",
        &fp,
    ] {
        assert!(err.contains(want), "lacks {want:?}: {err}");
    }
    // A first `wicket login` with nothing to go on asks for the server.
    let (code, _, err) = run(&h.cli("fresh"), &["login"], None).await?;
    assert!(code != 0 && err.contains("--server URL"), "{err}");

    // ---- targets: a name (substring or glob) and tags, all of which must match
    let filtered = |args: &'static [&'static str]| {
        let admin = admin.clone();
        async move {
            let mut a = vec!["targets", "-o", "json"];
            a.extend_from_slice(args);
            names(&admin.ok(&a).await?)
        }
    };
    assert_eq!(filtered(&["web"]).await?, ["web-1"]);
    assert_eq!(filtered(&["db-*"]).await?, ["db-1", "db-2"]);
    assert_eq!(filtered(&["--tag", "env=prod"]).await?, ["db-2", "web-1"]);
    assert_eq!(filtered(&["db-?", "--tag", "env=prod"]).await?, ["db-2"]);
    assert!(filtered(&["--tag", "env=prod", "--tag", "team=a"])
        .await?
        .is_empty());
    let (code, _, err) = run(&admin, &["targets", "--tag", "env"], None).await?;
    assert!(code != 0 && err.contains("expected key=value"), "{err}");

    // ---- completion: target names from the server, nothing (and quickly) without one
    let complete = |cli: &Cli, words: &[&str]| {
        let mut c = cli.command();
        c.env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
            .arg("--")
            .args(words)
            .stdin(Stdio::null());
        async move { c.output().await }
    };
    let out = complete(&admin, &["wicket", "connect", "db"]).await?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "db-1\ndb-2",
        "{}",
        show(&out)
    );
    let out = complete(&admin, &["wicket", "exec", "w"]).await?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "web-1",
        "{}",
        show(&out)
    );
    let out = complete(&admin, &["wicket", "sta"]).await?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "status",
        "{}",
        show(&out)
    );
    // A server that accepts the connection and never answers: the TAB gives up on its own.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let config = away.config_home.join("wicket/config.toml");
    let text = std::fs::read_to_string(&config)?.replace(
        "https://127.0.0.1:1",
        &format!("https://{}", silent.local_addr()?),
    );
    std::fs::write(&config, text)?;
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        complete(&away, &["wicket", "connect", ""]),
    )
    .await
    .context("completion hung on a silent server")??;
    let offered = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        show(&out)
    );
    assert!(offered.lines().all(|l| l.starts_with('-')), "{offered}");
    eprintln!(
        "completion against a silent server took {:?}",
        started.elapsed()
    );
    drop(silent);

    // ---- exec: ssh's shape, no `--`, binary-clean, statuses passed through
    let me = me()?;
    let (code, out, err) = run(&admin, &["exec", "web-1", "ls", "-d", "/"], None).await?;
    assert_eq!((code, out.as_str()), (0, "/\n"), "{err}");
    let (code, out, _) = run(&admin, &["exec", "-l", &me, "web-1", "id", "-un"], None).await?;
    assert_eq!((code, out.trim()), (0, me.as_str()));
    let at = format!("{me}@web-1");
    let (code, out, _) = run(
        &admin,
        &[
            "exec",
            "-p",
            "22",
            "-o",
            "SendEnv=GIT_PROTOCOL",
            "-T",
            &at,
            "id",
            "-un",
        ],
        None,
    )
    .await?;
    assert_eq!((code, out.trim()), (0, me.as_str()));
    let (code, _, _) = run(&admin, &["exec", "web-1", "exit 7"], None).await?;
    assert_eq!(code, 7);
    let (code, out, _) = run(&admin, &["exec", "web-1", "--", "echo", "a", "--b"], None).await?;
    assert_eq!((code, out.as_str()), (0, "a --b\n"));
    // Every byte value, through and back; end of input ends `cat`.
    // What an escape character would act on (`~.` after a newline) is data here too.
    let mut bytes: Vec<u8> = b"\n~.\n~?\n~~\n".to_vec();
    bytes.extend((0..64 * 1024u32).map(|i| (i % 256) as u8));
    let out = admin.run(&["exec", "web-1", "cat"], Some(&bytes)).await?;
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        out.stdout == bytes,
        "exec is not binary-clean ({} bytes back)",
        out.stdout.len()
    );
    let (code, _, err) = run(&admin, &["exec", "nope", "true"], None).await?;
    assert!(code == 255 && err.contains("unknown target"), "{err}");
    // `connect` takes a command without `--` too, and still with it.
    let (code, out, _) = run(&admin, &["connect", "web-1", "echo", "x", "-y"], None).await?;
    assert_eq!((code, out.as_str()), (0, "x -y\n"));
    let (code, out, _) = run(&admin, &["connect", "web-1", "--", "echo", "z"], None).await?;
    assert_eq!((code, out.as_str()), (0, "z\n"));

    // ---- admin agents: list (revoked ones too), retag, remove
    let agents: Vec<Value> =
        serde_json::from_str(&admin.ok(&["admin", "agents", "list", "-o", "json"]).await?)?;
    let web = agents
        .iter()
        .find(|a| a["name"] == "web-1")
        .context("web-1")?;
    assert_eq!(web["online"], true);
    assert!(agents.iter().all(|a| a["revoked_at"].is_null()));
    let table = admin.ok(&["admin", "agents", "list"]).await?;
    assert!(
        table.contains("db-1") && table.contains("offline"),
        "{table}"
    );
    let said = admin
        .ok(&[
            "admin", "agents", "retag", "db-1", "--tag", "env=prod", "--tag", "team=a",
        ])
        .await?;
    assert!(said.contains("env=prod,team=a"), "{said}");
    assert_eq!(filtered(&["--tag", "team=a"]).await?, ["db-1"]);
    admin
        .ok(&["admin", "agents", "retag", "db-1", "--clear"])
        .await?;
    assert!(filtered(&["--tag", "team=a"]).await?.is_empty());
    let (code, _, err) = run(&admin, &["admin", "agents", "retag", "db-1"], None).await?;
    assert!(code != 0 && err.contains("--clear"), "{err}");
    // A revoked target is still listed; removing it frees its name.
    admin.ok(&["admin", "agents", "revoke", "db-2"]).await?;
    let agents: Vec<Value> =
        serde_json::from_str(&admin.ok(&["admin", "agents", "list", "-o", "json"]).await?)?;
    let db2 = agents
        .iter()
        .find(|a| a["name"] == "db-2")
        .context("db-2 listed")?;
    assert!(db2["revoked_at"].is_i64(), "{db2}");
    assert!(!filtered(&[]).await?.contains(&"db-2".to_string()));
    // Its name stays taken while it is only revoked.
    let (id, code) = h.activation(&["--max-registrations", "2"]).await?;
    let out = enrol_as(&h, "db-2-again", "db-2", &id, &code)?;
    assert!(!out.status.success(), "{}", show(&out));
    admin.ok(&["admin", "agents", "remove", "db-2"]).await?;
    assert!(
        !names(&admin.ok(&["admin", "agents", "list", "-o", "json"]).await?)?
            .contains(&"db-2".to_string())
    );
    let out = enrol_as(&h, "db-2-again", "db-2", &id, &code)?;
    assert!(
        out.status.success(),
        "the name was not freed: {}",
        show(&out)
    );
    // Not for a user who is not an administrator.
    let bob = h.user("bob", "bob-password-1").await?;
    for args in [
        &["admin", "agents", "list"][..],
        &["admin", "agents", "remove", "db-1"],
        &["admin", "agents", "retag", "db-1", "--clear"],
        &["admin", "groups", "delete", "nobody"],
    ] {
        let (code, _, err) = run(&bob, args, None).await?;
        assert!(code != 0 && err.contains("may not"), "{args:?}: {err}");
    }
    // Removing a live agent cuts its sessions and its link, and refuses it afterwards.
    let session = admin
        .command()
        .args(["exec", "web-1", "echo started; sleep 60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut session = session;
    let mut stdout = session.stdout.take().context("stdout")?;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut stdout, &mut buf),
    )
    .await??;
    assert_eq!(&buf[..n], b"started\n");
    admin.ok(&["admin", "agents", "remove", "web-1"]).await?;
    let out = tokio::time::timeout(Duration::from_secs(5), session.wait_with_output()).await??;
    assert_eq!(out.status.code(), Some(255), "{}", show(&out));
    assert!(
        h.wait_online("web-1", false, Duration::from_secs(5))
            .await?,
        "removed agent still online"
    );
    let logs = || h.agents[0].logs();
    assert!(
        wicket_testkit::wait_until(Duration::from_secs(10), || logs()
            .contains("the server refused this agent's identity"))
        .await,
        "the removed agent was not refused: {}",
        logs()
    );
    Ok(())
}

/// rsync and git with `wicket exec` as their remote shell, as with ssh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(has_rsync_git), ignore = "needs rsync and git (Debian: rsync git)")]
async fn rsync_and_git_over_exec() -> Result<()> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let dir = h.dir.path().join("exec");
    let wicket = h.admin.bin.canonicalize()?;
    let rsh = format!("{} exec", wicket.display());
    let tool = |program: &str| {
        let mut c = std::process::Command::new(program);
        c.env("XDG_CONFIG_HOME", &h.admin.config_home)
            .env_remove("WICKET_PROFILE")
            .stdin(Stdio::null());
        c
    };
    let check = |c: &mut std::process::Command| -> Result<String> {
        let out = c.output()?;
        anyhow::ensure!(
            out.status.success(),
            "{c:?}: {}",
            wicket_testkit::cli::show(&out)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };

    // rsync: a tree up (as USER@TARGET: rsync passes `-l USER`) and back down.
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub"))?;
    std::fs::write(tree.join("a.txt"), "alpha\n")?;
    let blob: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect();
    std::fs::write(tree.join("sub/b.bin"), &blob)?;
    let up = dir.join("up");
    let down = dir.join("down");
    let me = me()?;
    tokio::task::spawn_blocking({
        let mut c = tool("rsync");
        c.args(["-a", "-e", &rsh])
            .arg(format!("{}/", tree.display()))
            .arg(format!("{me}@web-1:{}/", up.display()));
        move || check(&mut c)
    })
    .await??;
    tokio::task::spawn_blocking({
        let mut c = tool("rsync");
        c.args(["-a", "-e", &rsh])
            .arg(format!("web-1:{}/", up.display()))
            .arg(format!("{}/", down.display()));
        move || check(&mut c)
    })
    .await??;
    assert_eq!(std::fs::read_to_string(down.join("a.txt"))?, "alpha\n");
    assert!(
        std::fs::read(down.join("sub/b.bin"))? == blob,
        "rsync changed the data"
    );

    // git: clone, commit, push back, over GIT_SSH_COMMAND.
    let repo = dir.join("repo.git");
    let work = dir.join("work");
    let git = |args: &[&str], cwd: &std::path::Path| {
        let mut c = tool("git");
        c.current_dir(cwd)
            .env("GIT_SSH_COMMAND", &rsh)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .args(args);
        c
    };
    std::fs::create_dir_all(&dir)?;
    check(&mut git(&["init", "-q", "--bare", "repo.git"], &dir))?;
    let url = format!("web-1:{}", repo.display());
    tokio::task::spawn_blocking({
        let mut c = git(&["clone", "-q", &url, "work"], &dir);
        move || check(&mut c)
    })
    .await??;
    std::fs::write(work.join("README"), "over wicket exec\n")?;
    check(&mut git(&["add", "README"], &work))?;
    check(&mut git(&["commit", "-q", "-m", "first"], &work))?;
    tokio::task::spawn_blocking({
        let mut c = git(&["push", "-q", "origin", "HEAD:main"], &work);
        move || check(&mut c)
    })
    .await??;
    let log = check(&mut git(&["log", "--format=%s", "main"], &repo))?;
    assert_eq!(log, "first\n");
    Ok(())
}

/// A remote shell's stdout that its parent made non-blocking (rsync does, on the socket it
/// hands `-e 'wicket exec'`) gets every byte however slowly it is read, instead of failing
/// with "Resource temporarily unavailable" once the socket is full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_writes_all_to_a_non_blocking_socket() -> Result<()> {
    use tokio::io::AsyncReadExt;
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    theirs.set_nonblocking(true)?;
    let child = h
        .admin
        .command()
        .args(["exec", "web-1", "head", "-c", "8000000", "/dev/zero"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    // Nobody reads for a while: the socket fills and a write would block.
    tokio::time::sleep(Duration::from_millis(800)).await;
    ours.set_nonblocking(true)?;
    let mut ours = tokio::net::UnixStream::from_std(ours)?;
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(60), ours.read(&mut buf))
            .await
            .context("output stalled")??;
        if n == 0 {
            break;
        }
        got += n;
    }
    let out = child.wait_with_output().await?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(got, 8_000_000);
    Ok(())
}

//! OpenSSH through wicket: a real `sshd` on a loopback port (its own host key, authorized_keys
//! and config), reached by the real `ssh`, `scp` and `rsync` with the ssh_config block that
//! `wicket ssh-config` prints (`ProxyCommand wicket proxy %h %p`), and by `wicket ssh`.
//!
//! Needs root (sshd's privilege separation), `sshd`, `ssh`, `ssh-keygen`, `scp` and `rsync`;
//! otherwise the test is ignored (`has_sshd`, see `build.rs`), unless `WICKET_REQUIRE_SSH=1`,
//! in which case it fails.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use wicket_testkit::{bins, find_tool, Harness};

fn run(cmd: &mut std::process::Command) -> Result<String> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A throw-away sshd on 127.0.0.1, killed on drop.
struct Sshd {
    child: std::process::Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sshd(sshd: &Path, dir: &Path, client_pub: &Path) -> Result<Sshd> {
    std::fs::create_dir_all("/run/sshd")?;
    let host_key = dir.join("ssh_host_ed25519_key");
    run(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&host_key))?;
    let auth = dir.join("authorized_keys");
    std::fs::copy(client_pub, &auth)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
             PidFile {}\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\n\
             UsePAM no\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n",
            host_key.display(),
            auth.display(),
            dir.join("sshd.pid").display()
        ),
    )?;
    let log = std::fs::File::create(dir.join("sshd.log"))?;
    let child = std::process::Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("start sshd")?;
    let sshd = Sshd { child, port };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > deadline {
            bail!(
                "sshd did not listen: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(sshd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_sshd),
    ignore = "needs root, sshd, ssh, ssh-keygen, scp and rsync (Debian: openssh-server openssh-client rsync)"
)]
async fn ssh_scp_and_rsync_through_wicket_proxy() -> Result<()> {
    let mut tools = Vec::new();
    for t in ["sshd", "ssh", "ssh-keygen", "scp", "rsync"] {
        tools.push(find_tool(t).with_context(|| format!("`{t}` is not installed"))?);
    }
    let sshd_bin = tools[0].clone();

    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let dir = h.dir.path().join("ssh");
    std::fs::create_dir_all(&dir)?;
    let key = dir.join("id_ed25519");
    run(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key))?;
    let sshd = start_sshd(&sshd_bin, &dir, &key.with_extension("pub"))?;

    // The ssh_config block, exactly as `wicket ssh-config` prints it.
    let block = h
        .admin
        .ok(&[
            "ssh-config",
            "--port",
            &sshd.port.to_string(),
            "--user",
            "root",
        ])
        .await?;
    let wicket = h.admin.bin.canonicalize()?;
    assert!(
        block.contains(&format!(
            "Host web-1\n    ProxyCommand {} --profile default proxy %h %p\n",
            wicket.display()
        )),
        "{block}"
    );
    let config = dir.join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "{block}\nHost *\n    IdentityFile {}\n    IdentitiesOnly yes\n    BatchMode yes\n    \
             StrictHostKeyChecking accept-new\n    UserKnownHostsFile {}\n    LogLevel ERROR\n",
            key.display(),
            dir.join("known_hosts").display()
        ),
    )?;
    let config_home = h.admin.config_home.clone();
    let ssh_cmd = |program: &str| {
        let mut c = std::process::Command::new(program);
        c.env("XDG_CONFIG_HOME", &config_home)
            .env_remove("WICKET_PROFILE");
        c
    };
    let config_s = config.to_str().context("path")?.to_string();

    // ssh: a command, its output, its exit status.
    let out = tokio::task::spawn_blocking({
        let mut c = ssh_cmd("ssh");
        c.args([
            "-F",
            &config_s,
            "web-1",
            "echo hello from $(hostname); exit 0",
        ]);
        move || run(&mut c)
    })
    .await??;
    assert!(out.starts_with("hello from "), "{out}");
    let status = tokio::task::spawn_blocking({
        let mut c = ssh_cmd("ssh");
        c.args(["-F", &config_s, "web-1", "exit 7"]);
        move || c.stdin(Stdio::null()).status()
    })
    .await??;
    assert_eq!(status.code(), Some(7));

    // scp: 8 MiB up and back down, byte for byte.
    let data: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let src = dir.join("blob");
    std::fs::write(&src, &data)?;
    let remote = dir.join("remote-blob");
    let back = dir.join("blob-back");
    tokio::task::spawn_blocking({
        let mut up = ssh_cmd("scp");
        up.args(["-q", "-F", &config_s])
            .arg(&src)
            .arg(format!("web-1:{}", remote.display()));
        let mut down = ssh_cmd("scp");
        down.args(["-q", "-F", &config_s])
            .arg(format!("web-1:{}", remote.display()))
            .arg(&back);
        move || -> Result<()> {
            run(&mut up)?;
            run(&mut down)?;
            Ok(())
        }
    })
    .await??;
    assert!(std::fs::read(&remote)? == data, "scp upload differs");
    assert!(std::fs::read(&back)? == data, "scp download differs");

    // rsync over ssh: a small tree.
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub"))?;
    std::fs::write(tree.join("a.txt"), "alpha\n")?;
    std::fs::write(tree.join("sub/b.bin"), &data[..100_000])?;
    let dest = dir.join("tree-copy");
    tokio::task::spawn_blocking({
        let mut c = std::process::Command::new("rsync");
        c.env("XDG_CONFIG_HOME", &config_home)
            .args(["-a", "-e"])
            .arg(format!("ssh -F {config_s}"))
            .arg(format!("{}/", tree.display()))
            .arg(format!("web-1:{}/", dest.display()));
        move || run(&mut c)
    })
    .await??;
    assert_eq!(std::fs::read_to_string(dest.join("a.txt"))?, "alpha\n");
    assert!(std::fs::read(dest.join("sub/b.bin"))? == data[..100_000]);

    // `wicket ssh`: the same ssh through `wicket proxy`, with no ssh_config block for it;
    // ssh's options and exit status pass through.
    let plain = dir.join("ssh_config_plain");
    std::fs::write(
        &plain,
        format!(
            "Host *\n    IdentityFile {}\n    IdentitiesOnly yes\n    BatchMode yes\n    \
             StrictHostKeyChecking accept-new\n    UserKnownHostsFile {}\n    LogLevel ERROR\n",
            key.display(),
            dir.join("known_hosts").display()
        ),
    )?;
    let out = h
        .admin
        .command()
        .arg("ssh")
        .arg("-F")
        .arg(&plain)
        .args([
            "-p",
            &sshd.port.to_string(),
            "root@web-1",
            "echo via wicket ssh; exit 5",
        ])
        .stdin(Stdio::null())
        .output()
        .await?;
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        wicket_testkit::cli::show(&out)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via wicket ssh\n");
    Ok(())
}

/// `wicket proxy` on its own: end of stdin reaches the destination as a half-close, the reply
/// still comes back, and the command exits once both directions have ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_half_closes_and_exits() -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut h = Harness::start(bins!()).await?;
    h.add_agent("web-1").await?;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    tokio::spawn(async move {
        if let Ok((mut s, _)) = l.accept().await {
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got).await;
            let _ = s
                .write_all(format!("got {} bytes\n", got.len()).as_bytes())
                .await;
        }
    });
    let out = h
        .admin
        .run(
            &["proxy", "web-1", &port.to_string(), "--host", "127.0.0.1"],
            Some(&[b'x'; 100_000]),
        )
        .await?;
    assert!(out.status.success(), "{}", wicket_testkit::cli::show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got 100000 bytes\n");

    // A refused destination: a clear message and status 255, never a hang.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let out = h
        .admin
        .run(&["proxy", "web-1", &closed.to_string()], None)
        .await?;
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("localhost:{closed} via web-1")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("refused"), "{err}");
    Ok(())
}

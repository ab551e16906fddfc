//! The daemons under test, as child processes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A running `wicketd serve`.
pub struct ServerProc {
    child: Option<Child>,
    bin: PathBuf,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub log: PathBuf,
    pub port: u16,
    pub url: String,
    pub fingerprint: String,
    env: Vec<(String, String)>,
}

impl ServerProc {
    /// An HTTPS client for this server's API that trusts only its pinned CA, as the CLI does,
    /// from `local` when given (a loopback address other than 127.0.0.1 is another source).
    /// A fresh connection per request: the server closes one after refusing a body it did not
    /// read, and a pooled connection could be picked up just as it closes.
    pub fn https(&self, local: Option<std::net::IpAddr>) -> Result<reqwest::Client> {
        wicket_tls::install_crypto_provider();
        let tls = wicket_tls::client_config(&wicket_tls::Trust::Pinned(self.fingerprint.parse()?))?;
        Ok(reqwest::Client::builder()
            .use_preconfigured_tls(std::sync::Arc::unwrap_or_clone(tls))
            .local_address(local)
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(60))
            .build()?)
    }

    /// A raw TLS connection to this server with the pinned CA, as the CLI makes it, for
    /// requests written by hand; `alpn` false offers no ALPN protocol at all (HTTP/1.1 then,
    /// or what an HTTP/2 prior-knowledge client would try).
    pub async fn tls_connect(
        &self,
        alpn: bool,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let tls = wicket_tls::client_config(&wicket_tls::Trust::Pinned(self.fingerprint.parse()?))?;
        let mut config = std::sync::Arc::unwrap_or_clone(tls);
        if !alpn {
            config.alpn_protocols.clear();
        }
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1".to_string())?;
        let stream = tokio::time::timeout(
            Duration::from_secs(15),
            tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp),
        )
        .await
        .context("TLS handshake took over 15 s")??;
        Ok(stream)
    }

    /// Starts a server on `127.0.0.1:port` (0: any free port) and waits until it listens.
    pub fn start(
        bin: &Path,
        data_dir: &Path,
        database_url: &str,
        port: u16,
        env: &[(String, String)],
    ) -> Result<ServerProc> {
        let mut s = ServerProc {
            child: None,
            bin: bin.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            database_url: database_url.to_string(),
            log: data_dir.with_extension("log"),
            port,
            url: String::new(),
            fingerprint: String::new(),
            env: env.to_vec(),
        };
        s.spawn()?;
        Ok(s)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut child = Command::new(&self.bin)
            .args(["serve", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--database-url")
            .arg(&self.database_url)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("spawn wicketd")?;
        let stdout = child.stdout.take().context("wicketd stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut url = None;
            while let Some(Ok(line)) = lines.next() {
                if let Some(u) = line.strip_prefix("wicketd listening on ") {
                    url = Some(u.to_string());
                }
                if let Some(f) = line.strip_prefix("CA fingerprint (sha256): ") {
                    let _ = tx.send((url.clone().unwrap_or_default(), f.to_string()));
                }
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((url, fp)) => {
                self.port = url.rsplit(':').next().unwrap_or("0").parse()?;
                self.url = url;
                self.fingerprint = fp;
                Ok(())
            }
            Err(_) => bail!("wicketd did not start; log:\n{}", self.logs()),
        }
    }

    /// SIGKILL: the server gets no chance to say goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            let _ = c.wait();
        }
    }

    /// Starts again on the same port, data and database.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `wicket-agent run`.
pub struct AgentProc {
    child: Option<Child>,
    pub state_dir: PathBuf,
    pub log: PathBuf,
    pub target_id: String,
    pub name: String,
}

impl AgentProc {
    /// Runs `wicket-agent register` and returns its output (for refusal tests).
    pub fn register(bin: &Path, state_dir: &Path, args: &[&str]) -> Result<std::process::Output> {
        Ok(Command::new(bin)
            .arg("--state-dir")
            .arg(state_dir)
            .arg("register")
            .args(args)
            .stdin(Stdio::null())
            .output()?)
    }

    /// Starts `wicket-agent run` on an enrolled state dir. `wrapper` prefixes the command
    /// (for example `ip netns exec NS`).
    pub fn run(
        bin: &Path,
        state_dir: &Path,
        wrapper: &[&str],
        env: &[(&str, &str)],
    ) -> Result<AgentProc> {
        let log = state_dir.with_extension("log");
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let identity: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(state_dir.join("identity.json"))?)?;
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .arg("--state-dir")
            .arg(state_dir)
            .arg("run")
            .envs(env.iter().copied())
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .spawn()
            .context("spawn wicket-agent")?;
        Ok(AgentProc {
            child: Some(child),
            state_dir: state_dir.to_path_buf(),
            log,
            target_id: identity["target_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            name: identity["name"].as_str().unwrap_or_default().to_string(),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.kill();
    }
}

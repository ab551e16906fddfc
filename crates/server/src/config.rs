//! Server configuration: defaults, then a TOML file, then `WICKET_*` environment variables,
//! then command-line flags (applied by the binary). Later sources win.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::ServerError;
use crate::oidc::OidcConfig;
use crate::settings::{SessionOverride, SessionSettings};
use wicket_recording::{RecorderConfig, StoreConfig};

/// Channels an agent's link holds at once, on the agent's side (`wicket_mux::MuxConfig`'s
/// default, which the agent uses): the per-user share must leave room for other users.
const AGENT_LINK_CHANNELS: usize = 1024;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the one HTTPS port.
    pub listen: SocketAddr,
    /// Where the private CA, the server certificate and the SQLite file live.
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL; unset means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Operator-provided certificate chain (PEM); with `tls_key`, replaces the private CA.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Extra names (DNS or IP) for the generated server certificate.
    pub tls_names: Vec<String>,
    /// Lifetime of a login token.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// How often links ping; a link silent for three times this is dropped.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// Channels (sessions, forwarded connections, copies) one user may have open to one target
    /// at once. An agent's link has 1,024 for all its users, so this must stay below that:
    /// one user must not be able to make a target unreachable for everyone else.
    pub max_user_channels_per_agent: usize,
    /// Channels one user link (one `wicket` process) may have open or being opened at once;
    /// further opens are refused on that link.
    pub max_channels_per_user_link: usize,
    /// OS user a session runs as when the user does not ask for one. Unset: the agent's own.
    pub default_run_as: Option<String>,
    /// Global session settings (idle timeout 20m and maximum 12h unless set here).
    pub session: SessionSettings,
    /// Session settings for targets with a given tag.
    pub session_overrides: Vec<SessionOverride>,
    /// OpenID Connect single sign-on (`wicket login --sso`); unset: password login only.
    pub oidc: Option<OidcConfig>,
    /// Where session recordings go and what happens when they cannot be written.
    pub recording: RecordingConfig,
    /// The audit log: sink, checkpoint interval, key file.
    pub audit: AuditConfig,
    /// A replica not seen alive for this long is taken for dead by the others, which end its
    /// sessions in the history. It refreshes its own mark every third of this.
    #[serde(with = "humantime_serde")]
    pub replica_timeout: Duration,
}

/// The `[audit]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Where to copy every event as a JSON line: `stdout`, or a file path (appended to).
    /// Unset: nowhere (events are still chained in the database).
    pub sink: Option<String>,
    /// How often the head of the chain is signed when it moved.
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// The Ed25519 audit signing key (PKCS#8, created on first start, mode 0600). Unset:
    /// `audit.key` in the data dir. Replicas sharing a database should share this key.
    pub key_file: Option<PathBuf>,
    /// Events per sealed segment shipped to the object store (0: do not ship).
    pub segment_size: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            sink: None,
            checkpoint_interval: Duration::from_secs(60),
            key_file: None,
            segment_size: 1000,
        }
    }
}

/// `[recording]` in the server configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingConfig {
    /// Where recordings go. Unset: the folder `recordings` in the data dir.
    pub store: Option<StoreConfig>,
    /// `closed` (the default) refuses sessions that cannot be recorded; `open` lets them run
    /// unrecorded.
    pub on_store_failure: FailMode,
    /// Recordings older than this are deleted (and the deletion audited). Unset: kept.
    #[serde(with = "humantime_serde")]
    pub retention: Option<Duration>,
    /// The longest a recorded byte waits before it is uploaded: what a crash can lose.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Upload a chunk once this many bytes are waiting. Larger chunks mean fewer objects (a
    /// local store creates and renames a file per chunk, S3 bills a PUT per chunk); a busy
    /// session holds up to two chunks in memory.
    pub chunk_size: usize,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            store: None,
            on_store_failure: FailMode::Closed,
            retention: None,
            flush_interval: RecorderConfig::default().flush_interval,
            chunk_size: RecorderConfig::default().chunk_bytes,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    #[default]
    Closed,
    Open,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            data_dir: PathBuf::from("/var/lib/wicketd"),
            database_url: None,
            tls_cert: None,
            tls_key: None,
            tls_names: Vec::new(),
            token_ttl: Duration::from_secs(12 * 3600),
            heartbeat: Duration::from_secs(20),
            max_user_channels_per_agent: 256,
            max_channels_per_user_link: 512,
            replica_timeout: Duration::from_secs(30),
            default_run_as: None,
            session: SessionSettings::default(),
            session_overrides: Vec::new(),
            recording: RecordingConfig::default(),
            audit: AuditConfig::default(),
            oidc: None,
        }
    }
}

impl ServerConfig {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ServerError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ServerError::Config(format!("cannot read {}: {e}", path.display()))
                })?;
                toml::from_str(&text)
                    .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?
            }
            None => ServerConfig::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Settings that parse but cannot work.
    fn validate(&self) -> Result<(), ServerError> {
        // A replica marks itself alive at most once a second (every third of the timeout):
        // below three seconds, live replicas would be taken for dead.
        if self.replica_timeout < Duration::from_secs(3) {
            return Err(ServerError::Config(format!(
                "replica_timeout must be at least 3s (got {})",
                humantime::format_duration(self.replica_timeout)
            )));
        }
        if !(1..AGENT_LINK_CHANNELS).contains(&self.max_user_channels_per_agent) {
            return Err(ServerError::Config(format!(
                "max_user_channels_per_agent must be 1 to {} (an agent's link has {} channels \
                 for all its users; got {})",
                AGENT_LINK_CHANNELS - 1,
                AGENT_LINK_CHANNELS,
                self.max_user_channels_per_agent
            )));
        }
        if self.max_channels_per_user_link == 0 {
            return Err(ServerError::Config(
                "max_channels_per_user_link must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Applies `WICKET_<FIELD>` overrides, read through `get` so tests need not touch the
    /// process environment.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ServerError> {
        let bad = |k: &str, e: String| ServerError::Config(format!("{k}: {e}"));
        if let Some(v) = get("WICKET_LISTEN") {
            self.listen = v
                .parse()
                .map_err(|e| bad("WICKET_LISTEN", format!("{e}")))?;
        }
        if let Some(v) = get("WICKET_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("WICKET_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = get("WICKET_TLS_CERT") {
            self.tls_cert = Some(PathBuf::from(v));
        }
        if let Some(v) = get("WICKET_TLS_KEY") {
            self.tls_key = Some(PathBuf::from(v));
        }
        if let Some(v) = get("WICKET_TLS_NAMES") {
            self.tls_names = v.split(',').map(|s| s.trim().to_string()).collect();
        }
        if let Some(v) = get("WICKET_TOKEN_TTL") {
            self.token_ttl = humantime::parse_duration(&v)
                .map_err(|e| bad("WICKET_TOKEN_TTL", e.to_string()))?;
        }
        if let Some(v) = get("WICKET_REPLICA_TIMEOUT") {
            self.replica_timeout = humantime::parse_duration(&v)
                .map_err(|e| bad("WICKET_REPLICA_TIMEOUT", e.to_string()))?;
        }
        if let Some(v) = get("WICKET_HEARTBEAT") {
            self.heartbeat = humantime::parse_duration(&v)
                .map_err(|e| bad("WICKET_HEARTBEAT", e.to_string()))?;
        }
        if let Some(v) = get("WICKET_MAX_USER_CHANNELS_PER_AGENT") {
            self.max_user_channels_per_agent = v
                .parse()
                .map_err(|e| bad("WICKET_MAX_USER_CHANNELS_PER_AGENT", format!("{e}")))?;
        }
        if let Some(v) = get("WICKET_MAX_CHANNELS_PER_USER_LINK") {
            self.max_channels_per_user_link = v
                .parse()
                .map_err(|e| bad("WICKET_MAX_CHANNELS_PER_USER_LINK", format!("{e}")))?;
        }
        if let Some(v) = get("WICKET_SESSION_IDLE_TIMEOUT") {
            self.session.idle_timeout = Some(
                humantime::parse_duration(&v)
                    .map_err(|e| bad("WICKET_SESSION_IDLE_TIMEOUT", e.to_string()))?,
            );
        }
        if let Some(v) = get("WICKET_SESSION_MAX_DURATION") {
            self.session.max_duration = Some(
                humantime::parse_duration(&v)
                    .map_err(|e| bad("WICKET_SESSION_MAX_DURATION", e.to_string()))?,
            );
        }
        if let Some(v) = get("WICKET_SESSION_BANNER") {
            self.session.banner = Some(v);
        }
        if let Some(v) = get("WICKET_RECORDING_STORE") {
            self.recording.store = Some(wicket_recording::StoreConfig {
                url: v,
                ..self.recording.store.take().unwrap_or_default()
            });
        }
        if let Some(v) = get("WICKET_RECORDING_ON_STORE_FAILURE") {
            self.recording.on_store_failure = match v.as_str() {
                "closed" => FailMode::Closed,
                "open" => FailMode::Open,
                other => {
                    return Err(bad(
                        "WICKET_RECORDING_ON_STORE_FAILURE",
                        format!("{other:?}: expected closed or open"),
                    ))
                }
            };
        }
        if let Some(v) = get("WICKET_RECORDING_RETENTION") {
            self.recording.retention = Some(
                humantime::parse_duration(&v)
                    .map_err(|e| bad("WICKET_RECORDING_RETENTION", e.to_string()))?,
            );
        }
        if let Some(v) = get("WICKET_RECORDING_CHUNK_SIZE") {
            self.recording.chunk_size = v
                .parse()
                .map_err(|e| bad("WICKET_RECORDING_CHUNK_SIZE", format!("{e}")))?;
        }
        if let Some(v) = get("WICKET_AUDIT_SINK") {
            self.audit.sink = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = get("WICKET_AUDIT_CHECKPOINT_INTERVAL") {
            self.audit.checkpoint_interval = humantime::parse_duration(&v)
                .map_err(|e| bad("WICKET_AUDIT_CHECKPOINT_INTERVAL", e.to_string()))?;
        }
        if let Some(v) = get("WICKET_AUDIT_SEGMENT_SIZE") {
            self.audit.segment_size = v
                .parse()
                .map_err(|e| bad("WICKET_AUDIT_SEGMENT_SIZE", format!("{e}")))?;
        }
        if let Some(v) = get("WICKET_AUDIT_KEY_FILE") {
            self.audit.key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("WICKET_DEFAULT_RUN_AS") {
            self.default_run_as = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = get("WICKET_OIDC_CLIENT_SECRET").filter(|v| !v.is_empty()) {
            match self.oidc.as_mut() {
                Some(oidc) => oidc.client_secret = Some(v),
                None => {
                    return Err(bad(
                        "WICKET_OIDC_CLIENT_SECRET",
                        "set, but there is no [oidc] table in the configuration".into(),
                    ))
                }
            }
        }
        if let Some(oidc) = &self.oidc {
            oidc.validate().map_err(ServerError::Config)?;
        }
        Ok(())
    }

    /// The audit signing key's path in force.
    pub fn audit_key_path(&self) -> PathBuf {
        self.audit
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::audit::KEY_FILE))
    }

    /// The database URL in force: the configured one, or SQLite in the data dir.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.data_dir.join("wicket.db").display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env() {
        let mut c: ServerConfig =
            toml::from_str("listen = \"127.0.0.1:9000\"\ntoken_ttl = \"1h\"\n").unwrap();
        assert_eq!(c.token_ttl, Duration::from_secs(3600));
        c.apply_env(|k| (k == "WICKET_TOKEN_TTL").then(|| "5m".to_string()))
            .unwrap();
        assert_eq!(c.token_ttl, Duration::from_secs(300));
        assert_eq!(c.listen.port(), 9000);
        assert!(toml::from_str::<ServerConfig>("nonsense = 1").is_err());
    }

    #[test]
    fn a_replica_timeout_too_short_to_mark_is_refused() {
        let mut c = ServerConfig::default();
        assert!(c.validate().is_ok());
        c.apply_env(|k| (k == "WICKET_REPLICA_TIMEOUT").then(|| "2s".to_string()))
            .unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("at least 3s"), "{e}");
    }

    #[test]
    fn shipped_example_parses() {
        let c: ServerConfig =
            toml::from_str(include_str!("../../../dist/wicketd.example.toml")).unwrap();
        assert_eq!(c.session.idle_timeout, Some(Duration::from_secs(1200)));
        assert_eq!(c.session_overrides[0].tag, "env=prod");
        assert_eq!(c.recording.on_store_failure, FailMode::Closed);
        assert_eq!(c.audit.sink.as_deref(), Some("stdout"));
        assert_eq!(c.audit.checkpoint_interval, Duration::from_secs(60));
        // The [oidc] example is commented out; uncommented, it must parse and validate too.
        let text = include_str!("../../../dist/wicketd.example.toml");
        let start = text.find("# [oidc]").expect("an [oidc] example");
        let uncommented: String = text[start..]
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{}\n", l.trim_start_matches("# ").trim_start_matches('#')))
            .collect();
        let mut c: ServerConfig = toml::from_str(&uncommented).unwrap();
        c.apply_env(|k| (k == "WICKET_OIDC_CLIENT_SECRET").then(|| "s3cret".to_string()))
            .unwrap();
        let oidc = c.oidc.unwrap();
        assert_eq!(oidc.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(oidc.groups["idp-ops"], vec!["operators"]);
        assert_eq!(oidc.username_claim, "preferred_username");
    }

    #[test]
    fn channel_limits_from_file_and_env_and_a_share_that_would_fill_an_agent_is_refused() {
        let mut c: ServerConfig = toml::from_str("max_user_channels_per_agent = 100\n").unwrap();
        assert_eq!(c.max_user_channels_per_agent, 100);
        assert_eq!(c.max_channels_per_user_link, 512);
        c.apply_env(|k| (k == "WICKET_MAX_CHANNELS_PER_USER_LINK").then(|| "64".to_string()))
            .unwrap();
        assert_eq!(c.max_channels_per_user_link, 64);
        assert!(c.validate().is_ok());
        c.max_user_channels_per_agent = 1024;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("1 to 1023"), "{e}");
        c.max_user_channels_per_agent = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn oidc_secret_needs_an_oidc_table() {
        let mut c = ServerConfig::default();
        assert!(c
            .apply_env(|k| (k == "WICKET_OIDC_CLIENT_SECRET").then(|| "x".to_string()))
            .is_err());
    }
}

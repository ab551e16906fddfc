//! Profiles: which server, which CA is pinned, and the current token.
//!
//! Stored in `$XDG_CONFIG_HOME/wicket/config.toml` (default `~/.config/wicket/`), mode 0600 in a
//! directory of mode 0700, because it holds a bearer token. Tokens are short-lived by design;
//! nothing long-lived is kept.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use wicket_dial::{ApiClient, ServerUrl};
use wicket_tls::Trust;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Config {
    /// The profile used when none is named.
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Profile {
    pub server: String,
    pub user: String,
    /// The server CA's SHA-256; absent means the OS trust store.
    pub ca_fingerprint: Option<String>,
    pub token: Option<String>,
    /// Unix milliseconds.
    pub expires_at: Option<i64>,
    /// The last login was single sign-on, so a plain `wicket login` signs in that way again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sso: bool,
    /// How to log in to this profile again, for messages about its token (set by
    /// [`Config::selected`]; not stored).
    #[serde(skip)]
    pub relogin: String,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("server", &self.server)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The config directory: `$XDG_CONFIG_HOME/wicket` or `$HOME/.config/wicket`.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("wicket"));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set"))?;
    Ok(PathBuf::from(home).join(".config").join("wicket"))
}

impl Config {
    pub fn path() -> Result<PathBuf> {
        Ok(config_dir()?.join("config.toml"))
    }

    pub fn load() -> Result<Config> {
        let path = Self::path()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("{} is corrupt", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes atomically with mode 0600.
    pub fn save(&self) -> Result<()> {
        let dir = config_dir()?;
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        wicket_tls::write_private(&Self::path()?, toml::to_string_pretty(self)?.as_bytes())?;
        Ok(())
    }

    /// The name of the profile to use: the one asked for, else the current one.
    pub fn selected_name(&self, asked: Option<&str>) -> Option<String> {
        asked.map(str::to_string).or_else(|| self.current.clone())
    }

    /// The profile to use, or advice on how to get one. Its token's advice names the way to
    /// log in again ([`Config::login_hint`]).
    pub fn selected(&self, asked: Option<&str>) -> Result<(String, Profile)> {
        let Some(name) = self.selected_name(asked) else {
            bail!("not logged in; run `wicket login --server URL`");
        };
        match self.profiles.get(&name) {
            Some(p) => {
                let mut p = p.clone();
                p.relogin = self.login_hint(&name);
                Ok((name, p))
            }
            None => bail!("no profile named {name:?}; run `wicket login --server URL`"),
        }
    }

    /// Stores `profile` under `name` and makes it current.
    pub fn put(&mut self, name: &str, profile: Profile) {
        self.profiles.insert(name.to_string(), profile);
        self.current = Some(name.to_string());
    }

    /// Stores `profile` under `name`, making it current only when no profile is: logging in
    /// through `--profile X` must not silently move every later command to X.
    pub fn store(&mut self, name: &str, profile: Profile) {
        self.profiles.insert(name.to_string(), profile);
        if self.current_name().is_none() {
            self.current = Some(name.to_string());
        }
    }

    /// The current profile's name, if it names a profile that exists.
    pub fn current_name(&self) -> Option<&str> {
        self.current
            .as_deref()
            .filter(|c| self.profiles.contains_key(*c))
    }

    /// How to log in again to profile `name`: `wicket login` for the current one, with
    /// `--profile` for another, since a bare `wicket login` would use the current one.
    pub fn login_hint(&self, name: &str) -> String {
        if self.current_name() == Some(name) {
            "wicket login".to_string()
        } else {
            format!("wicket --profile {name} login")
        }
    }
}

impl Profile {
    pub fn server_url(&self) -> Result<ServerUrl> {
        Ok(ServerUrl::parse(&self.server)?)
    }

    pub fn trust(&self) -> Result<Trust> {
        match &self.ca_fingerprint {
            Some(fp) => Ok(Trust::Pinned(fp.parse().context("stored CA fingerprint")?)),
            None => Ok(Trust::System),
        }
    }

    /// The token, if it has not expired by the local clock.
    pub fn live_token(&self) -> Result<String> {
        let relogin = if self.relogin.is_empty() {
            "wicket login"
        } else {
            &self.relogin
        };
        let token = self
            .token
            .clone()
            .ok_or_else(|| anyhow!("not logged in to {}; run `{relogin}`", self.server))?;
        if let Some(exp) = self.expires_at {
            if exp <= now_ms() {
                bail!("token expired; run `{relogin}`");
            }
        }
        Ok(token)
    }

    /// An API client carrying the token.
    pub fn api(&self) -> Result<ApiClient> {
        Ok(ApiClient::new(
            self.server_url()?,
            &self.trust()?,
            Some(self.live_token()?),
        )?)
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

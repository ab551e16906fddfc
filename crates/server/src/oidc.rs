//! OpenID Connect single sign-on: wicketd is the relying party; the CLI never sees the identity
//! provider's tokens.
//!
//! 1. [`Sso::begin`]: the CLI sends its loopback `redirect_uri` and a PKCE S256
//!    `code_challenge`; wicketd (lazily, cached) fetches the issuer's discovery document and
//!    JWKS, keeps a one-time login request (random `state` and `nonce`, five minutes) in memory,
//!    and returns the authorization URL and the request id.
//! 2. The browser signs in at the provider, which redirects to the CLI's loopback listener.
//! 3. [`Sso::complete`]: the CLI sends the request id, the `state` it received, the code and its
//!    PKCE verifier; wicketd redeems the code at the token endpoint and verifies the ID token
//!    ([`Sso::verify_id_token`]: signature against the JWKS with an algorithm allow-list that
//!    has neither `none` nor shared-secret algorithms, `iss`, `aud`, `exp`, `iat`, `nonce`).
//!
//! Codes, tokens, verifiers and the client secret are never logged.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;
use url::Url;

/// How long a login request started by [`Sso::begin`] may be completed.
pub const REQUEST_TTL: Duration = Duration::from_secs(300);
/// Pending login requests kept at most (the begin route is public).
const MAX_PENDING: usize = 10_000;
/// How long the discovery document and JWKS are reused before being fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// A failed signature check refetches the JWKS (key rotation) if the copy is older than this.
const JWKS_REFRESH_AFTER: Duration = Duration::from_secs(60);
/// Tolerated clock difference with the provider, and the oldest `iat` accepted.
const CLOCK_SKEW: i64 = 120;
const MAX_ID_TOKEN_AGE: i64 = 600;

/// The `[oidc]` table of wicketd's configuration.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL (`https://...`; `http://` only for a loopback issuer).
    pub issuer: String,
    pub client_id: String,
    /// For confidential clients; also read from `WICKET_OIDC_CLIENT_SECRET`. Never logged.
    pub client_secret: Option<String>,
    /// Scopes asked for; `openid` is always included.
    pub scopes: Vec<String>,
    /// The ID token claim that names the wicket user (falls back to `sub` when absent).
    pub username_claim: String,
    /// The ID token claim with the user's groups at the provider (a string or list of strings).
    pub groups_claim: String,
    /// Provider group → wicket groups. Only listed provider groups grant wicket groups; a
    /// provider group named like a wicket group does not map to it unless listed here.
    pub groups: BTreeMap<String, Vec<String>>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            scopes: ["openid", "profile", "email", "groups"]
                .map(String::from)
                .to_vec(),
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            groups: BTreeMap::new(),
        }
    }
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("scopes", &self.scopes)
            .field("username_claim", &self.username_claim)
            .field("groups_claim", &self.groups_claim)
            .field("groups", &self.groups)
            .finish()
    }
}

impl OidcConfig {
    /// Checks what can be checked without the network.
    pub fn validate(&self) -> Result<IssuerUrl, String> {
        let url =
            Url::parse(&self.issuer).map_err(|e| format!("oidc.issuer {:?}: {e}", self.issuer))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&url) => {}
            "http" => {
                return Err(format!(
                    "oidc.issuer {:?}: http is allowed only for a loopback issuer; use https",
                    self.issuer
                ))
            }
            other => return Err(format!("oidc.issuer: unsupported scheme {other:?}")),
        }
        if self.client_id.trim().is_empty() {
            return Err("oidc.client_id is required".into());
        }
        if self.username_claim.is_empty() || self.groups_claim.is_empty() {
            return Err("oidc.username_claim and oidc.groups_claim must not be empty".into());
        }
        for (idp, groups) in &self.groups {
            for g in groups {
                if !valid_name(g) {
                    return Err(format!(
                        "oidc.groups.{idp:?}: invalid wicket group name {g:?}"
                    ));
                }
            }
        }
        IssuerUrl::new(self.issuer.clone()).map_err(|e| format!("oidc.issuer: {e}"))
    }

    /// The wicket groups the provider's groups map to, sorted, without duplicates.
    pub fn map_groups(&self, idp_groups: &[String]) -> Vec<String> {
        let mut out: Vec<String> = idp_groups
            .iter()
            .filter_map(|g| self.groups.get(g))
            .flatten()
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// User and group names appear in policies as entity ids (the same rule as the users API).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Why a single sign-on step failed. The messages are for the user and never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The request is malformed or not allowed (400).
    #[error("{0}")]
    BadRequest(String),
    /// Unknown, expired or already used login request, wrong state or verifier (401).
    #[error("{0}")]
    Refused(String),
    /// The ID token failed verification (401).
    #[error("the identity provider's ID token was refused: {0}")]
    InvalidToken(String),
    /// The provider could not be reached or answered badly (502).
    #[error("identity provider: {0}")]
    Provider(String),
}

/// What a verified ID token says about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoClaims {
    pub issuer: String,
    pub subject: String,
    /// From the configured username claim, or `sub` when it is absent.
    pub username: String,
    /// The provider's groups (the configured groups claim), unmapped.
    pub groups: Vec<String>,
    /// The provider's `amr` (authentication methods) values.
    pub amr: Vec<String>,
}

impl SsoClaims {
    /// Whether the provider says the user proved several factors: `amr` contains `mfa`
    /// (RFC 8176). Other values (`otp`, `hwk`...) alone do not say a password was used too.
    pub fn mfa(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }
}

struct Pending {
    state: String,
    nonce: String,
    redirect_uri: String,
    code_challenge: String,
    created: Instant,
}

struct Discovered {
    metadata: CoreProviderMetadata,
    fetched: Instant,
}

/// The relying party: configuration, an HTTP client for the provider, the cached discovery
/// document and JWKS, and the pending login requests of this process.
pub struct Sso {
    config: OidcConfig,
    issuer: IssuerUrl,
    http: reqwest::Client,
    discovered: tokio::sync::Mutex<Option<Arc<Discovered>>>,
    pending: Mutex<HashMap<String, Pending>>,
}

/// The answer to [`Sso::begin`].
#[derive(Debug)]
pub struct Begun {
    pub auth_url: String,
    pub request_id: String,
}

impl Sso {
    pub fn new(config: OidcConfig) -> Result<Sso, String> {
        let issuer = config.validate()?;
        let tls = wicket_tls::client_config(&wicket_tls::Trust::System)
            .map_err(|e| format!("TLS for the identity provider: {e}"))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            // Following redirects would let a provider response send wicketd anywhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| format!("HTTP client for the identity provider: {e}"))?;
        Ok(Sso {
            config,
            issuer,
            http,
            discovered: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The provider's metadata and keys, fetched on first use and after [`DISCOVERY_TTL`], or
    /// now when `refresh_older_than` is given and the copy is older.
    async fn discovered(
        &self,
        refresh_older_than: Option<Duration>,
    ) -> Result<Arc<Discovered>, SsoError> {
        let mut cached = self.discovered.lock().await;
        if let Some(d) = cached.as_ref() {
            let age = d.fetched.elapsed();
            let stale = age > DISCOVERY_TTL || refresh_older_than.is_some_and(|r| age > r);
            if !stale {
                return Ok(d.clone());
            }
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(issuer = %self.issuer.as_str(), error = %describe(&e), "OIDC discovery failed");
                SsoError::Provider(format!(
                    "cannot fetch the discovery document or keys of {}: {}",
                    self.issuer.as_str(),
                    describe(&e)
                ))
            })?;
        let d = Arc::new(Discovered {
            metadata,
            fetched: Instant::now(),
        });
        *cached = Some(d.clone());
        Ok(d)
    }

    fn client(&self, d: &Discovered, redirect_uri: &str) -> Result<SsoClient, SsoError> {
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| SsoError::BadRequest(format!("redirect_uri: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a login: returns the provider URL to open and the id to complete it with.
    pub async fn begin(&self, redirect_uri: &str, code_challenge: &str) -> Result<Begun, SsoError> {
        check_redirect_uri(redirect_uri)?;
        if !is_pkce_value(code_challenge) || code_challenge.len() != 43 {
            return Err(SsoError::BadRequest(
                "code_challenge must be the base64url SHA-256 of the PKCE verifier (S256)".into(),
            ));
        }
        let d = self.discovered(None).await?;
        let client = self.client(&d, redirect_uri)?;
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.config.scopes {
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope.clone()));
            }
        }
        // The challenge comes from the CLI, which alone knows the verifier.
        let (url, state, nonce) = request
            .add_extra_param("code_challenge", code_challenge)
            .add_extra_param("code_challenge_method", "S256")
            .url();
        let request_id = format!("sso_{}", hex::encode(crate::secrets::random_bytes::<16>()));
        let mut pending = self.lock_pending();
        pending.retain(|_, p| p.created.elapsed() < REQUEST_TTL);
        if pending.len() >= MAX_PENDING {
            return Err(SsoError::Refused(
                "too many single sign-on logins in progress; try again in a few minutes".into(),
            ));
        }
        pending.insert(
            request_id.clone(),
            Pending {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                redirect_uri: redirect_uri.to_string(),
                code_challenge: code_challenge.to_string(),
                created: Instant::now(),
            },
        );
        Ok(Begun {
            auth_url: url.to_string(),
            request_id,
        })
    }

    /// Finishes a login: the request is used up whatever the outcome. Returns the verified
    /// claims of the ID token.
    pub async fn complete(
        &self,
        request_id: &str,
        state: &str,
        code: &str,
        code_verifier: &str,
    ) -> Result<SsoClaims, SsoError> {
        let pending = self
            .lock_pending()
            .remove(request_id)
            .filter(|p| p.created.elapsed() < REQUEST_TTL)
            .ok_or_else(|| {
                SsoError::Refused(
                    "unknown, expired or already used single sign-on request; start again".into(),
                )
            })?;
        if !crate::secrets::constant_time_eq(state.as_bytes(), pending.state.as_bytes()) {
            return Err(SsoError::Refused(
                "the state returned by the identity provider does not match this login".into(),
            ));
        }
        if !is_pkce_value(code_verifier) || !(43..=128).contains(&code_verifier.len()) {
            return Err(SsoError::BadRequest(
                "code_verifier must be 43-128 unreserved characters".into(),
            ));
        }
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(crate::secrets::sha256(code_verifier.as_bytes()));
        if !crate::secrets::constant_time_eq(
            challenge.as_bytes(),
            pending.code_challenge.as_bytes(),
        ) {
            return Err(SsoError::Refused(
                "the PKCE verifier does not match this login's challenge".into(),
            ));
        }
        if code.is_empty() || code.len() > 4096 {
            return Err(SsoError::BadRequest("missing or oversized code".into()));
        }
        let d = self.discovered(None).await?;
        let client = self.client(&d, &pending.redirect_uri)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| SsoError::Provider(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(code_verifier.to_string()))
            .set_redirect_uri(Cow::Owned(
                RedirectUrl::new(pending.redirect_uri.clone())
                    .map_err(|e| SsoError::BadRequest(format!("redirect_uri: {e}")))?,
            ))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                let why = describe(&e);
                tracing::info!(error = %why, "OIDC code redemption failed");
                SsoError::Refused(format!(
                    "the identity provider refused the authorization code: {why}"
                ))
            })?;
        // Only the ID token is used; the access token is dropped unused.
        let _ = token.access_token();
        let raw = token
            .id_token()
            .ok_or_else(|| SsoError::Provider("the token response has no ID token".into()))?
            .to_string();
        self.verify_id_token(&raw, &pending.nonce).await
    }

    /// Verifies a compact ID token issued for this client with `nonce`: signature (JWKS,
    /// allowed algorithms only), `iss`, `aud` (no untrusted extra audiences), `exp`, `iat` and
    /// `nonce`. Refetches the JWKS once when the signature does not verify with the cached one.
    pub async fn verify_id_token(&self, raw: &str, nonce: &str) -> Result<SsoClaims, SsoError> {
        let d = self.discovered(None).await?;
        match self.verify_with(&d, raw, nonce) {
            Err(VerifyError::Signature(_)) => {
                let fresh = self.discovered(Some(JWKS_REFRESH_AFTER)).await?;
                self.verify_with(&fresh, raw, nonce).map_err(Into::into)
            }
            other => other.map_err(Into::into),
        }
    }

    fn verify_with(
        &self,
        d: &Discovered,
        raw: &str,
        nonce: &str,
    ) -> Result<SsoClaims, VerifyError> {
        let token = CoreIdToken::from_str(raw)
            .map_err(|e| VerifyError::Other(format!("malformed ID token: {e}")))?;
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.config.client_id.clone()),
            self.issuer.clone(),
            d.metadata.jwks().clone(),
        )
        .set_allowed_algs(ALLOWED_ALGS)
        .set_issue_time_verifier_fn(|iat| {
            let age = chrono_now_secs() - iat.timestamp();
            if age < -CLOCK_SKEW {
                Err("issued in the future".to_string())
            } else if age > MAX_ID_TOKEN_AGE {
                Err("issued too long ago".to_string())
            } else {
                Ok(())
            }
        });
        let claims = token
            .claims(&verifier, &Nonce::new(nonce.to_string()))
            .map_err(|e| match e {
                ClaimsVerificationError::SignatureVerification(s) => {
                    VerifyError::Signature(s.to_string())
                }
                other => VerifyError::Other(other.to_string()),
            })?;
        // The payload, now authenticated, for the configured claims.
        let payload = raw
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .ok_or_else(|| VerifyError::Other("unreadable claims".into()))?;
        let subject = claims.subject().as_str().to_string();
        let username = payload
            .get(&self.config.username_claim)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .unwrap_or(&subject)
            .to_string();
        let groups = strings(payload.get(&self.config.groups_claim));
        let amr = strings(payload.get("amr"));
        Ok(SsoClaims {
            issuer: claims.issuer().as_str().to_string(),
            subject,
            username,
            groups,
            amr,
        })
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type SsoClient = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Asymmetric signatures only: never `none`, never HMAC with the client secret.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

enum VerifyError {
    Signature(String),
    Other(String),
}

impl From<VerifyError> for SsoError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Signature(s) => SsoError::InvalidToken(format!("signature: {s}")),
            VerifyError::Other(s) => SsoError::InvalidToken(s),
        }
    }
}

fn chrono_now_secs() -> i64 {
    crate::now_ms() / 1000
}

/// A claim that is a string or a list of strings; anything else counts as none.
fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// RFC 7636 unreserved characters.
fn is_pkce_value(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Only the CLI's loopback listener may receive codes: `http://127.0.0.1:PORT/...` or
/// `http://[::1]:PORT/...` with an explicit port, no credentials, query or fragment.
pub fn check_redirect_uri(uri: &str) -> Result<(), SsoError> {
    let bad = || {
        SsoError::BadRequest(format!(
            "redirect_uri {uri:?} is not allowed: use http://127.0.0.1:PORT/... or http://[::1]:PORT/... \
             (or the console's https://HOST/{CONSOLE_CALLBACK})"
        ))
    };
    let url = Url::parse(uri).map_err(|_| bad())?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        _ => false,
    };
    // The CLI's loopback listener (RFC 8252), or the web console's own callback on wicketd;
    // either way the provider holds the list of redirect URIs it accepts for the client.
    let cli = url.scheme() == "http" && loopback && url.port().is_some();
    let console = url.scheme() == "https"
        && url.host().is_some()
        && url.path() == format!("/{CONSOLE_CALLBACK}");
    if !(cli || console)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || uri.len() > 512
    {
        return Err(bad());
    }
    Ok(())
}

/// The web console's single sign-on callback, a path on wicketd itself.
pub const CONSOLE_CALLBACK: &str = "v1/console/sso/callback";

/// The useful part of an error and its sources, on one line.
fn describe(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        for ok in [
            "http://127.0.0.1:1234/callback",
            "http://[::1]:8080/",
            "http://127.0.0.1:9/x/y",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://127.0.0.1:1234/callback",
            "http://127.0.0.1/callback",
            "http://localhost:1234/callback",
            "http://127.0.0.2:1234/callback",
            "http://evil.example:1234/",
            "http://user@127.0.0.1:1234/",
            "http://127.0.0.1:1234/?next=x",
            "http://127.0.0.1:1234/#f",
            "javascript:alert(1)",
            "",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn issuer_must_be_https_unless_loopback() {
        let cfg = |issuer: &str| OidcConfig {
            issuer: issuer.into(),
            client_id: "wicket".into(),
            ..OidcConfig::default()
        };
        assert!(cfg("https://idp.example.com").validate().is_ok());
        assert!(cfg("http://127.0.0.1:8080").validate().is_ok());
        assert!(cfg("http://[::1]:8080").validate().is_ok());
        assert!(cfg("http://idp.example.com").validate().is_err());
        assert!(cfg("ftp://idp.example.com").validate().is_err());
        assert!(cfg("not a url").validate().is_err());
        let mut c = cfg("https://idp.example.com");
        c.client_id = String::new();
        assert!(c.validate().is_err());
        let mut c = cfg("https://idp.example.com");
        c.groups.insert("x".into(), vec!["bad name".into()]);
        assert!(c.validate().is_err());
    }

    #[test]
    fn groups_map_only_when_listed() {
        let mut c = OidcConfig::default();
        c.groups
            .insert("idp-ops".into(), vec!["operators".into(), "oncall".into()]);
        c.groups.insert("idp-dev".into(), vec!["operators".into()]);
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            c.map_groups(&g(&["idp-ops", "idp-dev", "operators", "nope"])),
            g(&["oncall", "operators"])
        );
        assert!(c.map_groups(&g(&["operators"])).is_empty());
    }

    #[test]
    fn secret_is_not_in_debug() {
        let c = OidcConfig {
            client_secret: Some("hunter2".into()),
            ..OidcConfig::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn claims_strings_and_mfa() {
        assert_eq!(strings(Some(&serde_json::json!("a"))), vec!["a"]);
        assert_eq!(
            strings(Some(&serde_json::json!(["a", 1, "b"]))),
            vec!["a", "b"]
        );
        assert!(strings(Some(&serde_json::json!({"a": 1}))).is_empty());
        let c = SsoClaims {
            issuer: String::new(),
            subject: String::new(),
            username: String::new(),
            groups: vec![],
            amr: vec!["pwd".into(), "mfa".into()],
        };
        assert!(c.mfa());
    }
}

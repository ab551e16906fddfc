//! Where recordings live: any `object_store` backend. A local folder is the default; an
//! S3-compatible service (AWS, MinIO, Ceph, s3s) by configuration.
//!
//! Layout under the store's prefix: `recordings/<session>/chunk-<seq>` holds the recording in
//! order (chunk 0 starts with the header), `recordings/<session>/manifest.json` is written when
//! the session ends. A session cut short by a crash has chunks and no manifest; it still reads
//! back up to its last chunk.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

/// Where a chunk of a recording is stored ([`RecordingStore::chunk_keys`]).
pub use object_store::path::Path as ChunkKey;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::RecordingError;

/// How to reach the store, from the server's configuration.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `s3://bucket[/prefix]`, `file:///dir`, or a plain directory path.
    pub url: String,
    /// The S3 endpoint, for services other than AWS (`http://127.0.0.1:9000`).
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Better given as `WICKET_S3_SECRET_ACCESS_KEY` than written in a file.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Allow a plain-HTTP endpoint (a store on loopback or in a private network).
    #[serde(default)]
    pub allow_http: bool,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// What is known about a finished recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub session_id: String,
    /// SHA-256 of the whole recording as stored (all chunks in order, compressed), hex.
    pub sha256: String,
    /// Bytes of asciicast text (before compression).
    pub bytes: u64,
    pub chunks: u32,
    /// Unix seconds.
    pub started_at: u64,
    pub ended_at: u64,
}

/// Whether a chunk key names a compressed chunk (`chunk-<seq>.zst`). Chunks written before
/// compression have no suffix; all chunks of one recording are alike.
pub fn is_compressed(key: &Path) -> bool {
    key.as_ref().ends_with(".zst")
}

/// The recording store.
#[derive(Clone)]
pub struct RecordingStore {
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    describe: String,
}

impl fmt::Debug for RecordingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe)
    }
}

impl RecordingStore {
    /// Opens the store `config` names. A local folder is created if missing.
    pub fn open(config: &StoreConfig) -> Result<Self, RecordingError> {
        let url = config.url.trim();
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(RecordingError::Config(format!("no bucket in {url:?}")));
            }
            let mut b = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(config.region.as_deref().unwrap_or("us-east-1"))
                .with_allow_http(config.allow_http);
            if let Some(endpoint) = &config.endpoint {
                // Path-style addressing: what self-hosted S3 services expect.
                b = b
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false);
            }
            if let Some(key) = &config.access_key_id {
                b = b.with_access_key_id(key);
            }
            let secret = config
                .secret_access_key
                .clone()
                .or_else(|| std::env::var("WICKET_S3_SECRET_ACCESS_KEY").ok());
            if let Some(secret) = secret {
                b = b.with_secret_access_key(secret);
            }
            let store = b.build()?;
            return Ok(RecordingStore {
                inner: Arc::new(store),
                prefix: Path::from(prefix),
                describe: format!("s3://{bucket}/{prefix}"),
            });
        }
        let dir = url.strip_prefix("file://").unwrap_or(url);
        if dir.is_empty() {
            return Err(RecordingError::Config("empty store url".into()));
        }
        Self::local(std::path::Path::new(dir))
    }

    /// A store in a local folder, made private to this process's user (mode 0700, also when
    /// it existed): recordings hold whatever a session showed, `/etc/shadow` included.
    pub fn local(dir: &std::path::Path) -> Result<Self, RecordingError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let failed = |e: std::io::Error| RecordingError::Config(format!("{}: {e}", dir.display()));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(failed)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
        let store = LocalFileSystem::new_with_prefix(dir)?;
        Ok(RecordingStore {
            inner: Arc::new(store),
            prefix: Path::default(),
            describe: format!("file://{}", dir.display()),
        })
    }

    fn key(&self, rel: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.join(part);
        }
        p
    }

    fn chunk_key(&self, session: &str, seq: u32) -> Path {
        self.key(&format!("recordings/{session}/chunk-{seq:08}.zst"))
    }

    /// Stores one chunk of a live recording, already compressed (one zstd frame; see
    /// [`crate::compress`]).
    pub async fn put_chunk(
        &self,
        session: &str,
        seq: u32,
        data: Bytes,
    ) -> Result<(), RecordingError> {
        check_id(session)?;
        self.inner
            .put(&self.chunk_key(session, seq), PutPayload::from(data))
            .await?;
        Ok(())
    }

    /// Stores the manifest that closes a recording.
    pub async fn put_manifest(&self, manifest: &Manifest) -> Result<(), RecordingError> {
        check_id(&manifest.session_id)?;
        let json = serde_json::to_vec_pretty(manifest).unwrap_or_default();
        let key = self.key(&format!("recordings/{}/manifest.json", manifest.session_id));
        self.inner.put(&key, PutPayload::from(json)).await?;
        Ok(())
    }

    /// The manifest, if the session ended normally.
    pub async fn manifest(&self, session: &str) -> Result<Option<Manifest>, RecordingError> {
        check_id(session)?;
        let key = self.key(&format!("recordings/{session}/manifest.json"));
        match self.inner.get(&key).await {
            Ok(got) => {
                let bytes = got.bytes().await?;
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| RecordingError::Malformed {
                        line: 1,
                        reason: e.to_string(),
                    })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The chunks of a recording, in order.
    pub async fn chunk_keys(&self, session: &str) -> Result<Vec<Path>, RecordingError> {
        check_id(session)?;
        let dir = self.key(&format!("recordings/{session}"));
        let mut keys: Vec<Path> = self
            .inner
            .list(Some(&dir))
            .map_ok(|meta| meta.location)
            .try_filter(|p| {
                std::future::ready(p.filename().is_some_and(|f| f.starts_with("chunk-")))
            })
            .try_collect()
            .await?;
        keys.sort();
        if keys.is_empty() {
            return Err(RecordingError::NotFound(session.to_owned()));
        }
        Ok(keys)
    }

    /// One object, whole.
    pub async fn get(&self, key: &Path) -> Result<Bytes, RecordingError> {
        Ok(self.inner.get(key).await?.bytes().await?)
    }

    /// One chunk's asciicast text: decompressed when stored compressed (`.zst`, what the
    /// recorder writes), as is otherwise (recordings made before compression).
    pub async fn chunk(&self, key: &Path) -> Result<Bytes, RecordingError> {
        let stored = self.get(key).await?;
        if !is_compressed(key) {
            return Ok(stored);
        }
        let name = key.to_string();
        tokio::task::spawn_blocking(move || {
            crate::compress::decompress_chunk(&stored)
                .map(Bytes::from)
                .map_err(|e| RecordingError::Damaged(format!("{name}: {e}")))
        })
        .await
        .map_err(|e| RecordingError::Closed(format!("decompression task: {e}")))?
    }

    /// The whole recording. For replay through the API prefer [`Self::chunk_keys`] and
    /// [`Self::chunk`], which never hold more than a chunk.
    pub async fn read(&self, session: &str) -> Result<Vec<u8>, RecordingError> {
        let mut out = Vec::new();
        for key in self.chunk_keys(session).await? {
            out.extend_from_slice(&self.chunk(&key).await?);
        }
        Ok(out)
    }

    /// SHA-256 (hex) of the recording as stored now (the chunks' bytes in order, compressed
    /// as they are), to compare with the sealed hash.
    pub async fn digest(&self, session: &str) -> Result<String, RecordingError> {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for key in self.chunk_keys(session).await? {
            ctx.update(&self.get(&key).await?);
        }
        Ok(hex::encode(ctx.finish().as_ref()))
    }

    /// Deletes a recording, chunks and manifest.
    pub async fn delete(&self, session: &str) -> Result<(), RecordingError> {
        check_id(session)?;
        let dir = self.key(&format!("recordings/{session}"));
        let keys: Vec<Path> = self
            .inner
            .list(Some(&dir))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        for key in keys {
            self.inner.delete(&key).await?;
        }
        Ok(())
    }

    /// Sessions whose newest object is older than `cutoff`: what retention deletes.
    pub async fn older_than(&self, cutoff: SystemTime) -> Result<Vec<String>, RecordingError> {
        let root = self.key("recordings");
        let mut newest: std::collections::BTreeMap<String, SystemTime> = Default::default();
        let metas: Vec<_> = self.inner.list(Some(&root)).try_collect().await?;
        let depth = root.parts().count();
        for meta in metas {
            let Some(session) = meta.location.parts().nth(depth) else {
                continue;
            };
            let at: SystemTime = meta.last_modified.into();
            let e = newest.entry(session.as_ref().to_owned()).or_insert(at);
            *e = (*e).max(at);
        }
        Ok(newest
            .into_iter()
            .filter(|(_, at)| *at < cutoff)
            .map(|(s, _)| s)
            .collect())
    }

    /// Proves the store accepts writes now: sessions are refused (fail closed) when it does not.
    pub async fn probe(&self) -> Result<(), RecordingError> {
        let key = self.key("health/probe");
        self.inner.put(&key, PutPayload::from_static(b"ok")).await?;
        Ok(())
    }

    /// Stores any object under the prefix (audit segments use this).
    pub async fn put_object(&self, rel: &str, data: Bytes) -> Result<(), RecordingError> {
        self.inner
            .put(&self.key(rel), PutPayload::from(data))
            .await?;
        Ok(())
    }

    /// Names (relative to the store's prefix) of the objects under `rel`.
    pub async fn list_objects(&self, rel: &str) -> Result<Vec<String>, RecordingError> {
        let dir = self.key(rel);
        let skip = self.prefix.parts().count();
        let metas: Vec<_> = self.inner.list(Some(&dir)).try_collect().await?;
        Ok(metas
            .into_iter()
            .map(|m| {
                m.location
                    .parts()
                    .skip(skip)
                    .map(|p| p.as_ref().to_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect())
    }

    /// Reads any object under the prefix.
    pub async fn get_object(&self, rel: &str) -> Result<Bytes, RecordingError> {
        self.get(&self.key(rel)).await
    }
}

/// Session ids become object keys: allow only what ids are made of.
fn check_id(id: &str) -> Result<(), RecordingError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(RecordingError::NotFound(id.chars().take(64).collect()))
    }
}

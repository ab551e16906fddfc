//! `wicket audit search|verify|export`. Verification happens here, on the client, with the
//! pure `wicket-audit` verifier: a server whose database was edited cannot talk its way past it.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use wicket_api::{EventPage, PublicKey, SealRequest};
use wicket_audit::{
    verify_segment, Break, ChainVerifier, ChainedEvent, Checkpoint, KeyHistory, Seal, ADOPT_ACTION,
    GENESIS,
};
use wicket_dial::ApiClient;

use crate::args::{AuditCommand, AuditSearchArgs, Output};
use crate::profile::{now_ms, Config};

use super::targets::print_table;

pub async fn dispatch(profile_name: Option<&str>, cmd: AuditCommand) -> Result<i32> {
    if let AuditCommand::Verify {
        public_key: Some(key),
        export: Some(dir),
        ..
    } = &cmd
    {
        return verify_export(dir, &parse_key(key)?);
    }
    let (_, profile) = Config::load()?.selected(profile_name)?;
    let api = profile.api()?;
    match cmd {
        AuditCommand::Search(args) => search(&api, args).await,
        AuditCommand::Verify {
            public_key,
            recordings,
            ..
        } => {
            let verified = fetch_verified(&api, public_key.as_deref(), recordings).await?;
            if recordings {
                return verify_recordings(&api, &verified.sealed).await;
            }
            Ok(0)
        }
        AuditCommand::Export {
            out,
            segment_size,
            public_key,
        } => export(&api, &out, segment_size.max(1), public_key.as_deref()).await,
    }
}

fn parse_key(hex_key: &str) -> Result<Vec<u8>> {
    let key = hex::decode(hex_key.trim()).context("the public key must be hex")?;
    if key.len() != 32 {
        bail!("the public key must be 32 bytes (64 hex characters) of Ed25519");
    }
    Ok(key)
}

/// A duration ago (`1h`) or a time (RFC 3339), as unix milliseconds.
fn parse_when(s: &str) -> Result<i64> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now_ms() - d.as_millis() as i64);
    }
    let t = humantime::parse_rfc3339_weak(s).with_context(|| {
        format!("{s:?} is neither a duration (1h) nor a time (2026-01-31T12:00:00Z)")
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64)
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = String::new();
    for (k, v) in pairs {
        if let Some(v) = v {
            q.push(if q.is_empty() { '?' } else { '&' });
            q.push_str(k);
            q.push('=');
            q.push_str(&encode(v));
        }
    }
    q
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The newest `--limit` events, or with `--since` the first `--limit` from then on, as
/// `journalctl -n` and `journalctl --since` choose; either way printed oldest first.
async fn search(api: &ApiClient, args: AuditSearchArgs) -> Result<i32> {
    let since = args.since.as_deref().map(parse_when).transpose()?;
    let until = args.until.as_deref().map(parse_when).transpose()?;
    let newest = since.is_none();
    // Pages in the order they came: forwards from `--since`, or backwards from the newest.
    let mut pages: Vec<Vec<ChainedEvent>> = Vec::new();
    let mut got = 0u32;
    let (mut after, mut before) = (None, None);
    while got < args.limit {
        let q = query(&[
            ("after", after.map(|a: u64| a.to_string())),
            ("before", before.map(|b: u64| b.to_string())),
            ("newest", newest.then(|| "true".to_string())),
            ("since", since.map(|v| v.to_string())),
            ("until", until.map(|v| v.to_string())),
            ("user", args.user.clone()),
            ("target", args.target.clone()),
            ("action", args.action.clone()),
            ("limit", Some((args.limit - got).to_string())),
        ]);
        let page: EventPage = api.get(&format!("/v1/audit/events{q}")).await?;
        got += page.events.len() as u32;
        pages.push(page.events);
        let next = if newest {
            before = page.next_before;
            before
        } else {
            after = page.next_after;
            after
        };
        if next.is_none() {
            break;
        }
    }
    if newest {
        pages.reverse();
    }
    let events: Vec<ChainedEvent> = pages.into_iter().flatten().collect();
    match args.output {
        Output::Json => crate::stdio::json(&events.iter().map(json_event).collect::<Vec<_>>())?,
        Output::Table => {
            let rows: Vec<[String; 7]> = events
                .iter()
                .map(|c| {
                    let e = &c.event;
                    [
                        e.seq.to_string(),
                        humantime::format_rfc3339_seconds(
                            std::time::UNIX_EPOCH
                                + std::time::Duration::from_millis(e.time.max(0) as u64),
                        )
                        .to_string(),
                        e.actor.clone(),
                        e.action.clone(),
                        e.resource.clone(),
                        e.outcome.as_str().to_string(),
                        e.details.clone(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE", "OUTCOME", "DETAILS",
                ],
                &rows,
            );
        }
    }
    Ok(0)
}

/// An event as `--output json` shows it: `details` as the JSON object it holds, not as a
/// string of JSON. What is hashed stays the stored text; `audit verify` and `export` read the
/// events as the server sends them.
fn json_event(e: &ChainedEvent) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or(serde_json::Value::Null);
    if let Some(slot) = v.get_mut("details") {
        if let Ok(parsed) = serde_json::from_str::<serde_json::Value>(&e.event.details) {
            *slot = parsed;
        }
    }
    v
}

/// What a verification found, besides what it printed.
struct Verified {
    /// The last event verified: exports stop there.
    head: Option<(u64, wicket_audit::Hash)>,
    /// (session id, sealed recording hash) of every session end in the chain, when asked for.
    sealed: Vec<(String, String)>,
}

/// Fetches checkpoints, then every event page by page (so every checkpoint is covered by what
/// was fetched), verifying them here as they arrive: the client holds the checkpoints and about
/// two pages, however long the chain. Prints a summary; fails naming the first bad event.
async fn fetch_verified(
    api: &ApiClient,
    public_key: Option<&str>,
    want_sealed: bool,
) -> Result<Verified> {
    let (key, pinned) = match public_key {
        Some(k) => (parse_key(k)?, true),
        None => {
            let k: PublicKey = api.get("/v1/audit/public-key").await?;
            (parse_key(&k.public_key)?, false)
        }
    };
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    loop {
        let after = checkpoints.last().map_or(0, |c| c.seq);
        let page: Vec<Checkpoint> = api
            .get(&format!("/v1/audit/checkpoints?after={after}"))
            .await?;
        if page.is_empty() {
            break;
        }
        checkpoints.extend(page);
    }
    let mut verifier = ChainVerifier::new(checkpoints);
    let mut sealed = Vec::new();
    let mut after = 0;
    loop {
        let page: EventPage = api.get(&format!("/v1/audit/events?after={after}")).await?;
        if want_sealed {
            sealed.extend(page.events.iter().filter_map(sealed_recording));
        }
        after = page.events.last().map_or(after, |e| e.event.seq);
        verifier.feed(page.events);
        if page.next_after.is_none() {
            break;
        }
    }
    let r = verifier.finish(Some(&key)).map_err(broken)?;
    let head = r
        .head
        .map(|(s, h)| format!("event {s}, hash {}", hex::encode(h)))
        .unwrap_or_else(|| "empty".into());
    outln!(
        "audit chain OK: {} events, head {head}; {} signed checkpoints{}",
        r.events,
        r.checkpoints,
        r.last_checkpoint
            .map(|c| format!(", the last at event {c}"))
            .unwrap_or_default()
    );
    for seq in &r.key_changes {
        outln!(
            "the audit key changed at event {seq}: checkpoints before it were checked with the key it replaced"
        );
    }
    if r.unsigned_tail > 0 {
        outln!(
            "{} events after the last checkpoint are chained but not yet signed",
            r.unsigned_tail
        );
    }
    if !pinned {
        outln!(
            "warning: checked against the key the server sent ({}); pin it with --public-key",
            hex::encode(&key)
        );
    }
    Ok(Verified {
        head: r.head,
        sealed,
    })
}

/// The session id and sealed recording hash of a session-end event.
fn sealed_recording(e: &ChainedEvent) -> Option<(String, String)> {
    if e.event.action != "session.end" {
        return None;
    }
    let d: serde_json::Value = serde_json::from_str(&e.event.details).ok()?;
    Some((
        d["session_id"].as_str()?.to_owned(),
        d["recording_sha256"].as_str()?.to_owned(),
    ))
}

/// Checks every recording sealed in the (already verified) chain against its sealed hash.
/// The hash comes from the chain, not from the server's answer, so neither a changed
/// recording nor a changed session history can hide.
async fn verify_recordings(api: &ApiClient, sealed: &[(String, String)]) -> Result<i32> {
    let mut bad = Vec::new();
    for (id, want) in sealed {
        let got = match api
            .get_stream(&format!("/v1/sessions/{id}/recording"))
            .await
        {
            Ok(mut body) => {
                let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
                // The sealed hash is of the stored bytes: no need to decompress.
                while let Some(chunk) = body.next().await? {
                    ctx.update(&chunk);
                }
                hex::encode(ctx.finish().as_ref())
            }
            Err(e) => {
                bad.push(format!("recording of {id}: cannot be read ({e})"));
                continue;
            }
        };
        if got != *want {
            bad.push(format!(
                "recording of {id} was ALTERED: sealed sha256 {want}, stored {got}"
            ));
        }
    }
    if bad.is_empty() {
        outln!("recordings OK: {} match their sealed hashes", sealed.len());
        return Ok(0);
    }
    for b in &bad {
        errln!("{b}");
    }
    anyhow::bail!(
        "{} of {} sealed recordings do not verify",
        bad.len(),
        sealed.len()
    )
}

fn broken(b: Break) -> anyhow::Error {
    anyhow::anyhow!("audit chain BROKEN at event {}: {b}", b.seq())
}

/// Verifies the log (first pass), then fetches it again page by page up to the head it
/// verified and writes a sealed segment each time `size` events have gathered (second pass),
/// checking that what it writes is the chain it verified: memory stays at a segment and a page.
async fn export(api: &ApiClient, out: &Path, size: u32, public_key: Option<&str>) -> Result<i32> {
    let verified = fetch_verified(api, public_key, false).await?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let Some((head_seq, head_hash)) = verified.head else {
        outln!(
            "exported 0 events in 0 sealed segments to {}",
            out.display()
        );
        return Ok(0);
    };
    let (mut prev, mut next_seq) = (GENESIS, 1u64);
    let mut segment: Vec<ChainedEvent> = Vec::with_capacity(size as usize);
    let mut written = 0;
    let mut after = 0;
    while next_seq <= head_seq {
        let page: EventPage = api.get(&format!("/v1/audit/events?after={after}")).await?;
        let events: Vec<ChainedEvent> = page
            .events
            .into_iter()
            .filter(|e| e.event.seq <= head_seq)
            .collect();
        let Some(last) = events.last() else {
            bail!(
                "the log ended at event {} while exporting up to {head_seq}",
                next_seq - 1
            );
        };
        after = last.event.seq;
        // The same chain as the one verified: each page continues the last.
        match verify_segment(&events, next_seq, prev) {
            Ok(Some((s, h))) => (next_seq, prev) = (s + 1, h),
            Ok(None) => {}
            Err(b) => return Err(broken(b)),
        }
        for e in events {
            segment.push(e);
            if segment.len() == size as usize {
                write_segment(api, out, &segment).await?;
                segment.clear();
                written += 1;
            }
        }
    }
    if !segment.is_empty() {
        write_segment(api, out, &segment).await?;
        written += 1;
    }
    if prev != head_hash {
        bail!("the log changed while it was exported: event {head_seq} no longer has the hash verified");
    }
    outln!(
        "exported {head_seq} events in {written} sealed segments to {}",
        out.display()
    );
    Ok(0)
}

/// Has the server seal `chunk` (checking its hashes against what it served) and writes it as
/// one segment file.
async fn write_segment(api: &ApiClient, out: &Path, chunk: &[ChainedEvent]) -> Result<()> {
    let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
        return Ok(());
    };
    let seal: Seal = api
        .post(
            "/v1/audit/seal",
            &SealRequest {
                first_seq: first.event.seq,
                last_seq: last.event.seq,
            },
        )
        .await?;
    if seal.first_prev != first.prev_hash || seal.last_hash != last.hash {
        bail!(
            "the server sealed events {}..{} with hashes that differ from what it served",
            first.event.seq,
            last.event.seq
        );
    }
    let path = out.join(format!("segment-{:012}.jsonl", first.event.seq));
    let text = wicket_audit::segment_text(chunk, &seal)?;
    let mut f =
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// The last line of an export segment file (`wicket_audit::segment_text`); not an API body.
#[derive(Deserialize)]
struct SealLine {
    seal: Seal,
}

/// Checks an export with nothing but the public key: each segment's seal signature, its events
/// against the seal, and the segments against each other.
fn verify_export(dir: &Path, key: &[u8]) -> Result<i32> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("segment-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no segment-*.jsonl files in {}", dir.display());
    }
    let keys = export_keys(&files, key)?;
    let mut prev: Option<Seal> = None;
    let mut total = 0u64;
    for path in &files {
        let name = path.display();
        let file = std::fs::File::open(path)?;
        let mut lines: Vec<String> = Vec::new();
        for line in std::io::BufReader::new(file).lines() {
            lines.push(line.with_context(|| format!("{name}: not text"))?);
        }
        let seal_line = lines
            .pop()
            .with_context(|| format!("{name}: empty segment"))?;
        let seal = serde_json::from_str::<SealLine>(&seal_line)
            .map(|s| s.seal)
            .map_err(|e| anyhow::anyhow!("{name}: the seal line is not valid: {e}"))?;
        if !keys.seal_signers(seal.last_seq).any(|k| seal.verify(k)) {
            bail!(
                "{name}: the seal over events {}..{} has a bad signature",
                seal.first_seq,
                seal.last_seq
            );
        }
        let mut events = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let e: ChainedEvent = serde_json::from_str(line).map_err(|err| {
                anyhow::anyhow!(
                    "audit export BROKEN at event {}: {name} line {} is not a valid event: {err}",
                    seal.first_seq + i as u64,
                    i + 1
                )
            })?;
            events.push(e);
        }
        match verify_segment(&events, seal.first_seq, seal.first_prev) {
            Ok(Some((last, hash))) if last == seal.last_seq && hash == seal.last_hash => {}
            Ok(_) => bail!(
                "audit export BROKEN: {name} does not end at event {} with the sealed hash",
                seal.last_seq
            ),
            Err(b) => bail!("audit export BROKEN at event {}: {name}: {b}", b.seq()),
        }
        match &prev {
            None if seal.first_seq == 1 && seal.first_prev != GENESIS => {
                bail!("{name}: event 1 does not start at the genesis hash")
            }
            Some(p) if p.last_seq + 1 != seal.first_seq || p.last_hash != seal.first_prev => bail!(
                "audit export BROKEN at event {}: {name} does not continue the segment before it (events {}..{})",
                p.last_seq + 1,
                p.first_seq,
                p.last_seq
            ),
            _ => {}
        }
        total += events.len() as u64;
        prev = Some(seal);
    }
    let (first, last) = (
        files
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        prev.map(|s| s.last_seq).unwrap_or(0),
    );
    outln!(
        "audit export OK: {total} events in {} sealed segments (from {first}, up to event {last})",
        files.len()
    );
    for seq in keys.changes() {
        outln!("the audit key changed at event {seq}: segments sealed before it were checked with the key it replaced");
    }
    Ok(0)
}

/// A first pass over an export for its seals and key changes, so that segments sealed before a
/// key adoption the pinned key vouches for are checked with the key they were sealed with.
fn export_keys(files: &[std::path::PathBuf], key: &[u8]) -> Result<KeyHistory> {
    let mut seals = Vec::new();
    let mut adoptions = Vec::new();
    for path in files {
        let file = std::fs::File::open(path)?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.with_context(|| format!("{}: not text", path.display()))?;
            if let Ok(s) = serde_json::from_str::<SealLine>(&line) {
                seals.push(s.seal);
            } else if line.contains(ADOPT_ACTION) {
                if let Ok(e) = serde_json::from_str::<ChainedEvent>(&line) {
                    if let Ok(a) = serde_json::from_str(&e.event.details) {
                        adoptions.push((e.event.seq, a));
                    }
                }
            }
        }
    }
    Ok(KeyHistory::for_seals(adoptions, &seals, key))
}

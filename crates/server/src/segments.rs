//! Sealed audit segments: fixed runs of the chain, each with a seal signed by the audit key,
//! written to the object store (the recordings' store, under `audit/segments/`) as they fill.
//! A segment is the same JSON-lines file `wicket audit export` writes, so
//! `wicket audit verify --export DIR --public-key KEY` checks a copy of the bucket offline:
//! the log survives, verifiable, even if the database is lost or rewritten.

use std::time::Duration;

use bytes::Bytes;
use wicket_audit::{ChainedEvent, Seal};
use wicket_store::{AuditFilter, AUDIT_PAGE_MAX};

use crate::error::ApiError;
use crate::now_ms;
use crate::state::AppState;

/// Where segments go in the object store.
pub const PREFIX: &str = "audit/segments";

/// Events `first..=last`, checked to chain (from the genesis hash when `first` is 1), and a
/// seal over them. A server never seals a stretch it can see is broken.
pub async fn seal_range(
    state: &AppState,
    first: u64,
    last: u64,
) -> Result<(Vec<ChainedEvent>, Seal), ApiError> {
    if first == 0 || last < first {
        return Err(ApiError::bad_request("need 1 <= first_seq <= last_seq"));
    }
    let mut events: Vec<ChainedEvent> = Vec::new();
    while events.last().is_none_or(|e| e.event.seq < last) {
        let after = events.last().map_or(first - 1, |e| e.event.seq);
        let page = state
            .store()
            .list_audit(&AuditFilter {
                after_seq: Some(after),
                limit: Some(((last - after) as u32).min(AUDIT_PAGE_MAX)),
                ..AuditFilter::default()
            })
            .await?;
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    let first_prev = match events.first() {
        Some(e) if first == 1 && e.prev_hash != wicket_audit::GENESIS => {
            return Err(ApiError::conflict(
                "event 1 does not start at the genesis hash",
            ))
        }
        Some(e) => e.prev_hash,
        None => return Err(ApiError::not_found("no events in that range")),
    };
    match wicket_audit::verify_segment(&events, first, first_prev) {
        Ok(Some((end, hash))) if end == last => {
            state
                .audit()
                .check_key()
                .await
                .map_err(|e| ApiError::conflict(e.to_string()))?;
            let seal = state
                .audit()
                .key()
                .seal(first, last, first_prev, hash, now_ms());
            Ok((events, seal))
        }
        Ok(_) => Err(ApiError::not_found("the range runs past the last event")),
        Err(b) => Err(ApiError::conflict(format!(
            "not sealing a broken chain: {b}"
        ))),
    }
}

fn name(first: u64, last: u64) -> String {
    format!("{PREFIX}/segment-{first:012}-{last:012}.jsonl")
}

/// The last event already shipped, from the segment names in the store.
async fn shipped_up_to(state: &AppState) -> Result<u64, wicket_recording::RecordingError> {
    let names = state.recordings().list_objects(PREFIX).await?;
    Ok(names
        .iter()
        .filter_map(|n| {
            let stem = n.rsplit('/').next()?.strip_prefix("segment-")?;
            let stem = stem.strip_suffix(".jsonl")?;
            stem.split_once('-')?.1.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0))
}

/// Ships every full segment not yet in the store; returns how many it wrote.
pub async fn ship(state: &AppState, size: u64) -> Result<usize, String> {
    let size = size.max(1);
    let mut next = shipped_up_to(state).await.map_err(|e| e.to_string())? + 1;
    let (head, _) = state
        .store()
        .audit_head()
        .await
        .map_err(|e| e.to_string())?;
    let mut written = 0;
    while head >= next + size - 1 {
        let last = next + size - 1;
        let (events, seal) = seal_range(state, next, last).await.map_err(|e| e.message)?;
        let text = wicket_audit::segment_text(&events, &seal).map_err(|e| e.to_string())?;
        state
            .recordings()
            .put_object(&name(next, last), Bytes::from(text))
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(first = next, last, "audit segment shipped");
        written += 1;
        next = last + 1;
    }
    Ok(written)
}

/// Ships full segments at an interval. Replicas may race to write the same segment; each
/// writes a valid, sealed file under the same name.
pub async fn shipper(state: AppState, size: u64, interval: Duration) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = ship(&state, size).await {
            tracing::warn!(error = %e, "shipping audit segments failed; will retry");
        }
    }
}

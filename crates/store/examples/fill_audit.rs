//! Appends N plausible events to a database's audit chain, for benchmarks of verification and
//! export on a long chain (`bench/audit-verify.sh`).
//!
//!     cargo run -p wicket-store --example fill_audit -- DATABASE_URL N

use wicket_audit::{Event, Outcome};
use wicket_store::Store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(n)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: fill_audit DATABASE_URL N");
    };
    let n: u64 = n.parse()?;
    let store = Store::open(&url).await?;
    let mut done = 0;
    while done < n {
        let batch = (n - done).min(1000);
        let events = (done..done + batch)
            .map(|i| Event {
                seq: 0,
                time: 1_700_000_000_000 + i as i64,
                actor: format!("user{}", i % 50),
                source: "10.0.0.7".into(),
                action: "api.request".into(),
                resource: format!("GET /v1/targets/web-{}", i % 200),
                outcome: Outcome::Success,
                details: r#"{"method":"GET","route":"/v1/targets/{name}","status":200}"#.into(),
            })
            .collect();
        store.append_audit(events).await?;
        done += batch;
    }
    store.close().await;
    println!("appended {n} events");
    Ok(())
}

//! `wicket-agent`: runs on every target; dials out, never listens.

use clap::Parser;

fn main() {
    wicket_tls::install_crypto_provider();
    let args = wicket::agent::Args::parse();
    // One thread: the agent idles almost always, and a single-threaded runtime keeps it small
    // and wakes it only for its heartbeat.
    let code = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => match rt.block_on(wicket::agent::run(args)) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("wicket-agent: {e:#}");
                1
            }
        },
        Err(e) => {
            eprintln!("wicket-agent: cannot start: {e}");
            1
        }
    };
    std::process::exit(code);
}

//! `wicket`: the user's command line.

use clap::Parser;

fn main() {
    wicket_tls::install_crypto_provider();
    wicket_cli::complete::answer_if_asked();
    let cli = wicket_cli::Cli::parse();
    // Quiet unless asked: the CLI's output is for people and scripts.
    if std::env::var_os("RUST_LOG").is_some() {
        wicket::logging::init("warn");
    }
    // One thread: a keystroke goes from stdin to the link without waking another thread, which
    // is most of the CLI's share of echo latency (docs/PERFORMANCE.md). Blocking work (file
    // copies, stdin) runs on tokio's blocking pool either way.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wicket: cannot start: {e}");
            std::process::exit(1);
        }
    };
    // The command runs as a task, not as `block_on`'s own future: tokio's single-threaded
    // scheduler polls that future only after a non-blocking turn of the reactor, one more
    // system call on every keystroke's way back to the terminal.
    let code = rt.block_on(async {
        tokio::spawn(wicket_cli::run(cli))
            .await
            .unwrap_or_else(|e| {
                eprintln!("wicket: {e}");
                1
            })
    });
    // Exit while the runtime is still alive: dropping it would wait for the blocking stdin
    // read, holding the process until the user pressed a key.
    std::process::exit(code);
}

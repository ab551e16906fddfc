//! `wicket`: the user's command line.

use clap::Parser;

fn main() {
    wicket_tls::install_crypto_provider();
    let cli = wicket_cli::Cli::parse();
    let code = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(wicket_cli::run(cli)),
        Err(e) => {
            eprintln!("wicket: cannot start: {e}");
            1
        }
    };
    // Exit without dropping the runtime: a blocking stdin read would otherwise hold the process
    // until the user pressed a key.
    std::process::exit(code);
}

//! `wicketd`: the control plane.

use clap::Parser;

fn main() {
    wicket_tls::install_crypto_provider();
    let args = wicket::wicketd::Args::parse();
    let code = match tokio::runtime::Runtime::new() {
        Ok(rt) => match rt.block_on(wicket::wicketd::run(args)) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("wicketd: {e:#}");
                1
            }
        },
        Err(e) => {
            eprintln!("wicketd: cannot start: {e}");
            1
        }
    };
    std::process::exit(code);
}

//! Structured logs to stderr. `RUST_LOG` filters; `WICKET_LOG_FORMAT=json` for log shippers.
//!
//! Log lines carry what the network sent (a login name, a target's host name, a reason): in
//! the text format every field and the message go through the one sanitiser
//! ([`wicket_proto::text::display`]), so a name with a line feed cannot forge a log line and
//! an escape sequence cannot drive the terminal of whoever reads the log. The JSON format
//! escapes them as JSON.

use std::fmt::Write as _;

use tracing_subscriber::field::MakeExt;

pub fn init(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if std::env::var("WICKET_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.fmt_fields(escaped_fields()).init();
    }
}

/// Fields as the default text format writes them (`message`, then `name=value`, space
/// separated), each value escaped.
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        let text = wicket_proto::text::display(&text);
        if field.name() == "message" {
            write!(w, "{text}")
        } else {
            write!(w, "{field}={text}")
        }
    })
    .delimited(" ")
}

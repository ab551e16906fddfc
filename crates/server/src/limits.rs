//! The bound on every field the network sends wicketd, in one table, and the one check that
//! applies it ([`field`]).
//!
//! Whatever a client, an agent or an unauthenticated stranger sends is bounded here before it
//! is stored, recorded or logged: a login body over [`BODY`] is refused with a 413 and a login
//! name over [`NAME`] with a 400, each recorded only as an API call, never written to the
//! audit chain whole. The audit
//! writer cuts every string again as a last line ([`crate::audit::event`]), so a field that
//! slips past a handler still cannot grow the chain by more than a few KiB per event.
//! docs/SECURITY.md lists these bounds.

use std::collections::BTreeMap;

use wicket_proto::handshake::Inventory;
use wicket_proto::text::{self, TextError};
use wicket_proto::OpenSpec;

use crate::error::ApiError;

/// User and group names (also policy entity ids).
pub const NAME: usize = 64;
/// Target names: what users type after `wicket connect`.
pub const TARGET_NAME: usize = 63;
/// OS user names a session runs as (POSIX allows 32; some systems more).
pub const RUN_AS: usize = 64;
/// Passwords. Long passphrases fit; argon2 is never fed megabytes.
pub const PASSWORD: usize = 1024;
/// One-time codes, recovery codes, activation ids and codes, token ids, session ids.
pub const CODE: usize = 128;
/// Tag keys and values, and how many tags one target or activation may carry.
pub const TAG_KEY: usize = 63;
pub const TAG_VALUE: usize = 255;
pub const TAGS: usize = 32;
/// A remote command line as the user typed it (`wicket connect t -- ...`).
pub const COMMAND: usize = 16 * 1024;
/// Environment a session request carries: entries, and each name and value.
pub const ENV_ENTRIES: usize = 64;
pub const ENV_TEXT: usize = 4096;
/// Paths: a working directory, a file to copy (as `wicket_proto::copy::MAX_PATH_LEN`).
pub const PATH: usize = wicket_proto::copy::MAX_PATH_LEN;
/// A forward's destination host name (a DNS name is at most 253).
pub const HOST: usize = 255;
/// Free text a client gives: a reason, a terminal type, a client's description of itself.
pub const TEXT: usize = 1024;
/// An agent's inventory: each field, and how many addresses.
pub const INVENTORY_FIELD: usize = 256;
pub const INVENTORY_ADDRESSES: usize = 64;
/// A policy set's text.
pub const POLICY_TEXT: usize = 1024 * 1024;
/// A JSON request body, unless the route needs more (the policy routes take
/// [`POLICY_TEXT`] and change).
pub const BODY: usize = 64 * 1024;
/// What the audit writer keeps of each string of an event (actor, resource, every string in
/// the details), whatever a handler passed it.
pub const AUDIT_TEXT: usize = 1024;

/// Refuses `value` with a 400 naming `name` when it is longer than `max` bytes or holds a
/// control or text-direction character ([`wicket_proto::text::is_unsafe`]).
pub fn field(name: &'static str, value: &str, max: usize) -> Result<(), ApiError> {
    wicket_proto::text::check(name, value, max).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Refuses `value` only for its length: for secrets (a password may hold any character, and
/// is never shown or stored).
pub fn length(name: &'static str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::bad_request(format!(
            "{name} is too long (at most {max} bytes)"
        )));
    }
    Ok(())
}

/// Tags of a target or an activation: at most [`TAGS`]; keys of letters, digits and `-_./`
/// up to [`TAG_KEY`]; values up to [`TAG_VALUE`] with no control or text-direction character
/// (a value that reads backwards in `wicket targets` would lie to whoever reads it).
pub fn tags(tags: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if tags.len() > TAGS {
        return Err(ApiError::bad_request(format!(
            "too many tags ({}; at most {TAGS})",
            tags.len()
        )));
    }
    for (key, value) in tags {
        let key_ok = !key.is_empty()
            && key.len() <= TAG_KEY
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        if !key_ok {
            return Err(ApiError::bad_request(format!(
                "invalid tag key \"{}\": use 1-{TAG_KEY} letters, digits, '-', '_', '.' or '/'",
                shown(key)
            )));
        }
        text::check("tag value", value, TAG_VALUE)
            .map_err(|e| ApiError::bad_request(format!("tag {key}: {e}")))?;
    }
    Ok(())
}

/// Refuses a channel request from a user's link whose fields exceed their bounds, before
/// anything is looked up, stored or recorded. A frame is at most 256 KiB; what is kept of one
/// (the session history, the audit chain) is far less.
pub fn open_spec(spec: &OpenSpec) -> Result<(), TextError> {
    match spec {
        OpenSpec::Session(s) => {
            opt("target", s.target.as_deref(), TARGET_NAME)?;
            opt("run-as user", s.run_as.as_deref(), RUN_AS)?;
            // A command may span lines (a script); it is shown escaped, so only its size is
            // bounded.
            opt_len("command", s.command.as_deref(), COMMAND)?;
            opt_len("working directory", s.cwd.as_deref(), PATH)?;
            if let Some(pty) = &s.pty {
                text::check("terminal type", &pty.term, NAME)?;
            }
            if s.env.len() > ENV_ENTRIES {
                return Err(TextError::TooLong {
                    field: "environment (entries)",
                    len: s.env.len(),
                    max: ENV_ENTRIES,
                });
            }
            for (k, v) in &s.env {
                text::check("environment variable name", k, ENV_TEXT)?;
                len("environment variable value", v, ENV_TEXT)?;
            }
        }
        OpenSpec::Tcp(t) => {
            opt("target", t.target.as_deref(), TARGET_NAME)?;
            text::check("destination host", &t.host, HOST)?;
            opt("peer", t.peer.as_deref(), TEXT)?;
            opt("connection id", t.connection_id.as_deref(), CODE)?;
        }
        OpenSpec::Copy(c) => {
            opt("target", c.target.as_deref(), TARGET_NAME)?;
            opt("run-as user", c.run_as.as_deref(), RUN_AS)?;
            // File names may hold any byte but NUL: bounded here, escaped where shown.
            len("remote path", &c.path, PATH)?;
            opt_len("local path", c.local_path.as_deref(), PATH)?;
            opt("copy id", c.copy_id.as_deref(), CODE)?;
        }
    }
    Ok(())
}

fn opt(field: &'static str, value: Option<&str>, max: usize) -> Result<(), TextError> {
    value.map_or(Ok(()), |v| text::check(field, v, max))
}

fn len(field: &'static str, value: &str, max: usize) -> Result<(), TextError> {
    if value.len() > max {
        return Err(TextError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

fn opt_len(field: &'static str, value: Option<&str>, max: usize) -> Result<(), TextError> {
    value.map_or(Ok(()), |v| len(field, v, max))
}

/// Cuts an agent's report of its host to the bounds, field by field: an agent is trusted to
/// be the host it enrolled as, not to be truthful or small, and what it says is shown to
/// every user who lists targets.
pub fn inventory(inv: &mut Inventory) {
    for f in [
        &mut inv.hostname,
        &mut inv.os,
        &mut inv.kernel,
        &mut inv.arch,
        &mut inv.agent_version,
        &mut inv.user,
    ] {
        *f = text::display(&text::bounded(f, INVENTORY_FIELD)).into_owned();
    }
    inv.addresses.truncate(INVENTORY_ADDRESSES);
    for a in &mut inv.addresses {
        *a = text::display(&text::bounded(a, INVENTORY_FIELD)).into_owned();
    }
}

/// A value from the network as an error message may quote it: cut short, escaped.
pub fn shown(value: &str) -> String {
    text::display(&text::bounded(value, 80)).into_owned()
}

/// A destination as people write it: `host:port`, `[v6]:port`.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_bounded_and_plain() {
        let ok: BTreeMap<_, _> = [("env".to_string(), "prod".to_string())].into();
        assert!(tags(&ok).is_ok());
        let bidi: BTreeMap<_, _> = [("env".to_string(), "\u{202e}dorp".to_string())].into();
        assert!(tags(&bidi).unwrap_err().message.contains("text-direction"));
        let many: BTreeMap<_, _> = (0..=TAGS).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(tags(&many).unwrap_err().message.contains("too many tags"));
        let long: BTreeMap<_, _> = [("k".to_string(), "v".repeat(TAG_VALUE + 1))].into();
        assert!(tags(&long).unwrap_err().message.contains("too long"));
        let key: BTreeMap<_, _> = [("a b\x1b".to_string(), "v".to_string())].into();
        let err = tags(&key).unwrap_err().message;
        assert!(
            err.contains("invalid tag key") && !err.contains('\x1b'),
            "{err}"
        );
    }

    #[test]
    fn an_agents_inventory_is_cut_and_escaped() {
        let mut inv = Inventory {
            hostname: "h".repeat(100_000),
            agent_version: "1.0\x1b]52;c;SGk=\x07".into(),
            addresses: vec!["10.0.0.1".into(); 1000],
            ..Inventory::default()
        };
        inventory(&mut inv);
        assert!(inv.hostname.len() <= INVENTORY_FIELD);
        assert_eq!(inv.agent_version, "1.0\\u{1b}]52;c;SGk=\\u{7}");
        assert_eq!(inv.addresses.len(), INVENTORY_ADDRESSES);
    }

    #[test]
    fn channel_requests_are_bounded_before_anything_else() {
        use wicket_proto::SessionSpec;
        let ok = OpenSpec::Session(SessionSpec {
            target: Some("web-1".into()),
            command: Some("for i in 1 2; do\n  echo $i\ndone".into()),
            ..SessionSpec::default()
        });
        assert!(open_spec(&ok).is_ok());
        let long = OpenSpec::Session(SessionSpec {
            command: Some("x".repeat(COMMAND + 1)),
            ..SessionSpec::default()
        });
        assert!(open_spec(&long)
            .unwrap_err()
            .to_string()
            .contains("command is too long"));
        let sneaky = OpenSpec::Session(SessionSpec {
            run_as: Some("root\u{202e}".into()),
            ..SessionSpec::default()
        });
        assert!(open_spec(&sneaky).is_err());
    }
}

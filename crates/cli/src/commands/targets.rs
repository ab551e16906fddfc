//! `wicket targets`.

use anyhow::Result;
use wicket_api::TargetView;

use crate::args::{Output, TargetsArgs};
use crate::profile::Config;

pub async fn fetch(profile_name: Option<&str>) -> Result<Vec<TargetView>> {
    let (_, profile) = Config::load()?.selected(profile_name)?;
    Ok(profile.api()?.get("/v1/targets").await?)
}

pub async fn list(profile_name: Option<&str>, args: TargetsArgs) -> Result<i32> {
    let targets: Vec<TargetView> = fetch(profile_name)
        .await?
        .into_iter()
        .filter(|t| selected(t, args.name.as_deref(), &args.tags))
        .collect();
    match args.output.output {
        Output::Json => crate::stdio::json(&targets)?,
        Output::Table => {
            let rows: Vec<[String; 6]> = targets
                .iter()
                .map(|t| {
                    [
                        t.name.clone(),
                        t.id.clone(),
                        if t.online { "online" } else { "offline" }.to_string(),
                        if t.online {
                            "now".into()
                        } else {
                            super::ago(t.last_seen)
                        },
                        t.agent_version.clone().unwrap_or_else(|| "-".into()),
                        t.tags
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(","),
                    ]
                })
                .collect();
            print_table(
                &["NAME", "ID", "STATUS", "LAST SEEN", "VERSION", "TAGS"],
                &rows,
            );
        }
    }
    Ok(0)
}

/// Whether `t` is one the user asked for: its name contains `name`, or matches it as a glob
/// when it has `*`, `?` or `[`; and it has every tag in `tags`.
fn selected(t: &TargetView, name: Option<&str>, tags: &[(String, String)]) -> bool {
    let name_ok = match name {
        None => true,
        Some(p) if p.contains(['*', '?', '[']) => glob(p.as_bytes(), t.name.as_bytes()),
        Some(p) => t.name.contains(p),
    };
    name_ok && tags.iter().all(|(k, v)| t.tags.get(k) == Some(v))
}

/// Shell-style matching of the whole `name`: `*` any run, `?` any one character, `[abc]` and
/// `[a-z]` (with `!` or `^` to negate) one of a set. Target names are ASCII, so bytes will do.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some(close) = rest.iter().skip(1).position(|&b| b == b']').map(|i| i + 1) else {
                // No closing bracket: a literal `[`.
                return name.first() == Some(&b'[') && glob(rest, &name[1..]);
            };
            let (set, rest) = (&rest[..close], &rest[close + 1..]);
            let (negate, set) = match set.first() {
                Some(b'!' | b'^') => (true, &set[1..]),
                _ => (false, set),
            };
            let Some(&c) = name.first() else {
                return false;
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= (set[i]..=set[i + 2]).contains(&c);
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob(rest, &name[1..])
        }
        Some((&b, rest)) => name.first() == Some(&b) && glob(rest, &name[1..]),
    }
}

/// Left-aligned columns separated by two spaces. Every cell comes from the server and is shown
/// on one line with anything that could drive the terminal escaped (a line feed in a command
/// as `\n`), before the columns are measured.
pub fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| wicket_proto::text::display(c).into_owned())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        outln!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        for (p, n) in [
            ("web-*", "web-1"),
            ("*-1", "db-1"),
            ("db-?", "db-2"),
            ("db-[0-9]", "db-7"),
            ("db-[!0-9]", "db-x"),
            ("*", ""),
            ("a*b*c", "aXbYc"),
        ] {
            assert!(glob(p.as_bytes(), n.as_bytes()), "{p} should match {n}");
        }
        for (p, n) in [
            ("web-*", "db-1"),
            ("db-?", "db-10"),
            ("db-[0-9]", "db-x"),
            ("db-[!0-9]", "db-1"),
            ("web", "web-1"),
        ] {
            assert!(
                !glob(p.as_bytes(), n.as_bytes()),
                "{p} should not match {n}"
            );
        }
    }

    #[test]
    fn names_and_tags_select() {
        let t = TargetView {
            id: "tgt_1".into(),
            name: "web-12".into(),
            tags: [("env".into(), "prod".into()), ("team".into(), "a".into())].into(),
            online: true,
            last_seen: None,
            agent_version: None,
            hostname: None,
            os: None,
            may_connect: true,
        };
        let tag = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert!(selected(&t, None, &[]));
        assert!(selected(&t, Some("eb-1"), &[]));
        assert!(!selected(&t, Some("db"), &[]));
        assert!(selected(
            &t,
            Some("web-*"),
            &[tag("env", "prod"), tag("team", "a")]
        ));
        assert!(!selected(&t, None, &[tag("env", "prod"), tag("team", "b")]));
        assert!(!selected(&t, None, &[tag("zone", "prod")]));
    }
}

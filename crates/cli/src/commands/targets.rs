//! `wicket targets`.

use anyhow::Result;
use wicket_api::TargetView;

use crate::args::{Output, OutputArgs};
use crate::profile::Config;

pub async fn fetch(profile_name: Option<&str>) -> Result<Vec<TargetView>> {
    let (_, profile) = Config::load()?.selected(profile_name)?;
    Ok(profile.api()?.get("/v1/targets").await?)
}

pub async fn list(profile_name: Option<&str>, args: OutputArgs) -> Result<i32> {
    let targets = fetch(profile_name).await?;
    match args.output {
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

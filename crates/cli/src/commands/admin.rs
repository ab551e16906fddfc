//! `wicket admin users|groups|policies|tokens|agents`: thin calls to the admin API.

use std::io::BufRead;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use wicket_dial::ApiClient;

use crate::args::{
    AdminCommand, AgentCommand, GroupCommand, Output, PolicyCommand, TokenCommand, UserCommand,
};
use crate::profile::Config;

use super::targets::print_table;

pub async fn dispatch(profile_name: Option<&str>, cmd: AdminCommand) -> Result<i32> {
    let (_, profile) = Config::load()?.selected(profile_name)?;
    let api = profile.api()?;
    match cmd {
        AdminCommand::Activations { .. } => unreachable_activation(),
        AdminCommand::Users { command } => users(&api, command).await,
        AdminCommand::Groups { command } => groups(&api, command).await,
        AdminCommand::Policies { command } => policies(&api, command).await,
        AdminCommand::Tokens { command } => tokens(&api, command).await,
        AdminCommand::Agents { command } => match command {
            AgentCommand::Revoke { target } => {
                let v: Value = api
                    .post(&format!("/v1/agents/{}/revoke", seg(&target)), &json!({}))
                    .await?;
                outln!(
                    "Revoked agent {} ({}); its link is closed.",
                    v["name"].as_str().unwrap_or(""),
                    v["id"].as_str().unwrap_or("")
                );
                Ok(0)
            }
        },
    }
}

fn unreachable_activation() -> Result<i32> {
    bail!("internal: activations are dispatched elsewhere")
}

/// A path segment: names are validated server-side to plain characters, but never trust that
/// here either.
fn seg(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32 & 0xff)
            }
        })
        .collect()
}

fn ended(v: &Value) -> String {
    match v["sessions_ended"].as_u64() {
        Some(0) | None => String::new(),
        Some(n) => format!(" {n} live session(s) ended."),
    }
}

async fn users(api: &ApiClient, cmd: UserCommand) -> Result<i32> {
    match cmd {
        UserCommand::Create {
            name,
            admin,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let v: Value = api
                .post(
                    "/v1/users",
                    &json!({ "name": name, "password": password, "admin": admin }),
                )
                .await?;
            outln!(
                "Created user {name}{}.",
                if admin { " (administrator)" } else { "" }
            );
            if let Some(p) = v["password"].as_str() {
                outln!("Password (shown once): {p}");
            }
        }
        UserCommand::List(o) => {
            let v: Value = api.get("/v1/users").await?;
            if o.output == Output::Json {
                crate::stdio::json(&v)?;
            } else {
                let rows: Vec<[String; 4]> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|u| {
                        [
                            u["name"].as_str().unwrap_or("").to_string(),
                            if u["is_admin"] == true {
                                "admin"
                            } else {
                                "user"
                            }
                            .to_string(),
                            if u["disabled"] == true {
                                "disabled"
                            } else {
                                "enabled"
                            }
                            .to_string(),
                            join(&u["groups"]),
                        ]
                    })
                    .collect();
                print_table(&["NAME", "ROLE", "STATE", "GROUPS"], &rows);
            }
        }
        UserCommand::Disable { name } => {
            let v: Value = api
                .post(&format!("/v1/users/{}/disable", seg(&name)), &json!({}))
                .await?;
            outln!("Disabled {name}.{}", ended(&v));
        }
        UserCommand::ResetMfa { name } => {
            let v: Value = api
                .post(&format!("/v1/users/{}/reset-mfa", seg(&name)), &json!({}))
                .await?;
            if v["reset"] == true {
                outln!("Reset multi-factor login of {name}; they can enrol again.");
            } else {
                outln!("{name} had no multi-factor login to reset.");
            }
        }
        UserCommand::Enable { name } => {
            let _: Value = api
                .post(&format!("/v1/users/{}/enable", seg(&name)), &json!({}))
                .await?;
            outln!("Enabled {name}.");
        }
        UserCommand::Delete { name } => {
            let v: Value = api
                .call(
                    reqwest_method("DELETE")?,
                    &format!("/v1/users/{}", seg(&name)),
                    None::<&()>,
                )
                .await?;
            outln!("Deleted {name}.{}", ended(&v));
        }
    }
    Ok(0)
}

async fn groups(api: &ApiClient, cmd: GroupCommand) -> Result<i32> {
    match cmd {
        GroupCommand::Create { name } => {
            let _: Value = api.post("/v1/groups", &json!({ "name": name })).await?;
            outln!("Created group {name}.");
        }
        GroupCommand::AddMember { group, user } => {
            let _: Value = api
                .post(
                    &format!("/v1/groups/{}/members", seg(&group)),
                    &json!({ "user": user }),
                )
                .await?;
            outln!("Added {user} to {group}.");
        }
        GroupCommand::RemoveMember { group, user } => {
            let v: Value = api
                .call(
                    reqwest_method("DELETE")?,
                    &format!("/v1/groups/{}/members/{}", seg(&group), seg(&user)),
                    None::<&()>,
                )
                .await?;
            outln!("Removed {user} from {group}.{}", ended(&v));
        }
        GroupCommand::List(o) => {
            let v: Value = api.get("/v1/groups").await?;
            if o.output == Output::Json {
                crate::stdio::json(&v)?;
            } else {
                let rows: Vec<[String; 2]> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| {
                        [
                            g["name"].as_str().unwrap_or("").to_string(),
                            join(&g["members"]),
                        ]
                    })
                    .collect();
                print_table(&["GROUP", "MEMBERS"], &rows);
            }
        }
    }
    Ok(0)
}

async fn policies(api: &ApiClient, cmd: PolicyCommand) -> Result<i32> {
    match cmd {
        PolicyCommand::Get => {
            let v: Value = api.get("/v1/policies").await?;
            errln!(
                "# version {} ({})",
                v["version"],
                if v["version"] == 0 {
                    "built-in defaults"
                } else {
                    "set by an administrator"
                }
            );
            out!("{}", v["text"].as_str().unwrap_or(""));
        }
        PolicyCommand::Validate { file } => {
            let text = read(&file)?;
            let v: Value = api
                .post("/v1/policies/validate", &json!({ "text": text }))
                .await?;
            if v["valid"] == true {
                outln!(
                    "{}: valid ({} policies: {})",
                    file.display(),
                    v["policy_ids"].as_array().map(Vec::len).unwrap_or(0),
                    join(&v["policy_ids"])
                );
            } else {
                for e in v["errors"].as_array().into_iter().flatten() {
                    errln!(
                        "{}:{}:{}: {}",
                        file.display(),
                        e["line"],
                        e["column"],
                        e["message"].as_str().unwrap_or("")
                    );
                }
                return Ok(1);
            }
        }
        PolicyCommand::Set { file } => {
            let text = read(&file)?;
            let v: Value = api
                .call(
                    reqwest_method("PUT")?,
                    "/v1/policies",
                    Some(&json!({ "text": text })),
                )
                .await?;
            outln!(
                "Activated policy set version {} ({}).{}",
                v["version"],
                join(&v["policy_ids"]),
                ended(&v)
            );
        }
        PolicyCommand::Explain {
            user,
            action,
            target,
            run_as,
            mfa,
        } => {
            let v: Value = api
                .post(
                    "/v1/policies/explain",
                    &json!({ "user": user, "action": action, "target": target, "run_as": run_as, "mfa": mfa }),
                )
                .await?;
            let decision = if v["allowed"] == true {
                "ALLOW"
            } else {
                "DENY"
            };
            outln!(
                "{decision}: {} {} {}{}",
                v["user"].as_str().unwrap_or(""),
                v["action"].as_str().unwrap_or(""),
                v["resource"].as_str().unwrap_or(""),
                v["run_as"]
                    .as_str()
                    .map(|r| format!(" as {r}"))
                    .unwrap_or_default()
            );
            outln!("  groups:   {}", join(&v["groups"]));
            let ids = join(&v["policy_ids"]);
            if v["allowed"] == true {
                outln!("  because:  {ids}");
            } else if ids.is_empty() {
                outln!("  because:  no policy permits it (default deny)");
            } else {
                outln!("  because:  forbidden by {ids}");
            }
            for e in v["errors"].as_array().into_iter().flatten() {
                outln!("  error:    {}", e.as_str().unwrap_or(""));
            }
            outln!("  policy set version {}", v["policy_version"]);
            return Ok(if v["allowed"] == true { 0 } else { 1 });
        }
    }
    Ok(0)
}

async fn tokens(api: &ApiClient, cmd: TokenCommand) -> Result<i32> {
    match cmd {
        TokenCommand::List(o) => {
            let v: Value = api.get("/v1/tokens").await?;
            if o.output == Output::Json {
                crate::stdio::json(&v)?;
            } else {
                let rows: Vec<[String; 3]> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        let left = (t["expires_at"].as_i64().unwrap_or(0)
                            - crate::profile::now_ms())
                        .max(0)
                            / 1000;
                        [
                            t["id"].as_str().unwrap_or("").to_string(),
                            t["user"].as_str().unwrap_or("").to_string(),
                            format!(
                                "{}",
                                humantime::format_duration(std::time::Duration::from_secs(
                                    left as u64
                                ))
                            ),
                        ]
                    })
                    .collect();
                print_table(&["ID", "USER", "EXPIRES IN"], &rows);
            }
        }
        TokenCommand::Revoke { id } => {
            let v: Value = api
                .post(&format!("/v1/tokens/{}/revoke", seg(&id)), &json!({}))
                .await?;
            outln!("Revoked {id}.{}", ended(&v));
        }
    }
    Ok(0)
}

fn read(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn join(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn reqwest_method(m: &str) -> Result<wicket_dial::Method> {
    m.parse().map_err(|_| anyhow::anyhow!("bad method {m}"))
}

//! `wicket admin users|groups|policies|tokens|agents`: thin calls to the admin API.

use std::io::BufRead;

use anyhow::{bail, Context, Result};
use serde_json::json;
use wicket_api::{
    ActivePolicy, AddMember, AgentRemoved, AgentRevoked, AgentTags, AgentView, CreateGroup,
    CreateUser, CreatedUser, ExplainRequest, Explanation, Group, GroupDeleted, Membership,
    MfaReset, PolicyActivated, PolicyText, SetTags, TokenRevoked, TokenView, UserDeleted,
    UserDisabled, UserView, Validation,
};
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
        AdminCommand::Agents { command } => agents(&api, command).await,
    }
}

async fn agents(api: &ApiClient, cmd: AgentCommand) -> Result<i32> {
    match cmd {
        AgentCommand::List(o) => {
            let v: Vec<AgentView> = api.get("/v1/agents").await?;
            if o.output == Output::Json {
                crate::stdio::json(&v)?;
            } else {
                let rows: Vec<[String; 7]> = v
                    .iter()
                    .map(|a| {
                        let state = match (a.revoked_at, a.online) {
                            (Some(_), _) => "revoked",
                            (None, true) => "online",
                            (None, false) => "offline",
                        };
                        [
                            a.name.clone(),
                            a.id.clone(),
                            state.to_string(),
                            if a.online {
                                "now".into()
                            } else {
                                super::ago(a.last_seen)
                            },
                            a.agent_version.clone().unwrap_or_else(|| "-".into()),
                            a.hostname.clone().unwrap_or_else(|| "-".into()),
                            tag_list(&a.tags),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "NAME",
                        "ID",
                        "STATE",
                        "LAST SEEN",
                        "VERSION",
                        "HOSTNAME",
                        "TAGS",
                    ],
                    &rows,
                );
            }
        }
        AgentCommand::Revoke { target } => {
            let v: AgentRevoked = api
                .post(&format!("/v1/agents/{}/revoke", seg(&target)), &json!({}))
                .await?;
            outln!("Revoked agent {} ({}); its link is closed.", v.name, v.id);
        }
        AgentCommand::Remove { target } => {
            let v: AgentRemoved = api
                .call(
                    reqwest_method("DELETE")?,
                    &format!("/v1/agents/{}", seg(&target)),
                    None::<&()>,
                )
                .await?;
            outln!(
                "Removed target {} ({}); its agent is refused from now on and the name is free.",
                v.name,
                v.id
            );
        }
        AgentCommand::Retag {
            target,
            tags,
            clear: _,
        } => {
            let v: AgentTags = api
                .call(
                    reqwest_method("PUT")?,
                    &format!("/v1/agents/{}/tags", seg(&target)),
                    Some(&SetTags {
                        tags: tags.into_iter().collect(),
                    }),
                )
                .await?;
            let now = if v.tags.is_empty() {
                "no tags".to_string()
            } else {
                tag_list(&v.tags)
            };
            outln!("Tags of {}: {now}.{}", v.name, ended(v.sessions_ended));
        }
    }
    Ok(0)
}

/// `k=v,k2=v2`, as `wicket targets` shows tags.
fn tag_list(tags: &std::collections::BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
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

/// What a change that took access away says about the live sessions it ended.
fn ended(n: u64) -> String {
    match n {
        0 => String::new(),
        n => format!(" {n} live session(s) ended."),
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
            let v: CreatedUser = api
                .post(
                    "/v1/users",
                    &CreateUser {
                        name: name.clone(),
                        password,
                        admin,
                    },
                )
                .await?;
            outln!(
                "Created user {name}{}.",
                if admin { " (administrator)" } else { "" }
            );
            if let Some(p) = v.password {
                outln!("Password (shown once): {p}");
            }
        }
        UserCommand::List(o) => {
            let v: Vec<UserView> = api.get("/v1/users").await?;
            if o.output == Output::Json {
                crate::stdio::json(&v)?;
            } else {
                let rows: Vec<[String; 4]> = v
                    .iter()
                    .map(|u| {
                        [
                            u.name.clone(),
                            if u.is_admin { "admin" } else { "user" }.to_string(),
                            if u.disabled { "disabled" } else { "enabled" }.to_string(),
                            u.groups.join(","),
                        ]
                    })
                    .collect();
                print_table(&["NAME", "ROLE", "STATE", "GROUPS"], &rows);
            }
        }
        UserCommand::Disable { name } => {
            let v: UserDisabled = api
                .post(&format!("/v1/users/{}/disable", seg(&name)), &json!({}))
                .await?;
            outln!("Disabled {name}.{}", ended(v.sessions_ended));
        }
        UserCommand::ResetMfa { name } => {
            let v: MfaReset = api
                .post(&format!("/v1/users/{}/reset-mfa", seg(&name)), &json!({}))
                .await?;
            if v.reset {
                outln!("Reset multi-factor login of {name}; they can enrol again.");
            } else {
                outln!("{name} had no multi-factor login to reset.");
            }
        }
        UserCommand::Enable { name } => {
            let _: UserDisabled = api
                .post(&format!("/v1/users/{}/enable", seg(&name)), &json!({}))
                .await?;
            outln!("Enabled {name}.");
        }
        UserCommand::Delete { name } => {
            let v: UserDeleted = api
                .call(
                    reqwest_method("DELETE")?,
                    &format!("/v1/users/{}", seg(&name)),
                    None::<&()>,
                )
                .await?;
            outln!("Deleted {name}.{}", ended(v.sessions_ended));
        }
    }
    Ok(0)
}

async fn groups(api: &ApiClient, cmd: GroupCommand) -> Result<i32> {
    match cmd {
        GroupCommand::Create { name } => {
            let _: Group = api
                .post("/v1/groups", &CreateGroup { name: name.clone() })
                .await?;
            outln!("Created group {name}.");
        }
        GroupCommand::AddMember { group, user } => {
            let _: Membership = api
                .post(
                    &format!("/v1/groups/{}/members", seg(&group)),
                    &AddMember { user: user.clone() },
                )
                .await?;
            outln!("Added {user} to {group}.");
        }
        GroupCommand::RemoveMember { group, user } => {
            let v: Membership = api
                .call(
                    reqwest_method("DELETE")?,
                    &format!("/v1/groups/{}/members/{}", seg(&group), seg(&user)),
                    None::<&()>,
                )
                .await?;
            outln!(
                "Removed {user} from {group}.{}",
                ended(v.sessions_ended.unwrap_or(0))
            );
        }
        GroupCommand::Delete { name } => {
            let v: GroupDeleted = api
                .call(
                    reqwest_method("DELETE")?,
                    &format!("/v1/groups/{}", seg(&name)),
                    None::<&()>,
                )
                .await?;
            outln!("Deleted group {name}.{}", ended(v.sessions_ended));
        }
        GroupCommand::List(o) => {
            let v: Vec<Group> = api.get("/v1/groups").await?;
            if o.output == Output::Json {
                crate::stdio::json(&v)?;
            } else {
                let rows: Vec<[String; 2]> = v
                    .iter()
                    .map(|g| [g.name.clone(), g.members.join(",")])
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
            let v: ActivePolicy = api.get("/v1/policies").await?;
            errln!(
                "# version {} ({})",
                v.version,
                if v.version == 0 {
                    "built-in defaults"
                } else {
                    "set by an administrator"
                }
            );
            out!("{}", v.text);
        }
        PolicyCommand::Validate { file } => {
            let text = read(&file)?;
            let v: Validation = api
                .post("/v1/policies/validate", &PolicyText { text })
                .await?;
            if v.valid {
                outln!(
                    "{}: valid ({} policies: {})",
                    file.display(),
                    v.policy_ids.len(),
                    v.policy_ids.join(",")
                );
            } else {
                for e in &v.errors {
                    errln!("{}:{}:{}: {}", file.display(), e.line, e.column, e.message);
                }
                return Ok(1);
            }
        }
        PolicyCommand::Set { file } => {
            let text = read(&file)?;
            let v: PolicyActivated = api
                .call(
                    reqwest_method("PUT")?,
                    "/v1/policies",
                    Some(&PolicyText { text }),
                )
                .await?;
            outln!(
                "Activated policy set version {} ({}).{}",
                v.version,
                v.policy_ids.join(","),
                ended(v.sessions_ended)
            );
        }
        PolicyCommand::Explain {
            user,
            action,
            target,
            run_as,
            mfa,
        } => {
            let run_as_asked = run_as.clone();
            let v: Explanation = api
                .post(
                    "/v1/policies/explain",
                    &ExplainRequest {
                        user,
                        action,
                        target,
                        run_as,
                        mfa,
                    },
                )
                .await?;
            let decision = if v.allowed { "ALLOW" } else { "DENY" };
            outln!(
                "{decision}: {} {} {}{}",
                v.user,
                v.action,
                v.resource,
                v.run_as
                    .as_deref()
                    .map(|r| format!(" as {r}"))
                    .unwrap_or_default()
            );
            outln!("  groups:   {}", v.groups.join(","));
            if let (Some(r), None) = (&v.run_as, &run_as_asked) {
                outln!("  run-as:   {r} (none named: the user the request would run as)");
            }
            let ids = v.policy_ids.join(",");
            if v.allowed {
                outln!("  because:  {ids}");
            } else if ids.is_empty() {
                outln!("  because:  no policy permits it (default deny)");
            } else {
                outln!("  because:  forbidden by {ids}");
            }
            for e in &v.errors {
                outln!("  error:    {e}");
            }
            outln!("  policy set version {}", v.policy_version);
            return Ok(if v.allowed { 0 } else { 1 });
        }
    }
    Ok(0)
}

async fn tokens(api: &ApiClient, cmd: TokenCommand) -> Result<i32> {
    match cmd {
        TokenCommand::List(o) => {
            let v: Vec<TokenView> = api.get("/v1/tokens").await?;
            if o.output == Output::Json {
                crate::stdio::json(&v)?;
            } else {
                let rows: Vec<[String; 3]> = v
                    .iter()
                    .map(|t| {
                        let left = (t.expires_at - crate::profile::now_ms()).max(0) / 1000;
                        [
                            t.id.clone(),
                            t.user.clone(),
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
            let v: TokenRevoked = api
                .post(&format!("/v1/tokens/{}/revoke", seg(&id)), &json!({}))
                .await?;
            outln!("Revoked {id}.{}", ended(v.sessions_ended));
        }
    }
    Ok(0)
}

fn read(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn reqwest_method(m: &str) -> Result<wicket_dial::Method> {
    m.parse().map_err(|_| anyhow::anyhow!("bad method {m}"))
}

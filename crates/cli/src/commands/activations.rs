//! `wicket admin activations`.

use anyhow::Result;
use wicket_api::{ActivationView, CreateActivation, CreatedActivation};

use crate::args::{CreateActivationArgs, Output, OutputArgs};
use crate::profile::Config;

pub async fn create(profile_name: Option<&str>, args: CreateActivationArgs) -> Result<i32> {
    let (_, profile) = Config::load()?.selected(profile_name)?;
    let req = CreateActivation {
        tags: args.tags.into_iter().collect(),
        expires_in_secs: Some(args.expires.as_secs().max(1)),
        max_registrations: Some(args.max_registrations),
    };
    let created: CreatedActivation = profile.api()?.post("/v1/activations", &req).await?;
    match args.output {
        Output::Json => crate::stdio::json(&created)?,
        Output::Table => {
            outln!("Activation id:   {}", created.id);
            outln!("Activation code: {}", created.code);
            outln!(
                "Expires:         in {}",
                humantime::format_duration(args.expires)
            );
            outln!("Registrations:   up to {}", created.max_registrations);
            outln!();
            outln!("On the host, as root:");
            outln!(
                "  wicket-agent register --server {} --activation-id {} --activation-code {} --ca-fingerprint {}",
                profile.server, created.id, created.code, created.ca_fingerprint
            );
            outln!("The code is shown only once.");
        }
    }
    Ok(0)
}

pub async fn list(profile_name: Option<&str>, args: OutputArgs) -> Result<i32> {
    let (_, profile) = Config::load()?.selected(profile_name)?;
    let all: Vec<ActivationView> = profile.api()?.get("/v1/activations").await?;
    match args.output {
        Output::Json => crate::stdio::json(&all)?,
        Output::Table => {
            let now = crate::profile::now_ms();
            let rows: Vec<[String; 4]> = all
                .iter()
                .map(|a| {
                    [
                        a.id.clone(),
                        format!("{}/{}", a.registrations, a.max_registrations),
                        if a.expires_at <= now {
                            "expired".into()
                        } else {
                            "valid".to_string()
                        },
                        a.tags
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(","),
                    ]
                })
                .collect();
            super::targets::print_table(&["ID", "USED", "STATE", "TAGS"], &rows);
        }
    }
    Ok(0)
}

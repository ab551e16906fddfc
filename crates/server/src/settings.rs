//! Session settings: idle timeout, maximum duration, shell profile (environment, working
//! directory), banner, and whether a command's output is recorded.
//!
//! Three layers, later ones winning field by field: the global `[session]` table of the
//! configuration; `[[session_overrides]]` whose `tag` (`key=value`) the target carries, in file
//! order; and annotations on the policies that permitted the request, for example
//! `@idle_timeout("5m") @max_duration("1h") @banner("...") @working_dir("/srv")
//! @record_exec_output("false")`. Where several permitting policies set a timeout the shortest
//! wins, since each is a limit someone wanted; likewise one that asks for a command's output to
//! be recorded wins over one that does not.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use wicket_store::Target;

/// One layer of settings; unset fields leave the layer below in force.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// End the session after this long without input or output.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
    /// End the session this long after it started, busy or not.
    #[serde(with = "humantime_serde")]
    pub max_duration: Option<Duration>,
    /// Shown to the user before the session starts.
    pub banner: Option<String>,
    /// Directory the shell or command starts in.
    pub working_dir: Option<String>,
    /// Environment for the shell or command.
    pub env: BTreeMap<String, String>,
    /// Whether the output of a command session (`exec`: `wicket connect T -- cmd`) goes into
    /// its recording (default true). False keeps bulk output (`pg_dump`, `tar c`) out of the
    /// store; the input, the command line, exit status and byte counts are still recorded and
    /// audited. Shells are always recorded whole.
    pub record_exec_output: Option<bool>,
}

/// Settings for targets carrying a tag.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionOverride {
    /// `key=value`.
    pub tag: String,
    #[serde(flatten)]
    pub settings: SessionSettings,
}

impl SessionSettings {
    /// The built-in global layer: a 20-minute idle timeout and a 12-hour maximum.
    pub fn builtin() -> Self {
        SessionSettings {
            idle_timeout: Some(Duration::from_secs(20 * 60)),
            max_duration: Some(Duration::from_secs(12 * 3600)),
            ..SessionSettings::default()
        }
    }

    /// `self` with `upper` laid over it.
    pub fn overlay(mut self, upper: &SessionSettings) -> Self {
        if upper.idle_timeout.is_some() {
            self.idle_timeout = upper.idle_timeout;
        }
        if upper.max_duration.is_some() {
            self.max_duration = upper.max_duration;
        }
        if upper.banner.is_some() {
            self.banner = upper.banner.clone();
        }
        if upper.working_dir.is_some() {
            self.working_dir = upper.working_dir.clone();
        }
        self.env
            .extend(upper.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        if upper.record_exec_output.is_some() {
            self.record_exec_output = upper.record_exec_output;
        }
        self
    }

    /// A layer from policy annotations; a malformed duration is ignored with a warning
    /// rather than failing the request (the policy validated; the annotation is advisory text).
    pub fn from_annotations(all: &[BTreeMap<String, String>]) -> Self {
        let mut s = SessionSettings::default();
        let duration = |k: &str, v: &str| match humantime::parse_duration(v) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(annotation = k, value = v, error = %e, "ignoring malformed policy annotation");
                None
            }
        };
        for a in all {
            if let Some(d) = a
                .get("idle_timeout")
                .and_then(|v| duration("idle_timeout", v))
            {
                s.idle_timeout = Some(s.idle_timeout.map_or(d, |x| x.min(d)));
            }
            if let Some(d) = a
                .get("max_duration")
                .and_then(|v| duration("max_duration", v))
            {
                s.max_duration = Some(s.max_duration.map_or(d, |x| x.min(d)));
            }
            if s.banner.is_none() {
                s.banner = a.get("banner").cloned();
            }
            if s.working_dir.is_none() {
                s.working_dir = a.get("working_dir").cloned();
            }
            match a.get("record_exec_output").map(String::as_str) {
                None => {}
                Some("true") => s.record_exec_output = Some(true),
                Some("false") => {
                    s.record_exec_output = Some(s.record_exec_output.unwrap_or(false));
                }
                Some(other) => tracing::warn!(
                    annotation = "record_exec_output",
                    value = other,
                    "ignoring malformed policy annotation (true or false)"
                ),
            }
        }
        s
    }
}

/// The settings in force for a session on `target` permitted by policies with `annotations`.
pub fn effective(
    global: &SessionSettings,
    overrides: &[SessionOverride],
    target: &Target,
    annotations: &[BTreeMap<String, String>],
) -> SessionSettings {
    let mut s = SessionSettings::builtin().overlay(global);
    for o in overrides {
        let matches = o
            .tag
            .split_once('=')
            .is_some_and(|(k, v)| target.tags.get(k).map(String::as_str) == Some(v));
        if matches {
            s = s.overlay(&o.settings);
        }
    }
    s.overlay(&SessionSettings::from_annotations(annotations))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(tags: &[(&str, &str)]) -> Target {
        Target {
            id: "tgt_1".into(),
            name: "web-1".into(),
            public_key: vec![],
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            activation_id: "act_1".into(),
            created_at: 0,
            last_seen: None,
            inventory: None,
            revoked_at: None,
        }
    }

    #[test]
    fn layers_apply_in_order() {
        let global: SessionSettings =
            toml::from_str("idle_timeout = \"10m\"\nbanner = \"hello\"\n[env]\nA = \"1\"").unwrap();
        let overrides: Vec<SessionOverride> = vec![toml::from_str(
            "tag = \"env=prod\"\nidle_timeout = \"5m\"\nbanner = \"PRODUCTION\"\nworking_dir = \"/srv\"\n[env]\nB = \"2\"",
        )
        .unwrap()];
        let plain = effective(&global, &overrides, &target(&[]), &[]);
        assert_eq!(plain.idle_timeout, Some(Duration::from_secs(600)));
        assert_eq!(plain.max_duration, Some(Duration::from_secs(12 * 3600)));
        assert_eq!(plain.banner.as_deref(), Some("hello"));
        let prod = effective(&global, &overrides, &target(&[("env", "prod")]), &[]);
        assert_eq!(prod.idle_timeout, Some(Duration::from_secs(300)));
        assert_eq!(prod.banner.as_deref(), Some("PRODUCTION"));
        assert_eq!(prod.working_dir.as_deref(), Some("/srv"));
        assert_eq!(prod.env.len(), 2);
        let annotated = [
            BTreeMap::from([("idle_timeout".to_string(), "2m".to_string())]),
            BTreeMap::from([
                ("idle_timeout".to_string(), "1m".to_string()),
                ("max_duration".to_string(), "bogus".to_string()),
            ]),
        ];
        let strict = effective(&global, &overrides, &target(&[("env", "prod")]), &annotated);
        assert_eq!(strict.idle_timeout, Some(Duration::from_secs(60)));
        assert_eq!(strict.max_duration, Some(Duration::from_secs(12 * 3600)));
        assert_eq!(strict.record_exec_output, None);
    }

    #[test]
    fn exec_output_is_recorded_unless_every_layer_that_says_so_says_no() {
        let skip = |v: &str| BTreeMap::from([("record_exec_output".to_string(), v.to_string())]);
        let global: SessionSettings = toml::from_str("record_exec_output = false").unwrap();
        let none = effective(&global, &[], &target(&[]), &[]);
        assert_eq!(none.record_exec_output, Some(false));
        let on = effective(
            &SessionSettings::default(),
            &[],
            &target(&[]),
            &[skip("true")],
        );
        assert_eq!(on.record_exec_output, Some(true));
        // Two permitting policies disagree: the one asking for the recording wins.
        let both = effective(&global, &[], &target(&[]), &[skip("false"), skip("true")]);
        assert_eq!(both.record_exec_output, Some(true));
        let both = effective(&global, &[], &target(&[]), &[skip("true"), skip("false")]);
        assert_eq!(both.record_exec_output, Some(true));
        let bad = effective(
            &SessionSettings::default(),
            &[],
            &target(&[]),
            &[skip("no")],
        );
        assert_eq!(bad.record_exec_output, None);
    }
}

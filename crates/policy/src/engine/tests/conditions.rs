//! Conditions on the context: time windows, forward destinations, source addresses, run-as.

use super::*;

/// Whether `connect` to a plain target at `time` is allowed by `text`.
fn connect_at(text: &str, time: i64) -> bool {
    let set = set(text);
    let t = target("t1", &[]);
    let ctx = RequestContext {
        time,
        ..as_user("ubuntu")
    };
    allowed(
        &set,
        &user("u", &[]),
        Action::Connect,
        Resource::Target(&t),
        &ctx,
    )
}

/// 2023-11-15T00:00:00Z.
const MIDNIGHT: i64 = 1_700_006_400;
const HOUR: i64 = 3600;

#[test]
fn business_hours_window() {
    let utc = "permit (principal, action == Wicket::Action::\"connect\", resource)\n\
               when { context.now.toTime() >= duration(\"8h\") && context.now.toTime() < duration(\"18h\") };";
    assert!(!connect_at(utc, MIDNIGHT + 7 * HOUR));
    assert!(connect_at(utc, MIDNIGHT + 8 * HOUR));
    assert!(connect_at(utc, MIDNIGHT + 18 * HOUR - 1));
    assert!(!connect_at(utc, MIDNIGHT + 18 * HOUR));
    assert!(connect_at(utc, MIDNIGHT + 24 * HOUR + 9 * HOUR));

    // The same hours in UTC-5: shift the instant before taking the time of day.
    let new_york = "permit (principal, action == Wicket::Action::\"connect\", resource)\n\
                    when { context.now.offset(duration(\"-5h\")).toTime() >= duration(\"8h\")\n\
                        && context.now.offset(duration(\"-5h\")).toTime() < duration(\"18h\") };";
    assert!(!connect_at(new_york, MIDNIGHT + 8 * HOUR));
    assert!(connect_at(new_york, MIDNIGHT + 13 * HOUR));
    assert!(connect_at(new_york, MIDNIGHT + 23 * HOUR - 1));
    assert!(!connect_at(new_york, MIDNIGHT + 23 * HOUR));
}

#[test]
fn absolute_maintenance_window() {
    let text = format!(
        "permit (principal, action == Wicket::Action::\"connect\", resource)\n\
         when {{ context.time >= {} && context.time < {} }};",
        MIDNIGHT,
        MIDNIGHT + 2 * HOUR
    );
    assert!(!connect_at(&text, MIDNIGHT - 1));
    assert!(connect_at(&text, MIDNIGHT));
    assert!(!connect_at(&text, MIDNIGHT + 2 * HOUR));
    let as_datetime = "permit (principal, action == Wicket::Action::\"connect\", resource)\n\
                       when { context.now >= datetime(\"2023-11-15T00:00:00Z\") };";
    assert!(connect_at(as_datetime, MIDNIGHT));
    assert!(!connect_at(as_datetime, MIDNIGHT - 1));
}

#[test]
fn forward_to_one_port_only() {
    let set = set(
        "permit (principal in Wicket::Group::\"dba\", action == Wicket::Action::\"forward\", resource)\n\
         when { context has dest_port && context.dest_port == 5432 };",
    );
    let t = target("db-1", &[]);
    let dba = user("dee", &["dba"]);
    let to = |port: Option<u16>| RequestContext {
        dest_host: Some("db.internal".into()),
        dest_port: port,
        ..as_user("")
    };
    assert!(allowed(
        &set,
        &dba,
        Action::Forward,
        Resource::Target(&t),
        &to(Some(5432))
    ));
    assert!(!allowed(
        &set,
        &dba,
        Action::Forward,
        Resource::Target(&t),
        &to(Some(22))
    ));
    assert!(!allowed(
        &set,
        &dba,
        Action::Forward,
        Resource::Target(&t),
        &to(None)
    ));
    assert!(!allowed(
        &set,
        &user("x", &[]),
        Action::Forward,
        Resource::Target(&t),
        &to(Some(5432))
    ));
}

#[test]
fn source_address_ranges() {
    let set = set(
        "permit (principal, action == Wicket::Action::\"view_audit\", resource)\n\
         when { context.source_ip.isInRange(ip(\"10.0.0.0/8\")) };",
    );
    let p = user("u", &[]);
    let from = |ip: Option<&str>| RequestContext {
        source_ip: ip.map(|ip| ip.parse().expect("ip")),
        ..RequestContext::default()
    };
    assert!(allowed(
        &set,
        &p,
        Action::ViewAudit,
        Resource::Server,
        &from(Some("10.1.2.3"))
    ));
    assert!(!allowed(
        &set,
        &p,
        Action::ViewAudit,
        Resource::Server,
        &from(Some("192.168.1.1"))
    ));
    assert!(!allowed(
        &set,
        &p,
        Action::ViewAudit,
        Resource::Server,
        &from(Some("::1"))
    ));
    assert!(!allowed(
        &set,
        &p,
        Action::ViewAudit,
        Resource::Server,
        &from(None)
    ));
}

#[test]
fn break_glass_group_may_be_root() {
    let set = set(
        "@id(\"ops\") permit (principal in Wicket::Group::\"ops\", action == Wicket::Action::\"connect\", resource);\n\
         @id(\"no-root\") forbid (principal, action, resource is Wicket::Target)\n\
         when { context.run_as == \"root\" } unless { principal in Wicket::Group::\"break-glass\" };",
    );
    let t = target("t1", &[]);
    let ops = user("o", &["ops"]);
    let glass = user("g", &["ops", "break-glass", "ops"]);
    assert!(!allowed(
        &set,
        &ops,
        Action::Connect,
        Resource::Target(&t),
        &as_user("root")
    ));
    assert!(allowed(
        &set,
        &ops,
        Action::Connect,
        Resource::Target(&t),
        &as_user("ubuntu")
    ));
    assert!(allowed(
        &set,
        &glass,
        Action::Connect,
        Resource::Target(&t),
        &as_user("root")
    ));
}

use std::collections::BTreeMap;

use super::*;
use crate::{TargetInfo, DEFAULT_POLICIES};

mod conditions;

fn user(name: &str, groups: &[&str]) -> PrincipalInfo {
    PrincipalInfo {
        name: name.into(),
        admin: false,
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

fn admin(name: &str) -> PrincipalInfo {
    PrincipalInfo {
        admin: true,
        ..user(name, &[])
    }
}

fn target(id: &str, tags: &[(&str, &str)]) -> TargetInfo {
    TargetInfo {
        id: id.into(),
        name: format!("{id}-name"),
        os: "linux".into(),
        hostname: format!("{id}.internal"),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn as_user(run_as: &str) -> RequestContext {
    RequestContext {
        run_as: Some(run_as.into()),
        mfa: true,
        source_ip: Some("10.0.0.7".parse().expect("ip")),
        time: 1_700_000_000,
        ..RequestContext::default()
    }
}

fn set(text: &str) -> PolicySet {
    PolicySet::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether the request is allowed, checking that a decision never carries evaluation errors.
fn allowed(
    set: &PolicySet,
    p: &PrincipalInfo,
    a: Action,
    r: Resource<'_>,
    c: &RequestContext,
) -> bool {
    let decision = set.authorize(p, a, r, c);
    assert!(decision.errors.is_empty(), "{decision:?}");
    decision.allowed
}

const OPS_AND_DEVS: &str = r#"
@id("ops-connect")
permit (principal in Wicket::Group::"ops", action == Wicket::Action::"connect", resource)
when { ["ubuntu", "deploy"].contains(context.run_as) };

@id("devs-dev-only")
permit (principal in Wicket::Group::"dev", action in [Wicket::Action::"connect", Wicket::Action::"exec"], resource)
when { resource.hasTag("env") && resource.getTag("env") == "dev" };

@id("prod-needs-mfa")
forbid (principal, action, resource is Wicket::Target)
when { resource.hasTag("env") && resource.getTag("env") == "prod" && !context.mfa };

@id("never-root")
forbid (principal in Wicket::Group::"dev", action, resource is Wicket::Target)
when { context.run_as == "root" };
"#;

#[test]
fn groups_tags_run_as_and_mfa() {
    let set = set(OPS_AND_DEVS);
    let alice = user("alice", &["ops"]);
    let bob = user("bob", &["dev"]);
    let carol = user("carol", &[]);
    let prod = target("t-prod", &[("env", "prod")]);
    let dev = target("t-dev", &[("env", "dev"), ("team", "web")]);
    let bare = target("t-bare", &[]);
    let no_mfa = RequestContext {
        mfa: false,
        ..as_user("ubuntu")
    };
    let cases: &[(&PrincipalInfo, Action, &TargetInfo, &RequestContext, bool)] = &[
        // ops connect anywhere as ubuntu or deploy, but not as root, and only connect.
        (&alice, Action::Connect, &prod, &as_user("ubuntu"), true),
        (&alice, Action::Connect, &bare, &as_user("deploy"), true),
        (&alice, Action::Connect, &bare, &as_user("root"), false),
        (&alice, Action::Exec, &bare, &as_user("ubuntu"), false),
        // production needs MFA, even for ops; elsewhere it does not.
        (&alice, Action::Connect, &prod, &no_mfa, false),
        (&alice, Action::Connect, &bare, &no_mfa, true),
        // devs only on env=dev targets, never as root.
        (&bob, Action::Connect, &dev, &as_user("ubuntu"), true),
        (&bob, Action::Exec, &dev, &as_user("anyone"), true),
        (&bob, Action::Connect, &dev, &as_user("root"), false),
        (&bob, Action::Connect, &prod, &as_user("ubuntu"), false),
        (&bob, Action::Connect, &bare, &as_user("ubuntu"), false),
        (&bob, Action::Copy, &dev, &as_user("ubuntu"), false),
        // no group, no access.
        (&carol, Action::Connect, &dev, &as_user("ubuntu"), false),
    ];
    for (i, (p, a, t, c, expected)) in cases.iter().enumerate() {
        let got = allowed(&set, p, *a, Resource::Target(t), c);
        assert_eq!(
            got, *expected,
            "case {i}: {} {a} {} as {:?}",
            p.name, t.id, c.run_as
        );
    }
}

#[test]
fn decisions_name_the_determining_policies() {
    let set = set(OPS_AND_DEVS);
    let prod = target("t-prod", &[("env", "prod")]);
    let alice = user("alice", &["ops"]);
    let ok = set.authorize(
        &alice,
        Action::Connect,
        Resource::Target(&prod),
        &as_user("ubuntu"),
    );
    assert_eq!(
        (ok.allowed, ok.policy_ids),
        (true, vec!["ops-connect".to_owned()])
    );

    // The forbid overrides the permit, and is the one named.
    let no_mfa = RequestContext {
        mfa: false,
        ..as_user("ubuntu")
    };
    let denied = set.authorize(&alice, Action::Connect, Resource::Target(&prod), &no_mfa);
    assert_eq!(
        (denied.allowed, denied.policy_ids),
        (false, vec!["prod-needs-mfa".to_owned()])
    );

    // Nothing applies: a default deny names no policy.
    let carol = user("carol", &[]);
    let none = set.authorize(
        &carol,
        Action::Connect,
        Resource::Target(&prod),
        &as_user("ubuntu"),
    );
    assert!(!none.allowed && none.policy_ids.is_empty() && none.errors.is_empty());
}

#[test]
fn positional_ids_appear_in_decisions_in_file_order() {
    let set = set(
        "permit (principal, action == Wicket::Action::\"watch\", resource);\n\
         @id(\"replayers\") permit (principal, action in [Wicket::Action::\"watch\", Wicket::Action::\"replay\"], resource);\n\
         permit (principal in Wicket::Group::\"auditors\", action, resource is Wicket::Target) when { principal.name != \"\" };\n",
    );
    let t = target("t1", &[]);
    let d = set.authorize(
        &user("ann", &["auditors"]),
        Action::Watch,
        Resource::Target(&t),
        &as_user(""),
    );
    assert!(d.allowed);
    assert_eq!(d.policy_ids, vec!["policy0", "replayers", "policy2"]);
}

#[test]
fn empty_set_denies_everything() {
    let set = set("");
    let t = target("t1", &[]);
    for action in Action::ALL {
        let resource = if action.is_target_action() {
            Resource::Target(&t)
        } else {
            Resource::Server
        };
        assert!(
            !allowed(&set, &admin("root"), action, resource, &as_user("root")),
            "{action}"
        );
    }
}

#[test]
fn default_policies_admins_everything_users_list_targets() {
    let set = set(DEFAULT_POLICIES);
    let t = target("t1", &[("env", "prod")]);
    let dave = user("dave", &["ops"]);
    for action in Action::ALL {
        let resource = if action.is_target_action() {
            Resource::Target(&t)
        } else {
            Resource::Server
        };
        assert!(
            allowed(&set, &admin("root"), action, resource, &as_user("root")),
            "{action}"
        );
        let expected = action == Action::ListTargets;
        assert_eq!(
            allowed(&set, &dave, action, resource, &as_user("ubuntu")),
            expected,
            "{action}"
        );
    }
    let d = set.authorize(
        &dave,
        Action::ListTargets,
        Resource::Server,
        &RequestContext::default(),
    );
    assert_eq!(d.policy_ids, vec!["users-may-list-targets"]);
}

#[test]
fn malformed_requests_are_denied_with_a_reason() {
    let set = set(DEFAULT_POLICIES);
    // A target action on the server does not fit the schema.
    let d = set.authorize(
        &admin("root"),
        Action::Connect,
        Resource::Server,
        &as_user("root"),
    );
    assert!(!d.allowed);
    assert_eq!(d.errors.len(), 1, "{d:?}");
    // An admin action on a target neither.
    let t = target("t1", &[]);
    let d = set.authorize(
        &admin("root"),
        Action::ManageUsers,
        Resource::Target(&t),
        &as_user(""),
    );
    assert!(!d.allowed && !d.errors.is_empty());
}

#[test]
fn evaluation_errors_are_reported_and_skip_the_policy() {
    // Overflow is an evaluation error: the policy is skipped, so the request is denied.
    let set = set(
        "@id(\"overflow\") permit (principal, action, resource is Wicket::Target)\n\
         when { context.time * 9223372036854775807 > 0 };",
    );
    let t = target("t1", &[]);
    let d = set.authorize(
        &user("u", &[]),
        Action::Connect,
        Resource::Target(&t),
        &as_user(""),
    );
    assert!(!d.allowed);
    assert_eq!(d.errors.len(), 1, "{d:?}");
    assert!(d.errors[0].contains("overflow"), "{d:?}");
}

#[test]
fn policy_sets_are_cheap_to_share() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<PolicySet>();
}

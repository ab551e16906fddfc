//! The plain Rust description of a request, and how it becomes Cedar entities and context.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression, Schema,
};

use crate::action::Action;
use crate::datetime::datetime_literal;

/// The id of the one `Wicket::Server` entity, the resource of every admin action.
pub const SERVER_ID: &str = "wicketd";

/// The signed-in user making a request, as the server's user store knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalInfo {
    /// The user name; the entity is `Wicket::User::"<name>"`.
    pub name: String,
    /// Whether the user is a server administrator (`principal.admin` in policies).
    pub admin: bool,
    /// Names of the groups the user belongs to; each becomes a parent `Wicket::Group::"<name>"`.
    pub groups: Vec<String>,
}

/// An enrolled host, as the server's agent registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// The target id issued at enrolment; the entity is `Wicket::Target::"<id>"`.
    pub id: String,
    /// The display name (`resource.name`).
    pub name: String,
    /// The operating system the agent reported (`resource.os`).
    pub os: String,
    /// The hostname the agent reported (`resource.hostname`).
    pub hostname: String,
    /// Tags such as env=prod, reachable with `resource.hasTag(k)` and `resource.getTag(k)`.
    pub tags: BTreeMap<String, String>,
}

/// What a request acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The control plane itself, `Wicket::Server::"wicketd"`: resource of the admin actions.
    Server,
    /// A target host: resource of connect, exec, forward, copy, watch, replay and terminate.
    Target(&'a TargetInfo),
}

/// The circumstances of a request, as the `context` of a policy sees them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestContext {
    /// The account on the target the session would run as; `""` in the context when `None`.
    /// Only passed to target actions.
    pub run_as: Option<String>,
    /// Whether the user proved a second factor when signing in.
    pub mfa: bool,
    /// Where the request came from; `0.0.0.0` in the context when unknown, so a policy that
    /// requires an address range denies a request whose address is unknown.
    pub source_ip: Option<IpAddr>,
    /// When the request was made, in unix seconds. Passed as `context.time` and, as a Cedar
    /// datetime, as `context.now`.
    pub time: i64,
    /// For forward: the host the target should connect to. Omitted from the context when `None`
    /// and for actions other than target actions, so policies test `context has dest_host`.
    pub dest_host: Option<String>,
    /// For forward: the port the target should connect to (`context.dest_port`).
    pub dest_port: Option<u16>,
}

/// The uid `Wicket::<kind>::"<id>"`.
pub(crate) fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    let name = EntityTypeName::from_str(&format!("Wicket::{kind}"))
        .map_err(|e| format!("entity type Wicket::{kind}: {e}"))?;
    Ok(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
}

/// The uid of an action, `Wicket::Action::"<name>"`.
pub(crate) fn action_uid(action: Action) -> Result<EntityUid, String> {
    uid("Action", action.as_str())
}

/// The uid of the resource of a request.
pub(crate) fn resource_uid(resource: Resource<'_>) -> Result<EntityUid, String> {
    match resource {
        Resource::Server => uid("Server", SERVER_ID),
        Resource::Target(target) => uid("Target", &target.id),
    }
}

/// The entities a request needs: the user, their groups, and the resource. The schema is passed
/// so Cedar checks attribute types and adds the action entities.
pub(crate) fn entities(
    principal: &PrincipalInfo,
    resource: Resource<'_>,
    schema: &Schema,
) -> Result<Entities, String> {
    let mut list = Vec::with_capacity(principal.groups.len() + 2);
    let mut parents = Vec::with_capacity(principal.groups.len());
    for group in &principal.groups {
        let group_uid = uid("Group", group)?;
        list.push(Entity::with_uid(group_uid.clone()));
        parents.push(group_uid);
    }
    let user = Entity::new(
        uid("User", &principal.name)?,
        [
            (
                "name".to_owned(),
                RestrictedExpression::new_string(principal.name.clone()),
            ),
            (
                "admin".to_owned(),
                RestrictedExpression::new_bool(principal.admin),
            ),
        ]
        .into(),
        parents.into_iter().collect(),
    )
    .map_err(|e| format!("user entity: {e}"))?;
    list.push(user);
    list.push(match resource {
        Resource::Server => Entity::with_uid(uid("Server", SERVER_ID)?),
        Resource::Target(target) => target_entity(target)?,
    });
    Entities::from_entities(dedup(list), Some(schema)).map_err(|e| format!("entities: {e}"))
}

/// A group listed twice would be a duplicate entity, which Cedar refuses; one is enough.
fn dedup(list: Vec<Entity>) -> Vec<Entity> {
    let mut seen = std::collections::HashSet::new();
    list.into_iter().filter(|e| seen.insert(e.uid())).collect()
}

fn target_entity(target: &TargetInfo) -> Result<Entity, String> {
    let attrs = [
        ("name", &target.name),
        ("os", &target.os),
        ("hostname", &target.hostname),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), RestrictedExpression::new_string(v.clone())));
    let tags = target
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), RestrictedExpression::new_string(v.clone())));
    Entity::new_with_tags(uid("Target", &target.id)?, attrs, [], tags)
        .map_err(|e| format!("target entity: {e}"))
}

/// The context record for `action`. Target and admin actions have different context types in
/// the schema, so only the fields the action's type declares are passed.
pub(crate) fn context(action: Action, ctx: &RequestContext) -> Result<Context, String> {
    let source_ip = ctx
        .source_ip
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        .to_string();
    let mut pairs = vec![
        ("mfa".to_owned(), RestrictedExpression::new_bool(ctx.mfa)),
        (
            "source_ip".to_owned(),
            RestrictedExpression::new_ip(source_ip),
        ),
        ("time".to_owned(), RestrictedExpression::new_long(ctx.time)),
        (
            "now".to_owned(),
            RestrictedExpression::new_datetime(datetime_literal(ctx.time)),
        ),
    ];
    if action.is_target_action() {
        pairs.push((
            "run_as".to_owned(),
            RestrictedExpression::new_string(ctx.run_as.clone().unwrap_or_default()),
        ));
        if let Some(host) = &ctx.dest_host {
            pairs.push((
                "dest_host".to_owned(),
                RestrictedExpression::new_string(host.clone()),
            ));
        }
        if let Some(port) = ctx.dest_port {
            pairs.push((
                "dest_port".to_owned(),
                RestrictedExpression::new_long(i64::from(port)),
            ));
        }
    }
    Context::from_pairs(pairs).map_err(|e| format!("context: {e}"))
}

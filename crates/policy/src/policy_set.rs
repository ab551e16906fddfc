//! Parsing a policy set, naming its policies and validating it against the schema.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{Policy, PolicyId, ValidationMode, Validator};

use crate::diagnostic::{Diagnostic, PolicyError};
use crate::schema::schema;

/// A policy set that parsed and validated against the wicket schema, ready to answer requests.
/// Cloning shares one copy, so a server can hand it to every request handler.
#[derive(Clone)]
pub struct PolicySet {
    pub(crate) inner: Arc<Inner>,
}

/// What a [`PolicySet`] shares between its clones.
pub(crate) struct Inner {
    /// The text as the operator wrote it, so `policies get` returns their comments and layout.
    pub(crate) text: String,
    /// The Cedar policies, under the ids of `ids`.
    pub(crate) cedar: cedar_policy::PolicySet,
    /// Policy ids in file order; also the order of `Decision::policy_ids`.
    pub(crate) ids: Vec<String>,
}

impl std::fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySet")
            .field("ids", &self.inner.ids)
            .finish_non_exhaustive()
    }
}

/// A policy in file order, before and after it gets its wicket id.
struct Located {
    policy: Policy,
    /// Byte offset of the policy (its first annotation, or `permit`/`forbid`) in the text.
    offset: usize,
}

impl PolicySet {
    /// Parses `text` and validates it against the schema in strict mode.
    ///
    /// Policy ids: a policy annotated `@id("name")` is called `name`; any other policy is called
    /// `policyN`, where N is its 0-based position among all policies of the file (annotated ones
    /// count too). So in a file of three policies where only the second has `@id("ops")`, the ids
    /// are `policy0`, `ops`, `policy2`. Ids must be unique and non-empty; templates (`?principal`)
    /// are refused. Validation warnings (a policy that can never apply, confusable identifiers)
    /// are refused like errors, since a policy set guarding production hosts should say what it
    /// means; they are reported only for policies that have no errors, whose warnings would
    /// merely echo them.
    pub fn parse(text: &str) -> Result<PolicySet, PolicyError> {
        let parsed = cedar_policy::PolicySet::from_str(text).map_err(|errors| {
            PolicyError::Parse(sorted(
                errors
                    .iter()
                    .map(|e| Diagnostic::from_cedar(text, e, None, 0))
                    .collect(),
            ))
        })?;

        let mut problems = Vec::new();
        if parsed.templates().next().is_some() {
            let mut cursor = 0;
            for template in parsed.templates() {
                let offset = locate(text, &template.to_string(), &mut cursor);
                problems.push(Diagnostic::at(
                    text,
                    offset,
                    "templates (policies with ?principal or ?resource) are not supported".into(),
                    None,
                ));
            }
        }

        let located = in_file_order(text, &parsed);
        let (ids, mut id_problems) = assign_ids(text, &located);
        problems.append(&mut id_problems);
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(sorted(problems)));
        }

        let mut cedar = cedar_policy::PolicySet::new();
        for (located, id) in located.iter().zip(&ids) {
            let renamed = located.policy.new_id(PolicyId::new(id));
            if let Err(e) = cedar.add(renamed) {
                problems.push(Diagnostic::at(
                    text,
                    located.offset,
                    e.to_string(),
                    Some(id.clone()),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(sorted(problems)));
        }

        validate(text, &cedar, &located, &ids)?;
        Ok(PolicySet {
            inner: Arc::new(Inner {
                text: text.to_owned(),
                cedar,
                ids,
            }),
        })
    }

    /// The text the set was parsed from, unchanged.
    pub fn text(&self) -> &str {
        &self.inner.text
    }

    /// The ids of the policies, in file order.
    pub fn ids(&self) -> Vec<String> {
        self.inner.ids.clone()
    }

    /// The annotations of policy `id` (other than `@id`), e.g. `@idle_timeout("5m")`: how a
    /// policy carries session settings for the requests it permits.
    pub fn annotations(&self, id: &str) -> std::collections::BTreeMap<String, String> {
        self.inner
            .cedar
            .policy(&PolicyId::new(id))
            .map(|p| {
                p.annotations()
                    .filter(|(k, _)| *k != "id")
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Cedar names the policies of a file `policy0`, `policy1`... in order, but hands them back in
/// no particular order; this restores file order and finds where each starts in `text`.
fn in_file_order(text: &str, parsed: &cedar_policy::PolicySet) -> Vec<Located> {
    let mut policies: Vec<(usize, Policy)> = parsed
        .policies()
        .map(|p| {
            let position = AsRef::<str>::as_ref(p.id())
                .strip_prefix("policy")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(usize::MAX);
            (position, p.clone())
        })
        .collect();
    policies.sort_by_key(|(position, _)| *position);
    let mut cursor = 0;
    policies
        .into_iter()
        .map(|(_, policy)| {
            let offset = locate(text, &policy.to_string(), &mut cursor);
            Located { policy, offset }
        })
        .collect()
}

/// Finds `needle` (the verbatim source of a policy, which Cedar keeps) in `text` after `cursor`
/// and moves the cursor past it. Cedar's public API does not expose a policy's location, and
/// searching forward in file order finds each policy's own text.
fn locate(text: &str, needle: &str, cursor: &mut usize) -> usize {
    match text.get(*cursor..).and_then(|rest| rest.find(needle)) {
        Some(found) => {
            let offset = *cursor + found;
            *cursor = offset + needle.len();
            offset
        }
        None => *cursor,
    }
}

/// Gives each policy its id (see [`PolicySet::parse`]) and reports empty or duplicate ones.
fn assign_ids(text: &str, located: &[Located]) -> (Vec<String>, Vec<Diagnostic>) {
    let mut ids = Vec::with_capacity(located.len());
    let mut problems = Vec::new();
    let mut first_use: HashMap<String, usize> = HashMap::new();
    for (position, policy) in located.iter().enumerate() {
        let annotated = policy.policy.annotation("id");
        // Point at the annotation itself when there is one.
        let offset = annotated
            .and_then(|_| policy_text_offset(text, policy, "@id"))
            .unwrap_or(policy.offset);
        let id = match annotated {
            Some(id) if id.trim().is_empty() => {
                problems.push(Diagnostic::at(
                    text,
                    offset,
                    "the @id annotation must not be empty".into(),
                    None,
                ));
                format!("policy{position}")
            }
            Some(id) => id.to_owned(),
            None => format!("policy{position}"),
        };
        if let Some(&earlier) = first_use.get(&id) {
            let (line, _) = crate::diagnostic::line_column(text, earlier);
            problems.push(Diagnostic::at(
                text,
                offset,
                format!("duplicate policy id `{id}` (already used by the policy at line {line})"),
                Some(id.clone()),
            ));
        } else {
            first_use.insert(id.clone(), offset);
        }
        ids.push(id);
    }
    (ids, problems)
}

/// Byte offset in `text` of `needle` within the source of `policy`, if it occurs there.
fn policy_text_offset(text: &str, policy: &Located, needle: &str) -> Option<usize> {
    let source = policy.policy.to_string();
    let end = (policy.offset + source.len()).min(text.len());
    text.get(policy.offset..end)?
        .find(needle)
        .map(|found| policy.offset + found)
}

/// Strict validation against the schema. Warnings are refused too (see [`PolicySet::parse`]).
fn validate(
    text: &str,
    cedar: &cedar_policy::PolicySet,
    located: &[Located],
    ids: &[String],
) -> Result<(), PolicyError> {
    let schema = schema().map_err(|e| {
        PolicyError::Invalid(vec![Diagnostic {
            message: e.to_owned(),
            line: 1,
            column: 1,
            policy_id: None,
        }])
    })?;
    let start_of = |id: &PolicyId| {
        ids.iter()
            .position(|known| known.as_str() == AsRef::<str>::as_ref(id))
            .and_then(|i| located.get(i))
            .map_or(0, |l| l.offset)
    };
    let result = Validator::new(schema.clone()).validate(cedar, ValidationMode::Strict);
    let mut problems: Vec<Diagnostic> = result
        .validation_errors()
        .map(|e| {
            let id = e.policy_id();
            Diagnostic::from_cedar(text, e, Some(id.to_string()), start_of(id))
        })
        .collect();
    // A policy with errors also draws warnings that only echo them (a typo'd action makes the
    // policy "impossible"), so warnings are reported for otherwise clean policies only.
    let with_errors: Vec<&PolicyId> = result.validation_errors().map(|e| e.policy_id()).collect();
    problems.extend(
        result
            .validation_warnings()
            .filter(|w| !with_errors.contains(&w.policy_id()))
            .map(|w| {
                let id = w.policy_id();
                Diagnostic::from_cedar(text, w, Some(id.to_string()), start_of(id))
            }),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PolicyError::Invalid(sorted(problems)))
    }
}

/// Orders diagnostics by position so they read top to bottom.
fn sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics
}

#[cfg(test)]
mod tests;

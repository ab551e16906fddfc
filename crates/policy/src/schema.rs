//! The Cedar schema every policy set is validated against, and the policies used before an
//! operator installs their own.

use std::sync::OnceLock;

use cedar_policy::Schema;

/// The schema text, shipped beside this file so `docs/POLICY.md` and operators read exactly what
/// the validator uses.
const SCHEMA_TEXT: &str = include_str!("wicket.cedarschema");

/// The built-in policy set, in force until an operator sets one: administrators
/// (`principal.admin`) may do everything; every signed-in user may list targets; nothing else.
/// Listing is open so a new user can see that they are signed in and that targets exist, while
/// every action that touches a host still needs a policy written on purpose.
pub const DEFAULT_POLICIES: &str = r#"// Built-in policies, in force until an operator sets a policy set.

@id("admins-may-do-everything")
permit (principal, action, resource)
when { principal.admin };

@id("users-may-list-targets")
permit (
  principal,
  action == Wicket::Action::"list_targets",
  resource == Wicket::Server::"wicketd"
);
"#;

/// The text of the Cedar schema (namespace `Wicket`) that policies are validated against.
pub fn schema_text() -> &'static str {
    SCHEMA_TEXT
}

/// The parsed schema, built once per process. An error here means the shipped schema is broken,
/// which the tests rule out; it is still reported rather than panicking.
pub(crate) fn schema() -> Result<&'static Schema, &'static str> {
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Schema::from_cedarschema_str(SCHEMA_TEXT)
                .map(|(schema, _warnings)| schema)
                .map_err(|e| format!("the built-in schema does not parse: {e}"))
        })
        .as_ref()
        .map_err(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parses_without_warnings() {
        let (_, warnings) = Schema::from_cedarschema_str(SCHEMA_TEXT).expect("schema parses");
        assert_eq!(warnings.count(), 0);
        assert!(schema().is_ok());
    }

    /// The operator's guide, checked so that it cannot drift from the code.
    const GUIDE: &str = include_str!("../../../docs/POLICY.md");

    /// The bodies of the guide's code blocks of `language`.
    fn blocks(language: &str) -> Vec<&'static str> {
        let fence = format!("```{language}\n");
        GUIDE
            .split(fence.as_str())
            .skip(1)
            .filter_map(|rest| rest.split("```").next())
            .collect()
    }

    #[test]
    fn guide_shows_the_schema_and_defaults_verbatim() {
        assert_eq!(blocks("cedarschema"), vec![SCHEMA_TEXT]);
        assert!(blocks("cedar").contains(&DEFAULT_POLICIES));
    }

    #[test]
    fn guide_examples_are_valid_alone_and_together() {
        let examples = blocks("cedar");
        assert!(examples.len() >= 8);
        for example in &examples {
            if let Err(e) = crate::PolicySet::parse(example) {
                panic!("{e}\n{example}");
            }
        }
        let all = examples.concat();
        let set = crate::PolicySet::parse(&all).unwrap_or_else(|e| panic!("{e}"));
        assert!(set.ids().iter().all(|id| !id.starts_with("policy")));
    }

    #[test]
    fn in_is_not_for_strings() {
        let text = "permit (principal, action, resource is Wicket::Target)\n\
                    when { context.run_as in [\"ubuntu\", \"deploy\"] };";
        assert!(matches!(
            crate::PolicySet::parse(text),
            Err(crate::PolicyError::Invalid(_))
        ));
    }

    #[test]
    fn default_policies_validate() {
        let set = crate::PolicySet::parse(DEFAULT_POLICIES).expect("default policies are valid");
        assert_eq!(
            set.ids(),
            vec!["admins-may-do-everything", "users-may-list-targets"]
        );
    }
}

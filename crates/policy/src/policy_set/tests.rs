use super::*;

/// The diagnostics of a text that must be refused, with whether it was a parse error.
fn refused(text: &str) -> (bool, Vec<Diagnostic>) {
    match PolicySet::parse(text) {
        Ok(set) => panic!("expected an error, got policies {:?}", set.ids()),
        Err(PolicyError::Parse(d)) => (true, d),
        Err(PolicyError::Invalid(d)) => (false, d),
    }
}

/// The single diagnostic of a refused text.
fn only(text: &str) -> (bool, Diagnostic) {
    let (parse, mut diagnostics) = refused(text);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    (parse, diagnostics.remove(0))
}

#[test]
fn typo_in_action_name_points_at_the_action() {
    let text = r#"// ops may connect
@id("ops-connect")
permit (
  principal in Wicket::Group::"ops",
  action == Wicket::Action::"conect",
  resource
);
"#;
    let (parse, d) = only(text);
    assert!(!parse);
    assert_eq!((d.line, d.column), (5, 13), "{d}");
    assert!(d.message.contains("unrecognized action"), "{d}");
    assert!(d.message.contains("conect"), "{d}");
    assert_eq!(d.policy_id.as_deref(), Some("ops-connect"));
    assert!(d.to_string().starts_with("line 5, column 13: "));
}

#[test]
fn unknown_attribute_points_at_the_access() {
    let text = "permit (principal, action == Wicket::Action::\"connect\", resource)\n\
                when {\n    resource.nme == \"web-1\"\n};\n";
    let (parse, d) = only(text);
    assert!(!parse);
    assert_eq!((d.line, d.column), (3, 5), "{d}");
    assert!(d.message.contains("nme"), "{d}");
    assert_eq!(d.policy_id.as_deref(), Some("policy0"));
}

#[test]
fn syntax_error_points_at_the_token() {
    let text = "permit (principal, action, resource);\n\npermit (principal action, resource);\n";
    let (parse, d) = only(text);
    assert!(parse);
    assert_eq!((d.line, d.column), (3, 19), "{d}");
    assert!(d.message.contains("unexpected token"), "{d}");
    assert_eq!(d.policy_id, None);
}

#[test]
fn unexpected_end_of_input_is_located() {
    let (parse, diagnostics) =
        refused("permit (principal, action, resource)\nwhen { principal.admin");
    assert!(parse);
    assert_eq!(diagnostics[0].line, 2, "{diagnostics:#?}");
}

#[test]
fn columns_count_characters_not_bytes() {
    // "é" is two bytes in UTF-8; the column must still be that of the typo.
    let text = "// équipe ops\npermit (principal, action, resource is Wicket::Target) when { \"é\" == \"é\" && resource.nme == \"x\" };";
    let (_, d) = only(text);
    assert_eq!(d.line, 2);
    let expected =
        "permit (principal, action, resource is Wicket::Target) when { \"é\" == \"é\" && "
            .chars()
            .count()
            + 1;
    assert_eq!(d.column, expected, "{d}");
}

#[test]
fn unguarded_tag_access_is_refused() {
    let text = "permit (principal, action, resource is Wicket::Target)\n\
                when { resource.getTag(\"env\") == \"prod\" };";
    let (_, d) = only(text);
    assert_eq!(d.line, 2, "{d}");
    assert!(d.message.contains("hasTag"), "{d}");
}

#[test]
fn impossible_policy_is_refused() {
    // connect applies to targets, never to the server.
    let text = "permit (principal, action == Wicket::Action::\"connect\", resource == Wicket::Server::\"wicketd\");";
    let (parse, diagnostics) = refused(text);
    assert!(!parse);
    assert!(diagnostics.iter().all(|d| d.line == 1));
    assert!(diagnostics.iter().any(|d| d.message.contains("impossible")));
}

#[test]
fn wrong_type_in_context_is_refused() {
    let text = "permit (principal, action, resource) when { context.mfa == \"yes\" };";
    let (parse, diagnostics) = refused(text);
    assert!(!parse);
    assert_eq!(diagnostics[0].line, 1);
}

#[test]
fn every_problem_is_reported_in_order() {
    let text = "permit (principal, action == Wicket::Action::\"conect\", resource);\n\
                permit (principal, action, resource) when { principal.nam == \"x\" };\n";
    let (_, diagnostics) = refused(text);
    let lines: Vec<usize> = diagnostics.iter().map(|d| d.line).collect();
    assert_eq!(lines, vec![1, 2], "{diagnostics:#?}");
    assert_eq!(diagnostics[1].policy_id.as_deref(), Some("policy1"));
}

#[test]
fn ids_are_annotations_or_positions() {
    let text = r#"
permit (principal, action == Wicket::Action::"list_targets", resource);
@id("ops")
permit (principal in Wicket::Group::"ops", action, resource is Wicket::Target);
@other("x")
forbid (principal, action, resource) when { !context.mfa };
"#;
    let set = PolicySet::parse(text).expect("valid");
    assert_eq!(set.ids(), vec!["policy0", "ops", "policy2"]);
    assert_eq!(set.text(), text);
}

#[test]
fn many_policies_keep_file_order() {
    let text: String = (0..12)
        .map(|i| format!("@id(\"p{i}\") permit (principal, action, resource) when {{ context.time > {i} }};\n"))
        .collect();
    let set = PolicySet::parse(&text).expect("valid");
    let expected: Vec<String> = (0..12).map(|i| format!("p{i}")).collect();
    assert_eq!(set.ids(), expected);
}

#[test]
fn duplicate_ids_are_refused() {
    let text = "@id(\"a\")\npermit (principal, action, resource);\n\n@id(\"a\")\nforbid (principal, action, resource);\n";
    let (parse, d) = only(text);
    assert!(!parse);
    assert_eq!((d.line, d.column), (4, 1), "{d}");
    assert!(d.message.contains("duplicate policy id `a`"), "{d}");
    assert!(d.message.contains("line 1"), "{d}");
}

#[test]
fn annotation_clashing_with_a_position_is_refused() {
    let text = "permit (principal, action, resource);\n@id(\"policy0\") forbid (principal, action, resource);";
    let (_, d) = only(text);
    assert_eq!((d.line, d.column), (2, 1), "{d}");
    assert!(d.message.contains("duplicate"), "{d}");
}

#[test]
fn empty_id_is_refused() {
    let (_, d) = only("\n  @id(\"\") permit (principal, action, resource);");
    assert_eq!((d.line, d.column), (2, 3), "{d}");
    assert!(d.message.contains("empty"), "{d}");
}

#[test]
fn templates_are_refused() {
    let (_, d) = only("permit (principal, action, resource);\npermit (principal == ?principal, action, resource);");
    assert_eq!((d.line, d.column), (2, 1), "{d}");
    assert!(d.message.contains("templates"), "{d}");
}

#[test]
fn empty_text_is_an_empty_set() {
    let set = PolicySet::parse("// nothing yet\n").expect("valid");
    assert!(set.ids().is_empty());
}

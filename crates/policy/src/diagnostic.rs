//! Errors in a policy set, each pinned to a line and column of the text the operator wrote.

use std::fmt;

/// One problem found in a policy set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, in Cedar's words (with its hint appended when it has one).
    pub message: String,
    /// 1-based line of the offending source location.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes) from the start of the line.
    pub column: usize,
    /// The id of the policy the problem is in, when it is known (validation errors).
    pub policy_id: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Why a policy set was refused. Both variants carry every problem found, sorted by position, so
/// an operator can fix them in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not Cedar.
    #[error("policy syntax error: {}", join(.0))]
    Parse(Vec<Diagnostic>),
    /// The text is Cedar but does not fit the wicket schema, or breaks a wicket rule (duplicate
    /// ids, templates).
    #[error("invalid policy: {}", join(.0))]
    Invalid(Vec<Diagnostic>),
}

impl PolicyError {
    /// The problems, whichever the kind.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            PolicyError::Parse(d) | PolicyError::Invalid(d) => d,
        }
    }
}

fn join(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(Diagnostic::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Diagnostic {
    /// Builds a diagnostic from one of Cedar's miette diagnostics. Cedar reports locations as
    /// byte offsets into the text it parsed (its labels); we use the first label and turn its
    /// offset into a line and column of `text`. Without a label, `fallback` (a byte offset, such
    /// as the start of the policy) is used.
    pub(crate) fn from_cedar(
        text: &str,
        diagnostic: &dyn miette::Diagnostic,
        policy_id: Option<String>,
        fallback: usize,
    ) -> Diagnostic {
        let offset = diagnostic
            .labels()
            .and_then(|mut labels| labels.next())
            .map_or(fallback, |label| label.offset());
        let mut message = diagnostic.to_string();
        if let Some(help) = diagnostic.help() {
            message = format!("{message} ({help})");
        }
        Diagnostic::at(text, offset, message, policy_id)
    }

    /// A diagnostic at byte `offset` of `text`.
    pub(crate) fn at(
        text: &str,
        offset: usize,
        message: String,
        policy_id: Option<String>,
    ) -> Diagnostic {
        let (line, column) = line_column(text, offset);
        Diagnostic {
            message,
            line,
            column,
            policy_id,
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`. Offsets past the end (an
/// "unexpected end of input") point just after the last character; offsets inside a multi-byte
/// character point at that character.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 2), (1, 3));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 5), (2, 3));
        // é is two bytes; the byte after it is column 4.
        assert_eq!(line_column(text, 7), (2, 4));
        assert_eq!(line_column(text, 6), (2, 3));
        assert_eq!(line_column(text, 8), (3, 1));
        assert_eq!(line_column(text, 100), (3, 2));
    }

    #[test]
    fn display_leads_with_the_position() {
        let d = Diagnostic {
            message: "oops".into(),
            line: 3,
            column: 7,
            policy_id: None,
        };
        assert_eq!(d.to_string(), "line 3, column 7: oops");
    }
}

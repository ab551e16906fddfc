//! wicket-testkit (skeleton).

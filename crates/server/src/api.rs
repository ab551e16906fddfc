//! JSON handlers, one module per resource. Request and response bodies are `wicket-api`'s
//! types, which the CLI and every other client use too; [`openapi`] serves the document made
//! from them.

pub mod activations;
pub mod agents;
pub mod audit;
pub mod console;
pub mod enroll;
pub mod groups;
pub mod health;
pub mod login;
pub mod mfa;
pub mod openapi;
pub mod policies;
pub mod sessions;
pub mod sso;
pub mod targets;
pub mod tokens;
pub mod users;

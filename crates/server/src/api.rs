//! JSON handlers, one module per resource. Request and response bodies are plain serde
//! structs defined beside their handler; the CLI mirrors them.

pub mod activations;
pub mod enroll;
pub mod health;
pub mod login;
pub mod targets;

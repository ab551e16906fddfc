//! `sqlx::migrate!` embeds the SQL files at compile time; tell cargo to rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

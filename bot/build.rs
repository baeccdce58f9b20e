// `sqlx::migrate!` embeds the migration files at compile time, and Cargo
// only rebuilds when it knows to look: without this line a *new* migration
// file is not seen until something else in the crate changes (docs/crates.md).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

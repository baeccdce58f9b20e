// `sqlx::migrate!` embeds migration files at compile time; a *new* file is
// only seen when Cargo knows to look again (CRATES.md, sqlx caveat 5).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

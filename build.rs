//! Rebuilds the crate when a migration is added or changed. `sqlx::migrate!` embeds
//! `migrations/` at compile time, but cargo only tracks the files the compiler reads, so
//! a new migration alone would leave a cached build (CI keeps one) without it.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

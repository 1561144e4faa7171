//! Build script: `sqlx::migrate!` embeds the migrations in the binary, so build again when they
//! change.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}

//! testkit CLI.
fn main() {}

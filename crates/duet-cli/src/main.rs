//! The duet command-line program.

fn main() {}

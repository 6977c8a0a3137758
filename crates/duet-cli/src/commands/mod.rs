//! One module per `duet` subcommand.

pub mod completions;
pub mod init;
pub mod status;
pub mod validate;

//! One module per `duet` subcommand.

pub mod agent_helpers;
pub mod attach;
pub mod codex_seat;
pub mod completions;
pub mod control;
pub mod dash;
pub mod demo;
pub mod doctor;
pub mod init;
pub mod log;
pub mod log_ci;
pub mod pair;
pub mod report;
pub mod run;
pub mod status;
pub mod validate;

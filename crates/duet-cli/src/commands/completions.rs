//! `duet completions SHELL`: prints a completion script generated from the clap definition.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::command_error::CommandError;

pub fn run(args: &CompletionsArgs) -> Result<ExitCode, CommandError> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "duet", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

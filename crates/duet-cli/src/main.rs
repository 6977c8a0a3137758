//! The `duet` binary: parses the command line, runs one command, maps its error to an exit code.

mod async_run;
mod cli;
mod client;
mod command_error;
mod commands;
mod demo;
mod engine_setup;
mod fs_atomic;
mod live_lines;
mod simulate;
mod suggest;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::command_error::{CommandError, error_chain};
use crate::commands::control::Control;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => err.report(),
    }
}

fn run(cli: Cli) -> Result<ExitCode, CommandError> {
    if let Some(dir) = &cli.directory {
        // Like `git -C`: everything after this behaves as if started in DIR.
        std::env::set_current_dir(dir).map_err(|e| {
            CommandError::user(format!(
                "cannot change to directory {}: {}",
                dir.display(),
                error_chain(&e)
            ))
        })?;
    }
    let cwd = std::env::current_dir()?;
    match cli.command {
        Command::Init(args) => commands::init::run(&cwd, &args),
        Command::Validate(args) => commands::validate::run(&cwd, &args),
        Command::Status(args) => commands::status::run(&cwd, &args),
        Command::Run(args) => commands::run::run(&cwd, &args),
        Command::Pair(args) => commands::pair::run(&cwd, &args),
        Command::Demo(args) => commands::demo::run(&cwd, &args),
        Command::Doctor(args) => commands::doctor::run(&cwd, &args),
        Command::Dash(args) => commands::dash::run(&cwd, &args),
        Command::Attach(args) => commands::attach::run(&cwd, &args),
        Command::Say(args) => commands::control::say(&cwd, &args),
        Command::Answer(args) => commands::control::answer(&cwd, &args),
        Command::Pause(args) => commands::control::control(&cwd, Control::Pause, &args),
        Command::Resume(args) => commands::control::control(&cwd, Control::Resume, &args),
        Command::Cancel(args) => commands::control::control(&cwd, Control::Cancel, &args),
        Command::Merge(args) => commands::control::merge(&cwd, &args),
        Command::Stop(args) => commands::control::stop(&cwd, &args),
        Command::Log(args) => commands::log::run(&cwd, &args),
        Command::Report(args) => commands::report::run(&cwd, &args),
        Command::Completions(args) => commands::completions::run(&args),
        Command::Mcp => commands::agent_helpers::mcp(),
        Command::Hook(args) => commands::agent_helpers::hook(&args),
        Command::ExecAgent(args) => commands::agent_helpers::exec_agent(args),
        Command::CodexSeat(args) => commands::codex_seat::run(args),
    }
}

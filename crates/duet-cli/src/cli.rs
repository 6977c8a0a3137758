//! The command-line grammar of `duet` (clap derive): every subcommand and its flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// duet works a backlog of coding tasks through pairs of AI coding agents.
///
/// Each task gets its own git branch and worktree, a worker agent that writes the code and a
/// reviewer agent that reviews it. Start with `duet init` in a git repository.
#[derive(Debug, Parser)]
#[command(name = "duet", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Run as if duet was started in DIR instead of the current directory.
    #[arg(short = 'C', long = "directory", value_name = "DIR", global = true)]
    pub directory: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write duet.toml and backlog.toml into this repository and ignore .duet/.
    Init(InitArgs),
    /// Check duet.toml and backlog files and report every problem at once.
    Validate(ValidateArgs),
    /// List the backlog's tasks and their state.
    Status(StatusArgs),
    /// Print a shell completion script for duet.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite duet.toml and backlog.toml if they exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files to check (default: duet.toml and the backlog it names, at the repository root).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,

    /// Print the problems as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Show only this task.
    #[arg(value_name = "TASK")]
    pub task: Option<String>,

    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

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
    /// Work one task of the backlog with a worker and a reviewer, in the foreground.
    Pair(PairArgs),
    /// Attach your terminal to a task's tmux session (both agents side by side).
    Attach(AttachArgs),
    /// Print a shell completion script for duet.
    Completions(CompletionsArgs),
    /// The MCP bridge an agent starts (stdio); needs DUET_SOCKET and DUET_TOKEN.
    #[command(hide = true)]
    Mcp,
    /// Forward an agent's hook (claude, JSON on stdin) or notify (codex, JSON argument).
    #[command(hide = true)]
    Hook(HookArgs),
    /// Run an agent in its pane and report its start and exit to duet.
    #[command(hide = true)]
    ExecAgent(ExecAgentArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HookAgent {
    Claude,
    Codex,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    /// Which agent calls the hook.
    #[arg(value_enum)]
    pub agent: HookAgent,
    /// codex's notify payload (JSON); claude's comes on stdin.
    #[arg(
        value_name = "PAYLOAD",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub payload: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecAgentArgs {
    /// The agent's command line, after `--`.
    #[arg(value_name = "ARGV", last = true, required = true)]
    pub argv: Vec<std::ffi::OsString>,
}

/// Where duet's tmux sessions live: a dedicated tmux server, so your own sessions are untouched.
#[derive(Debug, Args)]
pub struct TmuxArgs {
    /// Name of the tmux server (`tmux -L NAME`) that holds duet's sessions.
    #[arg(
        long,
        value_name = "NAME",
        env = "DUET_TMUX_SOCKET",
        default_value = "duet"
    )]
    pub tmux_socket: String,
}

#[derive(Debug, Args)]
pub struct PairArgs {
    /// The task's id in the backlog.
    #[arg(value_name = "TASK")]
    pub task: String,

    /// Continue the agents' earlier conversations instead of starting new ones.
    #[arg(long)]
    pub resume: bool,

    #[command(flatten)]
    pub tmux: TmuxArgs,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The task whose session to attach to.
    #[arg(value_name = "TASK")]
    pub task: String,

    #[command(flatten)]
    pub tmux: TmuxArgs,
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

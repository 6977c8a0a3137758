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
    /// Work the whole backlog with parallel pairs (the daemon); Ctrl-C stops it, agents keep running.
    Run(RunArgs),
    /// Work one task of the backlog with a worker and a reviewer, in the foreground.
    Pair(PairArgs),
    /// Work a sample backlog with real claude/codex pairs against a simulated model (no account).
    Demo(DemoArgs),
    /// Check that duet can work here: agent CLIs, tmux, git, socket, disk, logins.
    Doctor(DoctorArgs),
    /// The dashboard: every pair live, needs-you first; say, answer, pause, attach from it.
    Dash(DashArgs),
    /// Attach your terminal to a task's tmux session (both agents side by side).
    Attach(AttachArgs),
    /// Send a message into a running task's pair (to the worker unless --to reviewer).
    Say(SayArgs),
    /// Answer a task's question (ask_human / needs-human); the pair goes on.
    Answer(AnswerArgs),
    /// Pause a running task: its agents get no messages until `duet resume`.
    Pause(TaskControlArgs),
    /// Resume a paused task.
    Resume(TaskControlArgs),
    /// Cancel a task for good.
    Cancel(TaskControlArgs),
    /// Land a ready task on its base through the merge queue (`merge.auto = false`), or all of
    /// them with `--all`; also retries a merge step that failed.
    Merge(MergeArgs),
    /// Stop the running duet (`duet run` or `duet pair`).
    Stop(StopArgs),
    /// Show a task's history: its events and the conversation between its agents.
    Log(LogArgs),
    /// Show a task's handoff report: what changed, its reviews and what became of each
    /// finding, CI, messages, time taken.
    Report(ReportArgs),
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
    /// Run a codex seat on its app-server: the server, then the TUI attached to its thread.
    #[command(hide = true)]
    CodexSeat(CodexSeatArgs),
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

#[derive(Debug, Args)]
pub struct CodexSeatArgs {
    /// The app-server's unix socket (in a private folder).
    #[arg(long, value_name = "PATH")]
    pub socket: std::path::PathBuf,
    /// Where the engine writes the thread id for the TUI to open.
    #[arg(long, value_name = "PATH")]
    pub thread_file: std::path::PathBuf,
    /// The app-server's stderr.
    #[arg(long, value_name = "PATH")]
    pub log: std::path::PathBuf,
    /// The codex program and its `-c` overrides, after `--`.
    #[arg(value_name = "CODEX", last = true, required = true)]
    pub codex: Vec<String>,
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
pub struct RunArgs {
    /// Run in the background; logs go to .duet/logs/.
    #[arg(long)]
    pub detach: bool,

    /// Stop the agents' tmux sessions too when duet stops (default: they keep running and the
    /// next `duet run` adopts them).
    #[arg(long)]
    pub stop_agents: bool,

    /// Stop once no task can make progress any more, instead of waiting for new tasks.
    #[arg(long)]
    pub exit_when_done: bool,

    /// Rehearse: run the real agent CLIs against a scripted model server (no account, no
    /// tokens spent) following this fake-model script (see crates/duet-testkit/README.md).
    #[arg(long, value_name = "SCRIPT")]
    pub simulate: Option<PathBuf>,

    #[command(flatten)]
    pub tmux: TmuxArgs,
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
pub struct DemoArgs {
    /// Folder for the sample repository (new or empty; default: a new temporary folder, kept).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Stop the demo when its tasks are not all finished after this many seconds per task.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub task_timeout: u64,

    #[command(flatten)]
    pub tmux: TmuxArgs,
}

#[derive(Debug, Args)]
pub struct DashArgs {
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
pub struct DoctorArgs {
    /// Print machine-readable JSON.
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

    /// Redraw every --interval seconds until Ctrl-C.
    #[arg(long)]
    pub watch: bool,

    /// Seconds between redraws with --watch.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 2.0,
        requires = "watch"
    )]
    pub interval: f64,

    /// Stop --watch after N redraws (for tests and scripts).
    #[arg(long, value_name = "N", hide = true, requires = "watch")]
    pub count: Option<u64>,
}

/// Which agent of the pair a human message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    Worker,
    Reviewer,
}

#[derive(Debug, Args)]
pub struct SayArgs {
    /// The task whose pair gets the message.
    #[arg(value_name = "TASK")]
    pub task: String,

    /// Which agent gets the message.
    #[arg(long, value_enum, default_value = "worker")]
    pub to: RoleArg,

    /// The message (several words are joined with spaces).
    #[arg(value_name = "TEXT", required = true)]
    pub text: Vec<String>,

    /// Print the response as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// The task that asked.
    #[arg(value_name = "TASK")]
    pub task: String,

    /// The answer (several words are joined with spaces).
    #[arg(value_name = "TEXT", required = true)]
    pub text: Vec<String>,

    /// Print the response as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The task's id.
    #[arg(
        value_name = "TASK",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub task: Option<String>,

    /// Every ready task.
    #[arg(long)]
    pub all: bool,

    /// Print the response as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct TaskControlArgs {
    /// The task's id.
    #[arg(value_name = "TASK")]
    pub task: String,

    /// Print the response as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Also stop the agents (by default they keep running in tmux and can be resumed).
    #[arg(long)]
    pub agents: bool,

    /// Print the response as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The task's id.
    #[arg(value_name = "TASK")]
    pub task: String,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// The task's id.
    #[arg(value_name = "TASK")]
    pub task: String,

    /// Print the events and the conversation as JSON.
    #[arg(long)]
    pub json: bool,

    /// The task's CI runs instead, and the whole log of the last one.
    #[arg(long)]
    pub ci: bool,
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

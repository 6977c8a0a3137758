//! `duet run`: the daemon that works a whole backlog with parallel pairs.
//!
//! - [`run`]: the async loop. Sources (control socket, agent actors, backlog watcher, ticker,
//!   shutdown) become events; each pair's `duet_pair::Controller` decides; the loop carries out
//!   the actions (store, answers, deliveries, tmux) and starts tasks the scheduler
//!   (`duet_core::lifecycle::scheduler`) picks.
//! - [`lock`]: one daemon per repository. [`backlog_watch`]: reloads of the backlog file.
//! - [`pair_slot`]: a running pair and its snapshot, from which a restarted daemon adopts it.
//! - [`idle_watch`]: an agent at rest seen from its pane (resumed agents, turn ends missed).
//! - [`status`]: every task's typed status and the subscription feed; [`notify`]: telling the
//!   human (`notify.command`) when a task starts or stops needing them.

pub mod backlog_watch;
mod daemon;
pub mod idle_watch;
pub mod lock;
pub mod notify;
pub mod pair_slot;
pub mod status;

use std::path::PathBuf;

use duet_agents::TmuxRuntime;
use duet_core::config::Config;

pub use daemon::run;

/// Everything `duet run` needs.
#[derive(Debug, Clone)]
pub struct DaemonSetup {
    /// The repository's main working directory.
    pub repo_root: PathBuf,
    pub config: Config,
    pub backlog_path: PathBuf,
    pub duet_exe: PathBuf,
    pub tmux: TmuxRuntime,
    /// Stop once no task can make progress any more (every task done, failed or cancelled, or
    /// waiting on one that is); otherwise keep running and watch the backlog for new tasks.
    pub exit_when_done: bool,
    /// Stop the agents' tmux sessions when the daemon stops (default: they keep running and the
    /// next daemon adopts them).
    pub stop_agents_on_exit: bool,
}

impl DaemonSetup {
    pub fn state_dir(&self) -> PathBuf {
        self.repo_root.join(".duet")
    }

    pub fn socket_path(&self) -> PathBuf {
        self.state_dir().join("duet.sock")
    }

    pub fn store_path(&self) -> PathBuf {
        self.repo_root.join(duet_store::STATE_DB_RELATIVE_PATH)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.state_dir().join("daemon.pid")
    }
}

/// What the daemon reports while it runs (for the live progress lines).
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonProgress {
    TaskState { task: String, state: String },
    HumanNeeded { task: String, text: String },
    Note(String),
}

/// How the daemon's run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Every task of the backlog: id, final state, review rounds, commits on its branch.
    pub tasks: Vec<TaskOutcome>,
    /// True when stopped by a signal or `duet stop` rather than by running out of work.
    pub interrupted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskOutcome {
    pub id: String,
    pub state: String,
    pub rounds: u32,
    pub commits: usize,
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action}")]
pub struct DaemonError {
    pub action: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl DaemonError {
    pub fn new(
        action: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        DaemonError {
            action: action.into(),
            source: Some(Box::new(source)),
        }
    }
}

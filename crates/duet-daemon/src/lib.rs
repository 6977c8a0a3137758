//! `duet run`: the daemon that works a whole backlog with parallel pairs.
//!
//! One engine: `duet run` (the whole backlog), `duet pair TASK` ([`DaemonSetup::focus`]: the same
//! loop with one task, in the foreground) and `duet demo` (`duet run --simulate` on a sample).
//!
//! - [`run`]: the async loop. Sources (control socket, agent actors, backlog watcher, ticker,
//!   shutdown) become events; each pair's `duet_pair::Controller` decides; the loop carries out
//!   the actions (store, answers, deliveries, tmux) and starts tasks the scheduler
//!   (`duet_core::lifecycle::scheduler`) picks.
//! - [`lock`]: one daemon per repository. [`backlog_watch`]: reloads of the backlog file.
//! - [`pair_slot`]: a running pair and its snapshot, from which a restarted daemon adopts it.
//! - [`idle_watch`]: an agent at rest seen from its pane (resumed agents, turn ends missed).
//! - [`merge_edge`]: the merge queue's git effects carried out (the loop's `daemon/merge.rs` drives it).
//! - [`status`]: every task's typed status and the subscription feed; [`notify`]: telling the
//!   human (`notify.command`) when a task starts or stops needing them.

pub mod backlog_watch;
mod daemon;
pub mod diffstat;
pub mod engine_core;
pub mod idle_watch;
pub mod lock;
pub mod merge_edge;
pub mod notify;
pub mod pair_slot;
pub mod report;
pub mod report_io;
pub mod restart_policy;
pub mod status;

use std::path::PathBuf;

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
    /// Where the agents run (tmux; in the engine's tests, `duet_pair::runtime::memory`).
    pub runtime: duet_pair::SharedRuntime,
    /// Stop once no task can make progress any more (every task done, failed or cancelled, or
    /// waiting on one that is); otherwise keep running and watch the backlog for new tasks.
    pub exit_when_done: bool,
    /// Stop the agents' tmux sessions when the daemon stops (default: they keep running and the
    /// next daemon adopts them).
    pub stop_agents_on_exit: bool,
    /// Work this one task only (`duet pair TASK`): it starts whatever its dependencies, only its
    /// pair is adopted after a restart, and the engine stops once the task has ended.
    pub focus: Option<String>,
    /// Whether a task's agents can start (found, answering `--version`): a task whose agents
    /// cannot is put to the human before anything is made for it. `duet_preflight`'s check for
    /// real agents; the engine's tests, whose runtime starts nothing, pass one that accepts all.
    pub check_agents: AgentCheck,
    /// The clock usage limits are parked and unparked by (`duet_pair::now` outside tests; the
    /// engine's tests pass one they move, so a reset time comes without waiting for it).
    pub usage_clock: fn() -> duet_core::protocol::Timestamp,
}

/// See [`DaemonSetup::check_agents`]: `Err` holds what is missing and how to get it.
pub type AgentCheck = fn(&Config, &duet_core::backlog::Task) -> Result<(), String>;

impl DaemonSetup {
    pub fn state_dir(&self) -> PathBuf {
        self.repo_root.join(".duet")
    }

    /// The control socket: a short path outside the repository (see `duet_proto::socket_path`).
    pub fn socket_path(&self) -> PathBuf {
        duet_proto::socket_path(&self.state_dir())
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
    TaskState {
        task: String,
        state: String,
    },
    /// Something an agent of `task` did or was given (a message handed over).
    Agent {
        task: String,
        role: duet_core::protocol::Role,
        status: String,
    },
    HumanNeeded {
        task: String,
        text: String,
    },
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
    /// Commits on the task branch since its base, newest first (`<sha> <subject>`).
    pub commits: Vec<String>,
    pub messages: MessageCounts,
}

/// What became of the messages of one task's pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounts {
    pub accepted: usize,
    pub delivered: usize,
    pub suppressed: usize,
}

/// Why the engine could not run.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action}")]
pub struct DaemonError {
    pub kind: DaemonErrorKind,
    pub action: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// What kind of failure: decides, in the CLI, whether the user can fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonErrorKind {
    /// Another engine holds the repository.
    Busy,
    /// The repository, backlog or the socket's place is not usable as it is.
    Setup,
    /// The state store failed (reading or writing).
    Store,
    /// Anything else the engine could not do (launching agents, saving a snapshot).
    Internal,
}

impl DaemonError {
    pub fn new(
        action: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::of_kind(DaemonErrorKind::Internal, action, source)
    }

    pub fn of_kind(
        kind: DaemonErrorKind,
        action: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        DaemonError {
            kind,
            action: action.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The store's own error, when the failure came from it (its kind tells more).
    pub fn store_error(&self) -> Option<&duet_store::StoreError> {
        self.source.as_deref()?.downcast_ref()
    }
}

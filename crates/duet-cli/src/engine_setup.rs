//! The engine's setup for this repository (`duet run`, `duet pair`, `duet demo` are one engine:
//! `duet_daemon::run`), so the three commands cannot drift apart in how they start it.

use std::path::Path;
use std::sync::Mutex;

use duet_agents::TmuxRuntime;
use duet_core::config::Config;
use duet_daemon::DaemonSetup;

use crate::command_error::CommandError;
use crate::workspace::Workspace;

/// How a command wants the engine to run.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    pub tmux_socket: String,
    pub exit_when_done: bool,
    pub stop_agents_on_exit: bool,
    /// `duet pair TASK`: this task only.
    pub focus: Option<String>,
}

/// The engine's setup for `ws` with `config` (possibly rewritten for a simulated model).
pub fn engine_setup(
    ws: &Workspace,
    config: Config,
    options: EngineOptions,
) -> Result<DaemonSetup, CommandError> {
    // The engine binds the socket this computes; the locator lets clients find it.
    duet_proto::prepare_socket(&ws.root().join(".duet"))
        .map_err(|e| CommandError::user(e.to_string()))?;
    let duet_exe = std::env::current_exe()
        .map_err(|e| CommandError::internal(format!("failed to find the duet executable: {e}")))?;
    Ok(DaemonSetup {
        repo_root: ws.root().to_path_buf(),
        backlog_path: ws.root().join(&config.backlog),
        config,
        duet_exe,
        runtime: std::sync::Arc::new(TmuxRuntime::new(Some(options.tmux_socket))),
        exit_when_done: options.exit_when_done,
        stop_agents_on_exit: options.stop_agents_on_exit,
        focus: options.focus,
        check_agents: |config, task| duet_preflight::check_task_agents(config, task).map(|_| ()),
        usage_clock: duet_pair::now,
    })
}

/// Logs go to `.duet/logs/duet.log` (RUST_LOG or `info`).
pub fn init_logging(log_dir: &Path) -> Result<(), CommandError> {
    std::fs::create_dir_all(log_dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_dir.join("duet.log"))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
    Ok(())
}

//! Turning a backlog task and the config into a `duet_pair::PairSetup` (the task prepared by
//! `duet_pair::prepare_task`, plus this repository's socket, store, tmux and the duet binary),
//! shared by `duet pair` and `duet demo`.

use duet_agents::TmuxRuntime;
use duet_agents::tmux::session_name;
use duet_core::backlog::Task;
use duet_core::config::Config;
use duet_pair::PairSetup;
use duet_pair::prepare::prepare_task;

use crate::command_error::{CommandError, error_chain};
use crate::workspace::Workspace;

/// Creates (or reuses) the task's worktree and assembles everything its pair needs.
pub fn prepare_pair(
    ws: &Workspace,
    config: &Config,
    task: &Task,
    tmux_socket: &str,
    resume: bool,
) -> Result<PairSetup, CommandError> {
    let socket_path = duet_proto::prepare_socket(&ws.root().join(".duet"))
        .map_err(|e| CommandError::user(e.to_string()))?;
    let prepared =
        prepare_task(ws.repo(), config, task).map_err(|e| CommandError::user(error_chain(&e)))?;
    let duet_exe = std::env::current_exe()
        .map_err(|e| CommandError::internal(format!("failed to find the duet executable: {e}")))?;
    Ok(PairSetup {
        task: prepared.brief,
        worktree: prepared.worktree,
        socket_path,
        store_path: ws.state_db_path(),
        duet_exe,
        tmux: TmuxRuntime::new(Some(tmux_socket.to_string())),
        session_name: session_name(ws.root(), task.id.as_str()),
        worker: prepared.worker,
        reviewer: prepared.reviewer,
        pair_config: prepared.pair_config,
        resume,
    })
}

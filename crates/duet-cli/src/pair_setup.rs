//! Turning a backlog task and the config into a `duet_pair::PairSetup` (worktree, prompts,
//! agent profiles, paths), shared by `duet pair` and `duet demo`.

use duet_agents::TmuxRuntime;
use duet_agents::tmux::session_name;
use duet_core::backlog::{Prompt, Task};
use duet_core::config::{AgentProfile, Config};
use duet_core::protocol::pair::PairConfig;
use duet_git::WorktreeManager;
use duet_pair::git_facts::fork_point;
use duet_pair::{AgentSetup, PairSetup, TaskBrief};

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
    let profile = |name: &str| -> Result<AgentSetup, CommandError> {
        let profile: &AgentProfile = config.agents.get(name).ok_or_else(|| {
            CommandError::user(format!("unknown agent profile `{name}`"))
                .hint("run `duet validate`")
        })?;
        Ok(AgentSetup {
            profile_name: name.to_string(),
            profile: profile.clone(),
        })
    };
    let worker = profile(task.worker_profile(config))?;
    let reviewer = profile(task.reviewer_profile(config))?;
    let base = task.base_branch(config);
    let manager = WorktreeManager::new(ws.repo(), &config.worktree_root, &config.branch_prefix)
        .map_err(|e| CommandError::user(error_chain(&e)))?;
    let worktree = manager
        .ensure(task.id.as_str(), base)
        .map_err(|e| CommandError::user(error_chain(&e)))?;
    let base_commit = fork_point(&worktree.path, base).ok_or_else(|| {
        CommandError::user(format!(
            "failed to find where branch `{}` left `{base}`",
            worktree.branch
        ))
    })?;
    let prompt = match &task.prompt {
        Prompt::Inline(text) => text.clone(),
        Prompt::File(path) => std::fs::read_to_string(path).map_err(|e| {
            CommandError::user(format!(
                "failed to read prompt file {}: {}",
                path.display(),
                error_chain(&e)
            ))
        })?,
    };
    let mut pair_config = PairConfig::default();
    pair_config.limits.max_rounds = task.max_rounds(config).get();
    let duet_exe = std::env::current_exe()
        .map_err(|e| CommandError::internal(format!("failed to find the duet executable: {e}")))?;
    Ok(PairSetup {
        task: TaskBrief {
            id: task.id.to_string(),
            title: task.title.clone(),
            prompt,
            proof: task.proof.clone(),
            base_branch: base.to_string(),
            base_commit,
            branch: worktree.branch.clone(),
        },
        worktree: worktree.path.clone(),
        socket_path: ws.root().join(".duet").join("duet.sock"),
        store_path: ws.state_db_path(),
        duet_exe,
        tmux: TmuxRuntime::new(Some(tmux_socket.to_string())),
        session_name: session_name(ws.root(), task.id.as_str()),
        worker,
        reviewer,
        pair_config,
        resume,
    })
}

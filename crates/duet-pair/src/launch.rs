//! Starting a pair's agents in tmux (new, resumed, or one agent again in its pane), from the
//! agent profiles, through `duet exec-agent` with the bridge and hooks wired in.

use std::path::{Path, PathBuf};

use duet_agents::{LaunchContext, PairPanes, PaneCommand, SessionPlan, TmuxRuntime, launch_spec};
use duet_core::protocol::Role;

use crate::controller::Controller;
use crate::error::{PairError, PairErrorKind};
use crate::render::{TaskBrief, reviewer_prompt, worker_prompt};
use crate::seat_setup::AgentSetup;

/// Where and how a pair's agents run.
#[derive(Debug, Clone)]
pub struct LaunchPlace<'a> {
    pub tmux: &'a TmuxRuntime,
    pub session_name: &'a str,
    pub worktree: &'a Path,
    pub duet_exe: &'a Path,
    pub socket: &'a PathBuf,
}

/// The pane command for `role`: a new conversation with its first prompt, or `resume` the
/// conversation with that id.
pub fn pane_command(
    place: &LaunchPlace<'_>,
    task: &TaskBrief,
    role: Role,
    agent: &AgentSetup,
    controller: &Controller,
    resume: Option<&str>,
) -> Result<PaneCommand, PairError> {
    let seat = controller.seat(role);
    let session = match resume {
        Some(id) => SessionPlan::Resume { id: id.to_string() },
        None => SessionPlan::New {
            session_id: seat.session_id.clone(),
        },
    };
    let initial = match role {
        Role::Worker => worker_prompt(task),
        Role::Reviewer => reviewer_prompt(task),
    };
    let context = LaunchContext {
        role,
        task_id: task.id.clone(),
        worktree: place.worktree.to_path_buf(),
        duet_exe: place.duet_exe.to_path_buf(),
        socket: place.socket.clone(),
        token: seat.token.clone(),
        system_prompt: String::new(),
        initial_prompt: resume.is_none().then_some(initial),
        session,
    };
    let spec = launch_spec(&agent.profile, &context)
        .map_err(|e| PairError::new(PairErrorKind::Launch, e))?;
    let argv = spec
        .wrapped_argv(place.duet_exe)
        .map_err(|e| PairError::new(PairErrorKind::Launch, e))?;
    Ok(PaneCommand {
        argv,
        env: spec.env,
    })
}

/// Starts both agents in a new tmux session (replacing an orphaned one of the same name).
pub fn launch_pair(
    place: &LaunchPlace<'_>,
    task: &TaskBrief,
    agents: [&AgentSetup; 2],
    controller: &Controller,
    resume: [Option<&str>; 2],
) -> Result<PairPanes, PairError> {
    // A session left by a controller that died: no controller answers on the socket any more
    // (ours is bound), so its agents are orphans; start afresh (conversations stay resumable).
    if place.tmux.has_session(place.session_name).unwrap_or(false) {
        let _ = place.tmux.kill_session(place.session_name);
    }
    let worker = pane_command(place, task, Role::Worker, agents[0], controller, resume[0])?;
    let reviewer = pane_command(
        place,
        task,
        Role::Reviewer,
        agents[1],
        controller,
        resume[1],
    )?;
    place
        .tmux
        .create_pair_session(place.session_name, place.worktree, &worker, &reviewer)
        .map_err(|e| PairError::new(PairErrorKind::Tmux, e))
}

/// Runs `command` again in `pane` (its agent died), keeping the pane and its place.
pub fn respawn_in_pane(
    tmux: &TmuxRuntime,
    pane: &str,
    cwd: &Path,
    command: &PaneCommand,
) -> Result<(), PairError> {
    let mut cmd = tmux.command();
    cmd.args(["respawn-pane", "-k", "-t", pane, "-c"]).arg(cwd);
    for (key, value) in &command.env {
        cmd.arg("-e").arg(format!("{key}={value}"));
    }
    cmd.args(&command.argv);
    let output = cmd
        .output()
        .map_err(|e| PairError::new(PairErrorKind::Tmux, e))?;
    if !output.status.success() {
        return Err(PairError::msg(
            PairErrorKind::Tmux,
            format!(
                "tmux respawn-pane {pane}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    Ok(())
}

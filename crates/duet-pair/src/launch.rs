//! Starting a pair's agents in the runtime (new, resumed, or one agent again in its place), from
//! the agent profiles, through `duet exec-agent` with the bridge and hooks wired in.

use std::path::{Path, PathBuf};

use duet_agents::{LaunchContext, PairPanes, PaneCommand, SessionPlan, launch_spec};
use duet_core::protocol::Role;

use crate::controller::Controller;
use crate::error::{PairError, PairErrorKind};
use crate::render::{TaskBrief, reviewer_prompt, worker_prompt};
use crate::runtime::AgentRuntime;
use crate::seat_setup::AgentSetup;

/// Where and how a pair's agents run.
#[derive(Debug, Clone)]
pub struct LaunchPlace<'a> {
    pub runtime: &'a dyn AgentRuntime,
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

/// Starts both agents in a new place of the runtime (replacing an orphaned one of the same name).
pub fn launch_pair(
    place: &LaunchPlace<'_>,
    task: &TaskBrief,
    agents: [&AgentSetup; 2],
    controller: &Controller,
    resume: [Option<&str>; 2],
) -> Result<PairPanes, PairError> {
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
        .runtime
        .start_pair(place.session_name, place.worktree, &worker, &reviewer)
        .map_err(|e| PairError::new(PairErrorKind::Tmux, e))
}

/// Runs `command` again in `agent`'s place (its agent died).
pub fn respawn_in_pane(
    runtime: &dyn AgentRuntime,
    agent: &str,
    cwd: &Path,
    command: &PaneCommand,
) -> Result<(), PairError> {
    runtime
        .restart_agent(agent, cwd, command)
        .map_err(|e| PairError::new(PairErrorKind::Tmux, e))
}

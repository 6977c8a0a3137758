//! Starting a pair's agents in the runtime (new, resumed, or one agent again in its place), from
//! the agent profiles, through `duet exec-agent` with the bridge and hooks wired in; each new
//! conversation's first prompt goes to the controller's mailbox, never on the command line.

use std::path::{Path, PathBuf};

use duet_agents::adapter::codex_remote::{
    app_server_paths, codex_remote_spec, codex_seat_argv, thread_settings,
};
use duet_agents::{LaunchContext, PairPanes, PaneCommand, SessionPlan, launch_spec};
use duet_core::config::{AgentKind, AgentTransport};
use duet_core::protocol::delivery::Brief;
use duet_core::protocol::{Role, Timestamp};

use crate::controller::{Action, Controller};
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

/// The first prompt of `role`'s seat: the task brief.
pub fn first_prompt(task: &TaskBrief, role: Role) -> String {
    match role {
        Role::Worker => worker_prompt(task),
        Role::Reviewer => reviewer_prompt(task),
    }
}

/// The pane command for `role`'s next process: `resume` the seat's conversation when it has one
/// ([`Controller::resume_session`]), else a new conversation, and then also its first prompt.
///
/// The first prompt is never put on the agent's command line: claude sends a command-line prompt
/// as soon as it can, sometimes before its MCP servers are connected (then without duet's tools).
/// It is handed over through the mailbox instead, as every message is, once the agent rests at
/// its prompt and has listed duet's tools.
pub fn pane_command(
    place: &LaunchPlace<'_>,
    task: &TaskBrief,
    role: Role,
    agent: &AgentSetup,
    controller: &Controller,
) -> Result<(PaneCommand, Option<String>), PairError> {
    let seat = controller.seat(role);
    let resume = controller.resume_session(role);
    let session = match &resume {
        Some(id) => SessionPlan::Resume { id: id.clone() },
        None => SessionPlan::New {
            session_id: seat.session_id.clone(),
        },
    };
    let context = LaunchContext {
        role,
        task_id: task.id.clone(),
        worktree: place.worktree.to_path_buf(),
        duet_exe: place.duet_exe.to_path_buf(),
        socket: place.socket.clone(),
        token: seat.token.clone(),
        system_prompt: String::new(),
        initial_prompt: None,
        session,
    };
    let spec = launch_spec(&agent.profile, &context)
        .map_err(|e| PairError::new(PairErrorKind::Launch, e))?;
    let argv = if on_app_server(agent) {
        app_server_argv(place, &agent.profile, &context, &spec.env)?
    } else {
        spec.wrapped_argv(place.duet_exe)
    }
    .map_err(|e| PairError::new(PairErrorKind::Launch, e))?;
    let first = resume.is_none().then(|| first_prompt(task, role));
    Ok((
        PaneCommand {
            argv,
            env: spec.env,
        },
        first,
    ))
}

/// Whether `agent`'s seat runs on codex's app-server (`transport = "app-server"`).
pub fn on_app_server(agent: &AgentSetup) -> bool {
    agent.profile.kind == AgentKind::Codex && agent.profile.transport == AgentTransport::AppServer
}

/// A codex seat on its app-server: `duet exec-agent -- duet codex-seat ... -- codex -c ...`
/// (the app-server and the TUI share the `-c` overrides; the thread's settings are the actor's).
fn app_server_argv(
    place: &LaunchPlace<'_>,
    profile: &duet_core::config::AgentProfile,
    context: &LaunchContext,
    env: &[(String, String)],
) -> Result<Result<Vec<String>, duet_agents::AdapterError>, PairError> {
    let paths = app_server_paths(place.socket, &context.task_id, context.role);
    let remote = codex_remote_spec(profile, context)
        .map_err(|e| PairError::new(PairErrorKind::Launch, e))?;
    if !remote.dropped.is_empty() {
        tracing::info!(
            "the {}'s codex runs on its app-server: profile arguments {:?} do not apply",
            context.role,
            remote.dropped
        );
    }
    let argv = codex_seat_argv(place.duet_exe, &profile.command, &paths, &remote)
        .map_err(|e| PairError::new(PairErrorKind::Launch, e))?;
    let seat = duet_agents::LaunchSpec {
        program: argv[0].clone(),
        args: argv[1..].to_vec(),
        env: env.to_vec(),
        cwd: context.worktree.clone(),
    };
    Ok(seat.wrapped_argv(place.duet_exe))
}

/// The actor's view of `agent`'s seat on its app-server (see [`on_app_server`]).
pub fn app_server_seat(
    engine_socket: &Path,
    worktree: &Path,
    task_id: &str,
    role: Role,
    agent: &AgentSetup,
    thread_id: Option<String>,
) -> crate::app_server_actor::AppServerSeat {
    let paths = app_server_paths(engine_socket, task_id, role);
    let settings = thread_settings(&agent.profile, role);
    crate::app_server_actor::AppServerSeat {
        socket: paths.socket,
        thread_file: paths.thread_file,
        cwd: worktree.to_path_buf(),
        sandbox: settings.sandbox,
        approval: settings.approval,
        thread_id,
    }
}

/// Starts both agents in a new place of the runtime (replacing an orphaned one of the same
/// name), each resumed or afresh as [`pane_command`] decides. Returns the panes and the
/// controller's actions for the launch (the briefs queued), to be carried out by the caller.
pub fn launch_pair(
    place: &LaunchPlace<'_>,
    task: &TaskBrief,
    agents: [&AgentSetup; 2],
    controller: &mut Controller,
    now: Timestamp,
) -> Result<(PairPanes, Vec<Action>), PairError> {
    for role in [Role::Worker, Role::Reviewer] {
        renew_fresh_claude_session(controller, role);
    }
    let (worker, worker_first) = pane_command(place, task, Role::Worker, agents[0], controller)?;
    let (reviewer, reviewer_first) =
        pane_command(place, task, Role::Reviewer, agents[1], controller)?;
    let panes = place
        .runtime
        .start_pair(place.session_name, place.worktree, &worker, &reviewer)
        .map_err(|e| PairError::new(PairErrorKind::Tmux, e))?;
    let mut actions = controller.launched(Role::Worker, worker_first, now);
    actions.extend(controller.launched(Role::Reviewer, reviewer_first, now));
    Ok((panes, actions))
}

/// Starts `role`'s agent again in its place `pane` (it died): resumed when its seat has a
/// conversation, else afresh with its brief queued. Returns the controller's actions.
pub fn restart_seat(
    place: &LaunchPlace<'_>,
    pane: &str,
    task: &TaskBrief,
    role: Role,
    agent: &AgentSetup,
    controller: &mut Controller,
    now: Timestamp,
) -> Result<Vec<Action>, PairError> {
    renew_fresh_claude_session(controller, role);
    let (command, first) = pane_command(place, task, role, agent, controller)?;
    respawn_in_pane(place.runtime, pane, place.worktree, &command)?;
    Ok(controller.launched(role, first, now))
}

/// A seat whose conversation was resumed and whose process exited before it listed duet's tools:
/// the resume failed (claude refuses a session whose transcript was never written; codex one it
/// cannot find). Its next process starts a new conversation with the task's brief instead of
/// failing the same way until the restarts are used up. Returns whether it was so (then the seat
/// has no conversation to resume, and a claude seat has a new session id).
pub fn forget_failed_resume(controller: &mut Controller, role: Role) -> bool {
    // A conversation started only in a process that had listed the tools (the brief waits for
    // that): a seat with one that is not bridge-ready ran a later, resumed process.
    if controller.resume_session(role).is_none() || controller.seat(role).bridge_ready {
        return false;
    }
    let briefs = &mut controller.state.mailbox.briefs;
    match role {
        Role::Worker => briefs.worker = Brief::NotGiven,
        Role::Reviewer => briefs.reviewer = Brief::NotGiven,
    }
    if let Some(seat) = controller.seats.iter_mut().find(|s| s.role == role)
        && seat.kind == AgentKind::Claude
    {
        seat.session_id = Some(uuid::Uuid::new_v4().to_string());
    }
    true
}

/// A claude seat that starts afresh after an earlier process (its brief was queued before) gets a
/// new session id: the earlier process may have begun a conversation under the old one that duet
/// never saw confirmed, and claude refuses a `--session-id` that is taken.
fn renew_fresh_claude_session(controller: &mut Controller, role: Role) {
    let fresh = controller.resume_session(role).is_none();
    let earlier = controller.state.mailbox.brief(role) != Brief::NotGiven;
    if let Some(seat) = controller.seats.iter_mut().find(|s| s.role == role)
        && fresh
        && earlier
        && seat.kind == AgentKind::Claude
    {
        seat.session_id = Some(uuid::Uuid::new_v4().to_string());
    }
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

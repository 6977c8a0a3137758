//! The engine's own decisions as a pure core: the facts they need (`EngineState`), what happened
//! (`EngineInput`), what to do (`EngineAction`) and the synchronous `handle` between them. No
//! tmux, git, SQLite, tokio or clock: the loop (`daemon.rs` and `daemon/*.rs`) gathers the facts
//! from its store and pair slots, calls `handle`, and carries the actions out in order.
//!
//! What a running pair decides (messages, reviews, its task's moves) stays in its `Controller`
//! (`duet_pair`, around `duet_core::protocol::handle`); this core decides what the engine does
//! around pairs: which tasks start, tasks with no pair, agents that died, adoption.

use std::collections::BTreeMap;

use duet_core::lifecycle::scheduler::{self, Blocker, DependencyRule, TaskView};
use duet_core::lifecycle::unpaired::{requeue_for_focus, transition_unpaired};
use duet_core::lifecycle::{LifecycleEvent, StateKind};
use duet_core::protocol::Role;

use crate::restart_policy::{self, Restart};

#[cfg(test)]
mod tests;

/// The facts the engine's decisions need, gathered by the loop from the store and its pair
/// slots just before `handle` (so they cannot drift from the store); `handle` updates them as
/// it decides (a task it queues is queued for the rest of that decision).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineState {
    /// The backlog's tasks, in its order, with what the store holds of each.
    pub tasks: Vec<TaskFacts>,
    /// The live pairs, by task (an adopted pair's task may have left the backlog since).
    pub pairs: BTreeMap<String, PairFacts>,
    pub max_parallel: usize,
    /// When a dependency counts as met (merged with the merge queue, done without).
    pub dependency_rule: DependencyRule,
    /// `duet pair TASK`: the one task this engine works on.
    pub focus: Option<String>,
}

/// One backlog task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFacts {
    pub id: String,
    pub title: String,
    pub priority: i64,
    pub depends_on: Vec<String>,
    /// Its state in the store (none: never seen).
    pub stored: Option<StateKind>,
}

/// One live pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairFacts {
    /// Its task has ended (the pair is about to go).
    pub finished: bool,
    /// Worker, reviewer.
    pub seats: [SeatFacts; 2],
}

/// One agent's seat in a live pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatFacts {
    pub role: Role,
    /// The token of the seat's current process (a new one at each restart).
    pub token: String,
    pub pane: String,
    /// The agent's process while its wrapper has reported no exit.
    pub pid: Option<u32>,
    pub restarts: u32,
    /// It has a conversation to resume (its brief reached it).
    pub has_conversation: bool,
    /// Its process listed duet's tools (a resumed one that did not: the resume failed).
    pub bridge_ready: bool,
}

/// A pair a previous engine saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPair {
    pub task: String,
    /// Its task's state in the store.
    pub stored: Option<StateKind>,
    /// Whether the snapshot reads (the error's text if not).
    pub readable: Result<(), String>,
}

/// What the human asked of a task no pair works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HumanAsk {
    Say,
    Answer,
    Pause,
    Resume,
    Cancel,
}

/// What happened, as far as the engine's own decisions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineInput {
    /// The engine started (`tasks` loaded): new tasks are queued; with a focus, whether a pair
    /// of it was saved (an ended one is worked again).
    Started { focus_saved: bool },
    /// The pairs a previous engine saved, found at start.
    SnapshotsFound(Vec<SavedPair>),
    /// An adopted pair's session was looked for: whether it still runs, and which of its seats'
    /// agents have exited (worker, reviewer).
    SessionLooked {
        task: String,
        session_exists: bool,
        exited: [bool; 2],
    },
    /// The backlog file was read again: its tasks (with what the store holds of each), or why
    /// it does not validate.
    BacklogRead(Result<Vec<TaskFacts>, String>),
    /// Something that can free a slot or unblock a task: start what can start.
    ScheduleAsked,
    /// A task's agents cannot start (missing CLI, untested version): nothing was made.
    AgentsMissing { task: String, reason: String },
    /// A task could not be started or adopted (its worktree, launch, saved state).
    CouldNotStart { task: String, reason: String },
    /// An agent's process exited, reported with the token of its seat.
    AgentExited {
        task: String,
        token: String,
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// The panes the runtime saw dead (pane, exit code, signal), each tick.
    PanesExited(Vec<(String, Option<i32>, Option<i32>)>),
    /// The human asked something of a task no pair works on.
    HumanAsked { task: String, ask: HumanAsk },
}

/// What the loop does, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAction {
    /// Store that the task is queued (a task the store had not seen).
    QueueTask { task: String, title: String },
    /// Store a move of a task no pair works on, and show it as `shown`.
    SetState {
        task: String,
        from: StateKind,
        to: StateKind,
        reason: String,
        shown: String,
    },
    /// Tell the human the task needs them.
    TellHuman { task: String, text: String },
    /// Store a note in the task's log.
    Note { task: String, text: String },
    /// Tell whoever watches the engine (`DaemonProgress::Note`).
    Progress(String),
    /// Log a warning: something the engine declined to do.
    Warn(String),
    /// Log what the engine decided (info).
    Log(String),
    /// Make the task's branch and worktree and start its pair.
    StartPair { task: String },
    /// Take over a pair a previous engine saved.
    Adopt { task: String },
    /// The adopted pair's session still runs: attach, and start again the seats whose agents
    /// exited (worker, reviewer).
    Attach { task: String, restart: [bool; 2] },
    /// The adopted pair's session is gone: launch both agents again, conversations resumed.
    Relaunch { task: String },
    /// Put the read backlog in place of the old one.
    ReplaceBacklog,
    /// The backlog read does not validate: the last good one stays (shown with the file).
    KeepInvalidBacklog { problems: String },
    /// A resumed process that never listed duet's tools: its conversation cannot be resumed,
    /// the seat starts afresh with its brief.
    ForgetResume { task: String, role: Role },
    /// Start the seat's agent again with a new token: restart number `attempt`, its
    /// conversation resumed or afresh (`resume_failed`: because resuming had failed).
    RestartAgent {
        task: String,
        role: Role,
        token: String,
        attempt: u32,
        resume: bool,
        resume_failed: bool,
        /// What the exit is stored as (a signal as 128 + its number).
        exit_code: Option<i32>,
        /// As reported (for the protocol, should the restart fail).
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// No restart: the pair's protocol hears of the exit (and asks the human).
    NoRestart {
        task: String,
        token: String,
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// End an agent process a killed wrapper left (two processes must not share a seat).
    EndProcess { pid: u32 },
    /// Take the task out of the merge queue (the next entry goes on).
    Withdraw { task: String },
    /// Answer the human: done.
    Ack,
    /// Answer the human: refused, with why.
    Refuse(String),
}

/// One input in: the engine's decision, as actions for the loop.
pub fn handle(state: &mut EngineState, input: EngineInput) -> Vec<EngineAction> {
    let mut out = Vec::new();
    match input {
        EngineInput::Started { focus_saved } => {
            queue_new(state, &mut out);
            requeue_focus(state, focus_saved, &mut out);
        }
        EngineInput::SnapshotsFound(saved) => {
            for pair in saved {
                adopt_or_fail(state, pair, &mut out);
            }
        }
        EngineInput::SessionLooked {
            task,
            session_exists,
            exited,
        } => out.push(if session_exists {
            EngineAction::Attach {
                task,
                restart: exited,
            }
        } else {
            EngineAction::Relaunch { task }
        }),
        EngineInput::BacklogRead(read) => backlog_read(state, read, &mut out),
        EngineInput::ScheduleAsked => schedule(state, &mut out),
        EngineInput::AgentsMissing { task, reason } => {
            let escalate = LifecycleEvent::Escalate {
                reason: reason.clone(),
            };
            let from = stored(state, &task);
            if move_unpaired(
                state,
                &task,
                from,
                &escalate,
                reason.clone(),
                None,
                &mut out,
            ) {
                out.push(EngineAction::TellHuman { task, text: reason });
            }
        }
        EngineInput::CouldNotStart { task, reason } => {
            let from = stored(state, &task);
            fail_unstarted(state, task, from, reason, &mut out);
        }
        EngineInput::AgentExited {
            task,
            token,
            code,
            signal,
        } => agent_exited(state, task, token, code, signal, &mut out),
        EngineInput::PanesExited(exited) => panes_exited(state, &exited, &mut out),
        EngineInput::HumanAsked { task, ask } => human_asked(state, &task, ask, &mut out),
    }
    out
}

fn task_mut<'s>(state: &'s mut EngineState, task: &str) -> Option<&'s mut TaskFacts> {
    state.tasks.iter_mut().find(|t| t.id == task)
}

fn stored(state: &EngineState, task: &str) -> Option<StateKind> {
    state
        .tasks
        .iter()
        .find(|t| t.id == task)
        .and_then(|t| t.stored)
}

/// Moves a task no pair works on through `transition_unpaired` from `from` (queued if the
/// store has no state): returns whether it moved. `shown` is what the human sees (default: the
/// state).
fn move_unpaired(
    state: &mut EngineState,
    task: &str,
    from: Option<StateKind>,
    event: &LifecycleEvent,
    reason: String,
    shown: Option<String>,
    out: &mut Vec<EngineAction>,
) -> bool {
    let from = from.unwrap_or(StateKind::Queued);
    let Ok(to) = transition_unpaired(from, event) else {
        out.push(EngineAction::Warn(format!(
            "task {task}: a {from} task cannot {}",
            what_event(event)
        )));
        return false;
    };
    if let Some(facts) = task_mut(state, task) {
        facts.stored = Some(to);
    }
    out.push(EngineAction::SetState {
        task: task.to_string(),
        from,
        to,
        reason,
        shown: shown.unwrap_or_else(|| to.to_string()),
    });
    true
}

fn what_event(event: &LifecycleEvent) -> &'static str {
    match event {
        LifecycleEvent::Escalate { .. } => "wait for the human",
        LifecycleEvent::Fail { .. } => "fail",
        _ => "move",
    }
}

/// A task that could not even start (or be adopted): failed from `from`, with the reason.
fn fail_unstarted(
    state: &mut EngineState,
    task: String,
    from: Option<StateKind>,
    reason: String,
    out: &mut Vec<EngineAction>,
) {
    let fail = LifecycleEvent::Fail {
        reason: reason.clone(),
    };
    let shown = format!("failed: {reason}");
    move_unpaired(state, &task, from, &fail, reason, Some(shown), out);
}

/// Every backlog task the store has not seen is queued.
fn queue_new(state: &mut EngineState, out: &mut Vec<EngineAction>) {
    for task in state.tasks.iter_mut().filter(|t| t.stored.is_none()) {
        task.stored = Some(StateKind::Queued);
        out.push(EngineAction::QueueTask {
            task: task.id.clone(),
            title: task.title.clone(),
        });
    }
}

/// With a focus: the task worked before (ended, paused, or live with no pair to take over)
/// starts its new run from the queue; a live one with a saved pair is adopted instead.
fn requeue_focus(state: &mut EngineState, focus_saved: bool, out: &mut Vec<EngineAction>) {
    let Some(focus) = state.focus.clone() else {
        return;
    };
    let Some(from) = stored(state, &focus) else {
        return;
    };
    if !requeue_for_focus(from, focus_saved) {
        return;
    }
    if let Some(facts) = task_mut(state, &focus) {
        facts.stored = Some(StateKind::Queued);
    }
    out.push(EngineAction::SetState {
        task: focus,
        from,
        to: StateKind::Queued,
        reason: "started again by duet pair".into(),
        shown: StateKind::Queued.to_string(),
    });
}

/// A saved pair is adopted while its task is live (with a focus: only the focus's); one whose
/// snapshot does not read, or whose task left the backlog, fails its task.
fn adopt_or_fail(state: &mut EngineState, saved: SavedPair, out: &mut Vec<EngineAction>) {
    if state
        .focus
        .as_ref()
        .is_some_and(|focus| *focus != saved.task)
    {
        return;
    }
    let live = matches!(
        saved.stored,
        Some(
            StateKind::Preparing
                | StateKind::Working
                | StateKind::Reviewing
                | StateKind::NeedsHuman
                | StateKind::Paused
        )
    );
    if !live {
        return;
    }
    if let Err(err) = saved.readable {
        let reason = format!("its saved state cannot be read ({err})");
        return fail_unstarted(state, saved.task, saved.stored, reason, out);
    }
    if !state.tasks.iter().any(|t| t.id == saved.task) {
        let reason = "it is no longer in the backlog".to_owned();
        return fail_unstarted(state, saved.task, saved.stored, reason, out);
    }
    out.push(EngineAction::Adopt { task: saved.task });
}

/// A new read of the backlog: an invalid one, or an empty one in place of one with tasks (an
/// editor writing the file in place can show it empty for a moment; the write that follows
/// triggers a reload), keeps the last; a good one replaces it, its new tasks are queued and
/// what can start starts.
fn backlog_read(
    state: &mut EngineState,
    read: Result<Vec<TaskFacts>, String>,
    out: &mut Vec<EngineAction>,
) {
    match read {
        Ok(tasks) if tasks.is_empty() && !state.tasks.is_empty() => {
            out.push(EngineAction::Warn(
                "the backlog reads empty; keeping the last one until it changes again".into(),
            ));
        }
        Ok(tasks) => {
            state.tasks = tasks;
            out.push(EngineAction::ReplaceBacklog);
            queue_new(state, out);
            out.push(EngineAction::Progress(format!(
                "backlog reloaded: {} tasks",
                state.tasks.len()
            )));
            schedule(state, out);
        }
        Err(problems) => out.push(EngineAction::KeepInvalidBacklog { problems }),
    }
}

impl EngineState {
    /// The scheduler's view of the backlog (a task the store has not seen counts as queued).
    pub fn views(&self) -> Vec<TaskView> {
        self.tasks
            .iter()
            .map(|t| TaskView {
                id: t.id.clone(),
                priority: t.priority,
                depends_on: t.depends_on.clone(),
                state: t.stored.unwrap_or(StateKind::Queued),
            })
            .collect()
    }

    /// The tasks the scheduler would start now (dependencies met, within `max_parallel`).
    pub fn startable_now(&self) -> Vec<String> {
        let views = self.views();
        let running = scheduler::count_running(&views);
        scheduler::next_to_start_with(self.dependency_rule, &views, running, self.max_parallel)
    }

    /// A queued task whose dependencies can never be met.
    pub fn blocked_for_good(&self, task: &str) -> bool {
        let views = self.views();
        let running = scheduler::count_running(&views);
        scheduler::why_blocked_with(
            self.dependency_rule,
            task,
            &views,
            running,
            self.max_parallel,
        )
        .is_some_and(|blockers| {
            blockers.iter().any(|b| {
                matches!(
                    b,
                    Blocker::DependencyFailed { .. } | Blocker::MissingDependency { .. }
                )
            })
        })
    }

    /// No task can make progress: no pair runs, nothing else is `busy` (the merge queue, pull
    /// requests being opened) and the scheduler has nothing to start.
    pub fn nothing_left(&self, busy: bool) -> bool {
        if !self.pairs.is_empty() || busy {
            return false;
        }
        let startable = self.startable_now();
        self.tasks.iter().all(|t| match t.stored {
            Some(StateKind::Queued) => !startable.contains(&t.id) && self.blocked_for_good(&t.id),
            // Ready waits for the human's `duet merge`; merging, with the queue idle or held,
            // for a dependency that will not land or for the human.
            Some(state) => {
                state.is_terminal()
                    || matches!(
                        state,
                        StateKind::Paused | StateKind::Ready | StateKind::Merging
                    )
            }
            None => false,
        })
    }

    /// With a focus: its task has ended and no pair works on it.
    pub fn focus_ended(&self) -> bool {
        self.focus.as_deref().is_some_and(|focus| {
            !self.pairs.contains_key(focus)
                && stored(self, focus).is_none_or(StateKind::is_terminal)
        })
    }
}

/// Starts what the scheduler picks (with a focus: that task, whatever its dependencies). A
/// started task is preparing for the rest of the decision.
fn schedule(state: &mut EngineState, out: &mut Vec<EngineAction>) {
    let picks = match state.focus.clone() {
        Some(focus) => {
            let queued = stored(state, &focus) == Some(StateKind::Queued);
            if queued && !state.pairs.contains_key(&focus) {
                vec![focus]
            } else {
                Vec::new()
            }
        }
        None => state.startable_now(),
    };
    for task in picks {
        out.push(EngineAction::StartPair { task });
    }
}

/// An agent's exit, reported with its seat's token: restarted with a new token while the
/// restart policy allows it, or else the pair's protocol hears of it. An exit reported with a
/// token no seat holds (a report of a process already replaced) changes nothing.
fn agent_exited(
    state: &EngineState,
    task: String,
    token: String,
    code: Option<i32>,
    signal: Option<i32>,
    out: &mut Vec<EngineAction>,
) {
    let Some(pair) = state.pairs.get(&task) else {
        out.push(EngineAction::Warn(format!(
            "task {task}: an exit reported for a pair that has ended"
        )));
        return;
    };
    let Some(seat) = pair.seats.iter().find(|s| s.token == token) else {
        out.push(EngineAction::Warn(format!(
            "task {task}: an exit reported for a process already replaced"
        )));
        return;
    };
    let resume_failed = seat.has_conversation && !seat.bridge_ready;
    if resume_failed {
        out.push(EngineAction::ForgetResume {
            task: task.clone(),
            role: seat.role,
        });
    }
    let has_conversation = seat.has_conversation && !resume_failed;
    let decision = restart_policy::decide(seat.restarts, pair.finished, has_conversation);
    match decision {
        Restart::Again { attempt, resume } => out.push(EngineAction::RestartAgent {
            task,
            role: seat.role,
            token,
            attempt,
            resume,
            resume_failed,
            exit_code: code.or(signal.map(|s| 128 + s)),
            code,
            signal,
        }),
        Restart::GiveUp { why } => {
            out.push(EngineAction::Log(format!(
                "task {task}: the {} is not restarted: {why}",
                seat.role
            )));
            out.push(EngineAction::NoRestart {
                task,
                token,
                code,
                signal,
            });
        }
    }
}

/// Dead panes whose seat still has a process: the wrapper reports an exit before it goes (and
/// the seat's pid is cleared then, or the pane restarted), so a dead pane with a live seat is
/// one whose wrapper died unheard. Its orphaned agent is ended and the exit handled as the
/// wrapper would have reported it; a dead pane whose exit was reported is left alone.
fn panes_exited(
    state: &EngineState,
    exited: &[(String, Option<i32>, Option<i32>)],
    out: &mut Vec<EngineAction>,
) {
    for (task, pair) in &state.pairs {
        for seat in &pair.seats {
            let Some((_, code, signal)) = exited.iter().find(|(p, _, _)| *p == seat.pane) else {
                continue;
            };
            let Some(pid) = seat.pid else {
                continue;
            };
            out.push(EngineAction::Note {
                task: task.clone(),
                text: format!(
                    "the {}'s pane died without its wrapper reporting the agent's exit \
                     (duet exec-agent was killed)",
                    seat.role
                ),
            });
            out.push(EngineAction::EndProcess { pid });
            agent_exited(state, task.clone(), seat.token.clone(), *code, *signal, out);
        }
    }
}

/// The human's pause, resume, answer or cancel of a task no pair works on: only its place in
/// the queue changes (`transition_unpaired`); out of the merge queue if it was in it; then what
/// can start starts. A say, or a move the state does not allow, is refused with why.
fn human_asked(state: &mut EngineState, task: &str, ask: HumanAsk, out: &mut Vec<EngineAction>) {
    let Some(from) = stored(state, task) else {
        out.push(EngineAction::Refuse(format!("unknown task `{task}`")));
        return;
    };
    let event = match ask {
        HumanAsk::Pause => Some(LifecycleEvent::Pause),
        HumanAsk::Resume => Some(LifecycleEvent::Resume),
        HumanAsk::Answer => Some(LifecycleEvent::HumanAnswered),
        HumanAsk::Cancel => Some(LifecycleEvent::Cancel),
        HumanAsk::Say => None,
    };
    match event.map(|event| transition_unpaired(from, &event)) {
        Some(Ok(to)) => {
            if let Some(facts) = task_mut(state, task) {
                facts.stored = Some(to);
            }
            out.push(EngineAction::SetState {
                task: task.to_string(),
                from,
                to,
                reason: "by the human".into(),
                shown: to.to_string(),
            });
            if matches!(from, StateKind::Ready | StateKind::Merging) {
                out.push(EngineAction::Withdraw {
                    task: task.to_string(),
                });
            }
            out.push(EngineAction::Ack);
            schedule(state, out);
        }
        refused => {
            let what = match ask {
                HumanAsk::Say => "say something to",
                HumanAsk::Answer => "answer",
                HumanAsk::Pause => "pause",
                HumanAsk::Resume => "resume",
                HumanAsk::Cancel => "cancel",
            };
            let why = refused
                .and_then(Result::err)
                .map(|refused| format!(" ({})", refused.why))
                .unwrap_or_default();
            out.push(EngineAction::Refuse(format!(
                "cannot {what} task `{task}`: it is {from} and no pair is working on it{why}"
            )));
        }
    }
}

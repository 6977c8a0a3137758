//! Task lifecycle: the [`TaskState`] machine and its [`transition`] function (pure, no IO).
//!
//! ```text
//! queued → preparing → working ⇄ reviewing → done
//!             ↑           │  ↑       │
//!             │           ↓  │       ↓
//!             │         needs-human (remembers whether to go back to working or reviewing)
//!             │
//!             │    the merge queue:  done → merging → merged      (merge.auto)
//!             │                      done → ready → merging        (`duet merge`)
//!             └──── sent back ─────  merging   (conflict / CI failed on the candidate)
//!                   repeatedly:      merging → needs-human
//! any live state → failed | cancelled;  queued/preparing/working/reviewing ⇄ paused
//! ```
//!
//! With the merge queue off (`duet pair`, `merge.mode = "pr"`), `done` is where a task ends.
//! With it on, `done` is a moment: the queue takes the task (`merging`, or `ready` until the
//! human says `duet merge`), and `merged` is the end. `Done` stays terminal for every other
//! event, so code that treats it as finished keeps doing so.
//!
//! - [`TaskState`]: where a task is. `Display`/`FromStr` use kebab-case names, with the payload
//!   after a colon: `needs-human: <reason>` (resumes to working), `needs-human(reviewing): <reason>`,
//!   `failed: <reason>`, `paused: working`.
//! - [`StateKind`]: the payload-free name of a state (`needs-human`), for filters and columns.
//! - [`LifecycleEvent`]: what can happen to a task; [`transition`] answers the next state or an
//!   [`IllegalTransition`] saying why not. `Done`, `Failed` and `Cancelled` are terminal.
//! - [`scheduler`]: which queued tasks start next.
//! - [`merge_queue`]: which finished task lands next, and what each outcome leads to.
//! - [`unpaired`]: the same moves for a task no pair works on (its stored state only).

pub mod merge_queue;
pub mod scheduler;
pub mod unpaired;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a task is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum TaskState {
    /// In the backlog, waiting for its dependencies and a free slot.
    Queued,
    /// Branch, worktree and agents are being set up.
    Preparing,
    /// The worker has the turn.
    Working,
    /// A review was requested and the reviewer has the turn.
    Reviewing,
    /// The reviewer approved HEAD and the worker declared it done.
    Done,
    /// Done, waiting for `duet merge` (`merge.auto = false`).
    Ready,
    /// In the merge queue: waiting its turn, or its candidate is being built, tested, landed.
    Merging,
    /// Landed on the base.
    Merged,
    /// Stopped until the human answers; goes back to `resume_to` afterwards.
    NeedsHuman {
        reason: String,
        resume_to: PairPhase,
    },
    /// Stopped for good by an error.
    Failed { reason: String },
    /// Stopped for good by the human.
    Cancelled,
    /// Held by the human; `resume` goes back to `resume_to`.
    Paused { resume_to: Pausable },
}

/// The two phases a pair alternates between; where a `needs-human` task goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairPhase {
    Working,
    Reviewing,
}

/// The states the human can pause (and that a paused task resumes to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pausable {
    Queued,
    Preparing,
    Working,
    Reviewing,
}

/// The name of a state without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateKind {
    Queued,
    Preparing,
    Working,
    Reviewing,
    Done,
    Ready,
    Merging,
    Merged,
    NeedsHuman,
    Failed,
    Cancelled,
    Paused,
}

/// Something that happens to a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum LifecycleEvent {
    /// The scheduler picked the task.
    Start,
    /// Branch, worktree and agents are ready.
    Prepared,
    /// The worker called `request_review` (accepted).
    ReviewRequested,
    /// The reviewer called `submit_review` (accepted), whatever the verdict.
    ReviewSubmitted,
    /// The worker called `mark_done` and every condition held.
    DoneAccepted,
    /// Stall, loop, question, max rounds...: the human is needed.
    Escalate { reason: String },
    /// The human answered; the pair goes on.
    HumanAnswered,
    /// The human paused the task.
    Pause,
    /// The human resumed the task.
    Resume,
    /// The human cancelled the task.
    Cancel,
    /// Something broke that the pair cannot fix.
    Fail { reason: String },
    /// The merge queue keeps a done task for `duet merge` (`merge.auto = false`).
    AwaitMerge,
    /// The task entered the merge queue (done with `merge.auto`, or `duet merge`).
    MergeQueued,
    /// Its candidate landed on the base.
    Landed,
    /// Its candidate conflicted or failed CI: back to its pair, which is set up again.
    SentBack,
}

/// Why an event does not apply to a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("failed to apply `{event}` to a task that is {state}: {why}")]
pub struct IllegalTransition {
    pub state: StateKind,
    pub event: String,
    pub why: String,
}

impl TaskState {
    /// The payload-free name of this state.
    pub fn kind(&self) -> StateKind {
        match self {
            TaskState::Queued => StateKind::Queued,
            TaskState::Preparing => StateKind::Preparing,
            TaskState::Working => StateKind::Working,
            TaskState::Reviewing => StateKind::Reviewing,
            TaskState::Done => StateKind::Done,
            TaskState::Ready => StateKind::Ready,
            TaskState::Merging => StateKind::Merging,
            TaskState::Merged => StateKind::Merged,
            TaskState::NeedsHuman { .. } => StateKind::NeedsHuman,
            TaskState::Failed { .. } => StateKind::Failed,
            TaskState::Cancelled => StateKind::Cancelled,
            TaskState::Paused { .. } => StateKind::Paused,
        }
    }

    /// A task in this state will never change again.
    pub fn is_terminal(&self) -> bool {
        self.kind().is_terminal()
    }

    /// The task is stopped until the human answers.
    pub fn needs_human(reason: impl Into<String>, resume_to: PairPhase) -> Self {
        TaskState::NeedsHuman {
            reason: reason.into(),
            resume_to,
        }
    }

    /// The pair phase this state is in, if the pair is actively running.
    pub fn phase(&self) -> Option<PairPhase> {
        match self {
            TaskState::Working => Some(PairPhase::Working),
            TaskState::Reviewing => Some(PairPhase::Reviewing),
            _ => None,
        }
    }
}

impl StateKind {
    pub const ALL: [StateKind; 12] = [
        StateKind::Queued,
        StateKind::Preparing,
        StateKind::Working,
        StateKind::Reviewing,
        StateKind::Done,
        StateKind::Ready,
        StateKind::Merging,
        StateKind::Merged,
        StateKind::NeedsHuman,
        StateKind::Failed,
        StateKind::Cancelled,
        StateKind::Paused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Queued => "queued",
            StateKind::Preparing => "preparing",
            StateKind::Working => "working",
            StateKind::Reviewing => "reviewing",
            StateKind::Done => "done",
            StateKind::Ready => "ready",
            StateKind::Merging => "merging",
            StateKind::Merged => "merged",
            StateKind::NeedsHuman => "needs-human",
            StateKind::Failed => "failed",
            StateKind::Cancelled => "cancelled",
            StateKind::Paused => "paused",
        }
    }

    /// Done (see the module docs: the merge queue may still take it), merged, failed, cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StateKind::Done | StateKind::Merged | StateKind::Failed | StateKind::Cancelled
        )
    }

    /// The task's work is finished and approved: done, or ready / merging / merged after it.
    pub fn is_done_or_later(self) -> bool {
        matches!(
            self,
            StateKind::Done | StateKind::Ready | StateKind::Merging | StateKind::Merged
        )
    }

    /// The task holds a slot (worktree, agents) that counts against `max_parallel`.
    pub fn occupies_slot(self) -> bool {
        matches!(
            self,
            StateKind::Preparing
                | StateKind::Working
                | StateKind::Reviewing
                | StateKind::NeedsHuman
        )
    }
}

impl PairPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            PairPhase::Working => "working",
            PairPhase::Reviewing => "reviewing",
        }
    }

    pub fn state(self) -> TaskState {
        match self {
            PairPhase::Working => TaskState::Working,
            PairPhase::Reviewing => TaskState::Reviewing,
        }
    }
}

impl Pausable {
    pub fn as_str(self) -> &'static str {
        match self {
            Pausable::Queued => "queued",
            Pausable::Preparing => "preparing",
            Pausable::Working => "working",
            Pausable::Reviewing => "reviewing",
        }
    }

    pub fn state(self) -> TaskState {
        match self {
            Pausable::Queued => TaskState::Queued,
            Pausable::Preparing => TaskState::Preparing,
            Pausable::Working => TaskState::Working,
            Pausable::Reviewing => TaskState::Reviewing,
        }
    }
}

impl LifecycleEvent {
    /// The kebab-case name of the event, used in messages.
    pub fn name(&self) -> &'static str {
        match self {
            LifecycleEvent::Start => "start",
            LifecycleEvent::Prepared => "prepared",
            LifecycleEvent::ReviewRequested => "review-requested",
            LifecycleEvent::ReviewSubmitted => "review-submitted",
            LifecycleEvent::DoneAccepted => "done-accepted",
            LifecycleEvent::Escalate { .. } => "escalate",
            LifecycleEvent::HumanAnswered => "human-answered",
            LifecycleEvent::Pause => "pause",
            LifecycleEvent::Resume => "resume",
            LifecycleEvent::Cancel => "cancel",
            LifecycleEvent::Fail { .. } => "fail",
            LifecycleEvent::AwaitMerge => "await-merge",
            LifecycleEvent::MergeQueued => "merge-queued",
            LifecycleEvent::Landed => "landed",
            LifecycleEvent::SentBack => "sent-back",
        }
    }
}

/// The state after `event` happens in `state`, or why it cannot happen.
pub fn transition(
    state: &TaskState,
    event: &LifecycleEvent,
) -> Result<TaskState, IllegalTransition> {
    use LifecycleEvent as E;
    use TaskState as S;
    let illegal = |why: &str| IllegalTransition {
        state: state.kind(),
        event: event.name().to_owned(),
        why: why.to_owned(),
    };
    // The one way out of `done`: the merge queue taking it.
    match (state, event) {
        (S::Done, E::AwaitMerge) => return Ok(S::Ready),
        (S::Done, E::MergeQueued) => return Ok(S::Merging),
        _ => {}
    }
    if state.is_terminal() {
        return Err(illegal("the task has finished"));
    }
    match (state, event) {
        (_, E::Cancel) => Ok(S::Cancelled),
        (_, E::Fail { reason }) => Ok(S::Failed {
            reason: reason.clone(),
        }),

        (S::Queued, E::Start) => Ok(S::Preparing),
        (_, E::Start) => Err(illegal("only a queued task can start")),

        (S::Preparing, E::Prepared) => Ok(S::Working),
        (_, E::Prepared) => Err(illegal("only a preparing task can become prepared")),

        (S::Working, E::ReviewRequested) => Ok(S::Reviewing),
        (S::Reviewing, E::ReviewRequested) => Err(illegal("a review is already in progress")),
        (_, E::ReviewRequested) => Err(illegal("a review can be requested only while working")),

        (S::Reviewing, E::ReviewSubmitted) => Ok(S::Working),
        (_, E::ReviewSubmitted) => Err(illegal("no review was requested")),

        (S::Working, E::DoneAccepted) => Ok(S::Done),
        (_, E::DoneAccepted) => Err(illegal("only a working task can be marked done")),

        (S::Working, E::Escalate { reason }) => {
            Ok(S::needs_human(reason.clone(), PairPhase::Working))
        }
        (S::Reviewing, E::Escalate { reason }) => {
            Ok(S::needs_human(reason.clone(), PairPhase::Reviewing))
        }
        // Conflicting again and again in the queue: the human, then the pair goes on.
        (S::Merging, E::Escalate { reason }) => {
            Ok(S::needs_human(reason.clone(), PairPhase::Working))
        }
        (S::NeedsHuman { .. }, E::Escalate { .. }) => {
            Err(illegal("the task already waits for the human"))
        }
        (_, E::Escalate { .. }) => Err(illegal("only a running pair can need the human")),

        (S::NeedsHuman { resume_to, .. }, E::HumanAnswered) => Ok(resume_to.state()),
        (_, E::HumanAnswered) => Err(illegal("the task was not waiting for the human")),

        (S::Queued, E::Pause) => Ok(S::Paused {
            resume_to: Pausable::Queued,
        }),
        (S::Preparing, E::Pause) => Ok(S::Paused {
            resume_to: Pausable::Preparing,
        }),
        (S::Working, E::Pause) => Ok(S::Paused {
            resume_to: Pausable::Working,
        }),
        (S::Reviewing, E::Pause) => Ok(S::Paused {
            resume_to: Pausable::Reviewing,
        }),
        (S::Paused { .. }, E::Pause) => Err(illegal("the task is already paused")),
        (S::Ready | S::Merging, E::Pause) => Err(illegal(
            "the pair's work is finished; cancel it, or for a ready task just do not merge it",
        )),
        (_, E::Pause) => Err(illegal(
            "a task waiting for the human is already stopped; answer it instead",
        )),

        (S::Paused { resume_to }, E::Resume) => Ok(resume_to.state()),
        // `duet resume` on a task that waits for the human (a used-up budget, say): the pair
        // goes on where it was, with nothing said to it.
        (S::NeedsHuman { resume_to, .. }, E::Resume) => Ok(resume_to.state()),
        (_, E::Resume) => Err(illegal("the task is not paused")),

        (_, E::AwaitMerge) => Err(illegal("only a done task can wait to be merged")),
        (S::Ready, E::MergeQueued) => Ok(S::Merging),
        (S::Merging, E::MergeQueued) => Err(illegal("the task is already in the merge queue")),
        (_, E::MergeQueued) => Err(illegal("only a done or ready task can be merged")),
        (S::Merging, E::Landed) => Ok(S::Merged),
        (_, E::Landed) => Err(illegal("only a task in the merge queue can land")),
        (S::Merging, E::SentBack) => Ok(S::Preparing),
        (_, E::SentBack) => Err(illegal("only a task in the merge queue can be sent back")),
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for PairPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Pausable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskState::NeedsHuman {
                reason,
                resume_to: PairPhase::Working,
            } => {
                write!(f, "needs-human: {reason}")
            }
            TaskState::NeedsHuman { reason, resume_to } => {
                write!(f, "needs-human({resume_to}): {reason}")
            }
            TaskState::Failed { reason } => write!(f, "failed: {reason}"),
            TaskState::Paused { resume_to } => write!(f, "paused: {resume_to}"),
            other => f.write_str(other.kind().as_str()),
        }
    }
}

/// Why a string is not a task state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to parse task state {input:?}: {why}")]
pub struct ParseStateError {
    pub input: String,
    pub why: String,
}

fn parse_error(input: &str, why: impl Into<String>) -> ParseStateError {
    ParseStateError {
        input: input.to_owned(),
        why: why.into(),
    }
}

const STATE_NAMES: &str = "expected one of queued, preparing, working, reviewing, done, ready, merging, merged, needs-human, failed, cancelled, paused";

impl FromStr for StateKind {
    type Err = ParseStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StateKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s.trim())
            .ok_or_else(|| parse_error(s, STATE_NAMES))
    }
}

impl FromStr for TaskState {
    type Err = ParseStateError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let (head, payload) = match input.split_once(':') {
            Some((head, payload)) => (head.trim(), Some(payload.trim())),
            None => (input.trim(), None),
        };
        // `needs-human(reviewing)` carries the phase to resume to in parentheses.
        let (name, phase) = match head.split_once('(') {
            Some((name, rest)) => {
                let phase = rest
                    .strip_suffix(')')
                    .ok_or_else(|| parse_error(input, "missing `)` after the phase"))?;
                (name, Some(phase))
            }
            None => (head, None),
        };
        let kind: StateKind = name.parse().map_err(|_| parse_error(input, STATE_NAMES))?;
        if phase.is_some() && kind != StateKind::NeedsHuman {
            return Err(parse_error(
                input,
                "only needs-human takes a phase in parentheses",
            ));
        }
        let needs_payload = matches!(
            kind,
            StateKind::NeedsHuman | StateKind::Failed | StateKind::Paused
        );
        match (needs_payload, payload) {
            (false, Some(_)) => {
                return Err(parse_error(
                    input,
                    format!("{kind} takes nothing after `:`"),
                ));
            }
            (true, None) | (true, Some("")) => {
                let example = match kind {
                    StateKind::Paused => "paused: working",
                    StateKind::Failed => "failed: <reason>",
                    _ => "needs-human: <reason>",
                };
                return Err(parse_error(
                    input,
                    format!("{kind} needs a payload, e.g. `{example}`"),
                ));
            }
            _ => {}
        }
        let payload = payload.unwrap_or_default().to_owned();
        Ok(match kind {
            StateKind::Queued => TaskState::Queued,
            StateKind::Preparing => TaskState::Preparing,
            StateKind::Working => TaskState::Working,
            StateKind::Reviewing => TaskState::Reviewing,
            StateKind::Done => TaskState::Done,
            StateKind::Ready => TaskState::Ready,
            StateKind::Merging => TaskState::Merging,
            StateKind::Merged => TaskState::Merged,
            StateKind::Cancelled => TaskState::Cancelled,
            StateKind::Failed => TaskState::Failed { reason: payload },
            StateKind::NeedsHuman => {
                let resume_to = match phase {
                    None | Some("working") => PairPhase::Working,
                    Some("reviewing") => PairPhase::Reviewing,
                    Some(_) => {
                        return Err(parse_error(input, "the phase must be working or reviewing"));
                    }
                };
                TaskState::NeedsHuman {
                    reason: payload,
                    resume_to,
                }
            }
            StateKind::Paused => {
                let resume_to = match payload.as_str() {
                    "queued" => Pausable::Queued,
                    "preparing" => Pausable::Preparing,
                    "working" => Pausable::Working,
                    "reviewing" => Pausable::Reviewing,
                    _ => {
                        return Err(parse_error(
                            input,
                            "a paused task resumes to queued, preparing, working or reviewing",
                        ));
                    }
                };
                TaskState::Paused { resume_to }
            }
        })
    }
}

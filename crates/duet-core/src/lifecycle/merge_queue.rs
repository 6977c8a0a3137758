//! The merge queue's decisions (pure, no IO): which finished task lands next, one candidate at
//! a time, and what to do with each outcome. `handle(&mut QueueState, QueueEvent) ->
//! Vec<QueueEffect>`; the edge (the engine, with `duet_git::land`) carries the effects out and
//! reports back as events.
//!
//! The rule: **the base only ever moves to a commit that passed.** A task enters the queue when
//! it is done (`merge.auto`) or when the human says `duet merge`; the next entry (its
//! dependencies merged, then highest priority, then earliest finished) gets a candidate built
//! on the newest base; with CI configured the candidate is tested; then the base is advanced
//! to exactly that commit by compare-and-swap. A base that moved meanwhile means a rebuild; a
//! dirty checkout of the base holds the queue; a conflict or a CI failure on the candidate
//! sends the task back to its pair with what to do, and the same failure
//! `stall.repeat_limit` times asks the human instead.
//!
//! The state is plain data (serde), so the engine can keep it with its snapshot; after a
//! restart [`resume`] re-issues the step that was under way (every step is safe to repeat:
//! building writes only objects, the base move is a compare-and-swap).

mod texts;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::LifecycleEvent;
use texts::{ci_failure_text, common, conflict_text, hold_reason, list, quoted, short, titled};

/// What the queue is told about the repository and the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// `merge.auto`: done tasks enter the queue by themselves.
    pub auto: bool,
    /// `ci.command` is set: each candidate is tested before the base moves.
    pub ci: bool,
    /// `stall.repeat_limit`: the same failure this many times goes to the human.
    pub repeat_limit: u32,
    /// The base branch's name, for the texts.
    pub base: String,
}

/// A finished task, as the queue needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub task_id: String,
    pub title: String,
    /// Higher lands first.
    pub priority: i64,
    pub depends_on: Vec<String>,
}

/// A candidate commit and the base tip it was built on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateRef {
    pub sha: String,
    pub base_sha: String,
    /// The task branch's tip it was built from (cleanup checks the branch against it).
    pub source_sha: String,
}

/// Where the current entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    Building,
    Testing { candidate: CandidateRef },
    Advancing { candidate: CandidateRef },
}

/// Why the queue does not go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "hold", rename_all = "kebab-case")]
pub enum Hold {
    /// A checkout of the base has uncommitted changes the move would overwrite.
    CheckoutDirty {
        task_id: String,
        path: String,
        files: Vec<String>,
    },
    /// A step failed (a git error): retried on `duet merge`.
    StepFailed { task_id: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    info: TaskInfo,
    /// Arrival order (finish time): the last tie-breaker.
    seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Current {
    task_id: String,
    step: Step,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LastLanded {
    task_id: String,
    title: String,
    sha: String,
    files: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Bounces {
    conflicts: u32,
    ci_failures: u32,
}

/// Everything the queue remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueState {
    config: QueueConfig,
    /// Done, waiting for `duet merge` (`merge.auto = false`), in finish order.
    ready: Vec<Entry>,
    /// In the queue, in arrival order (the current one included).
    entries: Vec<Entry>,
    current: Option<Current>,
    hold: Option<Hold>,
    /// Landed tasks (seeded with those merged before this queue existed).
    merged: BTreeSet<String>,
    last_landed: Option<LastLanded>,
    bounces: BTreeMap<String, Bounces>,
    next_seq: u64,
}

/// A pair still at work, and the files its branch changes (for the base-moved warning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingBranch {
    pub task_id: String,
    pub changed_files: Vec<String>,
}

/// What happens, as the edge reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum QueueEvent {
    /// The task is done: approved at HEAD (and CI green at HEAD when CI is set).
    TaskDone(TaskInfo),
    /// `duet merge TASK` (`Some`) or `duet merge --all` (`None`).
    MergeRequested {
        task_id: Option<String>,
    },
    CandidateBuilt {
        task_id: String,
        candidate: CandidateRef,
        /// Commits the base would gain; 0 = the base already has the whole change.
        commits: usize,
    },
    CandidateConflict {
        task_id: String,
        files: Vec<String>,
        base_sha: String,
    },
    CiPassed {
        task_id: String,
        sha: String,
    },
    CiFailed {
        task_id: String,
        sha: String,
        excerpt: String,
    },
    /// The base moved to the candidate. `landed_files`: what the move changed; `working`:
    /// the pairs still at work and what their branches change.
    BaseAdvanced {
        task_id: String,
        sha: String,
        landed_files: Vec<String>,
        working: Vec<WorkingBranch>,
    },
    /// The compare-and-swap found the base elsewhere (`now`).
    BaseMoved {
        task_id: String,
        now: String,
    },
    CheckoutDirty {
        task_id: String,
        path: String,
        files: Vec<String>,
    },
    /// The checkout that held the queue may be clean now: the edge sends this on its tick while
    /// [`QueueState::held_for_checkout`]; the move is tried again (the hold is released when it
    /// succeeds, and a checkout still dirty is not announced again).
    CheckoutClean,
    /// A step failed for a reason no retry by itself would fix (a git error).
    StepFailed {
        task_id: String,
        message: String,
    },
    /// The task was cancelled: out of the queue.
    Withdrawn {
        task_id: String,
    },
}

/// What the edge must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum QueueEffect {
    /// Apply this lifecycle event to the task (`AwaitMerge`, `MergeQueued`, `Landed`,
    /// `SentBack`, `Escalate`).
    Transition {
        task_id: String,
        event: LifecycleEvent,
    },
    /// Build the task's candidate on the newest base (`duet_git::land::build_candidate`).
    BuildCandidate { task_id: String },
    /// Run `ci.command` on the candidate (checked out in a scratch worktree).
    RunCi { task_id: String, sha: String },
    /// `duet_git::land::advance_base(base, expected_old, new)`.
    AdvanceBase {
        task_id: String,
        expected_old: String,
        new: String,
    },
    /// Wake the task's pair (it was `SentBack`) with this message for the worker.
    SendBack { task_id: String, text: String },
    /// After landing: end its session, remove its worktree, delete its branch (per config).
    CleanUp { task_id: String, source_sha: String },
    /// A message into a pair still at work (the base moved).
    TellPair { task_id: String, text: String },
    /// Tell the human (notify, status).
    TellHuman { text: String },
    /// The queue stops until the reason goes away; show it in `duet status`.
    Held { reason: String },
    /// The hold is over.
    Released,
    /// Answer to a `duet merge` that cannot be done.
    Refuse {
        task_id: Option<String>,
        why: String,
    },
}

/// A line of `duet status` for a task the queue knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRow {
    pub task_id: String,
    /// 1 = being landed now; `None` for ready tasks (not in the queue).
    pub position: Option<usize>,
    pub what: String,
}

impl QueueState {
    /// An empty queue; `merged` are tasks already on the base (their dependents may land).
    pub fn new(config: QueueConfig, merged: impl IntoIterator<Item = String>) -> Self {
        Self {
            config,
            ready: Vec::new(),
            entries: Vec::new(),
            current: None,
            hold: None,
            merged: merged.into_iter().collect(),
            last_landed: None,
            bounces: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// The config may change between runs (`merge.auto`, `ci.command`); the queue keeps its
    /// entries and takes the new settings.
    pub fn set_config(&mut self, config: QueueConfig) {
        self.config = config;
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    pub fn hold(&self) -> Option<&Hold> {
        self.hold.as_ref()
    }

    /// The task being landed now, and its step.
    pub fn current(&self) -> Option<(&str, &Step)> {
        self.current
            .as_ref()
            .map(|current| (current.task_id.as_str(), &current.step))
    }

    /// Whether the queue waits for a dirty checkout (the edge then re-checks it on its tick
    /// and sends [`QueueEvent::CheckoutClean`] once it is clean).
    pub fn held_for_checkout(&self) -> bool {
        matches!(self.hold, Some(Hold::CheckoutDirty { .. }))
    }

    pub fn is_merged(&self, task_id: &str) -> bool {
        self.merged.contains(task_id)
    }

    /// The queue in landing order (current first), then the ready tasks.
    pub fn rows(&self) -> Vec<QueueRow> {
        let mut rows = Vec::new();
        for (index, entry) in self.in_order().into_iter().enumerate() {
            let id = &entry.info.task_id;
            let what = match &self.current {
                Some(current) if &current.task_id == id => match (&self.hold, &current.step) {
                    (Some(hold), _) => format!("held: {}", hold_reason(hold, &self.config)),
                    (None, Step::Building) => "building its candidate".to_owned(),
                    (None, Step::Testing { candidate }) => {
                        format!("CI on candidate {}", short(&candidate.sha))
                    }
                    (None, Step::Advancing { candidate }) => {
                        format!("landing {}", short(&candidate.sha))
                    }
                },
                _ => {
                    let waits: Vec<&str> = self.unmerged_deps(entry).collect();
                    if waits.is_empty() {
                        "waiting its turn".to_owned()
                    } else {
                        format!("waits for {} to land", quoted(&waits))
                    }
                }
            };
            rows.push(QueueRow {
                task_id: id.clone(),
                position: Some(index + 1),
                what,
            });
        }
        for entry in &self.ready {
            rows.push(QueueRow {
                task_id: entry.info.task_id.clone(),
                position: None,
                what: format!("ready: `duet merge {}` lands it", entry.info.task_id),
            });
        }
        rows
    }

    /// The entries in landing order: the current one, then the eligible ones (dependencies
    /// merged) by priority and finish order, then those still waiting for a dependency.
    fn in_order(&self) -> Vec<&Entry> {
        let current = self.current.as_ref().map(|c| c.task_id.as_str());
        let mut rest: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|entry| Some(entry.info.task_id.as_str()) != current)
            .collect();
        rest.sort_by_key(|entry| {
            (
                self.unmerged_deps(entry).next().is_some(),
                std::cmp::Reverse(entry.info.priority),
                entry.seq,
            )
        });
        let mut order: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|entry| Some(entry.info.task_id.as_str()) == current)
            .collect();
        order.extend(rest);
        order
    }

    fn unmerged_deps<'a>(&'a self, entry: &'a Entry) -> impl Iterator<Item = &'a str> + 'a {
        entry
            .info
            .depends_on
            .iter()
            .filter(|dep| !self.merged.contains(dep.as_str()))
            .map(String::as_str)
    }

    fn is_known(&self, task_id: &str) -> bool {
        self.merged.contains(task_id)
            || self.entries.iter().any(|e| e.info.task_id == task_id)
            || self.ready.iter().any(|e| e.info.task_id == task_id)
    }

    fn enqueue(&mut self, info: TaskInfo, effects: &mut Vec<QueueEffect>) {
        effects.push(QueueEffect::Transition {
            task_id: info.task_id.clone(),
            event: LifecycleEvent::MergeQueued,
        });
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push(Entry { info, seq });
    }

    /// Starts the next eligible entry when nothing is under way and nothing holds the queue.
    fn pump(&mut self, effects: &mut Vec<QueueEffect>) {
        if self.current.is_some() || self.hold.is_some() {
            return;
        }
        let next = self
            .in_order()
            .into_iter()
            .find(|entry| self.unmerged_deps(entry).next().is_none())
            .map(|entry| entry.info.task_id.clone());
        if let Some(task_id) = next {
            effects.push(QueueEffect::BuildCandidate {
                task_id: task_id.clone(),
            });
            self.current = Some(Current {
                task_id,
                step: Step::Building,
            });
        }
    }

    /// The current entry's step, if `task_id` is the current entry.
    fn step_of(&self, task_id: &str) -> Option<&Step> {
        self.current
            .as_ref()
            .filter(|current| current.task_id == task_id)
            .map(|current| &current.step)
    }

    fn set_step(&mut self, step: Step) {
        if let Some(current) = &mut self.current {
            current.step = step;
        }
    }

    fn title_of(&self, task_id: &str) -> String {
        self.entries
            .iter()
            .find(|e| e.info.task_id == task_id)
            .map(|e| e.info.title.clone())
            .unwrap_or_default()
    }

    /// Takes the current entry out of the queue (landed, sent back or withdrawn).
    fn finish_current(&mut self, task_id: &str) {
        self.entries.retain(|e| e.info.task_id != task_id);
        if self.current.as_ref().is_some_and(|c| c.task_id == task_id) {
            self.current = None;
            self.hold = None;
        }
    }
}

/// Applies one event; returns what the edge must do, in order.
pub fn handle(state: &mut QueueState, event: QueueEvent) -> Vec<QueueEffect> {
    let mut effects = Vec::new();
    match event {
        QueueEvent::TaskDone(info) => {
            if state.is_known(&info.task_id) {
                return effects;
            }
            if state.config.auto {
                state.enqueue(info, &mut effects);
            } else {
                effects.push(QueueEffect::Transition {
                    task_id: info.task_id.clone(),
                    event: LifecycleEvent::AwaitMerge,
                });
                let seq = state.next_seq;
                state.next_seq += 1;
                state.ready.push(Entry { info, seq });
            }
        }
        QueueEvent::MergeRequested { task_id } => {
            merge_requested(state, task_id, &mut effects);
        }
        QueueEvent::CandidateBuilt {
            task_id,
            candidate,
            commits,
        } => {
            if state.step_of(&task_id) != Some(&Step::Building) {
                return effects;
            }
            if commits == 0 || candidate.sha == candidate.base_sha {
                // The base already holds the whole change: nothing to test or move.
                landed(
                    state,
                    &task_id,
                    &candidate,
                    Vec::new(),
                    Vec::new(),
                    &mut effects,
                );
            } else if state.config.ci {
                effects.push(QueueEffect::RunCi {
                    task_id,
                    sha: candidate.sha.clone(),
                });
                state.set_step(Step::Testing { candidate });
            } else {
                advance(&task_id, &candidate, &mut effects);
                state.set_step(Step::Advancing { candidate });
            }
        }
        QueueEvent::CandidateConflict {
            task_id,
            files,
            base_sha,
        } => {
            if state.step_of(&task_id) != Some(&Step::Building) {
                return effects;
            }
            let count = {
                let bounces = state.bounces.entry(task_id.clone()).or_default();
                bounces.conflicts += 1;
                bounces.conflicts
            };
            let text = conflict_text(state, &files, &base_sha);
            bounce(
                state,
                &task_id,
                count,
                "conflicted with",
                text,
                &mut effects,
            );
        }
        QueueEvent::CiPassed { task_id, sha } => {
            if let Some(Step::Testing { candidate }) = state.step_of(&task_id).cloned()
                && candidate.sha == sha
            {
                advance(&task_id, &candidate, &mut effects);
                state.set_step(Step::Advancing { candidate });
            }
        }
        QueueEvent::CiFailed {
            task_id,
            sha,
            excerpt,
        } => {
            if let Some(Step::Testing { candidate }) = state.step_of(&task_id).cloned()
                && candidate.sha == sha
            {
                let count = {
                    let bounces = state.bounces.entry(task_id.clone()).or_default();
                    bounces.ci_failures += 1;
                    bounces.ci_failures
                };
                let text = ci_failure_text(&state.config, &candidate, &excerpt);
                bounce(
                    state,
                    &task_id,
                    count,
                    "failed CI after rebase onto",
                    text,
                    &mut effects,
                );
            }
        }
        QueueEvent::BaseAdvanced {
            task_id,
            sha,
            landed_files,
            working,
        } => {
            if let Some(Step::Advancing { candidate }) = state.step_of(&task_id).cloned()
                && candidate.sha == sha
            {
                landed(
                    state,
                    &task_id,
                    &candidate,
                    landed_files,
                    working,
                    &mut effects,
                );
            }
        }
        QueueEvent::BaseMoved { task_id, now } => {
            if let Some(Step::Advancing { candidate }) = state.step_of(&task_id).cloned() {
                if now == candidate.sha {
                    // Moved before a crash, the report lost: it did land.
                    landed(
                        state,
                        &task_id,
                        &candidate,
                        Vec::new(),
                        Vec::new(),
                        &mut effects,
                    );
                } else {
                    // Someone committed on the base: build again on top of their commit.
                    if state.held_for_checkout() {
                        state.hold = None;
                        effects.push(QueueEffect::Released);
                    }
                    state.set_step(Step::Building);
                    effects.push(QueueEffect::BuildCandidate { task_id });
                }
            }
        }
        QueueEvent::CheckoutDirty {
            task_id,
            path,
            files,
        } => {
            if !matches!(state.step_of(&task_id), Some(Step::Advancing { .. })) {
                return effects;
            }
            let hold = Hold::CheckoutDirty {
                task_id,
                path,
                files,
            };
            if state.hold.as_ref() != Some(&hold) {
                let reason = hold_reason(&hold, &state.config);
                effects.push(QueueEffect::Held {
                    reason: reason.clone(),
                });
                effects.push(QueueEffect::TellHuman {
                    text: format!("The merge queue is held: {reason}."),
                });
                state.hold = Some(hold);
            }
        }
        QueueEvent::CheckoutClean => {
            // Try the move again; the hold stays until it succeeds, so a checkout that is
            // still dirty is not announced twice.
            if state.held_for_checkout()
                && let Some(current) = &state.current
                && let Step::Advancing { candidate } = &current.step
            {
                advance(&current.task_id, candidate, &mut effects);
            }
        }
        QueueEvent::StepFailed { task_id, message } => {
            if state.step_of(&task_id).is_none() {
                return effects;
            }
            let hold = Hold::StepFailed { task_id, message };
            let reason = hold_reason(&hold, &state.config);
            effects.push(QueueEffect::Held {
                reason: reason.clone(),
            });
            effects.push(QueueEffect::TellHuman {
                text: format!("The merge queue is held: {reason}."),
            });
            state.hold = Some(hold);
        }
        QueueEvent::Withdrawn { task_id } => {
            state.ready.retain(|e| e.info.task_id != task_id);
            let was_held = state.step_of(&task_id).is_some() && state.hold.is_some();
            state.finish_current(&task_id);
            if was_held {
                effects.push(QueueEffect::Released);
            }
            state.pump(&mut effects);
            return effects;
        }
    }
    state.pump(&mut effects);
    effects
}

/// After a restart: the step that was under way, again (each is safe to repeat), or the next
/// entry when none was.
pub fn resume(state: &mut QueueState) -> Vec<QueueEffect> {
    let mut effects = Vec::new();
    match (&state.current, &state.hold) {
        (Some(current), None | Some(Hold::CheckoutDirty { .. })) => {
            redo(&current.task_id, &current.step, &mut effects);
        }
        (Some(_), Some(hold)) => effects.push(QueueEffect::Held {
            reason: hold_reason(hold, &state.config),
        }),
        (None, _) => state.pump(&mut effects),
    }
    effects
}

fn redo(task_id: &str, step: &Step, effects: &mut Vec<QueueEffect>) {
    let task_id = task_id.to_owned();
    effects.push(match step {
        Step::Building => QueueEffect::BuildCandidate { task_id },
        Step::Testing { candidate } => QueueEffect::RunCi {
            task_id,
            sha: candidate.sha.clone(),
        },
        Step::Advancing { candidate } => QueueEffect::AdvanceBase {
            task_id,
            expected_old: candidate.base_sha.clone(),
            new: candidate.sha.clone(),
        },
    });
}

fn merge_requested(
    state: &mut QueueState,
    task_id: Option<String>,
    effects: &mut Vec<QueueEffect>,
) {
    // A `duet merge` also retries a step that failed.
    if let Some(Hold::StepFailed { task_id: held, .. }) = &state.hold
        && task_id.as_ref().is_none_or(|id| id == held)
    {
        state.hold = None;
        effects.push(QueueEffect::Released);
        if let Some(current) = &state.current {
            redo(&current.task_id, &current.step, effects);
        }
        if task_id.is_some() {
            return;
        }
    }
    match task_id {
        None => {
            if state.ready.is_empty() && !effects.iter().any(|e| e == &QueueEffect::Released) {
                effects.push(QueueEffect::Refuse {
                    task_id: None,
                    why: "no task is ready to merge".to_owned(),
                });
            }
            for entry in std::mem::take(&mut state.ready) {
                state.enqueue(entry.info, effects);
            }
        }
        Some(id) => {
            if let Some(index) = state.ready.iter().position(|e| e.info.task_id == id) {
                let entry = state.ready.remove(index);
                state.enqueue(entry.info, effects);
            } else {
                let why = if state.merged.contains(&id) {
                    "it is already merged".to_owned()
                } else if let Some(position) =
                    state.in_order().iter().position(|e| e.info.task_id == id)
                {
                    format!(
                        "it is already in the merge queue (position {})",
                        position + 1
                    )
                } else {
                    "it is not done yet: only a done task can be merged".to_owned()
                };
                effects.push(QueueEffect::Refuse {
                    task_id: Some(id),
                    why,
                });
            }
        }
    }
}

fn advance(task_id: &str, candidate: &CandidateRef, effects: &mut Vec<QueueEffect>) {
    effects.push(QueueEffect::AdvanceBase {
        task_id: task_id.to_owned(),
        expected_old: candidate.base_sha.clone(),
        new: candidate.sha.clone(),
    });
}

fn landed(
    state: &mut QueueState,
    task_id: &str,
    candidate: &CandidateRef,
    landed_files: Vec<String>,
    working: Vec<WorkingBranch>,
    effects: &mut Vec<QueueEffect>,
) {
    let title = state.title_of(task_id);
    if state.held_for_checkout() {
        effects.push(QueueEffect::Released);
    }
    state.finish_current(task_id);
    state.merged.insert(task_id.to_owned());
    state.bounces.remove(task_id);
    effects.push(QueueEffect::Transition {
        task_id: task_id.to_owned(),
        event: LifecycleEvent::Landed,
    });
    effects.push(QueueEffect::CleanUp {
        task_id: task_id.to_owned(),
        source_sha: candidate.source_sha.clone(),
    });
    let base = &state.config.base;
    for pair in working.iter().filter(|pair| pair.task_id != task_id) {
        let both = common(&landed_files, &pair.changed_files);
        let mut text = format!(
            "`{base}` moved to {}: task `{task_id}`{} landed.",
            short(&candidate.sha),
            titled(&title)
        );
        if both.is_empty() {
            text.push_str(crate::protocol::delivery::NO_SHARED_FILES);
        } else {
            text.push_str(&format!(
                " It also changes {}, which your branch changes too: expect a conflict when \
                 yours lands. Rebasing onto `{base}` now (`git rebase {base}`) and resolving \
                 it while the change is fresh is cheaper.",
                list(&both)
            ));
        }
        effects.push(QueueEffect::TellPair {
            task_id: pair.task_id.clone(),
            text,
        });
    }
    state.last_landed = Some(LastLanded {
        task_id: task_id.to_owned(),
        title,
        sha: candidate.sha.clone(),
        files: landed_files,
    });
}

/// A conflict or a CI failure: back to the pair, or to the human at the repeat limit.
fn bounce(
    state: &mut QueueState,
    task_id: &str,
    count: u32,
    what: &str,
    text: String,
    effects: &mut Vec<QueueEffect>,
) {
    state.finish_current(task_id);
    if count >= state.config.repeat_limit {
        let reason = format!(
            "{what} `{}` {count} times in the merge queue (stall.repeat_limit = {})",
            state.config.base, state.config.repeat_limit
        );
        effects.push(QueueEffect::Transition {
            task_id: task_id.to_owned(),
            event: LifecycleEvent::Escalate {
                reason: reason.clone(),
            },
        });
        effects.push(QueueEffect::TellHuman {
            text: format!("Task `{task_id}` {reason}. The last time:\n\n{text}"),
        });
    } else {
        effects.push(QueueEffect::Transition {
            task_id: task_id.to_owned(),
            event: LifecycleEvent::SentBack,
        });
        effects.push(QueueEffect::SendBack {
            task_id: task_id.to_owned(),
            text,
        });
    }
}

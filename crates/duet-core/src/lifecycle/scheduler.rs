//! Scheduling decisions: which queued tasks start next ([`next_to_start`]) and why a task waits
//! ([`why_blocked`]). Pure functions over [`TaskView`]s in backlog order.
//!
//! When a dependency counts as satisfied is a [`DependencyRule`]: with the local merge queue
//! (`merge.mode = "local"`) a task starts only once its dependencies are *merged*, so its
//! branch starts from a base that holds their code; without it (`duet pair`, and
//! `merge.mode = "pr"`, where nothing lands locally) a done dependency is enough, as before.
//! The functions without `_with` use [`DependencyRule::Done`].

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::StateKind;

/// What the scheduler needs to know about one task. The slice order is the backlog order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: String,
    /// Higher starts first.
    pub priority: i64,
    pub depends_on: Vec<String>,
    pub state: StateKind,
}

/// When a dependency no longer holds a task back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DependencyRule {
    /// Done, or any state after it (ready, merging, merged).
    #[default]
    Done,
    /// Merged onto the base.
    Merged,
}

impl DependencyRule {
    /// Whether a dependency in `state` is satisfied.
    pub fn satisfied(self, state: StateKind) -> bool {
        match self {
            DependencyRule::Done => state.is_done_or_later(),
            DependencyRule::Merged => state == StateKind::Merged,
        }
    }
}

/// One reason a task does not start now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Blocker {
    /// The task is not queued (it runs, finished or is paused).
    NotQueued { state: StateKind },
    /// A dependency is not done (or, with the merge queue, not merged) yet.
    Dependency { id: String, state: StateKind },
    /// A dependency failed or was cancelled: the task can never start on its own.
    DependencyFailed { id: String, state: StateKind },
    /// A dependency names no task in the backlog.
    MissingDependency { id: String },
    /// All `max_parallel` slots are taken.
    NoFreeSlot { running: usize, max_parallel: usize },
    /// Ready, but tasks before it (by priority, then backlog order) take the free slots.
    WaitingForSlot { ahead: usize },
}

/// Tasks that occupy a slot (preparing, working, reviewing, needs-human).
pub fn count_running(tasks: &[TaskView]) -> usize {
    tasks
        .iter()
        .filter(|task| task.state.occupies_slot())
        .count()
}

/// The queued tasks to start now: dependencies all done, highest priority first, then backlog
/// order, no more than the free slots (`max_parallel - running`).
pub fn next_to_start(tasks: &[TaskView], running: usize, max_parallel: usize) -> Vec<String> {
    next_to_start_with(DependencyRule::Done, tasks, running, max_parallel)
}

/// [`next_to_start`] with dependencies satisfied per `rule`.
pub fn next_to_start_with(
    rule: DependencyRule,
    tasks: &[TaskView],
    running: usize,
    max_parallel: usize,
) -> Vec<String> {
    ready_in_start_order(rule, tasks)
        .into_iter()
        .take(max_parallel.saturating_sub(running))
        .map(|task| task.id.clone())
        .collect()
}

/// Why the task `id` does not start now; empty when [`next_to_start`] would start it, `None`
/// when no task has that id.
pub fn why_blocked(
    id: &str,
    tasks: &[TaskView],
    running: usize,
    max_parallel: usize,
) -> Option<Vec<Blocker>> {
    why_blocked_with(DependencyRule::Done, id, tasks, running, max_parallel)
}

/// [`why_blocked`] with dependencies satisfied per `rule`.
pub fn why_blocked_with(
    rule: DependencyRule,
    id: &str,
    tasks: &[TaskView],
    running: usize,
    max_parallel: usize,
) -> Option<Vec<Blocker>> {
    let task = tasks.iter().find(|task| task.id == id)?;
    if task.state != StateKind::Queued {
        return Some(vec![Blocker::NotQueued { state: task.state }]);
    }
    let blockers = dependency_blockers(rule, task, &index_by_id(tasks));
    if !blockers.is_empty() {
        return Some(blockers);
    }
    let free = max_parallel.saturating_sub(running);
    if free == 0 {
        return Some(vec![Blocker::NoFreeSlot {
            running,
            max_parallel,
        }]);
    }
    let position = ready_in_start_order(rule, tasks)
        .iter()
        .position(|ready| ready.id == id)
        .unwrap_or_default();
    if position < free {
        Some(Vec::new())
    } else {
        Some(vec![Blocker::WaitingForSlot { ahead: position }])
    }
}

/// [`why_blocked`] for every task at once, in one pass (the index and the start order are
/// built once): what `status` shows for a whole backlog. Same order as `tasks`.
pub fn why_blocked_all(
    tasks: &[TaskView],
    running: usize,
    max_parallel: usize,
) -> Vec<Vec<Blocker>> {
    why_blocked_all_with(DependencyRule::Done, tasks, running, max_parallel)
}

/// [`why_blocked_all`] with dependencies satisfied per `rule`.
pub fn why_blocked_all_with(
    rule: DependencyRule,
    tasks: &[TaskView],
    running: usize,
    max_parallel: usize,
) -> Vec<Vec<Blocker>> {
    let by_id = index_by_id(tasks);
    let free = max_parallel.saturating_sub(running);
    let positions: HashMap<&str, usize> = ready_in_start_order(rule, tasks)
        .into_iter()
        .enumerate()
        .map(|(position, task)| (task.id.as_str(), position))
        .collect();
    tasks
        .iter()
        .map(|task| {
            if task.state != StateKind::Queued {
                return vec![Blocker::NotQueued { state: task.state }];
            }
            let blockers = dependency_blockers(rule, task, &by_id);
            if !blockers.is_empty() {
                return blockers;
            }
            if free == 0 {
                return vec![Blocker::NoFreeSlot {
                    running,
                    max_parallel,
                }];
            }
            let position = positions.get(task.id.as_str()).copied().unwrap_or_default();
            if position < free {
                Vec::new()
            } else {
                vec![Blocker::WaitingForSlot { ahead: position }]
            }
        })
        .collect()
}

fn index_by_id(tasks: &[TaskView]) -> HashMap<&str, &TaskView> {
    tasks.iter().map(|task| (task.id.as_str(), task)).collect()
}

fn dependency_blockers(
    rule: DependencyRule,
    task: &TaskView,
    by_id: &HashMap<&str, &TaskView>,
) -> Vec<Blocker> {
    task.depends_on
        .iter()
        .filter_map(|dep| match by_id.get(dep.as_str()) {
            None => Some(Blocker::MissingDependency { id: dep.clone() }),
            Some(dep_task) if rule.satisfied(dep_task.state) => None,
            Some(dep_task)
                if matches!(dep_task.state, StateKind::Failed | StateKind::Cancelled) =>
            {
                Some(Blocker::DependencyFailed {
                    id: dep.clone(),
                    state: dep_task.state,
                })
            }
            Some(dep_task) => Some(Blocker::Dependency {
                id: dep.clone(),
                state: dep_task.state,
            }),
        })
        .collect()
}

fn ready_in_start_order(rule: DependencyRule, tasks: &[TaskView]) -> Vec<&TaskView> {
    let by_id = index_by_id(tasks);
    let mut ready: Vec<&TaskView> = tasks
        .iter()
        .filter(|task| task.state == StateKind::Queued)
        .filter(|task| dependency_blockers(rule, task, &by_id).is_empty())
        .collect();
    // Stable sort: equal priorities keep backlog order.
    ready.sort_by_key(|task| std::cmp::Reverse(task.priority));
    ready
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::NotQueued { state } => write!(f, "the task is {state}, not queued"),
            Blocker::Dependency { id, state } => write!(f, "waits for `{id}` ({state})"),
            Blocker::DependencyFailed { id, state } => {
                write!(f, "dependency `{id}` is {state} and will never be done")
            }
            Blocker::MissingDependency { id } => {
                write!(f, "dependency `{id}` is not in the backlog")
            }
            Blocker::NoFreeSlot {
                running,
                max_parallel,
            } => {
                write!(
                    f,
                    "all slots are taken ({running} running, max_parallel = {max_parallel})"
                )
            }
            Blocker::WaitingForSlot { ahead } => {
                write!(f, "ready; {ahead} task(s) ahead of it take the free slots")
            }
        }
    }
}

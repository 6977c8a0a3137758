//! The daemon's answer to `status`: every backlog task with its state, pair, round, last
//! activity, branch, and why it waits or needs the human.

use std::collections::BTreeMap;

use duet_core::backlog::Backlog;
use duet_core::config::Config;
use duet_core::lifecycle::StateKind;
use duet_core::lifecycle::scheduler::{TaskView, count_running, why_blocked_all};
use duet_store::{Store, TaskState as StoredState};

use crate::pair_slot::PairSlot;

/// The scheduler's name for a stored state.
pub fn stored_kind(state: StoredState) -> StateKind {
    match state {
        StoredState::Queued => StateKind::Queued,
        StoredState::Preparing => StateKind::Preparing,
        StoredState::Working => StateKind::Working,
        StoredState::Reviewing => StateKind::Reviewing,
        StoredState::Done => StateKind::Done,
        StoredState::Ready => StateKind::Ready,
        StoredState::Merging => StateKind::Merging,
        StoredState::Merged => StateKind::Merged,
        StoredState::NeedsHuman => StateKind::NeedsHuman,
        StoredState::Failed => StateKind::Failed,
        StoredState::Cancelled => StateKind::Cancelled,
        StoredState::Paused => StateKind::Paused,
    }
}

pub fn status_json(
    backlog: &Backlog,
    store: &Store,
    pairs: &BTreeMap<String, PairSlot>,
    config: &Config,
    only: Option<&str>,
) -> serde_json::Value {
    let rows: BTreeMap<String, duet_store::TaskRow> = store
        .task_states()
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let views: Vec<TaskView> = backlog
        .tasks
        .iter()
        .map(|t| TaskView {
            id: t.id.to_string(),
            priority: t.priority,
            depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
            state: stored_kind(
                rows.get(t.id.as_str())
                    .map_or(StoredState::Queued, |r| r.state),
            ),
        })
        .collect();
    let running = count_running(&views);
    let max = config.max_parallel.get();
    let all_blockers = why_blocked_all(&views, running, max);
    let tasks: Vec<serde_json::Value> = backlog
        .tasks
        .iter()
        .zip(all_blockers)
        .filter(|(t, _)| only.is_none_or(|o| o == t.id.as_str()))
        .map(|(t, blockers)| {
            let row = rows.get(t.id.as_str());
            let blocked = blockers
                .into_iter()
                .filter(|b| {
                    !matches!(
                        b,
                        duet_core::lifecycle::scheduler::Blocker::NotQueued { .. }
                    )
                })
                .map(|b| serde_json::to_value(b).unwrap_or_default())
                .collect::<Vec<_>>();
            let pair = pairs.get(t.id.as_str());
            serde_json::json!({
                "id": t.id.to_string(),
                "title": t.title,
                "state": row.map_or("queued".to_string(), |r| r.state.to_string()),
                "reason": row.and_then(|r| r.reason.clone()),
                "round": row.map_or(0, |r| r.round),
                "worker": t.worker_profile(config),
                "reviewer": t.reviewer_profile(config),
                "branch": config.task_branch(&t.id),
                "last_activity_ms": row.map(|r| r.updated_at_ms),
                "blocked_by": blocked,
                "running": pair.is_some(),
                "status": pair.map(|p| p.controller.state.status_text()),
                "ci": ci_json(pair, row),
            })
        })
        .collect();
    serde_json::Value::Array(tasks)
}

/// CI at the task's HEAD: live from the pair's CI state, else the last stored result.
fn ci_json(pair: Option<&PairSlot>, row: Option<&duet_store::TaskRow>) -> serde_json::Value {
    use duet_core::protocol::ci::{CiGate, Waiting, ci_gate, describe_head};
    if let Some(pair) = pair {
        let state = &pair.controller.state;
        let head = &state.head_commit;
        if !state.config.ci.has_command && !state.ci.runs.contains_key(head) {
            return serde_json::Value::Null;
        }
        let (kind, failing) =
            match ci_gate(&state.ci, head, &state.config.ci) {
                CiGate::Ok => ("passed", 0),
                CiGate::Waiting(Waiting::Running) => ("running", 0),
                CiGate::Waiting(Waiting::Pending) => ("pending", 0),
                CiGate::Failed { check, .. } => {
                    let failing = state.ci.runs.get(head).and_then(|c| c.get(&check)).map_or(
                        0,
                        |c| match c {
                            duet_core::protocol::ci::CheckState::Done { result } => {
                                result.failing_tests.len()
                            }
                            duet_core::protocol::ci::CheckState::Running => 0,
                        },
                    );
                    ("failed", failing)
                }
            };
        return serde_json::json!({
            "sha": head,
            "state": kind,
            "failing_tests": failing,
            "text": describe_head(&state.ci, head, &state.config.ci),
        });
    }
    match row.and_then(|r| r.ci.as_ref()) {
        Some(ci) => serde_json::json!({
            "sha": ci.sha,
            "state": if ci.passed { "passed" } else { "failed" },
        }),
        None => serde_json::Value::Null,
    }
}

//! A running pair inside the daemon: its controller, panes and actors, and the snapshot that
//! lets a restarted daemon take it over.

use std::path::PathBuf;

use duet_agents::PairPanes;
use duet_core::protocol::delivery::TargetStatus;
use duet_core::protocol::{MessageId, PairState, Role};
use duet_pair::agent_actor::AgentHandle;
use duet_pair::{AgentSetup, Controller, Seat, TaskBrief};
use serde::{Deserialize, Serialize};

use crate::idle_watch::IdleWatch;

/// One live pair.
#[derive(Debug)]
pub struct PairSlot {
    pub controller: Controller,
    pub panes: PairPanes,
    pub actors: Vec<AgentHandle>,
    pub brief: TaskBrief,
    pub worktree: PathBuf,
    pub session_name: String,
    pub agents: [AgentSetup; 2],
    /// Agent restarts so far, per role (worker, reviewer).
    pub restarts: [u32; 2],
    /// The last snapshot written, to skip writing an unchanged one.
    pub last_snapshot: String,
    /// Agents (worker, reviewer) whose rest is read from their pane.
    pub watches: [Option<IdleWatch>; 2],
    /// What the worker is handed while a reviewer guard check runs.
    pub worker_hold: WorkerHold,
}

/// A text for an agent and the ids of the messages it carries.
pub type Delivery = (String, Vec<MessageId>);

/// The worker's deliveries held while reviewer guard checks run: a check reads the worktree
/// off the loop, and a worker that started on a verdict (or a message) before the check read
/// it would have its new commit taken for the reviewer's change and undone. Held in memory
/// only: the messages stay in the mailbox (stored), so a restarted engine hands them over.
#[derive(Debug, Default)]
pub struct WorkerHold {
    /// Checks under way.
    checks: usize,
    held: Vec<Delivery>,
}

impl WorkerHold {
    /// A check starts.
    pub fn check_started(&mut self) {
        self.checks += 1;
    }

    /// A delivery to the worker: `Some` to hand over now, `None` when it is held.
    pub fn pass(&mut self, delivery: Delivery) -> Option<Delivery> {
        if self.checks == 0 {
            return Some(delivery);
        }
        self.held.push(delivery);
        None
    }

    /// A check ended: what to hand over now (in order), once no check runs.
    pub fn check_ended(&mut self) -> Vec<Delivery> {
        self.checks = self.checks.saturating_sub(1);
        if self.checks == 0 {
            std::mem::take(&mut self.held)
        } else {
            Vec::new()
        }
    }
}

/// What survives the daemon: enough to adopt the pair's tmux session or relaunch its agents
/// with their conversations resumed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairSnapshot {
    pub state: PairState,
    pub seats: [Seat; 2],
    pub worker_pane: String,
    pub reviewer_pane: String,
    pub session_name: String,
    pub worktree: PathBuf,
    /// The task as the pair was started with it.
    pub brief: TaskBrief,
    pub restarts: [u32; 2],
}

impl PairSlot {
    pub fn snapshot(&self) -> PairSnapshot {
        PairSnapshot {
            state: self.controller.state.clone(),
            seats: self.controller.seats.clone(),
            worker_pane: self.panes.worker_pane_id.clone(),
            reviewer_pane: self.panes.reviewer_pane_id.clone(),
            session_name: self.session_name.clone(),
            worktree: self.worktree.clone(),
            brief: self.brief.clone(),
            restarts: self.restarts,
        }
    }

    /// A hook moved `role`'s status: a turn started (it works: nothing to watch for) or ended
    /// (it rests: an agent with nothing to be told needs no watching either).
    pub fn hook_moved(&mut self, role: Role, before: TargetStatus, after: TargetStatus) {
        let index = usize::from(role == Role::Reviewer);
        let Some(watch) = &self.watches[index] else {
            return;
        };
        let started = after == TargetStatus::Busy && before != TargetStatus::Busy;
        let rested = matches!(
            after,
            TargetStatus::Idle { .. } | TargetStatus::Prompted { .. }
        ) && before != after;
        if started || rested && watch.nudge.is_none() {
            self.watches[index] = None;
        }
    }

    pub fn actor(&self, role: Role) -> Option<&AgentHandle> {
        self.actors.get(usize::from(role == Role::Reviewer))
    }
}

#[cfg(test)]
mod tests {
    use super::{Delivery, WorkerHold};
    use duet_core::protocol::MessageId;

    fn delivery(text: &str) -> Delivery {
        (text.to_owned(), vec![MessageId(text.len() as u64)])
    }

    #[test]
    fn the_worker_is_handed_nothing_while_a_check_runs_then_everything_in_order() {
        let mut hold = WorkerHold::default();
        assert_eq!(hold.pass(delivery("a")), Some(delivery("a")));
        hold.check_started();
        hold.check_started();
        assert_eq!(hold.pass(delivery("b")), None);
        assert_eq!(hold.pass(delivery("c")), None);
        // One of two checks ended: still held.
        assert!(hold.check_ended().is_empty());
        assert_eq!(hold.check_ended(), [delivery("b"), delivery("c")]);
        assert_eq!(hold.pass(delivery("d")), Some(delivery("d")));
        // An end with no check under way holds nothing back.
        assert!(hold.check_ended().is_empty());
        assert_eq!(hold.pass(delivery("e")), Some(delivery("e")));
    }
}

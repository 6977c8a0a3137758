//! A running pair inside the daemon: its controller, panes and actors, and the snapshot that
//! lets a restarted daemon take it over.

use std::path::PathBuf;

use duet_agents::PairPanes;
use duet_core::protocol::delivery::TargetStatus;
use duet_core::protocol::{PairState, Role};
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

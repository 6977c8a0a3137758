//! Agents whose pane died without a word: `duet exec-agent` (the wrapper that reports its agent's
//! exit) killed itself, e.g. by SIGKILL. The runtime is asked every tick which agents' processes
//! have exited; one whose seat still has a process (no exit reported) is handled as the wrapper
//! would have had it: restarted, or the protocol told that it is gone.

use duet_core::protocol::Role;
use duet_proto::{Request, RequestBody};
use duet_store::Event;

use super::{Daemon, now};
use crate::{DaemonError, DaemonProgress};

/// The connection id of the exits duet reports for a dead wrapper (no one waits for an answer).
const DEAD_PANE_CONN: duet_pair::ConnId = u64::MAX;

/// A dead pane whose exit nobody reported: its task, role, the seat's token and agent pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unreported {
    pub task: String,
    pub role: Role,
    pub token: String,
    pub pid: u32,
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// Looks for agents whose pane died unreported and restarts them (once a second, one runtime
    /// call for every pair).
    pub(super) fn notice_dead_panes(&mut self) -> Result<(), DaemonError> {
        if self.pairs.is_empty() {
            return Ok(());
        }
        let panes: Vec<String> = self
            .pairs
            .values()
            .flat_map(|slot| {
                [
                    slot.panes.worker_pane_id.clone(),
                    slot.panes.reviewer_pane_id.clone(),
                ]
            })
            .collect();
        let exited = self.setup.runtime.exited(&panes);
        for dead in unreported(&self.pairs, &exited) {
            self.dead_pane(dead)?;
        }
        Ok(())
    }

    fn dead_pane(&mut self, dead: Unreported) -> Result<(), DaemonError> {
        let Unreported {
            task,
            role,
            token,
            pid,
            code,
            signal,
        } = dead;
        let text = format!(
            "the {role}'s pane died without its wrapper reporting the agent's exit \
             (duet exec-agent was killed)"
        );
        tracing::warn!("task {task}: {text}");
        self.append(&task, Event::Note { text })?;
        // The agent the wrapper started may outlive it: two processes on one conversation
        // would both answer, so the old one is ended before a new one starts.
        end_process(pid);
        if self.restart_agent(&task, &token, code, signal)? {
            return Ok(());
        }
        // No restart left (or the task is over): the protocol learns the agent is gone, as
        // from the wrapper.
        let Some(slot) = self.pairs.get_mut(&task) else {
            return Ok(());
        };
        let request = Request::from_agent(token, RequestBody::ProcessExited { code, signal });
        let actions = slot
            .controller
            .on_request(DEAD_PANE_CONN, request, None, now());
        self.apply(&task, actions)
    }
}

/// The dead panes in `exited` (pane, exit code, signal) whose seat still has a process: the
/// wrapper reports an exit before it goes (and the seat's pid is cleared then, or the pane
/// restarted), so a dead pane with a live seat is one whose wrapper died unheard.
pub(super) fn unreported(
    pairs: &std::collections::BTreeMap<String, crate::pair_slot::PairSlot>,
    exited: &[(String, Option<i32>, Option<i32>)],
) -> Vec<Unreported> {
    let mut out = Vec::new();
    for (task, slot) in pairs {
        for role in [Role::Worker, Role::Reviewer] {
            let pane = slot.panes.pane(role);
            let Some((_, code, signal)) = exited.iter().find(|(p, _, _)| p == pane) else {
                continue;
            };
            let seat = slot.controller.seat(role);
            if let Some(pid) = seat.pid {
                out.push(Unreported {
                    task: task.clone(),
                    role,
                    token: seat.token.clone(),
                    pid,
                    code: *code,
                    signal: *signal,
                });
            }
        }
    }
    out
}

/// Ends process `pid` (SIGKILL: it is an orphan of a killed wrapper), if it still runs.
fn end_process(pid: u32) {
    let Ok(raw) = i32::try_from(pid) else {
        return;
    };
    let pid = nix::unistd::Pid::from_raw(raw);
    match nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL) {
        Ok(()) => tracing::info!("ended the orphaned agent process {pid}"),
        Err(nix::errno::Errno::ESRCH) => {}
        Err(err) => tracing::warn!("failed to end the orphaned agent process {pid}: {err}"),
    }
}

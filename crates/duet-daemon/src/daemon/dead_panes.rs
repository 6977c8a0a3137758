//! Agents whose pane died without a word: `duet exec-agent` (the wrapper that reports its agent's
//! exit) killed itself, e.g. by SIGKILL. The runtime is asked every tick which agents' processes
//! have exited; the core (`engine_core`, `EngineInput::PanesExited`) picks those whose seat still
//! has a process (no exit reported) and handles them as the wrapper would have had them:
//! restarted, or the protocol told that it is gone.

use duet_proto::{Request, RequestBody};

use super::{Daemon, now};
use crate::engine_core::{EngineAction, EngineInput};
use crate::{DaemonError, DaemonProgress};

/// The connection id of the exits duet reports for a dead wrapper (no one waits for an answer).
const DEAD_PANE_CONN: duet_pair::ConnId = u64::MAX;

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
        if exited.is_empty() {
            return Ok(());
        }
        // Only the pairs' facts: this runs every tick.
        let mut state = crate::engine_core::EngineState {
            pairs: self.pair_facts(),
            ..Default::default()
        };
        let actions = crate::engine_core::handle(&mut state, EngineInput::PanesExited(exited));
        // In order: each dead seat's note, its orphan ended, then its restart (or the protocol
        // told), before the next seat's.
        for action in actions {
            match self.carry_out_one(action)? {
                Some(restart @ EngineAction::RestartAgent { .. }) => {
                    if let Some(failed) = self.restart(restart)? {
                        self.tell_pair_exited(failed)?;
                    }
                }
                Some(no_restart @ EngineAction::NoRestart { .. }) => {
                    self.tell_pair_exited(no_restart)?;
                }
                Some(other) => tracing::warn!("dead panes: {other:?} is not carried out here"),
                None => {}
            }
        }
        Ok(())
    }

    /// No restart left (or the task is over, or the restart failed): the protocol learns the
    /// agent is gone, as from the wrapper.
    fn tell_pair_exited(&mut self, action: EngineAction) -> Result<(), DaemonError> {
        let EngineAction::NoRestart {
            task,
            token,
            code,
            signal,
        } = action
        else {
            return Ok(());
        };
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

/// Ends process `pid` (SIGKILL: it is an orphan of a killed wrapper), if it still runs.
pub(super) fn end_process(pid: u32) {
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

//! The agent runtime boundary: where a pair's agents run and how the engine reaches them
//! (start, type into, look at, restart, stop). tmux is the runtime today ([`TmuxRuntime`]);
//! [`memory::MemoryRuntime`] stands in for it in the engine's tests. A headless runtime (claude
//! stream-json, codex app-server) or one on another machine plugs in here.
//!
//! Agents are named by opaque handles (`PairPanes`: one string per seat, tmux pane ids today);
//! the engine stores them in its snapshots and hands them back, never reads them.

use std::path::Path;
use std::sync::Arc;

use duet_agents::tmux::{EnterAfter, PaneState};
use duet_agents::{PairPanes, PaneCommand, TmuxRuntime};
use duet_core::config::AgentKind;

pub mod memory;

/// Why the runtime could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action}: {detail}")]
pub struct RuntimeError {
    pub action: String,
    pub detail: String,
}

impl RuntimeError {
    pub fn new(action: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        RuntimeError {
            action: action.into(),
            detail: detail.to_string(),
        }
    }
}

/// Whether an agent's process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentPresence {
    Running,
    /// It exited (its place stays until the pair is stopped).
    Exited {
        exit_code: Option<i32>,
        signal: Option<i32>,
    },
    /// The runtime cannot tell (its place is gone).
    Unknown,
}

/// What the engine needs of the place its agents run in. Implementations must not block for
/// long: the engine calls them from its loop (typing is done by each agent's actor instead).
pub trait AgentRuntime: Send + Sync + std::fmt::Debug {
    /// Starts both agents of a pair in a new place named `pair` (one left from an engine that
    /// died is replaced: its agents are orphans, their conversations stay resumable).
    fn start_pair(
        &self,
        pair: &str,
        cwd: &Path,
        worker: &PaneCommand,
        reviewer: &PaneCommand,
    ) -> Result<PairPanes, RuntimeError>;

    /// Runs `command` again in `agent`'s place (its process died).
    fn restart_agent(
        &self,
        agent: &str,
        cwd: &Path,
        command: &PaneCommand,
    ) -> Result<(), RuntimeError>;

    /// Whether the pair's place still exists (its agents may have outlived an engine).
    fn pair_exists(&self, pair: &str) -> bool;

    /// Stops both agents and removes their place.
    fn stop_pair(&self, pair: &str);

    fn presence(&self, agent: &str) -> AgentPresence;

    /// Of `agents`, those whose process has exited, with its exit code and signal: one look
    /// for all of them, so the engine can ask every second (an agent whose wrapper was killed
    /// never reports its own exit).
    fn exited(&self, agents: &[String]) -> Vec<(String, Option<i32>, Option<i32>)> {
        agents
            .iter()
            .filter_map(|agent| match self.presence(agent) {
                AgentPresence::Exited { exit_code, signal } => {
                    Some((agent.clone(), exit_code, signal))
                }
                _ => None,
            })
            .collect()
    }

    /// The label a human sees on the agent (task, role, agent, state).
    fn set_title(&self, agent: &str, title: &str);

    /// What the agent's screen shows now (a fallback signal: hooks come first).
    fn screen(&self, agent: &str) -> Result<String, RuntimeError>;

    /// Types `text` at the agent's prompt and submits it.
    fn type_text(&self, agent: &str, text: &str, kind: AgentKind) -> Result<(), RuntimeError>;

    /// Presses Enter in the agent's input (submits text left typed there; nothing to submit
    /// is ignored by the agents). A runtime with no input box does nothing.
    fn press_enter(&self, _agent: &str) -> Result<(), RuntimeError> {
        Ok(())
    }

    /// A line a human sees on the pair's place as a whole (how many tasks need them); a runtime
    /// with no such place ignores it.
    fn set_status_line(&self, _pair: &str, _text: &str) {}

    /// The name a human attaches to the pairs' places with (`tmux -L NAME`), if they can.
    fn attach_server(&self) -> Option<String> {
        None
    }
}

/// The runtime as the engine holds it.
pub type SharedRuntime = Arc<dyn AgentRuntime>;

impl AgentRuntime for TmuxRuntime {
    fn start_pair(
        &self,
        pair: &str,
        cwd: &Path,
        worker: &PaneCommand,
        reviewer: &PaneCommand,
    ) -> Result<PairPanes, RuntimeError> {
        if self.has_session(pair).unwrap_or(false) {
            let _ = self.kill_session(pair);
        }
        self.create_pair_session(pair, cwd, worker, reviewer)
            .map_err(|e| RuntimeError::new(format!("start tmux session {pair}"), e))
    }

    fn restart_agent(
        &self,
        agent: &str,
        cwd: &Path,
        command: &PaneCommand,
    ) -> Result<(), RuntimeError> {
        let mut cmd = self.command();
        cmd.args(["respawn-pane", "-k", "-t", agent, "-c"]).arg(cwd);
        for (key, value) in &command.env {
            cmd.arg("-e").arg(format!("{key}={value}"));
        }
        cmd.args(&command.argv);
        let action = format!("restart the agent in tmux pane {agent}");
        let output = cmd.output().map_err(|e| RuntimeError::new(&action, e))?;
        if !output.status.success() {
            return Err(RuntimeError::new(
                action,
                String::from_utf8_lossy(&output.stderr).trim(),
            ));
        }
        Ok(())
    }

    fn pair_exists(&self, pair: &str) -> bool {
        self.has_session(pair).unwrap_or(false)
    }

    fn stop_pair(&self, pair: &str) {
        let _ = self.kill_session(pair);
    }

    fn presence(&self, agent: &str) -> AgentPresence {
        match self.pane_state(agent) {
            Ok(PaneState::Running { .. }) => AgentPresence::Running,
            Ok(PaneState::Dead { exit_code, signal }) => {
                AgentPresence::Exited { exit_code, signal }
            }
            Err(_) => AgentPresence::Unknown,
        }
    }

    fn exited(&self, agents: &[String]) -> Vec<(String, Option<i32>, Option<i32>)> {
        self.dead_panes()
            .unwrap_or_default()
            .into_iter()
            .filter(|(pane, _)| agents.contains(pane))
            .filter_map(|(pane, state)| match state {
                PaneState::Dead { exit_code, signal } => Some((pane, exit_code, signal)),
                PaneState::Running { .. } => None,
            })
            .collect()
    }

    fn set_title(&self, agent: &str, title: &str) {
        let _ = self.set_pane_title(agent, title);
    }

    fn screen(&self, agent: &str) -> Result<String, RuntimeError> {
        self.capture(agent)
            .map_err(|e| RuntimeError::new(format!("read tmux pane {agent}"), e))
    }

    fn type_text(&self, agent: &str, text: &str, kind: AgentKind) -> Result<(), RuntimeError> {
        let after = self
            .send_text(agent, text, kind)
            .map_err(|e| RuntimeError::new(format!("type into tmux pane {agent}"), e))?;
        match after {
            EnterAfter::PasteNotSeen(waited) => tracing::warn!(
                "the text pasted into tmux pane {agent} did not show within {} ms: pressed \
                 Enter anyway",
                waited.as_millis()
            ),
            EnterAfter::PasteSeen(waited) => tracing::debug!(
                "the text pasted into tmux pane {agent} showed after {} ms: pressed Enter",
                waited.as_millis()
            ),
            EnterAfter::Typed | EnterAfter::CodexPause => {}
        }
        Ok(())
    }

    fn press_enter(&self, agent: &str) -> Result<(), RuntimeError> {
        self.send_keys(agent, &["Enter"])
            .map_err(|e| RuntimeError::new(format!("press Enter in tmux pane {agent}"), e))
    }

    fn set_status_line(&self, pair: &str, text: &str) {
        if let Err(err) = self.set_status_right(pair, text) {
            tracing::debug!("failed to set the status line of {pair}: {err}");
        }
    }

    fn attach_server(&self) -> Option<String> {
        Some(self.socket_name().to_owned())
    }
}

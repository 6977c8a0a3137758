//! An in-memory agent runtime for the engine's tests: nothing runs, every call is recorded, and a
//! test plays the agents (over the control socket, with the tokens each start was given) and
//! decides when one dies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use duet_agents::{PairPanes, PaneCommand};
use duet_core::config::AgentKind;

use super::{AgentPresence, AgentRuntime, RuntimeError};

/// One agent's place: every command it was started with (the last is the live one), what was
/// typed into it, its title and whether it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryAgent {
    pub pair: String,
    pub cwd: PathBuf,
    pub starts: Vec<PaneCommand>,
    pub typed: Vec<String>,
    pub title: String,
    pub presence: AgentPresence,
    /// A turn runs (see [`MemoryRuntime::typing_starts_turns`]): its screen shows the working
    /// footer, not the shared at-rest screen.
    pub busy: bool,
    /// How many of `typed` were typed before the live process started (into earlier ones).
    pub typed_before_start: usize,
    /// How many times the engine read its screen.
    pub screen_reads: usize,
}

impl MemoryAgent {
    /// An env var of the live command (e.g. `DUET_TOKEN`).
    pub fn env(&self, key: &str) -> Option<&str> {
        self.starts
            .last()?
            .env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct World {
    next_id: u32,
    /// Pair name → (worker agent id, reviewer agent id).
    pairs: BTreeMap<String, (String, String)>,
    agents: BTreeMap<String, MemoryAgent>,
    stopped: Vec<String>,
    /// What every agent's screen shows (a test sets it to what an agent at rest looks like).
    screen: String,
    /// Text typed into an agent starts its turn (it is `busy` until the test says it rests),
    /// as a TUI does; off: typing leaves the screen as it is.
    typing_starts_turns: bool,
}

/// What a busy agent's screen shows (claude's and codex's working footer).
pub const WORKING_SCREEN: &str = "✻ Working… (esc to interrupt)";

/// The in-memory runtime; clones share one world, so a test keeps one and gives the engine one.
#[derive(Debug, Clone, Default)]
pub struct MemoryRuntime {
    world: Arc<Mutex<World>>,
}

impl MemoryRuntime {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().expect("memory runtime lock"))
    }

    /// The agents of pair `pair` (worker, reviewer), if it exists.
    pub fn pair(&self, pair: &str) -> Option<(MemoryAgent, MemoryAgent)> {
        self.with(|w| {
            let (worker, reviewer) = w.pairs.get(pair)?;
            Some((w.agents[worker].clone(), w.agents[reviewer].clone()))
        })
    }

    /// Names of the pairs that exist now.
    pub fn pairs(&self) -> Vec<String> {
        self.with(|w| w.pairs.keys().cloned().collect())
    }

    /// Pairs stopped so far, in order.
    pub fn stopped(&self) -> Vec<String> {
        self.with(|w| w.stopped.clone())
    }

    /// How many pairs were started (each `start_pair` call).
    pub fn pairs_started(&self) -> u32 {
        self.with(|w| w.next_id / 2)
    }

    /// Marks an agent's process as exited (as a crash would leave its place).
    pub fn exit_agent(&self, agent: &str, exit_code: Option<i32>, signal: Option<i32>) {
        self.with(|w| {
            if let Some(a) = w.agents.get_mut(agent) {
                a.presence = AgentPresence::Exited { exit_code, signal };
            }
        });
    }

    /// Sets what every agent's screen shows.
    pub fn set_screen(&self, text: &str) {
        self.with(|w| w.screen = text.to_string());
    }

    /// From now on, text typed into an agent makes it busy (its screen shows [`WORKING_SCREEN`])
    /// until [`MemoryRuntime::set_at_rest`] says otherwise; a new process starts at rest.
    pub fn typing_starts_turns(&self) {
        self.with(|w| w.typing_starts_turns = true);
    }

    /// The live agent of `pair` in the worker's (or reviewer's) seat ended its turn and rests at
    /// its prompt, unless more than the first `typed_read` texts were typed into it (a TUI
    /// starts on what it was typed). Returns whether it rests.
    pub fn set_at_rest(&self, pair: &str, worker: bool, typed_read: usize) -> bool {
        self.with(|w| {
            let Some((a, b)) = w.pairs.get(pair).cloned() else {
                return false;
            };
            let Some(agent) = w.agents.get_mut(if worker { &a } else { &b }) else {
                return false;
            };
            agent.busy = agent.typed.len() > typed_read;
            !agent.busy
        })
    }
}

impl AgentRuntime for MemoryRuntime {
    fn start_pair(
        &self,
        pair: &str,
        cwd: &Path,
        worker: &PaneCommand,
        reviewer: &PaneCommand,
    ) -> Result<PairPanes, RuntimeError> {
        Ok(self.with(|w| {
            if let Some((a, b)) = w.pairs.remove(pair) {
                w.agents.remove(&a);
                w.agents.remove(&b);
            }
            let mut place = |command: &PaneCommand| {
                let id = format!("%{}", w.next_id);
                w.next_id += 1;
                w.agents.insert(
                    id.clone(),
                    MemoryAgent {
                        pair: pair.to_string(),
                        cwd: cwd.to_path_buf(),
                        starts: vec![command.clone()],
                        typed: Vec::new(),
                        title: String::new(),
                        presence: AgentPresence::Running,
                        busy: false,
                        typed_before_start: 0,
                        screen_reads: 0,
                    },
                );
                id
            };
            let (worker, reviewer) = (place(worker), place(reviewer));
            w.pairs
                .insert(pair.to_string(), (worker.clone(), reviewer.clone()));
            PairPanes {
                worker_pane_id: worker,
                reviewer_pane_id: reviewer,
            }
        }))
    }

    fn restart_agent(
        &self,
        agent: &str,
        _cwd: &Path,
        command: &PaneCommand,
    ) -> Result<(), RuntimeError> {
        self.with(|w| match w.agents.get_mut(agent) {
            Some(a) => {
                a.starts.push(command.clone());
                a.presence = AgentPresence::Running;
                a.busy = false;
                a.typed_before_start = a.typed.len();
                Ok(())
            }
            None => Err(RuntimeError::new(
                format!("restart agent {agent}"),
                "no such agent",
            )),
        })
    }

    fn pair_exists(&self, pair: &str) -> bool {
        self.with(|w| w.pairs.contains_key(pair))
    }

    fn stop_pair(&self, pair: &str) {
        self.with(|w| {
            if let Some((a, b)) = w.pairs.remove(pair) {
                w.agents.remove(&a);
                w.agents.remove(&b);
                w.stopped.push(pair.to_string());
            }
        });
    }

    fn presence(&self, agent: &str) -> AgentPresence {
        self.with(|w| {
            w.agents
                .get(agent)
                .map_or(AgentPresence::Unknown, |a| a.presence)
        })
    }

    fn set_title(&self, agent: &str, title: &str) {
        self.with(|w| {
            if let Some(a) = w.agents.get_mut(agent) {
                a.title = title.to_string();
            }
        });
    }

    fn screen(&self, agent: &str) -> Result<String, RuntimeError> {
        self.with(|w| {
            w.agents
                .get_mut(agent)
                .map(|a| {
                    a.screen_reads += 1;
                    if a.busy {
                        WORKING_SCREEN.to_string()
                    } else {
                        w.screen.clone()
                    }
                })
                .ok_or_else(|| RuntimeError::new(format!("read agent {agent}"), "no such agent"))
        })
    }

    fn type_text(&self, agent: &str, text: &str, _kind: AgentKind) -> Result<(), RuntimeError> {
        self.with(|w| match w.agents.get_mut(agent) {
            Some(a) if a.presence == AgentPresence::Running => {
                a.typed.push(text.to_string());
                a.busy |= w.typing_starts_turns;
                Ok(())
            }
            Some(_) => Err(RuntimeError::new(
                format!("type into agent {agent}"),
                "its process has exited",
            )),
            None => Err(RuntimeError::new(
                format!("type into agent {agent}"),
                "no such agent",
            )),
        })
    }
}

//! The pair controller: runs one task's worker and reviewer in tmux, answers their bridge and
//! hook calls on the control socket, and drives the review protocol of `duet_core::protocol`.
//!
//! - [`controller`]: the decisions (requests in, actions out), no IO.
//! - [`seat_setup`]: each seat's agent profile, and the wall clock. The loop that does the IO is
//!   the engine's (`duet_daemon::run`), for `duet run` and `duet pair` alike.
//! - [`socket`]: the unix-socket server; [`agent_actor`]: one actor per agent pane;
//!   [`app_server_actor`]: a codex seat's actor over its app-server instead.
//! - [`runtime`]: the agent runtime boundary (tmux, and an in-memory one for tests).
//! - [`render`]: the words said to agents; [`records`]: protocol records → store events.
//! - [`reviewer_guard`]: when to check that the reviewer left the worktree as it was.

pub mod agent_actor;
pub mod app_server_actor;
pub mod controller;
pub mod error;
pub mod failpoint;
pub mod git_facts;
pub mod launch;
pub mod prepare;
pub mod records;
pub mod render;
pub mod reviewer_guard;
pub mod runtime;
pub mod seat_setup;
pub mod socket;

pub use controller::{Action, ConnId, Controller, GitFacts, Seat};
pub use error::{PairError, PairErrorKind};
pub use render::TaskBrief;
pub use runtime::{AgentPresence, AgentRuntime, RuntimeError, SharedRuntime};
pub use seat_setup::{AgentSetup, now};

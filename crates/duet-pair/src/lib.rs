//! The pair controller: runs one task's worker and reviewer in tmux, answers their bridge and
//! hook calls on the control socket, and drives the review protocol of `duet_core::protocol`.
//!
//! - [`controller`]: the decisions (requests in, actions out), no IO.
//! - [`runner`]: the async loop that does the IO ([`run_pair`]).
//! - [`socket`]: the unix-socket server; [`agent_actor`]: one actor per agent pane.
//! - [`render`]: the words said to agents; [`records`]: protocol records → store events.

pub mod agent_actor;
pub mod controller;
pub mod error;
pub mod git_facts;
pub mod launch;
pub mod prepare;
pub mod records;
pub mod render;
pub mod runner;
pub mod socket;

pub use controller::{Action, ConnId, Controller, GitFacts, Seat};
pub use error::{PairError, PairErrorKind};
pub use render::TaskBrief;
pub use runner::{AgentSetup, PairSetup, PairSummary, Progress, now, run_pair};

//! The helpers an agent runs to talk to duet's pair controller over its control socket:
//!
//! - [`mcp`]: `duet mcp`, the MCP stdio server giving the agent its tools (`send_message`,
//!   `request_review`, `submit_review`, `mark_done`, `ask_human`, `task_status`).
//! - [`hook`]: `duet hook claude|codex`, forwarding claude hook payloads and codex notify
//!   payloads, and printing the controller's hook reply (claude's Stop hand-over).
//! - [`exec`]: `duet exec-agent -- ARGV`, the wrapper that runs the agent in its tmux pane and
//!   reports its start and exit.
//!
//! All three find the controller through [`AgentEnv`] (`DUET_SOCKET`, `DUET_TOKEN`) and send one
//! request per connection (`duet_proto::Client`), so they keep working across controller
//! restarts.

mod agent_env;
mod error;
pub mod exec;
mod failure;
pub mod hook;
pub mod mcp;

pub use agent_env::AgentEnv;
pub use error::{BridgeError, BridgeErrorKind};

//! Test support: scripted fake model servers, agent environments, temporary repositories.

pub mod anthropic;
pub mod engine;
pub mod openai;
pub mod request_log;
pub mod request_view;
pub mod script;
pub mod server;
pub mod wire;

pub use request_log::{LogEntry, Outcome, RequestLog, read_log_file, served_total};
pub use request_view::{RequestView, ToolResult};
pub use script::{Api, Script, ScriptError, ScriptErrorKind, Step, ToolCall};
pub use server::{FakeModelServer, FakeServerError, FakeServerErrorKind, ServerOptions};
pub use wire::Usage;

pub mod agent_env;
pub mod agents;
pub mod hermetic;
pub mod mcp_probe;
pub mod tmux;

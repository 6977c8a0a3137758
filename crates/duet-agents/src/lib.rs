//! Agent adapters and the tmux runtime: how duet starts `claude` and `codex` for one seat of a
//! pair, how it reads their hook / notify events, and the tmux session the pair runs in.
//!
//! - [`adapter`]: [`launch_spec`] builds the argv, env and cwd of an agent from its profile
//!   (`duet.toml`) and a [`LaunchContext`] (MCP bridge, hooks / notify, prompts, session).
//! - [`hook_event`]: [`parse_claude_hook`] / [`parse_codex_notify`] turn the JSON the CLIs hand
//!   to hooks into typed [`AgentSignal`]s.
//! - [`codex_app_server`]: a JSON-RPC client for `codex app-server` (threads, turns, steering,
//!   typed notifications, approvals by policy).
//! - [`paste_echo`]: [`paste_echo::PasteEcho`], whether a paste into claude shows in its pane
//!   (Enter follows once it does).
//! - [`tmux`]: [`TmuxRuntime`], one tmux session per task with the worker and reviewer panes.
//! - [`toml_value`]: a small TOML value encoder for codex `-c key=value` overrides.
//! - [`usage_records`]: token counts and limit errors from claude's transcript and codex's
//!   rollout file.

pub mod adapter;
pub mod codex_app_server;
pub mod hook_event;
pub mod paste_echo;
pub mod tmux;
pub mod toml_value;
pub mod usage_records;

pub use adapter::{
    AdapterError, AdapterErrorKind, LaunchContext, LaunchSpec, SessionPlan, TESTED_CLAUDE_VERSIONS,
    TESTED_CODEX_VERSIONS, env_names, launch_spec, launch_spec_with,
};
pub use hook_event::{AgentSignal, HookParseError, parse_claude_hook, parse_codex_notify};
pub use tmux::{PairPanes, PaneCommand, TmuxError, TmuxErrorKind, TmuxRuntime};

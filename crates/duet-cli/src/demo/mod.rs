//! `duet demo`: a sample project, its backlog and the simulated model's script (embedded), and
//! the driver that works the backlog with real claude/codex pairs against that script.

pub mod driver;
pub mod sample;

/// The demo's backlog (three tasks; `cli-flag` depends on `word-count`).
pub const BACKLOG_TOML: &str = include_str!("backlog.toml");

/// What the simulated model answers each agent of each task.
pub const SCRIPT_TOML: &str = include_str!("script.toml");

/// The branch the sample repository starts on and task branches merge back into.
pub const BASE_BRANCH: &str = "main";

//! Preflight: what duet checks before it changes anything (agent CLIs, tmux, git, base
//! branches), and the host checks of `duet doctor`. Every check is a [`Check`] (ok / warning /
//! error with a message that names the fix), run against an injected [`Env`], never the
//! process's own environment behind the caller's back.

mod agent;
mod env;
pub mod host;
mod tools;
mod version;

use std::collections::BTreeSet;
use std::path::Path;

use duet_core::backlog::Task;
use duet_core::config::Config;
use serde::Serialize;

pub use agent::{check_agent, check_agent_within, check_task_agents, resolve_program};
pub use env::Env;
pub use tools::{MIN_TMUX, check_base_branch, check_git_identity, check_tmux};
pub use version::{TESTED, TestedRange, Version, tested_range};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Error => "error",
        }
    }
}

/// One check's result: what was checked, how it came out, and a message (for a warning or an
/// error, one that says how to fix it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub message: String,
}

impl Check {
    pub fn ok(name: impl Into<String>, message: impl Into<String>) -> Self {
        Check::new(name, Status::Ok, message)
    }
    pub fn warning(name: impl Into<String>, message: impl Into<String>) -> Self {
        Check::new(name, Status::Warning, message)
    }
    pub fn error(name: impl Into<String>, message: impl Into<String>) -> Self {
        Check::new(name, Status::Error, message)
    }
    fn new(name: impl Into<String>, status: Status, message: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status,
            message: message.into(),
        }
    }
}

/// The agent profiles `tasks` use (worker and reviewer, after each task's overrides), sorted.
pub fn profiles_used<'a>(config: &'a Config, tasks: &[&'a Task]) -> BTreeSet<&'a str> {
    tasks
        .iter()
        .flat_map(|t| [t.worker_profile(config), t.reviewer_profile(config)])
        .collect()
}

/// Everything `duet pair` and `duet run` check before they create a branch, a worktree or a
/// session: each agent profile `tasks` use, tmux, git's identity in `repo_root`, and every base
/// branch the tasks start from.
pub fn start_checks(config: &Config, tasks: &[&Task], repo_root: &Path, env: &Env) -> Vec<Check> {
    let mut checks = Vec::new();
    for name in profiles_used(config, tasks) {
        checks.push(match config.agents.get(name) {
            Some(profile) => check_agent(name, profile, env, repo_root),
            None => Check::error(
                format!("agent {name}"),
                format!("unknown agent profile `{name}`: add `[agents.{name}]` to duet.toml"),
            ),
        });
    }
    checks.push(check_tmux(env));
    checks.push(check_git_identity(repo_root, env));
    let bases: BTreeSet<&str> = tasks.iter().map(|t| t.base_branch(config)).collect();
    for base in bases {
        checks.push(check_base_branch(repo_root, base, env));
    }
    checks
}

/// The errors among `checks` as one text (one per line), or the warnings when there is none.
pub fn verdict(checks: &[Check]) -> Result<Vec<&Check>, String> {
    let errors: Vec<&str> = checks
        .iter()
        .filter(|c| c.status == Status::Error)
        .map(|c| c.message.as_str())
        .collect();
    if errors.is_empty() {
        Ok(checks
            .iter()
            .filter(|c| c.status == Status::Warning)
            .collect())
    } else {
        Err(errors.join("\n"))
    }
}

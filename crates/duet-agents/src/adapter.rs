//! Agent adapters: the argv, env and cwd that start one seat of a pair (`claude` or `codex`)
//! with duet's MCP bridge, hooks / notify, role prompt and session wired in through
//! command-line flags only (never by editing the user's `~/.claude` or `~/.codex`).
//!
//! The kind-specific parts live in `claude` and `codex`; this module holds the shared types.

mod claude;
mod codex;
pub mod codex_remote;
mod read_only;

use std::path::{Path, PathBuf};

use duet_core::config::{AgentKind, AgentProfile};
use duet_core::protocol::Role;

pub use claude::{CLAUDE_HOOK_EVENTS, claude_mcp_config_json, claude_settings_json};
pub use codex::{
    CODEX_MCP_SERVER_KEY, CODEX_NOTIFY_CHAIN_FLAG, codex_config_overrides,
    codex_config_overrides_chained, codex_home, user_codex_notify,
};
pub use read_only::{CLAUDE_REVIEWER_DENIED_TOOLS, CODEX_REVIEWER_FLAGS, codex_reviewer_args};

/// Names of the env vars duet gives agents, the MCP bridge and hooks (defined in duet-core).
pub use duet_core::wire::env as env_names;

/// The claude versions whose argv and config duet's adapter is checked against, oldest first; the
/// last is the one `scripts/install-agents.sh` pins. Each version has a row in the table test of
/// `adapter/tests.rs` with the exact argv duet gives it. What a version needs differently lives
/// here, in the adapter's data, and nowhere else: today every version gets the same argv (2.1.332
/// defers MCP tools behind ToolSearch unless the server has `alwaysLoad`; 2.1.197 accepts the key
/// and ignores it, listing MCP tools up front anyway).
pub const TESTED_CLAUDE_VERSIONS: &[&str] = &["2.1.197", "2.1.332"];

/// The codex versions likewise (the same argv and `-c` overrides for each).
pub const TESTED_CODEX_VERSIONS: &[&str] = &["0.169.0", "0.171.0"];

/// The name of duet's MCP server in the agents' MCP config (tools appear as `mcp__duet__*`).
pub const MCP_SERVER_NAME: &str = "duet";

/// Whether the agent starts a new conversation or continues an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionPlan {
    /// A fresh conversation. `session_id` is the id duet chose for it (a UUID): claude gets it
    /// with `--session-id`; codex picks its own thread id (reported by notify), so it is unused.
    New { session_id: Option<String> },
    /// Continue the conversation `id`: claude `--resume <id>`, codex `resume <thread-id>`.
    Resume { id: String },
}

/// Everything about one seat of one pair that goes into starting its agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchContext {
    pub role: Role,
    pub task_id: String,
    /// The task's worktree: the agent's working directory.
    pub worktree: PathBuf,
    /// Absolute path of the running duet binary (for `duet mcp`, `duet hook`).
    pub duet_exe: PathBuf,
    /// The controller's unix socket.
    pub socket: PathBuf,
    /// The per-agent token.
    pub token: String,
    /// The role explanation, appended to the agent's system prompt (empty: none).
    pub system_prompt: String,
    /// The first user message, passed as the TUI's prompt argument. duet's pairs give none:
    /// claude may send a command-line prompt before its MCP servers are connected, so a pair's
    /// first prompt is handed over through the mailbox once the agent's tools are listed.
    pub initial_prompt: Option<String>,
    pub session: SessionPlan,
}

/// How to start an agent: run `program` with `args` in `cwd`, with `env` added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    pub program: String,
    pub args: Vec<String>,
    /// Added to the inherited environment, in this order (later entries win).
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

impl LaunchSpec {
    /// `program` followed by `args`.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }

    /// The argv run through duet's process wrapper: `<duet_exe> exec-agent -- <program> <args>`.
    pub fn wrapped_argv(&self, duet_exe: &Path) -> Result<Vec<String>, AdapterError> {
        let mut argv = vec![
            utf8(duet_exe, "the duet executable")?.to_owned(),
            "exec-agent".to_owned(),
            "--".to_owned(),
        ];
        argv.extend(self.argv());
        Ok(argv)
    }
}

/// Error building a launch spec.
#[derive(Debug, thiserror::Error)]
#[error("failed to build the agent command line: {detail}")]
pub struct AdapterError {
    pub kind: AdapterErrorKind,
    detail: String,
}

/// What was wrong with the input of [`launch_spec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterErrorKind {
    /// A path is not valid UTF-8 and cannot be written into JSON / TOML config.
    NonUtf8Path,
    /// A profile env var name is empty or contains `=` or NUL.
    InvalidEnvName,
    /// An argument, env value or prompt contains a NUL byte (cannot be passed to a process).
    NulByte,
}

impl AdapterError {
    fn new(kind: AdapterErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

/// Builds how to start the agent of `profile` for the seat described by `ctx`.
///
/// Claude: `--session-id`/`--resume`, `--mcp-config` (inline JSON), `--settings` (inline JSON
/// with the hooks), `--append-system-prompt`, `--model`, the profile's args, `--`, prompt.
/// Codex: `[resume]`, `-c` overrides (MCP server, per-server tool approval, notify, developer
/// instructions), `-m`, the profile's args, `--`, `[thread id]`, prompt. The one thing read from
/// disk: the user's own codex `notify` (their `config.toml`), which duet's notify runs after itself.
pub fn launch_spec(
    profile: &AgentProfile,
    ctx: &LaunchContext,
) -> Result<LaunchSpec, AdapterError> {
    let user_notify = match profile.kind {
        AgentKind::Codex => codex_home(profile).and_then(|home| user_codex_notify(&home)),
        AgentKind::Claude => None,
    };
    launch_spec_with(profile, ctx, user_notify.as_deref())
}

/// [`launch_spec`] with the user's codex `notify` given instead of read (no IO).
pub fn launch_spec_with(
    profile: &AgentProfile,
    ctx: &LaunchContext,
    user_codex_notify: Option<&[String]>,
) -> Result<LaunchSpec, AdapterError> {
    let args = match profile.kind {
        AgentKind::Claude => claude::args(profile, ctx)?,
        AgentKind::Codex => codex::args(profile, ctx, user_codex_notify)?,
    };
    let spec = LaunchSpec {
        program: profile.command.clone(),
        args,
        env: agent_env(profile, ctx)?,
        cwd: ctx.worktree.clone(),
    };
    check_no_nul(&spec)?;
    Ok(spec)
}

/// The profile's env, then duet's variables (which a profile cannot override).
fn agent_env(
    profile: &AgentProfile,
    ctx: &LaunchContext,
) -> Result<Vec<(String, String)>, AdapterError> {
    let mut env = Vec::new();
    for (key, value) in &profile.env {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(AdapterError::new(
                AdapterErrorKind::InvalidEnvName,
                format!(
                    "env var name {key:?} of the agent profile is not usable (empty, `=` or NUL)"
                ),
            ));
        }
        env.push((key.clone(), value.clone()));
    }
    env.extend(duet_env(ctx)?);
    Ok(env)
}

/// DUET_SOCKET, DUET_TOKEN, DUET_TASK, DUET_ROLE for `ctx`, and DUET_HOP_LOG when the engine
/// has one (the helpers mark a message's hops in the same file; codex passes its MCP server
/// only the env it is given).
pub fn duet_env(ctx: &LaunchContext) -> Result<Vec<(String, String)>, AdapterError> {
    let mut env = vec![
        (
            env_names::SOCKET.to_owned(),
            utf8(&ctx.socket, "the socket")?.to_owned(),
        ),
        (env_names::TOKEN.to_owned(), ctx.token.clone()),
        (env_names::TASK.to_owned(), ctx.task_id.clone()),
        (env_names::ROLE.to_owned(), ctx.role.as_str().to_owned()),
    ];
    if let Some(path) = hop_log_env() {
        env.push((env_names::HOP_LOG.to_owned(), path));
    }
    Ok(env)
}

/// The engine's hop log file (`DUET_HOP_LOG`), passed on to the agents' helpers.
pub(crate) fn hop_log_env() -> Option<String> {
    std::env::var(env_names::HOP_LOG)
        .ok()
        .filter(|p| !p.is_empty())
}

fn check_no_nul(spec: &LaunchSpec) -> Result<(), AdapterError> {
    let texts = std::iter::once(&spec.program)
        .chain(&spec.args)
        .chain(spec.env.iter().map(|(_, value)| value));
    for text in texts {
        if text.contains('\0') {
            return Err(AdapterError::new(
                AdapterErrorKind::NulByte,
                format!("{:?} contains a NUL byte", truncate(text, 60)),
            ));
        }
    }
    Ok(())
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

pub(crate) fn utf8<'a>(path: &'a Path, what: &str) -> Result<&'a str, AdapterError> {
    path.to_str().ok_or_else(|| {
        AdapterError::new(
            AdapterErrorKind::NonUtf8Path,
            format!("the path of {what} ({}) is not valid UTF-8", path.display()),
        )
    })
}

/// `text` quoted for a POSIX shell (hook commands are run by `sh -c`).
pub(crate) fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests;

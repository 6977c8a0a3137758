//! A codex seat on its app-server (`transport = "app-server"`): where its socket and thread
//! file live, the `-c` overrides its `codex app-server` and TUI share (duet's MCP server, no
//! `notify`: turns come from the app-server's notifications), the sandbox and approval policy
//! its `thread/start` asks for, and the pane command `duet codex-seat` that runs both (pure).

use std::path::{Path, PathBuf};

use duet_core::config::AgentProfile;
use duet_core::protocol::Role;

use super::read_only::codex_reviewer_args;
use super::{AdapterError, LaunchContext, codex::codex_config_overrides_chained, utf8};
use crate::codex_app_server::protocol::{ApprovalPolicy, SandboxMode};
use crate::toml_value::TomlValue;

/// Where one seat's app-server listens and where duet tells the pane which thread to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppServerPaths {
    /// `unix://` socket of `codex app-server`, in a private (0700) folder.
    pub socket: PathBuf,
    /// The thread id, written by the engine once the thread has its first turn (the TUI can
    /// open a thread only then); the pane's `duet codex-seat` waits for it.
    pub thread_file: PathBuf,
    /// The app-server's stderr.
    pub log: PathBuf,
}

/// The paths of `role`'s app-server in task `task_id`, beside the engine's socket
/// `engine_socket` (short, private: `/tmp/duet-<uid>/<hash>.codex/<hash>-<role>.sock`).
pub fn app_server_paths(engine_socket: &Path, task_id: &str, role: Role) -> AppServerPaths {
    let folder = engine_socket.with_extension("codex");
    let stem = format!("{:012x}-{}", fnv1a(task_id.as_bytes()) >> 16, role.as_str());
    AppServerPaths {
        socket: folder.join(format!("{stem}.sock")),
        thread_file: folder.join(format!("{stem}.thread")),
        log: folder.join(format!("{stem}.log")),
    }
}

/// What a codex seat on its app-server needs: the shared `-c` arguments and the thread's
/// sandbox and approval policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodexRemoteSpec {
    /// `-c key=value` pairs for both `codex app-server` and `codex resume --remote`.
    pub config_args: Vec<String>,
    pub sandbox: SandboxMode,
    pub approval: ApprovalPolicy,
    /// Profile arguments that have no meaning for an app-server (kept out, for the log).
    pub dropped: Vec<String>,
}

/// The app-server form of `profile` for `ctx`'s seat. The profile's `-c`/`--config` overrides
/// are kept; sandbox and approval flags become the thread's settings (a reviewer: read-only,
/// never asks); `model` becomes `-c model=...`; anything else is dropped.
pub fn codex_remote_spec(
    profile: &AgentProfile,
    ctx: &LaunchContext,
) -> Result<CodexRemoteSpec, AdapterError> {
    let mut config_args = Vec::new();
    for (key, value) in codex_config_overrides_chained(ctx, None)? {
        if key == "notify" {
            continue;
        }
        config_args.extend(["-c".to_owned(), format!("{key}={}", value.encode())]);
    }
    if let Some(model) = &profile.model {
        let value = TomlValue::string(model.clone()).encode();
        config_args.extend(["-c".to_owned(), format!("model={value}")]);
    }
    let settings = thread_settings(profile, ctx.role);
    config_args.extend(settings.config_args);
    Ok(CodexRemoteSpec {
        config_args,
        sandbox: settings.sandbox,
        approval: settings.approval,
        dropped: settings.dropped,
    })
}

/// What `profile`'s arguments say for `role`'s thread: its sandbox and approval policy, the
/// `-c` overrides to keep, and the arguments dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSettings {
    pub sandbox: SandboxMode,
    pub approval: ApprovalPolicy,
    pub config_args: Vec<String>,
    pub dropped: Vec<String>,
}

/// See [`ThreadSettings`] (a reviewer: read-only and never asks, whatever the profile says).
pub fn thread_settings(profile: &AgentProfile, role: Role) -> ThreadSettings {
    let (args, mut dropped) = match role {
        Role::Reviewer => codex_reviewer_args(&profile.args),
        Role::Worker => (profile.args.clone(), Vec::new()),
    };
    let mut config_args = Vec::new();
    let mut sandbox = SandboxMode::WorkspaceWrite;
    let mut approval = ApprovalPolicy::OnRequest;
    let mut items = args.iter();
    while let Some(arg) = items.next() {
        match arg.as_str() {
            "-c" | "--config" => {
                if let Some(value) = items.next() {
                    config_args.extend(["-c".to_owned(), value.clone()]);
                }
            }
            "--dangerously-bypass-approvals-and-sandbox" | "--yolo" => {
                sandbox = SandboxMode::DangerFullAccess;
                approval = ApprovalPolicy::Never;
            }
            "--full-auto" => {
                sandbox = SandboxMode::WorkspaceWrite;
                approval = ApprovalPolicy::OnRequest;
            }
            "-s" | "--sandbox" => match items.next().map(String::as_str) {
                Some("read-only") => sandbox = SandboxMode::ReadOnly,
                Some("workspace-write") => sandbox = SandboxMode::WorkspaceWrite,
                Some("danger-full-access") => sandbox = SandboxMode::DangerFullAccess,
                other => dropped.extend([arg.clone()].into_iter().chain(other.map(str::to_owned))),
            },
            "-a" | "--ask-for-approval" => match items.next().map(String::as_str) {
                Some("untrusted") => approval = ApprovalPolicy::Untrusted,
                Some("on-request" | "on-failure") => approval = ApprovalPolicy::OnRequest,
                Some("never") => approval = ApprovalPolicy::Never,
                other => dropped.extend([arg.clone()].into_iter().chain(other.map(str::to_owned))),
            },
            _ => dropped.push(arg.clone()),
        }
    }
    if role == Role::Reviewer {
        sandbox = SandboxMode::ReadOnly;
        approval = ApprovalPolicy::Never;
    }
    ThreadSettings {
        sandbox,
        approval,
        config_args,
        dropped,
    }
}

/// The pane's program after `duet exec-agent --`: `duet codex-seat --socket S --thread-file F
/// --log L -- <codex> <config args>` (it starts the app-server, then the TUI on the thread).
pub fn codex_seat_argv(
    duet_exe: &Path,
    codex: &str,
    paths: &AppServerPaths,
    spec: &CodexRemoteSpec,
) -> Result<Vec<String>, AdapterError> {
    let mut argv = vec![
        utf8(duet_exe, "the duet executable")?.to_owned(),
        "codex-seat".to_owned(),
        "--socket".to_owned(),
        utf8(&paths.socket, "the app-server socket")?.to_owned(),
        "--thread-file".to_owned(),
        utf8(&paths.thread_file, "the thread file")?.to_owned(),
        "--log".to_owned(),
        utf8(&paths.log, "the app-server log")?.to_owned(),
        "--".to_owned(),
        codex.to_owned(),
    ];
    argv.extend(spec.config_args.iter().cloned());
    Ok(argv)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionPlan;
    use duet_core::config::{AgentKind, AgentTransport};

    fn ctx(role: Role) -> LaunchContext {
        LaunchContext {
            role,
            task_id: "t".into(),
            worktree: "/w".into(),
            duet_exe: "/bin/duet".into(),
            socket: "/tmp/duet-0/abc.sock".into(),
            token: "tok".into(),
            system_prompt: String::new(),
            initial_prompt: None,
            session: SessionPlan::New { session_id: None },
        }
    }

    fn profile(args: &[&str]) -> AgentProfile {
        AgentProfile {
            kind: AgentKind::Codex,
            command: "codex".into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Default::default(),
            model: Some("gpt-x".into()),
            transport: AgentTransport::AppServer,
        }
    }

    #[test]
    fn flags_become_thread_settings_and_config_overrides_are_shared() {
        let args = [
            "-c",
            "model_provider=\"fake\"",
            "--dangerously-bypass-approvals-and-sandbox",
            "--search",
        ];
        let worker = codex_remote_spec(&profile(&args), &ctx(Role::Worker)).unwrap();
        assert_eq!(worker.sandbox, SandboxMode::DangerFullAccess);
        assert_eq!(worker.approval, ApprovalPolicy::Never);
        assert_eq!(worker.dropped, vec!["--search".to_owned()]);
        let joined = worker.config_args.join(" ");
        assert!(
            joined.contains("mcp_servers.duet.command=\"/bin/duet\""),
            "{joined}"
        );
        assert!(joined.contains("model_provider=\"fake\""), "{joined}");
        assert!(joined.contains("model=\"gpt-x\""), "{joined}");
        assert!(
            !joined.contains("notify"),
            "turns come from notifications: {joined}"
        );
        let reviewer = codex_remote_spec(&profile(&args), &ctx(Role::Reviewer)).unwrap();
        assert_eq!(
            (reviewer.sandbox, reviewer.approval),
            (SandboxMode::ReadOnly, ApprovalPolicy::Never),
            "a reviewer never writes, whatever its profile says"
        );
    }

    #[test]
    fn paths_are_short_private_and_apart_per_seat() {
        let engine = Path::new("/tmp/duet-0/0123456789abcdef.sock");
        let worker = app_server_paths(
            engine,
            "a-very-long-task-id-".repeat(5).as_str(),
            Role::Worker,
        );
        let reviewer = app_server_paths(
            engine,
            "a-very-long-task-id-".repeat(5).as_str(),
            Role::Reviewer,
        );
        assert_ne!(worker.socket, reviewer.socket);
        assert!(
            worker.socket.as_os_str().len() < 100,
            "{}",
            worker.socket.display()
        );
        assert_eq!(
            worker.socket.parent(),
            Some(Path::new("/tmp/duet-0/0123456789abcdef.codex"))
        );
        assert_eq!(worker.thread_file.parent(), worker.socket.parent());
    }
}

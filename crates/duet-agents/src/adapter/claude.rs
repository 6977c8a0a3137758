//! The claude adapter: `--mcp-config` and `--settings` (hooks) as inline JSON, the session flags,
//! the role prompt and the initial prompt.

use serde_json::{Map, Value, json};

use duet_core::config::AgentProfile;
use duet_core::protocol::Role;

use super::read_only::CLAUDE_REVIEWER_DENIED_TOOLS;
use super::{
    AdapterError, LaunchContext, MCP_SERVER_NAME, SessionPlan, env_names, shell_quote, utf8,
};

/// The claude hook events duet listens to, each running `<duet> hook claude`.
///
/// SessionStart reports the session id; PreToolUse / PostToolUse are activity; StopFailure is a
/// turn that ended with an API error.
pub const CLAUDE_HOOK_EVENTS: &[&str] = &[
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "Stop",
    "StopFailure",
    "Notification",
    "PermissionRequest",
    "SessionEnd",
];

/// Events whose hooks are matched against a tool name; `*` takes every tool.
const TOOL_EVENTS: &[&str] = &["PreToolUse", "PostToolUse", "PermissionRequest"];

pub(super) fn args(
    profile: &AgentProfile,
    ctx: &LaunchContext,
) -> Result<Vec<String>, AdapterError> {
    let mut args = Vec::new();
    match &ctx.session {
        SessionPlan::New {
            session_id: Some(id),
        } => {
            args.extend(["--session-id".to_owned(), id.clone()]);
        }
        SessionPlan::New { session_id: None } => {}
        SessionPlan::Resume { id } => args.extend(["--resume".to_owned(), id.clone()]),
    }
    args.extend(["--mcp-config".to_owned(), claude_mcp_config_json(ctx)?]);
    args.extend(["--settings".to_owned(), claude_settings_json(ctx)?]);
    if !ctx.system_prompt.is_empty() {
        args.extend([
            "--append-system-prompt".to_owned(),
            ctx.system_prompt.clone(),
        ]);
    }
    if let Some(model) = &profile.model {
        args.extend(["--model".to_owned(), model.clone()]);
    }
    if ctx.role == Role::Reviewer {
        // The reviewer cannot write: claude's file-editing tools are removed (also under
        // `--dangerously-skip-permissions`). One comma-separated value, so the variadic option
        // cannot swallow what follows.
        args.extend([
            "--disallowedTools".to_owned(),
            CLAUDE_REVIEWER_DENIED_TOOLS.join(","),
        ]);
    }
    args.extend(profile.args.iter().cloned());
    if let Some(prompt) = &ctx.initial_prompt {
        // `--` ends the options: variadic options such as `--mcp-config <configs...>` or a
        // profile's `--allowedTools <tools...>` would otherwise swallow the prompt.
        args.extend(["--".to_owned(), prompt.clone()]);
    }
    Ok(args)
}

/// `{"mcpServers":{"duet":{"type":"stdio","command":<duet>,"args":["mcp"],"env":{...},
/// "alwaysLoad":true}}}`.
///
/// `alwaysLoad`: claude 2.1.332 defers MCP tools behind its ToolSearch tool (the model sees only
/// their names and must search before it can call one); duet's protocol tools are needed on every
/// turn, so they are always in the request's tool list. claude 2.1.197 accepts the key too (its
/// MCP config schema has it) and lists MCP tools up front anyway.
pub fn claude_mcp_config_json(ctx: &LaunchContext) -> Result<String, AdapterError> {
    let env: Map<String, Value> = bridge_env(ctx)?
        .into_iter()
        .map(|(key, value)| (key.to_owned(), Value::String(value)))
        .collect();
    let config = json!({
        "mcpServers": {
            MCP_SERVER_NAME: {
                "type": "stdio",
                "command": utf8(&ctx.duet_exe, "the duet executable")?,
                "args": ["mcp"],
                "env": env,
                "alwaysLoad": true,
            }
        }
    });
    Ok(config.to_string())
}

/// `{"hooks":{EVENT:[{"matcher"?, "hooks":[{"type":"command","command":"<duet> hook claude"}]}]}}`.
pub fn claude_settings_json(ctx: &LaunchContext) -> Result<String, AdapterError> {
    let command = format!(
        "{} hook claude",
        shell_quote(utf8(&ctx.duet_exe, "the duet executable")?)
    );
    let hooks: Map<String, Value> = CLAUDE_HOOK_EVENTS
        .iter()
        .map(|event| {
            let mut group = json!({ "hooks": [{ "type": "command", "command": command }] });
            if TOOL_EVENTS.contains(event) {
                group["matcher"] = json!("*");
            }
            ((*event).to_owned(), json!([group]))
        })
        .collect();
    Ok(json!({ "hooks": hooks }).to_string())
}

/// The env the MCP bridge is started with (given explicitly: an MCP client may filter its own).
pub(super) fn bridge_env(ctx: &LaunchContext) -> Result<Vec<(&'static str, String)>, AdapterError> {
    Ok([
        (
            env_names::SOCKET,
            utf8(&ctx.socket, "the socket")?.to_owned(),
        ),
        (env_names::TOKEN, ctx.token.clone()),
        (env_names::TASK, ctx.task_id.clone()),
        (env_names::ROLE, ctx.role.as_str().to_owned()),
    ]
    .into_iter()
    .chain(super::hop_log_env().map(|path| (env_names::HOP_LOG, path)))
    .collect())
}

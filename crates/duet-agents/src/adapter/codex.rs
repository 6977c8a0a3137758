//! The codex adapter: `-c` overrides for duet's MCP server (tools approved for that server
//! only), `notify`, the role prompt as developer instructions, and `resume <thread-id>`.

use std::collections::BTreeMap;

use duet_core::config::AgentProfile;

use super::claude::bridge_env;
use super::{AdapterError, LaunchContext, MCP_SERVER_NAME, SessionPlan, utf8};
use crate::toml_value::TomlValue;

/// The config key prefix of duet's MCP server in codex (`mcp_servers.duet`).
pub const CODEX_MCP_SERVER_KEY: &str = "mcp_servers.duet";

pub(super) fn args(
    profile: &AgentProfile,
    ctx: &LaunchContext,
) -> Result<Vec<String>, AdapterError> {
    let mut args = Vec::new();
    if matches!(ctx.session, SessionPlan::Resume { .. }) {
        args.push("resume".to_owned());
    }
    for (key, value) in codex_config_overrides(ctx)? {
        args.extend(["-c".to_owned(), format!("{key}={}", value.encode())]);
    }
    if let Some(model) = &profile.model {
        args.extend(["-m".to_owned(), model.clone()]);
    }
    args.extend(profile.args.iter().cloned());
    let resume_id = match &ctx.session {
        SessionPlan::Resume { id } => Some(id.clone()),
        SessionPlan::New { .. } => None,
    };
    let positionals: Vec<String> = resume_id
        .into_iter()
        .chain(ctx.initial_prompt.clone())
        .collect();
    if !positionals.is_empty() {
        // `--` ends the options, so a prompt starting with `-` is not taken for a flag.
        args.push("--".to_owned());
        args.extend(positionals);
    }
    Ok(args)
}

/// The `-c key=value` overrides duet gives codex, as (dotted key, value) pairs in order.
pub fn codex_config_overrides(
    ctx: &LaunchContext,
) -> Result<Vec<(String, TomlValue)>, AdapterError> {
    let duet = utf8(&ctx.duet_exe, "the duet executable")?;
    let env: BTreeMap<String, TomlValue> = bridge_env(ctx)?
        .into_iter()
        .map(|(key, value)| (key.to_owned(), TomlValue::String(value)))
        .collect();
    debug_assert_eq!(
        CODEX_MCP_SERVER_KEY,
        format!("mcp_servers.{MCP_SERVER_NAME}")
    );
    let server = CODEX_MCP_SERVER_KEY;
    let mut overrides = vec![
        (format!("{server}.command"), TomlValue::string(duet)),
        (format!("{server}.args"), TomlValue::strings(["mcp"])),
        (format!("{server}.env"), TomlValue::Table(env)),
        // Per server: only duet's tools run without asking, the user's other servers keep theirs.
        (
            format!("{server}.default_tools_approval_mode"),
            TomlValue::string("approve"),
        ),
        (
            "notify".to_owned(),
            TomlValue::strings([duet, "hook", "codex"]),
        ),
    ];
    if !ctx.system_prompt.is_empty() {
        overrides.push((
            "developer_instructions".to_owned(),
            TomlValue::string(ctx.system_prompt.clone()),
        ));
    }
    Ok(overrides)
}

//! The codex adapter: `-c` overrides for duet's MCP server (tools approved for that server
//! only), `notify` (chained to the user's own), the role prompt as developer instructions, and
//! `resume <thread-id>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use duet_core::config::AgentProfile;

use super::claude::bridge_env;
use super::read_only::{CODEX_REVIEWER_FLAGS, codex_reviewer_args};
use super::{AdapterError, LaunchContext, MCP_SERVER_NAME, SessionPlan, utf8};
use crate::toml_value::TomlValue;
use duet_core::protocol::Role;

/// The config key prefix of duet's MCP server in codex (`mcp_servers.duet`).
pub const CODEX_MCP_SERVER_KEY: &str = "mcp_servers.duet";

/// The flag of `duet hook codex` that names the user's own notify command (a JSON array), run
/// after duet's hook with the same payload argument.
pub const CODEX_NOTIFY_CHAIN_FLAG: &str = "--then";

pub(super) fn args(
    profile: &AgentProfile,
    ctx: &LaunchContext,
    user_notify: Option<&[String]>,
) -> Result<Vec<String>, AdapterError> {
    let mut args = Vec::new();
    if matches!(ctx.session, SessionPlan::Resume { .. }) {
        args.push("resume".to_owned());
    }
    for (key, value) in codex_config_overrides_chained(ctx, user_notify)? {
        args.extend(["-c".to_owned(), format!("{key}={}", value.encode())]);
    }
    if let Some(model) = &profile.model {
        args.extend(["-m".to_owned(), model.clone()]);
    }
    if ctx.role == Role::Reviewer {
        // The reviewer cannot write: the read-only sandbox, and no profile flag lifting it.
        args.extend(CODEX_REVIEWER_FLAGS.iter().map(|f| (*f).to_owned()));
        args.extend(codex_reviewer_args(&profile.args).0);
    } else {
        args.extend(profile.args.iter().cloned());
    }
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

/// The `-c key=value` overrides duet gives codex, as (dotted key, value) pairs in order, for a
/// user without a `notify` of their own.
pub fn codex_config_overrides(
    ctx: &LaunchContext,
) -> Result<Vec<(String, TomlValue)>, AdapterError> {
    codex_config_overrides_chained(ctx, None)
}

/// [`codex_config_overrides`] with the user's own `notify` command (`user_notify`): `-c notify`
/// replaces it, so duet's hook runs it after itself (`duet hook codex --then '<json argv>'`),
/// and nothing of the user's stops working while duet runs.
pub fn codex_config_overrides_chained(
    ctx: &LaunchContext,
    user_notify: Option<&[String]>,
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
        ("notify".to_owned(), notify_value(duet, user_notify)),
    ];
    if !ctx.system_prompt.is_empty() {
        overrides.push((
            "developer_instructions".to_owned(),
            TomlValue::string(ctx.system_prompt.clone()),
        ));
    }
    Ok(overrides)
}

/// `[duet, "hook", "codex"]`, plus `--then <the user's argv as JSON>` when they have their own.
fn notify_value(duet: &str, user_notify: Option<&[String]>) -> TomlValue {
    let mut argv = vec![duet.to_owned(), "hook".to_owned(), "codex".to_owned()];
    if let Some(user) = user_notify.filter(|argv| !argv.is_empty()) {
        argv.push(CODEX_NOTIFY_CHAIN_FLAG.to_owned());
        argv.push(serde_json::Value::from(user.to_vec()).to_string());
    }
    TomlValue::strings(argv)
}

/// The codex home the agent of `profile` will use: its env's `CODEX_HOME`, else this process's,
/// else `.codex` under its (or this process's) `HOME`.
pub fn codex_home(profile: &AgentProfile) -> Option<PathBuf> {
    let var = |name: &str| {
        profile
            .env
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    };
    var("CODEX_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| Path::new(&home).join(".codex")))
}

/// The user's own `notify` command, read from `<codex_home>/config.toml` (top-level `notify`,
/// an array of strings). `None` when there is none or the file cannot be read as TOML (codex
/// reports a broken config itself).
pub fn user_codex_notify(codex_home: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(codex_home.join("config.toml")).ok()?;
    let table: toml::Table = text.parse().ok()?;
    let argv: Vec<String> = table
        .get("notify")?
        .as_array()?
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect::<Option<_>>()?;
    (!argv.is_empty()).then_some(argv)
}

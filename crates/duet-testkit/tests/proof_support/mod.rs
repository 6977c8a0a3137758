//! Shared helpers of the proof tests: hermetic git repositories, bounded process runs, awaiting
//! files written by hooks, and the MCP probe wiring for both CLIs.

#![allow(dead_code)] // each proof test uses a different subset

use std::path::{Path, PathBuf};
use std::time::Duration;

use duet_testkit::hermetic;
use duet_testkit::mcp_probe::{PROBE_RECORD_FILE_ENV, PROBE_SERVER_NAME};

/// Generous bound for one agent run against the fake server.
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(60);

/// A temporary git repository with one commit (a README), its path canonical.
pub fn git_repo() -> (tempfile::TempDir, PathBuf) {
    hermetic::git_repo("duet-proof-repo-")
}

/// A one-step script: a prompt containing `prompt_part` is answered with the text `answer`.
pub fn answer_script(prompt_part: &str, answer: &str) -> duet_testkit::Script {
    use duet_testkit::agent_env::toml_str;
    duet_testkit::Script::from_toml_str(&format!(
        r#"
title = "Proof session"

[[step]]
name = "answer the prompt"
match.user_contains = {prompt}
reply.text = {answer}
"#,
        prompt = toml_str(prompt_part),
        answer = toml_str(answer),
    ))
    .unwrap()
}

/// A shell command that appends its stdin plus a newline to `file` (a hook receiver).
pub fn append_stdin_command(file: &Path) -> String {
    format!("cat >> '{}'; echo >> '{}'", file.display(), file.display())
}

/// The JSON objects in a file of hook payloads (one or more per line).
pub fn json_lines(content: &str) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(content)
        .into_iter::<serde_json::Value>()
        .map(|value| value.expect("hook payload is JSON"))
        .collect()
}

/// The probe MCP server binary built with these tests.
pub fn probe_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_duet-mcp-probe"))
}

/// `--mcp-config` JSON for claude giving it the probe server recording into `record_file`.
pub fn claude_probe_mcp_config(record_file: &Path) -> String {
    serde_json::json!({
        "mcpServers": {
            PROBE_SERVER_NAME: {
                "command": probe_bin(),
                "args": [],
                "env": { PROBE_RECORD_FILE_ENV: record_file },
            }
        }
    })
    .to_string()
}

/// `-c` overrides for codex giving it the probe server recording into `record_file`, its tools
/// approved without asking.
pub fn codex_probe_args(record_file: &Path) -> Vec<String> {
    use duet_testkit::agent_env::toml_str;
    let prefix = format!("mcp_servers.{PROBE_SERVER_NAME}");
    let settings = [
        (
            format!("{prefix}.command"),
            toml_str(&probe_bin().to_string_lossy()),
        ),
        (format!("{prefix}.args"), "[]".to_owned()),
        (
            format!("{prefix}.env"),
            format!(
                "{{{PROBE_RECORD_FILE_ENV}={}}}",
                toml_str(&record_file.to_string_lossy())
            ),
        ),
        (
            format!("{prefix}.default_tools_approval_mode"),
            toml_str("approve"),
        ),
    ];
    settings
        .into_iter()
        .flat_map(|(key, value)| ["-c".to_owned(), format!("{key}={value}")])
        .collect()
}

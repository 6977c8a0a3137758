//! `duet-mcp-probe`: the test MCP stdio server (see `duet_testkit::mcp_probe`).
//!
//! Records each `record` tool call as a JSON line in the file named by `DUET_MCP_PROBE_FILE`.

use std::process::ExitCode;

use duet_testkit::mcp_probe::{PROBE_RECORD_FILE_ENV, serve_stdio};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(record_file) = std::env::var_os(PROBE_RECORD_FILE_ENV) else {
        eprintln!(
            "duet-mcp-probe: {PROBE_RECORD_FILE_ENV} is not set; it must name the file to record calls in"
        );
        return ExitCode::from(2);
    };
    match serve_stdio(record_file.into()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!(
                "duet-mcp-probe: {err}: {}",
                std::error::Error::source(&err)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            );
            ExitCode::FAILURE
        }
    }
}

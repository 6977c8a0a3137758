//! A tiny MCP stdio server for tests: one `record` tool that appends each call's arguments to a file.
//!
//! Agents under test get this server in their MCP config; the test then reads the record file to
//! assert that the agent really called the tool, and with which arguments.

use std::io::Write;
use std::path::{Path, PathBuf};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};

/// Env var naming the file the probe appends its calls to (one JSON object per line).
pub const PROBE_RECORD_FILE_ENV: &str = "DUET_MCP_PROBE_FILE";
/// The MCP server name the probe reports (and the name tests register it under).
pub const PROBE_SERVER_NAME: &str = "probe";
/// The probe's only tool.
pub const PROBE_TOOL_NAME: &str = "record";
/// What the `record` tool answers.
pub const PROBE_TOOL_ANSWER: &str = "recorded";

/// Arguments of the `record` tool, also the shape of one line of the record file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecordArgs {
    /// Free text chosen by the caller.
    pub text: String,
    /// A number chosen by the caller.
    pub n: i64,
}

/// Error of the probe server or of reading its record file.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} ({path})")]
pub struct McpProbeError {
    pub kind: McpProbeErrorKind,
    action: &'static str,
    path: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// What went wrong in the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpProbeErrorKind {
    /// Reading the record file failed.
    ReadRecords,
    /// A line of the record file is not a `RecordArgs` JSON object.
    ParseRecord,
    /// The MCP session on stdio failed.
    Serve,
}

/// The probe MCP server: records every `record` call in `record_file`.
#[derive(Debug, Clone)]
pub struct ProbeServer {
    record_file: PathBuf,
    #[allow(dead_code)] // read by the code `tool_handler` generates
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl ProbeServer {
    /// A probe that appends to `record_file`.
    pub fn new(record_file: PathBuf) -> Self {
        Self {
            record_file,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Record a text and a number for the test harness. Always answers 'recorded'."
    )]
    async fn record(&self, Parameters(args): Parameters<RecordArgs>) -> Result<String, ErrorData> {
        append_record(&self.record_file, &args).map_err(|err| {
            ErrorData::internal_error(
                format!("failed to append to {}: {err}", self.record_file.display()),
                None,
            )
        })?;
        Ok(PROBE_TOOL_ANSWER.to_owned())
    }
}

#[tool_handler]
impl ServerHandler for ProbeServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new(PROBE_SERVER_NAME, env!("CARGO_PKG_VERSION")),
        )
    }
}

/// Appends one call as a JSON line; written in one `write_all` so a reader never sees half a line
/// from a single writer.
fn append_record(path: &Path, args: &RecordArgs) -> std::io::Result<()> {
    let mut line = serde_json::to_string(args).map_err(std::io::Error::other)?;
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// Serves the probe on this process's stdin/stdout until the client disconnects.
pub async fn serve_stdio(record_file: PathBuf) -> Result<(), McpProbeError> {
    let path = record_file.display().to_string();
    let serve_error = |source: Box<dyn std::error::Error + Send + Sync>| McpProbeError {
        kind: McpProbeErrorKind::Serve,
        action: "serve the MCP probe on stdio",
        path: path.clone(),
        source,
    };
    let running = ProbeServer::new(record_file)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|err| serve_error(Box::new(err)))?;
    running
        .waiting()
        .await
        .map_err(|err| serve_error(Box::new(err)))?;
    Ok(())
}

/// Reads all calls recorded so far; a missing file means no calls yet.
pub fn read_records(path: &Path) -> Result<Vec<RecordArgs>, McpProbeError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(McpProbeError {
                kind: McpProbeErrorKind::ReadRecords,
                action: "read the MCP probe record file",
                path: path.display().to_string(),
                source: Box::new(err),
            });
        }
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|err| McpProbeError {
                kind: McpProbeErrorKind::ParseRecord,
                action: "parse a line of the MCP probe record file",
                path: format!("{}:{}", path.display(), index + 1),
                source: Box::new(err),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("calls.jsonl");
        assert!(read_records(&file).unwrap().is_empty());
        let first = RecordArgs {
            text: "a".into(),
            n: 1,
        };
        let second = RecordArgs {
            text: "b \"quoted\"\nline".into(),
            n: -7,
        };
        append_record(&file, &first).unwrap();
        append_record(&file, &second).unwrap();
        assert_eq!(read_records(&file).unwrap(), vec![first, second]);
    }

    #[test]
    fn a_corrupt_line_is_reported_with_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("calls.jsonl");
        std::fs::write(&file, "{\"text\":\"a\",\"n\":1}\nnot json\n").unwrap();
        let err = read_records(&file).unwrap_err();
        assert_eq!(err.kind, McpProbeErrorKind::ParseRecord);
        assert!(err.to_string().contains("calls.jsonl:2"), "{err}");
    }
}

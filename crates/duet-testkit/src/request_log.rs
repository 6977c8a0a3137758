//! The request log of a fake model server: every request as a JSON line on disk and in
//! memory, with waiting for entries (a condition variable, no sleeping).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::request_view::ToolResult;
use crate::script::Api;

/// One logged request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// 1-based arrival order.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Request path (without query).
    pub path: String,
    /// The API, for model requests.
    pub api: Option<Api>,
    /// How the request was answered.
    pub outcome: Outcome,
    /// The script scope the request fell into.
    pub scope: Option<String>,
    /// The `model` field.
    pub model: String,
    /// Whether SSE was asked for.
    pub stream: bool,
    /// The whole system prompt (Anthropic `system`; OpenAI instructions + developer messages).
    pub system: String,
    /// The last user text (see [`crate::RequestView::last_user_text`]).
    pub user_text: String,
    /// The tool results the request ends with.
    pub tool_results: Vec<ToolResult>,
    /// The offered tool names (`mcp__srv__tool` for MCP tools on both APIs).
    pub tools: Vec<String>,
    /// What was answered, in a few words.
    pub reply: String,
    /// Why nothing matched, or what was wrong with the request.
    pub detail: Option<String>,
    /// The token usage the reply reported (none for errors and dropped streams).
    #[serde(default)]
    pub served: Option<crate::wire::Usage>,
    /// When the request arrived (microseconds since the Unix epoch; the reply follows at
    /// once unless the step has a delay): latency benchmarks time deliveries with it.
    #[serde(default)]
    pub at_unix_us: u64,
}

impl LogEntry {
    /// Whether the request used up a script step.
    pub fn is_step(&self) -> bool {
        matches!(self.outcome, Outcome::Step { .. })
    }

    /// Whether a tool with this name was offered.
    pub fn offered(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t == tool)
    }

    /// The first tool result from the named tool.
    pub fn tool_result(&self, tool: &str) -> Option<&ToolResult> {
        self.tool_results
            .iter()
            .find(|r| r.name.as_deref() == Some(tool))
    }
}

/// The usage served over `entries` (model requests that got a whole reply), title requests
/// included, as the CLIs count those too.
pub fn served_total<'a>(entries: impl IntoIterator<Item = &'a LogEntry>) -> crate::wire::Usage {
    let mut total = crate::wire::Usage::default();
    for usage in entries.into_iter().filter_map(|e| e.served.as_ref()) {
        total.add(usage);
    }
    total
}

/// How a request was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// A script step (0-based index in `Script::steps`) answered and was used up.
    Step {
        /// Index in the script's steps.
        index: usize,
        /// The step's name.
        name: Option<String>,
    },
    /// A fallback step answered (not used up).
    Fallback {
        /// Index in the script's fallbacks.
        index: usize,
        /// The fallback's name.
        name: Option<String>,
    },
    /// A session-title request, answered with the script's title.
    Title,
    /// No step matched: answered with a 400 "duet fake model: no script step matches ...".
    Unmatched,
    /// `POST /v1/messages/count_tokens`.
    CountTokens,
    /// `HEAD /` or `GET /` connectivity probe.
    Probe,
    /// The body was not a readable request.
    BadRequest,
    /// Unknown path.
    NoRoute,
}

/// The log: in memory for assertions, and appended to a JSON lines file as it grows.
#[derive(Debug)]
pub struct RequestLog {
    path: PathBuf,
    state: Mutex<LogState>,
    grown: Condvar,
}

#[derive(Debug)]
struct LogState {
    entries: Vec<LogEntry>,
    file: File,
}

impl RequestLog {
    /// Creates (truncates) the log file at `path`.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let file = File::create(path)?;
        Ok(RequestLog {
            path: path.to_path_buf(),
            state: Mutex::new(LogState {
                entries: Vec::new(),
                file,
            }),
            grown: Condvar::new(),
        })
    }

    /// The JSON lines file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        // A panic while holding the lock cannot leave the entries half-updated (push is the
        // last step), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `entry` (its `seq` is assigned here) and wakes waiters. A failure to write the
    /// file is reported on stderr; the in-memory log still gets the entry.
    pub fn append(&self, mut entry: LogEntry) -> LogEntry {
        let mut state = self.lock();
        entry.seq = state.entries.len() as u64 + 1;
        let line = serde_json::to_string(&entry)
            .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()));
        if let Err(e) = writeln!(state.file, "{line}").and_then(|()| state.file.flush()) {
            eprintln!(
                "duet fake model: failed to write request log {}: {e}",
                self.path.display()
            );
        }
        state.entries.push(entry.clone());
        drop(state);
        self.grown.notify_all();
        entry
    }

    /// A copy of every entry so far.
    pub fn entries(&self) -> Vec<LogEntry> {
        self.lock().entries.clone()
    }

    /// Waits until `done(entries)` holds, re-checking on every new entry. On timeout,
    /// returns the entries seen so far as the error.
    pub fn wait_for(
        &self,
        mut done: impl FnMut(&[LogEntry]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<LogEntry>, Vec<LogEntry>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if done(&state.entries) {
                return Ok(state.entries.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(state.entries.clone());
            }
            state = self
                .grown
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Reads a JSON lines log file written by a fake model server (e.g. by the binary).
pub fn read_log_file(path: &Path) -> std::io::Result<Vec<LogEntry>> {
    let reader = BufReader::new(File::open(path)?);
    let mut entries = Vec::new();
    for (number, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}:{}: {e}", path.display(), number + 1),
            )
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

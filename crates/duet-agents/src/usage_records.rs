//! Reading each CLI's own record of its token usage: claude's session transcript (JSONL under
//! `<config dir>/projects/`, named by the Stop hook's `transcript_path`) and codex's rollout
//! file (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*-<thread id>.jsonl`). Also the last
//! usage-limit or rate-limit error each records, so the engine can park instead of restarting.
//!
//! Facts (claude 2.1.332, codex 0.171.0, measured against duet-testkit's fake servers):
//! - claude writes one `type: "assistant"` line per content block; the lines of one reply share
//!   `message.id` and carry the same `message.usage` (final counts). Counted once per id.
//!   An API error becomes an assistant line with `model: "<synthetic>"` and the text
//!   `API Error: Request rejected (429) · <type>: <message>`.
//! - codex writes a `type: "token_usage_record"` line per model response (`response_id`,
//!   `usage` with `input_tokens` including `cached_input_tokens`); older versions only have
//!   `event_msg` / `token_count` with the thread's `total_token_usage`. A failed turn ends
//!   with `event_msg` / `task_complete` whose `error.message` says e.g. `exceeded retry limit,
//!   last status: 429 Too Many Requests`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use duet_core::accounting::{TokenCounts, UsageByModel};
use serde_json::Value;

/// What one record file says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageRecord {
    /// Tokens by model.
    pub usage: UsageByModel,
    /// The error text of the last turn, if that turn ended in a limit-like API error (429,
    /// "usage limit"...). A later successful reply clears it.
    pub limit_error: Option<String>,
}

/// A failure to read a record file.
#[derive(Debug, thiserror::Error)]
#[error("failed to read the usage record {}: {source}", path.display())]
pub struct UsageReadError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

fn read_lines(path: &Path) -> Result<Vec<Value>, UsageReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| UsageReadError {
        path: path.to_owned(),
        source,
    })?;
    // A line being written (no newline yet, or cut) is skipped: it is read whole next time.
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

fn u64_at(value: &Value, key: &str) -> u64 {
    value.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn is_limit_text(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("429")
        || lower.contains("rate limit")
        || lower.contains("rate_limit")
        || lower.contains("usage limit")
        || lower.contains("hit your limit")
}

/// Reads a claude session transcript.
pub fn read_claude_transcript(path: &Path) -> Result<UsageRecord, UsageReadError> {
    let mut by_id: BTreeMap<String, (String, TokenCounts)> = BTreeMap::new();
    let mut limit_error = None;
    for line in read_lines(path)? {
        if line.get("type").and_then(Value::as_str) != Some("assistant") {
            continue;
        }
        let Some(message) = line.get("message") else {
            continue;
        };
        let model = message
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if model == "<synthetic>" {
            let text: String = message
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            if text.starts_with("API Error") && is_limit_text(&text) {
                limit_error = Some(text);
            }
            continue;
        }
        let (Some(id), Some(usage)) = (
            message.get("id").and_then(Value::as_str),
            message.get("usage"),
        ) else {
            continue;
        };
        limit_error = None;
        let counts = TokenCounts {
            input: u64_at(usage, "input_tokens"),
            output: u64_at(usage, "output_tokens"),
            cache_read: u64_at(usage, "cache_read_input_tokens"),
            cache_write: u64_at(usage, "cache_creation_input_tokens"),
        };
        // The last line of a reply wins (they carry the same counts today).
        by_id.insert(id.to_owned(), (model, counts));
    }
    let mut usage = UsageByModel::new();
    for (model, counts) in by_id.into_values() {
        usage.entry(model).or_default().add(&counts);
    }
    Ok(UsageRecord { usage, limit_error })
}

/// codex's usage object: `input_tokens` includes the cached ones.
fn codex_counts(usage: &Value) -> TokenCounts {
    let input = u64_at(usage, "input_tokens");
    let cached = u64_at(usage, "cached_input_tokens");
    TokenCounts {
        input: input.saturating_sub(cached),
        output: u64_at(usage, "output_tokens"),
        cache_read: cached,
        cache_write: u64_at(usage, "cache_write_input_tokens"),
    }
}

/// Reads a codex rollout file.
pub fn read_codex_rollout(path: &Path) -> Result<UsageRecord, UsageReadError> {
    let mut model = String::new();
    let mut usage = UsageByModel::new();
    let mut seen = BTreeSet::new();
    let mut last_total: Option<TokenCounts> = None;
    let mut limit_error = None;
    for line in read_lines(path)? {
        let payload = line.get("payload").unwrap_or(&Value::Null);
        match line.get("type").and_then(Value::as_str) {
            Some("turn_context") => {
                if let Some(m) = payload.get("model").and_then(Value::as_str) {
                    model = m.to_owned();
                }
            }
            Some("token_usage_record") => {
                let id = payload
                    .get("response_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                if !id.is_empty() && !seen.insert(id) {
                    continue;
                }
                if let Some(u) = payload.get("usage") {
                    usage
                        .entry(model.clone())
                        .or_default()
                        .add(&codex_counts(u));
                }
            }
            Some("event_msg") => match payload.get("type").and_then(Value::as_str) {
                Some("token_count") => {
                    if let Some(total) = payload.pointer("/info/total_token_usage") {
                        last_total = Some(codex_counts(total));
                    }
                }
                Some("task_complete") | Some("error") | Some("turn_aborted") => {
                    let message = payload
                        .pointer("/error/message")
                        .or_else(|| payload.get("message"))
                        .and_then(Value::as_str);
                    let status = payload
                        .pointer("/error/codex_error_info")
                        .map(|info| info.to_string())
                        .unwrap_or_default();
                    limit_error = message
                        .filter(|m| is_limit_text(m) || status.contains("429"))
                        .map(str::to_owned);
                }
                _ => {}
            },
            _ => {}
        }
    }
    if seen.is_empty()
        && let Some(total) = last_total
    {
        usage.insert(model, total);
    }
    Ok(UsageRecord { usage, limit_error })
}

/// The rollout file of `thread_id` under `codex_home` (`sessions/**/rollout-*-<id>.jsonl`),
/// the newest day folder first.
pub fn find_codex_rollout(codex_home: &Path, thread_id: &str) -> Option<PathBuf> {
    let suffix = format!("-{thread_id}.jsonl");
    let mut stack = vec![codex_home.join("sessions")];
    let mut found = Vec::new();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(&suffix))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found.pop()
}

#[cfg(test)]
#[path = "usage_records/tests.rs"]
mod tests;

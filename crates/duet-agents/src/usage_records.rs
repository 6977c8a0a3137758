//! Reading each CLI's own record of its token usage: claude's session transcript (JSONL under
//! `<config dir>/projects/`, named by the Stop hook's `transcript_path`) and codex's rollout
//! file (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*-<thread id>.jsonl`). Also the last
//! usage-limit or rate-limit error each records, so the engine can park instead of restarting.
//!
//! Facts (claude 2.1.332, codex 0.171.0, measured against duet-testkit's fake servers):
//! - claude writes one `type: "assistant"` line per content block; the lines of one reply share
//!   `message.id` and carry the same `message.usage` (final counts). Counted once per id.
//!   An API error becomes an assistant line with `model: "<synthetic>"`, `apiErrorStatus: 429`,
//!   `error: "rate_limit"` and the text `API Error: Request rejected (429) · <message>`. Each
//!   retry before it is a `type: "system"`, `subtype: "api_error"` line (`retryAttempt`,
//!   `retryInMs`) whose `error.rateLimits.resetsAt` (unix seconds) is the
//!   `anthropic-ratelimit-unified-reset` header, when the answer had the unified headers. A 429
//!   whose `retry-after` is over 60 s is not retried: then no reset time is recorded at all
//!   (facts: `docs/usage-limits.md`).
//! - codex writes a `type: "token_usage_record"` line per model response (`response_id`,
//!   `usage` with `input_tokens` including `cached_input_tokens`); older versions only have
//!   `event_msg` / `token_count` with the thread's `total_token_usage`. A failed turn ends
//!   with `event_msg` / `task_complete` whose `error.message` says e.g. `exceeded retry limit,
//!   last status: 429 Too Many Requests` (a `rate_limit_exceeded` 429: no reset time recorded) or,
//!   for `usage_limit_reached`, `You've hit your usage limit. ... try again at 4:29 PM.` with
//!   `codex_error_info: "usage_limit_exceeded"` (the reset only as that local clock time; a
//!   `token_count` line's `rate_limits.primary.resets_at` has it in unix seconds when the answer
//!   carried the `x-codex-primary-*` headers).

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
    /// When that limit resets (unix seconds), if the CLI recorded it as a time of its own
    /// (claude: the retries' `error.rateLimits.resetsAt`, also while no give-up line follows
    /// them yet; codex: `rate_limits.*.resets_at`) rather than only in the error's text.
    pub limit_resets_at: Option<u64>,
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
    let mut limit_resets_at = None;
    // The reset time the retries of the current failing request recorded.
    let mut retry_resets_at = None;
    for line in read_lines(path)? {
        if line.get("type").and_then(Value::as_str) == Some("system")
            && line.get("subtype").and_then(Value::as_str) == Some("api_error")
        {
            if let Some(at) = line
                .pointer("/error/rateLimits/resetsAt")
                .and_then(Value::as_u64)
            {
                retry_resets_at = Some(at);
            }
            continue;
        }
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
            let status_429 = line.get("apiErrorStatus").and_then(Value::as_u64) == Some(429)
                || line.get("error").and_then(Value::as_str) == Some("rate_limit");
            if text.starts_with("API Error") && (status_429 || is_limit_text(&text)) {
                limit_error = Some(text);
                limit_resets_at = retry_resets_at.take();
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
        limit_resets_at = None;
        retry_resets_at = None;
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
    // Retries with no reply after them: the request is still failing (claude's give-up line
    // may not be written yet when its StopFailure hook runs).
    if limit_error.is_none() {
        limit_resets_at = retry_resets_at;
    }
    Ok(UsageRecord {
        usage,
        limit_error,
        limit_resets_at,
    })
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
    let mut limit_resets_at = None;
    // The latest reset time of a window used up, from the rate-limit snapshots.
    let mut exhausted_until = None;
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
                    if let Some(limits) = payload.get("rate_limits") {
                        exhausted_until = codex_exhausted_until(limits);
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
                        .filter(|m| {
                            is_limit_text(m)
                                || status.contains("429")
                                || status.contains("usage_limit")
                        })
                        .map(str::to_owned);
                    limit_resets_at = limit_error.as_ref().and(exhausted_until);
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
    Ok(UsageRecord {
        usage,
        limit_error,
        limit_resets_at,
    })
}

/// The latest `resets_at` of the windows (`primary`, `secondary`) at 100 % in a codex
/// `rate_limits` snapshot.
fn codex_exhausted_until(limits: &Value) -> Option<u64> {
    ["primary", "secondary"]
        .iter()
        .filter_map(|w| limits.get(*w))
        .filter(|w| {
            w.get("used_percent")
                .and_then(Value::as_f64)
                .is_some_and(|p| p >= 100.0)
        })
        .filter_map(|w| w.get("resets_at").and_then(Value::as_u64))
        .max()
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

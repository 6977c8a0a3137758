//! The API-neutral view of a model request that scripts match on and the log records.

use serde::{Deserialize, Serialize};

use crate::script::Api;

/// What the fake servers extract from a request body (Anthropic or OpenAI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestView {
    /// The API the request came in on.
    pub api: Api,
    /// The `model` field.
    pub model: String,
    /// Whether a streamed (SSE) answer was asked for.
    pub stream: bool,
    /// System prompt: Anthropic `system`; OpenAI `instructions` plus developer messages.
    pub system: String,
    /// Text of the last user message that has any text (tool result contents excluded).
    pub last_user_text: String,
    /// Text of every user message, in order.
    pub all_user_text: Vec<String>,
    /// The tool results the request ends with (the answers to the previous reply's calls).
    pub tool_results: Vec<ToolResult>,
    /// Names of the offered tools (Codex namespace tools flattened to `mcp__srv__tool`).
    pub tools: Vec<String>,
    /// Whether this is a session-title request, answered without using up a step.
    pub is_title_request: bool,
}

/// One tool result carried by a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The tool's name, resolved from the earlier call with the same id (None if not found).
    pub name: Option<String>,
    /// The call id (`tool_use_id` / `call_id`).
    pub call_id: String,
    /// The result text.
    pub content: String,
    /// Anthropic `is_error`; always false for OpenAI.
    pub is_error: bool,
}

/// Concatenates the text found in a content value: a string, or an array of blocks with a
/// `text` field (blocks of other kinds are skipped).
pub(crate) fn content_text(content: &serde_json::Value) -> String {
    match content {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b {
                serde_json::Value::String(s) => Some(s.as_str()),
                _ => b.get("text").and_then(|t| t.as_str()),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

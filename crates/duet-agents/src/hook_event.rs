//! Typed agent signals from the JSON the CLIs hand to duet: claude hook payloads (stdin of
//! `duet hook claude`) and codex notify payloads (last argv of `duet hook codex`). Pure.

use serde_json::Value;

/// What an agent event says about the agent's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentSignal {
    /// The session is up (claude SessionStart); `source` is `startup`, `resume`, `clear`, ...
    SessionId(String),
    /// A turn started with this user prompt (claude UserPromptSubmit).
    TurnStarted { prompt: String },
    /// A turn ended and the agent is idle (codex agent-turn-complete; claude StopFailure, a turn
    /// ended by an API error). `input_messages` (codex): every user message of the thread so
    /// far, the one that started this turn last (measured with codex 0.169).
    TurnEnded {
        last_message: Option<String>,
        input_messages: Vec<String>,
    },
    /// Claude's Stop hook: the turn ended; duet may answer with messages to hand over (block).
    /// `stop_hook_active` is true when this turn was itself started by a Stop hook's block.
    StopHook {
        stop_hook_active: bool,
        last_message: Option<String>,
    },
    /// The agent waits for a permission decision (claude PermissionRequest or a
    /// `permission_prompt` notification).
    PermissionRequested { tool: Option<String> },
    /// The agent is working (claude PreToolUse / PostToolUse).
    Activity { tool: Option<String> },
    /// Claude's `idle_prompt` notification: the prompt has been waiting for input for a while.
    Idle,
    /// The session ended (claude SessionEnd); `reason` e.g. `prompt_input_exit`, `clear`.
    SessionEnded { reason: Option<String> },
    /// An event duet does not act on (its name, e.g. `PreCompact` or a notification type).
    Unrecognized { event: String },
}

/// One parsed event: the agent's session / thread id, the turn id (codex), and the signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEvent {
    /// Claude `session_id`, codex `thread-id`.
    pub session_id: Option<String>,
    /// Codex `turn-id`.
    pub turn_id: Option<String>,
    pub signal: AgentSignal,
}

/// Error parsing a hook / notify payload.
#[derive(Debug, thiserror::Error)]
#[error("failed to parse the {source_name} payload: {detail}")]
pub struct HookParseError {
    pub kind: HookParseErrorKind,
    source_name: &'static str,
    detail: String,
    #[source]
    json: Option<serde_json::Error>,
}

/// What was wrong with a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookParseErrorKind {
    /// Not JSON at all.
    InvalidJson,
    /// JSON, but not an object.
    NotAnObject,
    /// The field naming the event is missing or not a string.
    MissingEventName,
}

const CLAUDE: &str = "claude hook";
const CODEX: &str = "codex notify";

/// Parses the JSON a claude hook command receives on stdin.
pub fn parse_claude_hook(json: &str) -> Result<HookEvent, HookParseError> {
    let payload = parse_object(json, CLAUDE)?;
    let event = str_field(&payload, "hook_event_name").ok_or_else(|| HookParseError {
        kind: HookParseErrorKind::MissingEventName,
        source_name: CLAUDE,
        detail: "`hook_event_name` is missing or not a string".to_owned(),
        json: None,
    })?;
    let session_id = str_field(&payload, "session_id");
    let tool = str_field(&payload, "tool_name");
    let last_message = str_field(&payload, "last_assistant_message");
    let signal = match event.as_str() {
        "SessionStart" => match &session_id {
            Some(id) => AgentSignal::SessionId(id.clone()),
            None => AgentSignal::Unrecognized { event },
        },
        "UserPromptSubmit" => AgentSignal::TurnStarted {
            prompt: str_field(&payload, "prompt").unwrap_or_default(),
        },
        "Stop" => AgentSignal::StopHook {
            stop_hook_active: payload
                .get("stop_hook_active")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            last_message,
        },
        "StopFailure" => AgentSignal::TurnEnded {
            last_message,
            input_messages: Vec::new(),
        },
        "PermissionRequest" => AgentSignal::PermissionRequested { tool },
        "PreToolUse" | "PostToolUse" | "PostToolUseFailure" => AgentSignal::Activity { tool },
        "Notification" => match str_field(&payload, "notification_type").as_deref() {
            Some("idle_prompt") => AgentSignal::Idle,
            Some("permission_prompt") => AgentSignal::PermissionRequested { tool: None },
            other => AgentSignal::Unrecognized {
                event: format!("Notification:{}", other.unwrap_or("?")),
            },
        },
        "SessionEnd" => AgentSignal::SessionEnded {
            reason: str_field(&payload, "reason"),
        },
        _ => AgentSignal::Unrecognized { event },
    };
    Ok(HookEvent {
        session_id,
        turn_id: None,
        signal,
    })
}

/// Parses the JSON codex passes as the last argument of its `notify` program.
pub fn parse_codex_notify(json: &str) -> Result<HookEvent, HookParseError> {
    let payload = parse_object(json, CODEX)?;
    let event = str_field(&payload, "type").ok_or_else(|| HookParseError {
        kind: HookParseErrorKind::MissingEventName,
        source_name: CODEX,
        detail: "`type` is missing or not a string".to_owned(),
        json: None,
    })?;
    let signal = match event.as_str() {
        "agent-turn-complete" => AgentSignal::TurnEnded {
            last_message: str_field(&payload, "last-assistant-message"),
            input_messages: payload
                .get("input-messages")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| item.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        },
        _ => AgentSignal::Unrecognized { event },
    };
    Ok(HookEvent {
        session_id: str_field(&payload, "thread-id"),
        turn_id: str_field(&payload, "turn-id"),
        signal,
    })
}

fn parse_object(
    json: &str,
    source_name: &'static str,
) -> Result<serde_json::Map<String, Value>, HookParseError> {
    let value: Value = serde_json::from_str(json).map_err(|err| HookParseError {
        kind: HookParseErrorKind::InvalidJson,
        source_name,
        detail: format!("not JSON ({err})"),
        json: Some(err),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(HookParseError {
            kind: HookParseErrorKind::NotAnObject,
            source_name,
            detail: format!("expected a JSON object, found {}", kind_of(&other)),
            json: None,
        }),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn str_field(payload: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    payload.get(key).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests;

//! The `codex app-server` JSON-RPC messages duet uses, as serde types, and the pure decoding of
//! one received message into a typed [`Incoming`] (no IO: recorded lines in, typed events out).
//!
//! Method and field names are those of `codex app-server generate-json-schema` for codex-cli
//! 0.171.0 (v2 protocol). Only what duet needs is typed; anything else arrives as `Other` with
//! its raw params, so a newer codex that adds notifications does not break decoding.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A JSON-RPC request id: codex sends numbers, the protocol allows strings too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Number(i64),
    Text(String),
}

/// One message from the app-server.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The answer to one of our requests.
    Response {
        id: RequestId,
        result: Result<Value, RpcError>,
    },
    Notification(Notification),
    /// A request the server makes of us (approvals): it waits until we answer `id`.
    ServerRequest {
        id: RequestId,
        request: ServerRequest,
    },
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default)]
    pub data: Option<Value>,
}

/// How a turn ended (or that it still runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TurnStatus {
    Completed,
    Interrupted,
    Failed,
    InProgress,
    /// A status this version of duet does not know.
    #[serde(other)]
    Unknown,
}

/// Why a turn failed or was interrupted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnError {
    pub message: String,
    #[serde(default)]
    pub additional_details: Option<String>,
}

/// A turn as notifications carry it (its items are not kept: they arrive as `item/*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Turn {
    pub id: String,
    pub status: TurnStatus,
    #[serde(default)]
    pub error: Option<TurnError>,
}

/// A thread's state (`thread/status/changed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ThreadStatus {
    NotLoaded,
    Idle,
    SystemError,
    #[serde(rename_all = "camelCase")]
    Active {
        #[serde(default)]
        active_flags: Vec<String>,
    },
    #[serde(other)]
    Unknown,
}

/// One thread item (user message, agent message, command, file change...): its kind, id and,
/// for messages, text. Kinds are codex's (`userMessage`, `agentMessage`, `commandExecution`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadItem {
    pub kind: String,
    pub id: String,
    /// `agentMessage.text`, or the text parts of a `userMessage`'s content joined by newlines.
    pub text: Option<String>,
}

impl ThreadItem {
    fn from_value(value: &Value) -> ThreadItem {
        let kind = str_field(value, "type");
        let text = match value.get("text").and_then(Value::as_str) {
            Some(text) => Some(text.to_owned()),
            None => value.get("content").and_then(Value::as_array).map(|parts| {
                parts
                    .iter()
                    .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
        };
        ThreadItem {
            kind,
            id: str_field(value, "id"),
            text,
        }
    }
}

/// The notifications duet reacts to; the rest are `Other`.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    TurnStarted {
        thread_id: String,
        turn: Turn,
    },
    TurnCompleted {
        thread_id: String,
        turn: Turn,
    },
    ThreadStatusChanged {
        thread_id: String,
        status: ThreadStatus,
    },
    ItemStarted {
        thread_id: String,
        turn_id: String,
        item: ThreadItem,
    },
    ItemCompleted {
        thread_id: String,
        turn_id: String,
        item: ThreadItem,
    },
    AgentMessageDelta {
        thread_id: String,
        turn_id: String,
        item_id: String,
        delta: String,
    },
    /// An error in a turn; `will_retry` says codex tries again by itself.
    Error {
        thread_id: String,
        turn_id: String,
        error: TurnError,
        will_retry: bool,
    },
    Other {
        method: String,
        params: Value,
    },
}

impl Notification {
    /// The thread this notification is about, when it names one.
    pub fn thread_id(&self) -> Option<&str> {
        match self {
            Notification::TurnStarted { thread_id, .. }
            | Notification::TurnCompleted { thread_id, .. }
            | Notification::ThreadStatusChanged { thread_id, .. }
            | Notification::ItemStarted { thread_id, .. }
            | Notification::ItemCompleted { thread_id, .. }
            | Notification::AgentMessageDelta { thread_id, .. }
            | Notification::Error { thread_id, .. } => Some(thread_id),
            Notification::Other { params, .. } => params.get("threadId").and_then(Value::as_str),
        }
    }
}

/// Requests the server makes of the client.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerRequest {
    /// Codex wants to run a command (`item/commandExecution/requestApproval`).
    CommandApproval {
        thread_id: String,
        turn_id: String,
        item_id: String,
        command: Option<String>,
        cwd: Option<String>,
        reason: Option<String>,
    },
    /// Codex wants to change files (`item/fileChange/requestApproval`).
    FileChangeApproval {
        thread_id: String,
        turn_id: String,
        item_id: String,
        reason: Option<String>,
        grant_root: Option<String>,
    },
    /// Any other request; a policy that cannot answer it should send back an RPC error.
    Other { method: String, params: Value },
}

/// An answer to an approval request (both command and file-change approvals take these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApprovalDecision {
    Accept,
    AcceptForSession,
    /// Refused; the agent goes on with its turn.
    Decline,
    /// Refused, and the turn is interrupted.
    Cancel,
}

impl ApprovalDecision {
    /// The `result` of the response to an approval request.
    pub fn to_result(self) -> Value {
        json!({ "decision": self })
    }
}

/// One piece of user input (`turn/start`, `turn/steer`): duet sends text only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum UserInput {
    Text { text: String },
}

/// `approvalPolicy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    Untrusted,
    OnRequest,
    Never,
}

/// `sandbox` values of `thread/start` / `thread/resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
}

/// `thread/start` params (the subset duet sets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadStartParams {
    pub cwd: String,
    pub approval_policy: ApprovalPolicy,
    pub sandbox: SandboxMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub developer_instructions: Option<String>,
}

/// `thread/resume` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadResumeParams {
    pub thread_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_policy: Option<ApprovalPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxMode>,
}

/// `turn/start` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnStartParams {
    pub thread_id: String,
    pub input: Vec<UserInput>,
}

/// `turn/steer` params: `expected_turn_id` makes codex refuse when that turn is no longer the
/// running one (so a message meant mid-turn is never silently dropped into a finished turn).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnSteerParams {
    pub thread_id: String,
    pub expected_turn_id: String,
    pub input: Vec<UserInput>,
}

/// A thread as `thread/start` / `thread/resume` answer it (id only; turns come via `thread/read`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ThreadRef {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ThreadStarted {
    pub thread: ThreadRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TurnStarted {
    pub turn: Turn,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnSteered {
    pub turn_id: String,
}

/// The `initialize` params: duet's name and the experimental API (turn/steer needs it).
pub fn initialize_params(client_name: &str, version: &str) -> Value {
    json!({
        "clientInfo": { "name": client_name, "version": version },
        "capabilities": { "experimentalApi": true },
    })
}

/// One request line (without the newline).
pub fn encode_request(id: &RequestId, method: &str, params: &Value) -> String {
    json!({ "id": id, "method": method, "params": params }).to_string()
}

/// One notification line (e.g. `initialized`).
pub fn encode_notification(method: &str) -> String {
    json!({ "method": method }).to_string()
}

/// The answer to a server request.
pub fn encode_response(id: &RequestId, result: Result<Value, RpcError>) -> String {
    match result {
        Ok(result) => json!({ "id": id, "result": result }).to_string(),
        Err(error) => json!({ "id": id, "error": error }).to_string(),
    }
}

/// Why a received message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to decode an app-server message: {reason}: {excerpt}")]
pub struct DecodeError {
    pub reason: String,
    /// The start of the message.
    pub excerpt: String,
}

/// Decodes one message (a line on stdio, a text frame on a socket).
pub fn decode(message: &str) -> Result<Incoming, DecodeError> {
    let fail = |reason: String| DecodeError {
        reason,
        excerpt: message.chars().take(200).collect(),
    };
    let value: Value = serde_json::from_str(message).map_err(|e| fail(e.to_string()))?;
    let id = match value.get("id") {
        Some(id) if !id.is_null() => Some(
            serde_json::from_value::<RequestId>(id.clone())
                .map_err(|e| fail(format!("bad id: {e}")))?,
        ),
        _ => None,
    };
    let method = value.get("method").and_then(Value::as_str);
    let params = value.get("params").cloned().unwrap_or(Value::Null);
    match (id, method) {
        (Some(id), None) => {
            let result = match value.get("error") {
                Some(error) => Err(serde_json::from_value(error.clone())
                    .map_err(|e| fail(format!("bad error object: {e}")))?),
                None => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
            };
            Ok(Incoming::Response { id, result })
        }
        (Some(id), Some(method)) => Ok(Incoming::ServerRequest {
            id,
            request: server_request(method, params).map_err(fail)?,
        }),
        (None, Some(method)) => Ok(Incoming::Notification(
            notification(method, params).map_err(fail)?,
        )),
        (None, None) => Err(fail("neither an id nor a method".to_owned())),
    }
}

fn notification(method: &str, params: Value) -> Result<Notification, String> {
    let p = &params;
    let turn = |p: &Value| -> Result<Turn, String> {
        serde_json::from_value(p.get("turn").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("{method}: bad turn: {e}"))
    };
    let item = |p: &Value| ThreadItem::from_value(p.get("item").unwrap_or(&Value::Null));
    Ok(match method {
        "turn/started" => Notification::TurnStarted {
            thread_id: str_field(p, "threadId"),
            turn: turn(p)?,
        },
        "turn/completed" => Notification::TurnCompleted {
            thread_id: str_field(p, "threadId"),
            turn: turn(p)?,
        },
        "thread/status/changed" => Notification::ThreadStatusChanged {
            thread_id: str_field(p, "threadId"),
            status: serde_json::from_value(p.get("status").cloned().unwrap_or(Value::Null))
                .map_err(|e| format!("{method}: bad status: {e}"))?,
        },
        "item/started" => Notification::ItemStarted {
            thread_id: str_field(p, "threadId"),
            turn_id: str_field(p, "turnId"),
            item: item(p),
        },
        "item/completed" => Notification::ItemCompleted {
            thread_id: str_field(p, "threadId"),
            turn_id: str_field(p, "turnId"),
            item: item(p),
        },
        "item/agentMessage/delta" => Notification::AgentMessageDelta {
            thread_id: str_field(p, "threadId"),
            turn_id: str_field(p, "turnId"),
            item_id: str_field(p, "itemId"),
            delta: str_field(p, "delta"),
        },
        "error" => Notification::Error {
            thread_id: str_field(p, "threadId"),
            turn_id: str_field(p, "turnId"),
            error: serde_json::from_value(p.get("error").cloned().unwrap_or(Value::Null))
                .map_err(|e| format!("{method}: bad error: {e}"))?,
            will_retry: p.get("willRetry").and_then(Value::as_bool).unwrap_or(false),
        },
        _ => Notification::Other {
            method: method.to_owned(),
            params,
        },
    })
}

fn server_request(method: &str, params: Value) -> Result<ServerRequest, String> {
    let p = &params;
    let opt = |key: &str| p.get(key).and_then(Value::as_str).map(str::to_owned);
    Ok(match method {
        "item/commandExecution/requestApproval" => ServerRequest::CommandApproval {
            thread_id: str_field(p, "threadId"),
            turn_id: str_field(p, "turnId"),
            item_id: str_field(p, "itemId"),
            command: opt("command"),
            cwd: opt("cwd"),
            reason: opt("reason"),
        },
        "item/fileChange/requestApproval" => ServerRequest::FileChangeApproval {
            thread_id: str_field(p, "threadId"),
            turn_id: str_field(p, "turnId"),
            item_id: str_field(p, "itemId"),
            reason: opt("reason"),
            grant_root: opt("grantRoot"),
        },
        _ => ServerRequest::Other {
            method: method.to_owned(),
            params,
        },
    })
}

fn str_field(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;

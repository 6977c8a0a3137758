//! duet's control-socket protocol (version 1): the requests agents' helpers and human commands
//! send to the controller, its responses, the framing, and a blocking client.
//!
//! Framing: one request per connection. The client writes one JSON object and a newline; the
//! server answers with one JSON object and a newline and closes. The exception is
//! [`RequestBody::Subscribe`]: its connection stays open and carries one answer per line
//! (a [`ResponseBody::Status`] snapshot or [`ResponseBody::StatusChanged`] changes, see
//! [`status`]) until either side closes it. A frame over
//! [`MAX_FRAME_BYTES`] is refused. Requests from agents carry the agent's token, which binds
//! them to one task and role; requests from humans carry none and are guarded by the socket's
//! file mode (0600).

mod client;
mod frame;
pub mod hop_log;
pub mod socket_path;
pub mod status;

use serde::{Deserialize, Serialize};

pub use client::{Client, ClientError, ClientErrorKind, Subscription};
pub use frame::{FrameError, decode_line, encode_line, read_frame};
pub use socket_path::{find_socket, prepare_socket, socket_path};

pub use duet_core::protocol::CallId;
use duet_core::protocol::{Role, ToolCall};

/// The protocol version this build speaks; a request with another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest request or response line accepted, in bytes (including the newline).
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Environment variables through which agents' helpers find the engine (defined in duet-core).
pub use duet_core::wire::env;

/// One request to the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    /// Set by agents' helpers (`duet mcp`, `duet hook`, `duet exec-agent`); absent for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Set by `duet mcp` on tool calls: one id per call, the same on each time the call is sent
    /// again (after a daemon died before answering), so the controller applies it once and
    /// answers every copy alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<CallId>,
    pub body: RequestBody,
}

impl Request {
    /// A request from an agent's helper, bound by its token.
    pub fn from_agent(token: impl Into<String>, body: RequestBody) -> Self {
        Request {
            version: PROTOCOL_VERSION,
            token: Some(token.into()),
            call_id: None,
            body,
        }
    }

    /// A tool call from `duet mcp`: bound by its token, identified by `call_id` across retries.
    pub fn tool_call(token: impl Into<String>, call_id: CallId, call: ToolCall) -> Self {
        Request {
            call_id: Some(call_id),
            ..Request::from_agent(token, RequestBody::ToolCall { call })
        }
    }

    /// A request from a human command.
    pub fn from_human(body: RequestBody) -> Self {
        Request {
            version: PROTOCOL_VERSION,
            token: None,
            call_id: None,
            body,
        }
    }
}

/// What is asked. Agent requests need a token; human requests must not carry one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RequestBody {
    // --- from agents (token required) ---
    /// A bridge tool call from `duet mcp`.
    ToolCall {
        call: ToolCall,
    },
    /// A hook or notify payload from `duet hook`, passed through as the agent sent it.
    Hook {
        source: HookSource,
        payload: serde_json::Value,
    },
    /// The agent process started (from `duet exec-agent`).
    ProcessStarted {
        pid: u32,
    },
    /// The agent's MCP bridge (`duet mcp`) finished its handshake: from now on the agent has
    /// duet's tools, so messages may be handed to it.
    BridgeReady,
    /// The agent process ended (from `duet exec-agent`).
    ProcessExited {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
    },

    // --- from humans (no token) ---
    /// Every task (or one) with its state.
    Status {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<String>,
    },
    /// A stream of status changes on this connection: first what the client missed since
    /// `from_seq` (a full snapshot when it is new, too far behind or from another run), then each
    /// change as it happens.
    Subscribe {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_seq: Option<u64>,
    },
    /// A human message into a pair.
    Say {
        task: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Role>,
        text: String,
    },
    /// The answer to an `ask_human` / needs-human.
    Answer {
        task: String,
        text: String,
    },
    Pause {
        task: String,
    },
    Resume {
        task: String,
    },
    Cancel {
        task: String,
    },
    /// Merge a finished task's branch into its base (the merge queue's; a duet without one
    /// refuses with `unsupported`).
    Merge {
        /// `None`: every ready task (`duet merge --all`).
        #[serde(default)]
        task: Option<String>,
    },
    /// A finished task's handoff report (the Markdown `duet report TASK` prints); a task that
    /// has not finished is refused with [`ErrorKind::WrongState`], saying it has no report yet.
    /// Added within version 1: an older duet answers it as malformed.
    Report {
        task: String,
    },
    /// Stop the controller (agents keep running unless `stop_agents`).
    Stop {
        #[serde(default)]
        stop_agents: bool,
    },
}

impl RequestBody {
    /// Whether this request must come from an agent (with a token).
    pub fn is_agent_request(&self) -> bool {
        matches!(
            self,
            RequestBody::ToolCall { .. }
                | RequestBody::Hook { .. }
                | RequestBody::ProcessStarted { .. }
                | RequestBody::ProcessExited { .. }
                | RequestBody::BridgeReady
        )
    }
}

/// Which hook mechanism a payload came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookSource {
    /// A claude hook command (payload: the JSON on its stdin).
    Claude,
    /// codex's `notify` program (payload: the JSON in its last argument).
    Codex,
}

/// The controller's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Response {
    Ok { body: ResponseBody },
    Error { error: ErrorBody },
}

/// What a controller whose loop has ended answers a request it read but did not handle (or whose
/// answer was dropped): for the helpers it is the same as a daemon that died before answering,
/// so they send the request again (with the same call or hook id) while they would for one.
pub const SHUTTING_DOWN: &str = "duet is shutting down";

impl Response {
    /// The controller's loop had ended: the request may or may not have been handled.
    pub fn is_shutting_down(&self) -> bool {
        matches!(self, Response::Error { error }
            if error.kind == ErrorKind::Internal && error.message == SHUTTING_DOWN)
    }

    pub fn ok(body: ResponseBody) -> Self {
        Response::Ok { body }
    }

    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        Response::Error {
            error: ErrorBody {
                kind,
                message: message.into(),
            },
        }
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseBody {
    /// Done; nothing to say.
    Ack,
    /// A tool call's result: text for the agent, or a refusal it should read and act on.
    ToolResult { text: String, is_error: bool },
    /// The answer to a hook: what `duet hook` must print on stdout (claude's Stop hook
    /// hand-over), if anything.
    HookReply {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stdout: Option<String>,
    },
    /// Every task (or the one asked for), typed and versioned.
    Status { status: status::StatusSnapshot },
    /// Changes streamed by a subscription, in seq order.
    StatusChanged { changes: Vec<status::StatusChange> },
    /// The answer to [`RequestBody::Report`]: the task's report as Markdown.
    Report { task: String, markdown: String },
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not JSON, not a known request, or fields missing.
    Malformed,
    /// Over [`MAX_FRAME_BYTES`].
    TooLarge,
    /// Another protocol version.
    VersionMismatch,
    /// Missing or unknown token, or a token used for a request it may not make.
    Unauthorized,
    UnknownTask,
    /// The task's state does not allow it.
    WrongState,
    /// This controller does not offer the request (e.g. `subscribe` from one without a feed).
    Unsupported,
    Internal,
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_core::protocol::Verdict;

    #[test]
    fn request_wire_form_is_stable() {
        let req = Request::from_agent(
            "t0k",
            RequestBody::ToolCall {
                call: ToolCall::SubmitReview {
                    verdict: Verdict::Approve,
                    findings: vec![],
                    verified: vec!["read the diff".into()],
                    not_verified: vec![],
                },
            },
        );
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(
            json,
            r#"{"version":1,"token":"t0k","body":{"type":"tool_call","call":{"tool":"submit_review","verdict":"approve","findings":[],"verified":["read the diff"]}}}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), req);
        // A request from before `verified` existed still parses, with nothing verified.
        let old = r#"{"version":1,"token":"t0k","body":{"type":"tool_call","call":{"tool":"submit_review","verdict":"approve","findings":[]}}}"#;
        let RequestBody::ToolCall {
            call: ToolCall::SubmitReview { verified, .. },
        } = serde_json::from_str::<Request>(old).unwrap().body
        else {
            panic!("not a submit_review");
        };
        assert!(verified.is_empty());
    }

    #[test]
    fn a_tool_call_carries_its_call_id_and_old_requests_still_parse() {
        let req = Request::tool_call("t0k", CallId::new("c-1"), ToolCall::TaskStatus);
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(
            json,
            r#"{"version":1,"token":"t0k","call_id":"c-1","body":{"type":"tool_call","call":{"tool":"task_status"}}}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), req);
        let old = r#"{"version":1,"token":"t0k","body":{"type":"tool_call","call":{"tool":"task_status"}}}"#;
        assert_eq!(serde_json::from_str::<Request>(old).unwrap().call_id, None);
    }

    #[test]
    fn response_wire_form_is_stable() {
        let ok = Response::ok(ResponseBody::ToolResult {
            text: "review requested".into(),
            is_error: false,
        });
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"status":"ok","body":{"type":"tool_result","text":"review requested","is_error":false}}"#
        );
        let err = Response::error(ErrorKind::Unauthorized, "unknown token");
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"status":"error","error":{"kind":"unauthorized","message":"unknown token"}}"#
        );
    }

    #[test]
    fn agent_and_human_requests_are_told_apart() {
        assert!(RequestBody::ProcessStarted { pid: 1 }.is_agent_request());
        assert!(!RequestBody::Status { task: None }.is_agent_request());
        assert!(!RequestBody::Stop { stop_agents: false }.is_agent_request());
        assert!(!RequestBody::Report { task: "a".into() }.is_agent_request());
    }

    #[test]
    fn report_wire_form_is_stable() {
        let req = Request::from_human(RequestBody::Report {
            task: "parser".into(),
        });
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(
            json,
            r#"{"version":1,"body":{"type":"report","task":"parser"}}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), req);
        let ok = Response::ok(ResponseBody::Report {
            task: "parser".into(),
            markdown: "# parser\n".into(),
        });
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r##"{"status":"ok","body":{"type":"report","task":"parser","markdown":"# parser\n"}}"##
        );
    }
}

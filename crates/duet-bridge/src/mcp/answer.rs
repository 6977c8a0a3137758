//! Turns the controller's answer to a tool call (or the reason there was none) into the text and
//! error flag the agent sees.

use std::path::Path;
use std::time::Duration;

use duet_core::protocol::ToolName;
use duet_proto::{ClientErrorKind, ErrorKind, Response, ResponseBody};

use super::retry::Sent;
use rmcp::model::{CallToolResult, ContentBlock};

/// What the agent is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolAnswer {
    pub text: String,
    pub is_error: bool,
}

impl ToolAnswer {
    pub fn ok(text: impl Into<String>) -> Self {
        ToolAnswer {
            text: text.into(),
            is_error: false,
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        ToolAnswer {
            text: text.into(),
            is_error: true,
        }
    }

    pub fn into_result(self) -> CallToolResult {
        let content = vec![ContentBlock::text(self.text)];
        if self.is_error {
            CallToolResult::error(content)
        } else {
            CallToolResult::success(content)
        }
    }
}

/// The answer for `tool` given what the socket at `socket` said, after trying for `window`.
pub fn tool_answer(tool: ToolName, socket: &Path, window: Duration, sent: Sent) -> ToolAnswer {
    let secs = window.as_secs();
    match sent.result {
        Ok(Response::Ok { body }) => match body {
            ResponseBody::ToolResult { text, is_error } => ToolAnswer { text, is_error },
            ResponseBody::Ack => ToolAnswer::ok(format!("{tool}: done")),
            ResponseBody::Status { status } => ToolAnswer::ok(
                serde_json::to_string_pretty(&status).unwrap_or_else(|e| e.to_string()),
            ),
            ResponseBody::StatusChanged { changes } => ToolAnswer::ok(
                serde_json::to_string_pretty(&changes).unwrap_or_else(|e| e.to_string()),
            ),
            ResponseBody::Report { markdown, .. } => ToolAnswer::ok(markdown),
            ResponseBody::HookReply { .. } => ToolAnswer::error(format!(
                "{tool} failed: duet answered with a hook reply instead of a tool result (a bug in \
                 duet); call task_status to see whether the call took effect"
            )),
        },
        Ok(Response::Error { error }) => ToolAnswer::error(format!(
            "{tool} refused by duet ({}): {}",
            error_kind_name(error.kind),
            error.message
        )),
        Err(err) => {
            let cause = crate::failure::cause(&err);
            if err.kind == ClientErrorKind::Connect && !sent.maybe_received {
                ToolAnswer::error(format!(
                    "duet is not running: nothing answered at its control socket {} for {secs}s \
                     ({cause}). The {tool} call was not delivered. Go on with what you can do \
                     without it and call {tool} again later; if duet stays unreachable, stop and \
                     tell the human.",
                    socket.display()
                ))
            } else {
                ToolAnswer::error(format!(
                    "duet did not answer the {tool} call within {secs}s (control socket {}: \
                     {cause}). It may or may not have received it: call task_status before \
                     calling {tool} again.",
                    socket.display()
                ))
            }
        }
    }
}

fn error_kind_name(kind: ErrorKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_proto::{ClientError, ErrorKind, FrameError};
    use std::path::PathBuf;

    const WINDOW: Duration = Duration::from_secs(45);

    fn answered(result: Result<Response, ClientError>, maybe_received: bool) -> Sent {
        Sent {
            result,
            attempts: 1,
            maybe_received,
        }
    }

    fn socket() -> PathBuf {
        PathBuf::from("/run/duet.sock")
    }

    #[test]
    fn tool_results_pass_through_with_their_error_flag() {
        let answer = tool_answer(
            ToolName::MarkDone,
            &socket(),
            WINDOW,
            answered(
                Ok(Response::ok(ResponseBody::ToolResult {
                    text: "mark_done refused: the reviewer has not approved HEAD abc1234".into(),
                    is_error: true,
                })),
                false,
            ),
        );
        assert_eq!(
            answer,
            ToolAnswer::error("mark_done refused: the reviewer has not approved HEAD abc1234")
        );
    }

    #[test]
    fn protocol_errors_become_error_results_with_kind_and_message() {
        let answer = tool_answer(
            ToolName::SendMessage,
            &socket(),
            WINDOW,
            answered(
                Ok(Response::error(ErrorKind::Unauthorized, "unknown token")),
                false,
            ),
        );
        assert_eq!(
            answer,
            ToolAnswer::error("send_message refused by duet (unauthorized): unknown token")
        );
    }

    #[test]
    fn an_unreachable_controller_says_duet_is_not_running_and_names_the_socket() {
        let err = ClientError {
            kind: ClientErrorKind::Connect,
            action: "connect to",
            socket: socket(),
            source: Some(FrameError::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            ))),
        };
        let answer = tool_answer(
            ToolName::RequestReview,
            &socket(),
            WINDOW,
            answered(Err(err), false),
        );
        assert!(answer.is_error);
        assert!(
            answer.text.starts_with(
                "duet is not running: nothing answered at its control socket /run/duet.sock for \
                 45s (connection refused)"
            ),
            "{}",
            answer.text
        );
        assert!(
            answer
                .text
                .contains("The request_review call was not delivered")
        );
    }

    #[test]
    fn a_controller_that_does_not_answer_in_time_may_have_received_the_call() {
        let err = ClientError {
            kind: ClientErrorKind::Exchange,
            action: "read an answer from",
            socket: socket(),
            source: Some(FrameError::Io(std::io::Error::from(
                std::io::ErrorKind::WouldBlock,
            ))),
        };
        let answer = tool_answer(
            ToolName::SubmitReview,
            &socket(),
            WINDOW,
            answered(Err(err), true),
        );
        assert_eq!(
            answer,
            ToolAnswer::error(
                "duet did not answer the submit_review call within 45s (control socket \
                 /run/duet.sock: no answer in time). It may or may not have received it: call \
                 task_status before calling submit_review again."
            )
        );
    }

    #[test]
    fn a_call_that_reached_a_daemon_once_is_not_said_undelivered() {
        // First attempt written to a daemon that died; the later ones found nobody listening.
        let err = ClientError {
            kind: ClientErrorKind::Connect,
            action: "connect to",
            socket: socket(),
            source: Some(FrameError::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            ))),
        };
        let answer = tool_answer(
            ToolName::SubmitReview,
            &socket(),
            WINDOW,
            answered(Err(err), true),
        );
        assert!(
            answer.text.contains("It may or may not have received it"),
            "{}",
            answer.text
        );
    }
}

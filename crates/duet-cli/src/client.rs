//! The human commands' side of the control socket: where it is (`duet_proto::find_socket`,
//! through the locator `.duet/socket`), sending one request, and turning every way it can fail
//! into a [`CommandError`] with a hint.

use std::io::ErrorKind as IoErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use duet_proto::{
    Client, ClientError, ClientErrorKind, ErrorBody, ErrorKind, FrameError, MAX_FRAME_BYTES,
    Request, RequestBody, Response, ResponseBody,
};
use serde::Serialize;

use crate::command_error::{CommandError, error_chain};
use crate::suggest::closest;
use crate::workspace::Workspace;

/// How long a human command waits for each step of the exchange.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The message a user sees when nothing answers on the socket.
pub const NOT_RUNNING: &str =
    "no duet is running in this repository; start one with `duet run` or `duet pair TASK`";

/// A request that failed, before or after it reached the controller.
#[derive(Debug)]
pub enum ControlFailure {
    /// Nothing listens on the socket (no file, or a file nobody answers on).
    NotRunning,
    /// The socket exists but this user may not connect to it (mode 0600, another owner).
    PermissionDenied { socket: PathBuf },
    /// Connected, but the exchange failed (timeout, closed connection, garbage answer).
    NoAnswer(ClientError),
    /// The request would be refused as oversized; it was not sent.
    TooLarge { bytes: usize },
    /// The controller answered with an error.
    Refused(ErrorBody),
}

impl ControlFailure {
    /// The failure as the JSON `--json` prints: the protocol's error shape, with client-side
    /// kinds (`not_running`, `permission_denied`, `no_answer`, `too_large`) added.
    pub fn to_json(&self) -> serde_json::Value {
        let (kind, message) = match self {
            ControlFailure::Refused(body) => (
                serde_json::to_value(body.kind).unwrap_or_default(),
                body.message.clone(),
            ),
            ControlFailure::NotRunning => ("not_running".into(), NOT_RUNNING.to_string()),
            ControlFailure::PermissionDenied { socket } => (
                "permission_denied".into(),
                format!("permission denied on {}", socket.display()),
            ),
            ControlFailure::NoAnswer(err) => ("no_answer".into(), error_chain(err)),
            ControlFailure::TooLarge { bytes } => (
                "too_large".into(),
                format!("request of {bytes} bytes is over the {MAX_FRAME_BYTES}-byte limit"),
            ),
        };
        serde_json::json!({ "status": "error", "error": { "kind": kind, "message": message } })
    }

    /// The failure for a human, with hints. `backlog_ids` feed "did you mean" for unknown tasks.
    pub fn into_command_error(self, task: Option<&str>, backlog_ids: &[String]) -> CommandError {
        match self {
            ControlFailure::NotRunning => CommandError::user(NOT_RUNNING),
            ControlFailure::PermissionDenied { socket } => CommandError::user(format!(
                "permission denied on duet's control socket {}",
                socket.display()
            ))
            .hint("the socket is private (mode 0600) to the user who started duet; run this command as that user"),
            ControlFailure::NoAnswer(err) => {
                let timed_out = matches!(
                    &err.source,
                    Some(FrameError::Io(io)) if matches!(io.kind(), IoErrorKind::WouldBlock | IoErrorKind::TimedOut)
                );
                let message = if timed_out {
                    format!("duet's control socket {} did not answer in time", err.socket.display())
                } else {
                    error_chain(&err)
                };
                CommandError::internal(message)
                    .hint("check that the running duet is healthy (its logs are in .duet/logs/)")
            }
            ControlFailure::TooLarge { bytes } => CommandError::user(format!(
                "the request is {bytes} bytes, over duet's {MAX_FRAME_BYTES}-byte limit"
            ))
            .hint("shorten the text"),
            ControlFailure::Refused(body) => refused(body, task, backlog_ids),
        }
    }
}

fn refused(body: ErrorBody, task: Option<&str>, backlog_ids: &[String]) -> CommandError {
    match body.kind {
        ErrorKind::UnknownTask => {
            let err = CommandError::user(body.message);
            let ids: Vec<&str> = backlog_ids.iter().map(String::as_str).collect();
            match task.and_then(|t| closest(t, &ids)) {
                Some(close) => err.hint(format!("did you mean `{close}`?")),
                None => err.hint("run `duet status` to list the tasks"),
            }
        }
        ErrorKind::WrongState => {
            CommandError::user(body.message).hint("run `duet status` to see the task's state")
        }
        ErrorKind::VersionMismatch => CommandError::user(format!(
            "the running duet refused this duet: {}",
            body.message
        ))
        .hint("use the same duet version as the running one, or restart it"),
        ErrorKind::Unauthorized => CommandError::user(format!(
            "the running duet refused the request: {}",
            body.message
        )),
        ErrorKind::Unsupported => CommandError::user(format!(
            "the running duet does not offer this: {}",
            body.message
        )),
        ErrorKind::Malformed | ErrorKind::TooLarge | ErrorKind::Internal => CommandError::internal(
            format!("the running duet failed the request: {}", body.message),
        ),
    }
}

/// A client for the repository's control socket.
pub struct ControlClient {
    client: Client,
}

impl ControlClient {
    pub fn for_workspace(ws: &Workspace) -> Self {
        Self::at(duet_proto::find_socket(&ws.root().join(".duet")))
    }

    pub fn at(socket: PathBuf) -> Self {
        ControlClient {
            client: Client::new(socket, TIMEOUT),
        }
    }

    /// Sends a human request; an answer that is an error comes back as `Refused`.
    pub fn send(&self, body: RequestBody) -> Result<ResponseBody, ControlFailure> {
        let request = Request::from_human(body);
        let bytes = duet_proto::encode_line(&request).len();
        if bytes > MAX_FRAME_BYTES {
            return Err(ControlFailure::TooLarge { bytes });
        }
        match self.client.send(&request) {
            Ok(Response::Ok { body }) => Ok(body),
            Ok(Response::Error { error }) => Err(ControlFailure::Refused(error)),
            Err(err) => Err(classify(err)),
        }
    }
}

impl ControlClient {
    /// Subscribes to status changes after `from_seq` (see `duet_proto::status`).
    pub fn subscribe(
        &self,
        from_seq: Option<u64>,
    ) -> Result<duet_proto::Subscription, ControlFailure> {
        self.client.subscribe(from_seq).map_err(classify)
    }
}

fn classify(err: ClientError) -> ControlFailure {
    if err.kind == ClientErrorKind::Connect
        && let Some(FrameError::Io(io)) = &err.source
    {
        match io.kind() {
            IoErrorKind::NotFound | IoErrorKind::ConnectionRefused => {
                return ControlFailure::NotRunning;
            }
            IoErrorKind::PermissionDenied => {
                return ControlFailure::PermissionDenied {
                    socket: err.socket.clone(),
                };
            }
            _ => {}
        }
    }
    ControlFailure::NoAnswer(err)
}

/// The task ids of the backlog, for suggestions; empty when it cannot be read (the command
/// itself does not need the backlog).
pub fn backlog_ids(ws: &Workspace) -> Vec<String> {
    let quiet = || -> Option<Vec<String>> {
        let src = std::fs::read_to_string(ws.config_path()).ok()?;
        let config = duet_core::config::Config::from_toml_str(&src, ws.config_path()).ok()?;
        let path = ws.root().join(&config.backlog);
        let src = std::fs::read_to_string(&path).ok()?;
        let base = path.parent().unwrap_or(ws.root()).to_path_buf();
        let backlog =
            duet_core::backlog::Backlog::from_toml_str(&src, &path, &config, &base).ok()?;
        Some(backlog.tasks.iter().map(|t| t.id.to_string()).collect())
    };
    quiet().unwrap_or_default()
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> Result<(), CommandError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CommandError::internal(format!("failed to render JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

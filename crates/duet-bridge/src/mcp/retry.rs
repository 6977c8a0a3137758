//! Sending one tool call until a daemon answers it. `duet mcp` is the agent's child and outlives
//! the daemon: a call that got no answer (nobody listening, the connection closed without an
//! answer, no answer in time) is sent again, with the same call id, until a daemon answers or
//! [`CALL_RETRY_WINDOW`] has passed. The controller answers a call id it has seen with the
//! stored answer, so sending again never applies a call twice.

use std::path::Path;
use std::time::{Duration, Instant};

use duet_proto::{Client, ClientError, ClientErrorKind, Request, Response};

/// How long one call keeps being sent again while no daemon answers it. It covers a daemon
/// restart (about a second when `duet run` is started again at once, as the tests do; longer
/// when a human does it) and ends before the agents give up on the call themselves: codex
/// waits 60 s for an MCP tool call (`tool_timeout_sec`'s default, which duet does not change),
/// claude far longer (`MCP_TOOL_TIMEOUT`'s default is about 28 hours, its stdio idle limit 30
/// minutes). Ending first means the agent reads duet's own explanation, not a timeout.
pub const CALL_RETRY_WINDOW: Duration = Duration::from_secs(45);

/// The pause between two attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// The shortest step timeout of a late attempt, so that the last one still has a chance.
const MIN_STEP_TIMEOUT: Duration = Duration::from_millis(500);

/// What came of sending one call.
#[derive(Debug)]
pub struct Sent {
    /// The answer, or the last attempt's failure.
    pub result: Result<Response, ClientError>,
    pub attempts: u32,
    /// Some attempt reached a daemon and wrote the call without getting an answer: the call may
    /// have been applied (then a later attempt would have been answered from the record).
    pub maybe_received: bool,
}

/// Sends `request` to the socket at `socket` until it is answered or `window` has passed; each
/// step (connect, write, read) of an attempt waits at most `step_timeout`. `on_retry` is called
/// once, before the first attempt sent again, with the first failure.
pub fn send_until_answered(
    socket: &Path,
    step_timeout: Duration,
    request: &Request,
    window: Duration,
    mut on_retry: impl FnMut(&ClientError),
) -> Sent {
    let deadline = Instant::now() + window;
    let mut attempts = 0;
    let mut maybe_received = false;
    loop {
        attempts += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = step_timeout.min(left).max(MIN_STEP_TIMEOUT);
        let result = Client::new(socket, timeout).send(request);
        match result {
            Err(err) if Instant::now() + RETRY_PAUSE < deadline => {
                maybe_received |= err.kind == ClientErrorKind::Exchange;
                if attempts == 1 {
                    on_retry(&err);
                }
                std::thread::sleep(RETRY_PAUSE);
            }
            // The daemon's loop had ended (it may have taken the call): as good as a daemon
            // that died before answering; the same call goes to the next one.
            Ok(answer) if answer.is_shutting_down() && Instant::now() + RETRY_PAUSE < deadline => {
                maybe_received = true;
                std::thread::sleep(RETRY_PAUSE);
            }
            result => {
                if let Err(err) = &result {
                    maybe_received |= err.kind == ClientErrorKind::Exchange;
                }
                return Sent {
                    result,
                    attempts,
                    maybe_received,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_core::protocol::{CallId, ToolCall};
    use std::io::{BufReader, Write};
    use std::os::unix::net::UnixListener;

    fn request() -> Request {
        Request::tool_call("tok", CallId::new("c-1"), ToolCall::TaskStatus)
    }

    #[test]
    fn nobody_listening_is_tried_until_the_window_ends() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("duet.sock");
        let mut told = 0;
        let sent = send_until_answered(
            &socket,
            Duration::from_secs(1),
            &request(),
            Duration::from_millis(700),
            |_| told += 1,
        );
        assert_eq!(sent.result.unwrap_err().kind, ClientErrorKind::Connect);
        assert!(sent.attempts >= 2, "{}", sent.attempts);
        assert!(!sent.maybe_received);
        assert_eq!(told, 1, "the retry is told once per call");
    }

    /// Serves two connections on `listener`, answering the first with `first` (none: read and
    /// closed unanswered, as by a daemon killed mid-call) and the second with an ack; returns
    /// the requests it read.
    fn serve_twice(
        listener: UnixListener,
        first: Option<Response>,
    ) -> std::thread::JoinHandle<Vec<Request>> {
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (n, stream) in listener.incoming().take(2).enumerate() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let line = duet_proto::read_frame(&mut reader).unwrap();
                seen.push(duet_proto::decode_line::<Request>(&line).unwrap());
                let answer = match n {
                    0 => first.clone(),
                    _ => Some(Response::ok(duet_proto::ResponseBody::Ack)),
                };
                if let Some(answer) = answer {
                    stream.write_all(&duet_proto::encode_line(&answer)).unwrap();
                }
            }
            seen
        })
    }

    /// Sends `request()` to a daemon that answers the second connection, and checks that the
    /// same call was sent twice and answered.
    fn assert_asked_again(first: Option<Response>) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("duet.sock");
        let server = serve_twice(UnixListener::bind(&socket).unwrap(), first);
        let sent = send_until_answered(
            &socket,
            Duration::from_secs(5),
            &request(),
            Duration::from_secs(20),
            |_| {},
        );
        assert!(matches!(sent.result, Ok(Response::Ok { .. })), "{sent:?}");
        assert_eq!(sent.attempts, 2);
        assert!(sent.maybe_received, "the first daemon may have taken it");
        let seen = server.join().unwrap();
        assert_eq!(seen, vec![request(), request()], "the same call, same id");
    }

    #[test]
    fn a_daemon_dying_before_its_answer_is_asked_again_with_the_same_call() {
        assert_asked_again(None);
    }

    #[test]
    fn a_daemon_shutting_down_is_asked_again_with_the_same_call() {
        // The first answer is the one of a daemon whose loop has ended.
        assert_asked_again(Some(Response::error(
            duet_proto::ErrorKind::Internal,
            duet_proto::SHUTTING_DOWN,
        )));
    }
}

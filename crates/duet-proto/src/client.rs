//! A blocking client for short-lived helpers (`duet hook`, `duet mcp`, human commands).

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::frame::{FrameError, decode_line, encode_line, read_frame};
use crate::{Request, Response};

/// Talks to the controller's socket, one request per connection.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

/// A request that got no answer.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} duet's control socket {}", socket.display())]
pub struct ClientError {
    pub kind: ClientErrorKind,
    pub action: &'static str,
    pub socket: PathBuf,
    #[source]
    pub source: Option<FrameError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientErrorKind {
    /// Nothing listens there (no controller running) or permission denied.
    Connect,
    /// Writing the request or reading the answer failed or timed out.
    Exchange,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> Self {
        Client {
            socket: socket.into(),
            timeout,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends `request` and waits for the answer (at most the timeout for each step).
    pub fn send(&self, request: &Request) -> Result<Response, ClientError> {
        let fail = |kind, action, source| ClientError {
            kind,
            action,
            socket: self.socket.clone(),
            source,
        };
        let mut stream = UnixStream::connect(&self.socket).map_err(|e| {
            fail(
                ClientErrorKind::Connect,
                "connect to",
                Some(FrameError::Io(e)),
            )
        })?;
        let exchange = |e: std::io::Error| {
            fail(
                ClientErrorKind::Exchange,
                "talk to",
                Some(FrameError::Io(e)),
            )
        };
        stream
            .set_read_timeout(Some(self.timeout))
            .map_err(exchange)?;
        stream
            .set_write_timeout(Some(self.timeout))
            .map_err(exchange)?;
        stream.write_all(&encode_line(request)).map_err(exchange)?;
        stream.flush().map_err(exchange)?;
        let mut reader = BufReader::new(stream);
        let line = read_frame(&mut reader)
            .map_err(|e| fail(ClientErrorKind::Exchange, "read an answer from", Some(e)))?;
        decode_line(&line).map_err(|e| {
            fail(
                ClientErrorKind::Exchange,
                "understand the answer of",
                Some(e),
            )
        })
    }
}

//! A blocking client for short-lived helpers (`duet hook`, `duet mcp`, human commands), and a
//! blocking [`Subscription`] reader for the status stream.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::frame::{FrameError, decode_line, encode_line, read_frame};
use crate::{Request, RequestBody, Response};

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

    /// The timeout of each step (connect, write, read).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `request` and waits for the answer (at most the timeout for each step).
    pub fn send(&self, request: &Request) -> Result<Response, ClientError> {
        let mut reader = self.open(request)?;
        self.read_one(&mut reader)
    }

    /// Subscribes to status changes after `from_seq`. The first answer (the catch-up, or a
    /// refusal) must come within the timeout; later ones come when something changes, so
    /// [`Subscription::recv`] waits as long as it takes (until the server closes).
    pub fn subscribe(&self, from_seq: Option<u64>) -> Result<Subscription, ClientError> {
        let request = Request::from_human(RequestBody::Subscribe { from_seq });
        let mut reader = self.open(&request)?;
        let first = self.read_one(&mut reader)?;
        reader
            .get_ref()
            .set_read_timeout(None)
            .map_err(|e| ClientError {
                kind: ClientErrorKind::Exchange,
                action: "talk to",
                socket: self.socket.clone(),
                source: Some(FrameError::Io(e)),
            })?;
        Ok(Subscription {
            client: self.clone(),
            reader,
            first: Some(first),
        })
    }

    fn read_one(&self, reader: &mut BufReader<UnixStream>) -> Result<Response, ClientError> {
        let fail = |action, source| ClientError {
            kind: ClientErrorKind::Exchange,
            action,
            socket: self.socket.clone(),
            source: Some(source),
        };
        let line = read_frame(reader).map_err(|e| fail("read an answer from", e))?;
        decode_line(&line).map_err(|e| fail("understand the answer of", e))
    }

    fn open(&self, request: &Request) -> Result<BufReader<UnixStream>, ClientError> {
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
        Ok(BufReader::new(stream))
    }
}

/// An open status subscription: each [`recv`](Subscription::recv) is one answer of the stream.
#[derive(Debug)]
pub struct Subscription {
    client: Client,
    reader: BufReader<UnixStream>,
    first: Option<Response>,
}

impl Subscription {
    /// The next answer; an error when the connection ends (the server stopped or dropped us).
    pub fn recv(&mut self) -> Result<Response, ClientError> {
        match self.first.take() {
            Some(first) => Ok(first),
            None => self.client.read_one(&mut self.reader),
        }
    }
}

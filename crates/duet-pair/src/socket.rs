//! The control socket server: accepts connections on a unix socket (mode 0600), reads one
//! request frame each, hands it to the loop, and writes the loop's answer back. A `subscribe`
//! request is served here, from the [`StatusFeed`] the loop publishes to: its connection stays
//! open and gets every status change, without going through the loop.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use duet_proto::status::{Catchup, StatusChange, StatusLog, TaskStatus};
use duet_proto::{
    ErrorKind, FrameError, MAX_FRAME_BYTES, Request, RequestBody, Response, ResponseBody,
    decode_line, encode_line,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::controller::ConnId;

/// A request read from a connection, with the way back to its caller.
#[derive(Debug)]
pub struct Incoming {
    pub conn: ConnId,
    pub request: Request,
    pub reply: oneshot::Sender<Response>,
}

/// Binds `path` (replacing a stale socket nobody answers on) with mode 0600.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another duet is already listening on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(parent) = path.parent() {
        duet_proto::socket_path::create_private_dir(parent)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Where the loop publishes the status of its tasks; subscribers are woken on each change.
/// Dropping it ends every subscription.
#[derive(Debug)]
pub struct StatusFeed {
    log: Arc<Mutex<StatusLog>>,
    tx: watch::Sender<u64>,
}

/// The subscribers' side of a [`StatusFeed`].
#[derive(Debug, Clone)]
pub struct StatusReader {
    log: Arc<Mutex<StatusLog>>,
    rx: watch::Receiver<u64>,
}

impl StatusFeed {
    /// A feed numbered from `start_ms` (see `duet_proto::status`), keeping `ring` changes.
    pub fn new(start_ms: u64, ring: usize) -> Self {
        let log = StatusLog::starting_at(start_ms, ring);
        let (tx, _) = watch::channel(log.seq());
        StatusFeed {
            log: Arc::new(Mutex::new(log)),
            tx,
        }
    }

    /// The tasks as last published.
    pub fn snapshot(&self) -> duet_proto::status::StatusSnapshot {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .snapshot()
    }

    pub fn reader(&self) -> StatusReader {
        StatusReader {
            log: Arc::clone(&self.log),
            rx: self.tx.subscribe(),
        }
    }

    /// The tasks now; answers what changed (and wakes subscribers if anything did).
    pub fn publish(&self, tasks: Vec<TaskStatus>) -> Vec<StatusChange> {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changes = log.publish(tasks);
        if !changes.is_empty() {
            self.tx.send_replace(log.seq());
        }
        changes
    }
}

/// Accepts connections until the loop's receiver is gone.
pub async fn serve(listener: UnixListener, socket_path: PathBuf, tx: mpsc::Sender<Incoming>) {
    serve_with_status(listener, socket_path, tx, None).await;
}

/// [`serve`], with `subscribe` served from `status` (refused without one).
pub async fn serve_with_status(
    listener: UnixListener,
    socket_path: PathBuf,
    tx: mpsc::Sender<Incoming>,
    status: Option<StatusReader>,
) {
    let mut next_conn: ConnId = 1;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!("failed to accept on {}: {err}", socket_path.display());
                    continue;
                }
            },
            () = tx.closed() => return,
        };
        let conn = next_conn;
        next_conn += 1;
        tokio::spawn(connection(stream, conn, tx.clone(), status.clone()));
    }
}

async fn connection(
    stream: UnixStream,
    conn: ConnId,
    tx: mpsc::Sender<Incoming>,
    status: Option<StatusReader>,
) {
    let (read, mut write) = stream.into_split();
    let limit = u64::try_from(MAX_FRAME_BYTES).unwrap_or(u64::MAX) + 1;
    let mut reader = BufReader::new(read.take(limit));
    let response = match read_request(&mut reader).await {
        Ok(Request {
            body: RequestBody::Subscribe { from_seq },
            token,
            ..
        }) => match (token, status) {
            (None, Some(status)) => {
                return stream_status(status, from_seq, reader.into_inner().into_inner(), write)
                    .await;
            }
            (Some(_), _) => Response::error(
                ErrorKind::Unauthorized,
                "agents may not subscribe to status",
            ),
            (None, None) => Response::error(
                ErrorKind::Unsupported,
                "this duet does not stream status changes",
            ),
        },
        Ok(request) => {
            let (reply, answer) = oneshot::channel();
            if tx
                .send(Incoming {
                    conn,
                    request,
                    reply,
                })
                .await
                .is_err()
            {
                Response::error(ErrorKind::Internal, duet_proto::SHUTTING_DOWN)
            } else {
                answer.await.unwrap_or_else(|_| {
                    Response::error(ErrorKind::Internal, duet_proto::SHUTTING_DOWN)
                })
            }
        }
        Err(FrameError::TooLarge) => Response::error(
            ErrorKind::TooLarge,
            format!("request is over the {MAX_FRAME_BYTES}-byte limit"),
        ),
        Err(err) => Response::error(ErrorKind::Malformed, err.to_string()),
    };
    let _ = write.write_all(&encode_line(&response)).await;
    let _ = write.shutdown().await;
    crate::failpoint!("answer-sent");
}

/// A subscription: the catch-up since `from_seq`, then the changes as they are published,
/// until the client hangs up or the feed is dropped.
async fn stream_status(
    mut status: StatusReader,
    from_seq: Option<u64>,
    mut read: OwnedReadHalf,
    mut write: OwnedWriteHalf,
) {
    status.rx.mark_unchanged();
    let mut last = from_seq;
    let mut first = true;
    loop {
        let catchup = status
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .since(last);
        let response = match catchup {
            Catchup::Snapshot(snapshot) => {
                last = Some(snapshot.seq);
                Some(ResponseBody::Status { status: snapshot })
            }
            Catchup::Changes(changes) => {
                if let Some(change) = changes.last() {
                    last = Some(change.seq);
                }
                // The first answer always goes out, even empty: the client waits for it.
                (first || !changes.is_empty()).then_some(ResponseBody::StatusChanged { changes })
            }
        };
        first = false;
        if let Some(body) = response
            && write
                .write_all(&encode_line(&Response::ok(body)))
                .await
                .is_err()
        {
            return;
        }
        let mut byte = [0u8; 64];
        tokio::select! {
            changed = status.rx.changed() => if changed.is_err() {
                let _ = write.shutdown().await;
                return;
            },
            // Anything from the client (or its hanging up) ends the subscription.
            _ = read.read(&mut byte) => return,
        }
    }
}

async fn read_request(
    reader: &mut BufReader<tokio::io::Take<OwnedReadHalf>>,
) -> Result<Request, FrameError> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).await?;
    if line.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge);
    }
    if !line.ends_with(b"\n") {
        return Err(FrameError::Truncated);
    }
    decode_line(&line)
}

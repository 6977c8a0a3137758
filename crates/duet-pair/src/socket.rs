//! The control socket server: accepts connections on a unix socket (mode 0600), reads one
//! request frame each, hands it to the loop, and writes the loop's answer back.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use duet_proto::{
    ErrorKind, FrameError, MAX_FRAME_BYTES, Request, Response, decode_line, encode_line,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

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

/// Accepts connections until the loop's receiver is gone.
pub async fn serve(listener: UnixListener, socket_path: PathBuf, tx: mpsc::Sender<Incoming>) {
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
        tokio::spawn(connection(stream, conn, tx.clone()));
    }
}

async fn connection(stream: UnixStream, conn: ConnId, tx: mpsc::Sender<Incoming>) {
    let (read, mut write) = stream.into_split();
    let response = match read_request(read).await {
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
                Response::error(ErrorKind::Internal, "duet is shutting down")
            } else {
                answer.await.unwrap_or_else(|_| {
                    Response::error(ErrorKind::Internal, "duet is shutting down")
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
}

async fn read_request(read: tokio::net::unix::OwnedReadHalf) -> Result<Request, FrameError> {
    let limit = u64::try_from(MAX_FRAME_BYTES).unwrap_or(u64::MAX) + 1;
    let mut reader = BufReader::new(read.take(limit));
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

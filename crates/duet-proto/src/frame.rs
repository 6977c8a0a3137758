//! Framing: one JSON object per line, at most [`MAX_FRAME_BYTES`](crate::MAX_FRAME_BYTES).

use std::io::{BufRead, Read};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::MAX_FRAME_BYTES;

/// A frame that could not be read or understood.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Connecting, writing or reading failed (the message is the OS's: "Connection refused",
    /// "Resource temporarily unavailable" for a timeout, ...).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("frame is over the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge,
    #[error("connection closed before a complete frame")]
    Truncated,
    #[error("failed to parse frame: {0}")]
    Malformed(#[source] serde_json::Error),
}

/// Serialises `value` as one line (JSON + `\n`).
pub fn encode_line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).expect("protocol types always serialise");
    line.push(b'\n');
    line
}

/// Parses one line (with or without its newline).
pub fn decode_line<T: DeserializeOwned>(line: &[u8]) -> Result<T, FrameError> {
    if line.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge);
    }
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    serde_json::from_slice(line).map_err(FrameError::Malformed)
}

/// Reads one newline-terminated frame, refusing to buffer more than the limit.
pub fn read_frame(reader: &mut impl BufRead) -> Result<Vec<u8>, FrameError> {
    let mut line = Vec::new();
    let limit = u64::try_from(MAX_FRAME_BYTES).unwrap_or(u64::MAX) + 1;
    let n = reader.by_ref().take(limit).read_until(b'\n', &mut line)?;
    if n == 0 || !line.ends_with(b"\n") {
        return Err(if line.len() > MAX_FRAME_BYTES {
            FrameError::TooLarge
        } else {
            FrameError::Truncated
        });
    }
    if line.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge);
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, RequestBody};

    #[test]
    fn round_trips_a_request() {
        let req = Request::from_human(RequestBody::Status {
            task: Some("a".into()),
        });
        let line = encode_line(&req);
        assert!(line.ends_with(b"\n"));
        let read = read_frame(&mut &line[..]).unwrap();
        assert_eq!(decode_line::<Request>(&read).unwrap(), req);
    }

    #[test]
    fn oversized_and_truncated_frames_are_refused() {
        let big = vec![b'x'; MAX_FRAME_BYTES + 10];
        assert!(matches!(
            read_frame(&mut &big[..]),
            Err(FrameError::TooLarge)
        ));
        assert!(matches!(
            read_frame(&mut &b"{\"version\":1"[..]),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read_frame(&mut &b""[..]),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            decode_line::<Request>(b"not json\n"),
            Err(FrameError::Malformed(_))
        ));
    }
}

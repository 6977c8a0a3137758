//! Words for a control-socket request that got no answer, shared by the three helpers.

use duet_proto::{ClientError, FrameError};

/// The underlying reason, readable by an agent or a human: the OS's message, or "no answer in
/// time" for a timeout (which the OS reports as "Resource temporarily unavailable").
pub(crate) fn cause(err: &ClientError) -> String {
    match &err.source {
        Some(FrameError::Io(io))
            if matches!(
                io.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            "no answer in time".to_owned()
        }
        Some(FrameError::Io(io)) => io.to_string(),
        Some(other) => other.to_string(),
        None => "no details".to_owned(),
    }
}

/// "failed to connect to duet's control socket /x: Connection refused (os error 111)".
pub(crate) fn describe(err: &ClientError) -> String {
    format!("{err}: {}", cause(err))
}

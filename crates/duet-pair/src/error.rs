//! The pair controller's error: what failed (kind) and why (source).

use std::fmt;

/// A pair run that could not start or go on.
#[derive(Debug, thiserror::Error)]
#[error("failed to {kind}")]
pub struct PairError {
    pub kind: PairErrorKind,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairErrorKind {
    Store,
    Socket,
    Launch,
    Tmux,
    Resume,
}

impl fmt::Display for PairErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PairErrorKind::Store => "use the state store",
            PairErrorKind::Socket => "open the control socket",
            PairErrorKind::Launch => "build the agents' command lines",
            PairErrorKind::Tmux => "start the agents in tmux",
            PairErrorKind::Resume => "resume the pair",
        })
    }
}

impl PairError {
    pub fn new(
        kind: PairErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        PairError {
            kind,
            source: Some(Box::new(source)),
        }
    }

    pub fn msg(kind: PairErrorKind, message: impl Into<String>) -> Self {
        PairError {
            kind,
            source: Some(message.into().into()),
        }
    }
}

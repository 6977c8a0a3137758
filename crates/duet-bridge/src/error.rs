//! [`BridgeError`]: why a helper could not start or serve.

/// A helper failed as a whole (a single failed request is reported, not raised).
#[derive(Debug, thiserror::Error)]
#[error("failed to {action}")]
pub struct BridgeError {
    pub kind: BridgeErrorKind,
    action: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeErrorKind {
    /// `DUET_SOCKET` or `DUET_TOKEN` is not set.
    MissingEnv,
    /// The async runtime could not be built.
    Runtime,
    /// The MCP session on stdio failed (handshake or transport).
    Serve,
}

impl BridgeError {
    pub(crate) fn new(kind: BridgeErrorKind, action: impl Into<String>) -> Self {
        BridgeError {
            kind,
            action: action.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(
        kind: BridgeErrorKind,
        action: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        BridgeError {
            kind,
            action: action.into(),
            source: Some(source.into()),
        }
    }
}

//! The names duet's processes agree on across process boundaries: the env vars an agent's helpers
//! find the engine by, the hook payload's request-id field, and the markers of duet's own text.

/// Environment variables through which agents' helpers (`duet mcp`, `duet hook`,
/// `duet exec-agent`) find the engine.
pub mod env {
    /// Path of the engine's unix socket.
    pub const SOCKET: &str = "DUET_SOCKET";
    /// The agent's token: binds its requests to one task and role.
    pub const TOKEN: &str = "DUET_TOKEN";
    /// The task id (informational, for logs and humans).
    pub const TASK: &str = "DUET_TASK";
    /// The role, `worker` or `reviewer` (informational).
    pub const ROLE: &str = "DUET_ROLE";
    /// The hop log's file (`duet_proto::hop_log`): set for the engine, passed on to its agents'
    /// helpers; unset, nothing is logged.
    pub const HOP_LOG: &str = "DUET_HOP_LOG";
}

/// The payload field `duet hook` adds: one id per hook run, the same on each of its retries, so
/// that the engine applies a hook sent again only once.
pub const HOOK_REQUEST_ID_FIELD: &str = "duet_request_id";

/// The start of every delivered message's header, `[duet message #N from ...]`.
pub const MESSAGE_MARKER_PREFIX: &str = "[duet message #";

/// Text every brief carries (`You are the WORKER in a duet pair on task ...`).
pub const BRIEF_MARKER: &str = "in a duet pair on task";

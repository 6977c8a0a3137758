//! What the engine needs to know of each seat's agent, and the wall clock as the protocol's
//! timestamp. The loop that drives pairs is the engine's (`duet_daemon::run`), for `duet run`
//! and `duet pair` alike.

use duet_core::config::AgentProfile;
use duet_core::protocol::Timestamp;

/// One seat's agent: the profile's name and settings.
#[derive(Debug, Clone)]
pub struct AgentSetup {
    pub profile_name: String,
    pub profile: AgentProfile,
}

/// The wall clock as the protocol's timestamp (the edges read the clock; the core never does).
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

//! The hop log: timestamps along one message's way through duet's processes (`duet mcp`, the
//! hooks, the engine, the agents' actors), for measuring where a message's time goes (issue #14,
//! `crates/duet-cli/benches/pair_latency.rs`). Off unless [`HOP_LOG_VAR`] names a file; then
//! each mark appends one line `UNIX_MICROS PID HOP DETAIL` to it in one `write` (`O_APPEND`,
//! so the lines of several processes do not mix). Details are call ids, message ids and hook
//! event names: no message text, no tokens.

use std::fmt::Display;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable naming the hop log's file. The engine passes it on to the agents'
/// helpers (`duet_agents::adapter::duet_env`).
pub const HOP_LOG_VAR: &str = duet_core::wire::env::HOP_LOG;

/// The hop log's file, read from the environment once per process.
pub fn hop_log_path() -> Option<&'static PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::var_os(HOP_LOG_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .as_ref()
}

/// Appends `hop` with `detail` to the hop log, if there is one (failures are ignored: the log
/// only measures).
pub fn mark(hop: &str, detail: impl Display) {
    let Some(path) = hop_log_path() else {
        return;
    };
    let line = format_line(now_micros(), std::process::id(), hop, &detail.to_string());
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(line.as_bytes()));
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// One line of the log; newlines in `detail` are flattened so that a line stays one mark.
fn format_line(micros: u128, pid: u32, hop: &str, detail: &str) -> String {
    format!(
        "{micros} {pid} {hop} {}\n",
        detail.replace(['\n', '\r'], " ")
    )
}

/// One mark read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub unix_us: u64,
    pub pid: u32,
    pub hop: String,
    pub detail: String,
}

/// The marks of a hop log's text, in file order (lines that do not parse are skipped).
pub fn parse(text: &str) -> Vec<Mark> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, ' ');
            Some(Mark {
                unix_us: parts.next()?.parse().ok()?,
                pid: parts.next()?.parse().ok()?,
                hop: parts.next()?.to_owned(),
                detail: parts.next().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_as_its_mark_with_newlines_flattened() {
        let text = format_line(
            1_700_000_000_123_456,
            42,
            "engine.decided",
            "call c-1\nids 3",
        );
        assert_eq!(text.lines().count(), 1);
        assert_eq!(
            parse(&format!("{text}garbage\n")),
            vec![Mark {
                unix_us: 1_700_000_000_123_456,
                pid: 42,
                hop: "engine.decided".into(),
                detail: "call c-1 ids 3".into(),
            }]
        );
    }
}

//! Failpoints: named places in the engine's protocol where a test can make the process abort
//! (no cleanup, as SIGKILL would), to prove that a restart picks every step up. Compiled in only
//! with the `failpoints` feature; without it [`failpoint!`](crate::failpoint!) expands to
//! nothing and [`committed`] is empty.
//!
//! Configured by the environment of the process: `DUET_FAILPOINTS="events-committed=abort"`,
//! several separated by `;`, `name=abort@N` to abort at the Nth time the point is reached (the
//! first by default). A name that is not in [`NAMES`] is refused at the first point reached.

/// Every failpoint, in protocol order (the kill-point test walks this list).
pub const NAMES: &[&str] = &[
    // A socket request read and routed (an agent's, with the git facts read for it).
    "request-read",
    // The controller decided what the request leads to; nothing stored yet.
    "decision-made",
    // A pair's events and snapshot committed in one transaction; nothing answered yet.
    "events-committed",
    // A verdict stored (a review's events committed); the reviewer not answered yet.
    "verdict-committed",
    // A response written to the requester's socket.
    "answer-sent",
    // A message typed into an agent's pane; its turn not confirmed yet.
    "delivery-typed",
    // A delivery confirmed (the agent's turn seen) and its `MessageDelivered` committed.
    "delivery-confirmed",
    // A pair's CI run reported (started or finished) to the engine; not yet applied.
    "ci-run-event",
    // The merge queue built a candidate commit; nothing landed yet.
    "merge-candidate-built",
    // The merge queue's CI run on a candidate is about to start.
    "merge-ci-started",
    // A candidate's CI result reached the engine; not yet applied.
    "merge-ci-result",
    // The base branch moved to the candidate; the task not marked merged yet.
    "merge-base-moved",
    // A landed task's worktree and branch cleaned up.
    "merge-cleaned-up",
];

/// Marks a failpoint: with the `failpoints` feature, aborts the process here when
/// `DUET_FAILPOINTS` asks for it; without, nothing at all.
#[cfg(feature = "failpoints")]
#[macro_export]
macro_rules! failpoint {
    ($name:literal) => {
        $crate::failpoint::hit($name)
    };
}

/// Marks a failpoint: with the `failpoints` feature, aborts the process here when
/// `DUET_FAILPOINTS` asks for it; without, nothing at all.
#[cfg(not(feature = "failpoints"))]
#[macro_export]
macro_rules! failpoint {
    ($name:literal) => {
        ()
    };
}

/// What a configured failpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// Abort the process the `nth` time (from 1) the point is reached.
    pub nth: u32,
}

/// Parses a `DUET_FAILPOINTS` value: `name=abort[@N]`, separated by `;`.
pub fn parse(spec: &str) -> Result<Vec<(String, Trigger)>, String> {
    let mut out = Vec::new();
    for term in spec.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        let Some((name, action)) = term.split_once('=') else {
            return Err(format!("`{term}`: expected name=abort"));
        };
        let name = name.trim();
        if !NAMES.contains(&name) {
            return Err(format!(
                "`{name}` is not a failpoint (known: {})",
                NAMES.join(", ")
            ));
        }
        let nth = match action.trim().split_once('@') {
            None if action.trim() == "abort" => 1,
            Some(("abort", n)) => match n.parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("`{term}`: the count after @ must be 1 or more")),
            },
            _ => return Err(format!("`{term}`: the only action is abort (or abort@N)")),
        };
        out.push((name.to_owned(), Trigger { nth }));
    }
    Ok(out)
}

/// After a pair's events are committed: the protocol step they make, if it is a failpoint.
pub fn committed<'a>(events: impl IntoIterator<Item = &'a duet_store::NewEvent>) {
    #[cfg(feature = "failpoints")]
    {
        let mut any = false;
        let (mut verdict, mut delivered) = (false, false);
        for e in events {
            any = true;
            verdict |= matches!(e.event, duet_store::Event::ReviewSubmitted { .. });
            delivered |= matches!(e.event, duet_store::Event::MessageDelivered { .. });
        }
        if verdict {
            hit("verdict-committed");
        }
        if delivered {
            hit("delivery-confirmed");
        }
        if any {
            hit("events-committed");
        }
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = events;
}

#[cfg(feature = "failpoints")]
mod armed {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use super::Trigger;

    /// The configured points and how often each was reached.
    fn state() -> &'static Mutex<HashMap<String, (Trigger, u32)>> {
        static STATE: OnceLock<Mutex<HashMap<String, (Trigger, u32)>>> = OnceLock::new();
        STATE.get_or_init(|| {
            let spec = std::env::var("DUET_FAILPOINTS").unwrap_or_default();
            match super::parse(&spec) {
                Ok(points) => Mutex::new(
                    points
                        .into_iter()
                        .map(|(name, trigger)| (name, (trigger, 0)))
                        .collect(),
                ),
                Err(why) => {
                    eprintln!("duet: invalid DUET_FAILPOINTS: {why}");
                    std::process::abort();
                }
            }
        })
    }

    /// Reaches failpoint `name`: aborts the process if it is armed and this is its turn.
    pub fn hit(name: &str) {
        debug_assert!(super::NAMES.contains(&name), "unlisted failpoint {name}");
        let mut points = state()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((trigger, seen)) = points.get_mut(name) {
            *seen += 1;
            if *seen == trigger.nth {
                // Said on stderr so a test can tell this abort from a crash.
                eprintln!("duet: failpoint {name} reached: aborting");
                std::process::abort();
            }
        }
    }
}

#[cfg(feature = "failpoints")]
pub use armed::hit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_points_and_counts() {
        let points = parse("events-committed=abort; answer-sent=abort@3;").unwrap();
        assert_eq!(
            points,
            vec![
                ("events-committed".to_owned(), Trigger { nth: 1 }),
                ("answer-sent".to_owned(), Trigger { nth: 3 }),
            ]
        );
        assert_eq!(parse("").unwrap(), Vec::new());
    }

    #[test]
    fn refuses_unknown_names_actions_and_counts() {
        assert!(parse("nope=abort").unwrap_err().contains("not a failpoint"));
        assert!(
            parse("answer-sent=panic")
                .unwrap_err()
                .contains("only action")
        );
        assert!(
            parse("answer-sent=abort@0")
                .unwrap_err()
                .contains("1 or more")
        );
        assert!(parse("answer-sent").unwrap_err().contains("expected"));
    }
}

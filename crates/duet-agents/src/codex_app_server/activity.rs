//! Which turn each thread is in, learnt from app-server notifications only (pure, no IO): the
//! input to the delivery choice, `turn/start` when codex is idle and `turn/steer` with the
//! running turn's id when it is mid-turn.
//!
//! The choice can race the turn's end: codex refuses a steer whose `expectedTurnId` is no
//! longer running ("no active turn to steer"), and the caller then starts a turn instead, so a
//! message is neither lost nor delivered twice. The other way round is safe too: a
//! `turn/start` sent while a turn has just begun joins that turn (codex 0.171.0 answers with the
//! running turn's id, see `docs/codex-app-server.md`).

use std::collections::HashMap;

use super::protocol::{Notification, ThreadStatus};

/// How to deliver the next message to a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Codex is idle: `turn/start`.
    Start,
    /// Codex is mid-turn: `turn/steer` into this turn.
    Steer { turn_id: String },
}

/// The running turn of each thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadActivity {
    running: HashMap<String, String>,
}

impl ThreadActivity {
    /// Takes one notification into account (any kind; most change nothing).
    pub fn apply(&mut self, notification: &Notification) {
        match notification {
            Notification::TurnStarted { thread_id, turn } => {
                self.running.insert(thread_id.clone(), turn.id.clone());
            }
            // A late completion of an older turn must not hide the one running now.
            Notification::TurnCompleted { thread_id, turn }
                if self.running.get(thread_id) == Some(&turn.id) =>
            {
                self.running.remove(thread_id);
            }
            Notification::ThreadStatusChanged { thread_id, status } => match status {
                ThreadStatus::Idle | ThreadStatus::NotLoaded | ThreadStatus::SystemError => {
                    self.running.remove(thread_id);
                }
                ThreadStatus::Active { .. } | ThreadStatus::Unknown => {}
            },
            _ => {}
        }
    }

    /// The turn running in `thread_id`, if any.
    pub fn running_turn(&self, thread_id: &str) -> Option<&str> {
        self.running.get(thread_id).map(String::as_str)
    }

    /// How to deliver a message to `thread_id` now.
    pub fn delivery(&self, thread_id: &str) -> Delivery {
        match self.running_turn(thread_id) {
            Some(turn_id) => Delivery::Steer {
                turn_id: turn_id.to_owned(),
            },
            None => Delivery::Start,
        }
    }

    /// Forgets a thread (its app-server went away: after `thread/resume` it is idle).
    pub fn forget(&mut self, thread_id: &str) {
        self.running.remove(thread_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codex_app_server::protocol::{Turn, TurnStatus};

    fn turn(id: &str, status: TurnStatus) -> Turn {
        Turn {
            id: id.into(),
            status,
            error: None,
        }
    }

    fn started(thread: &str, id: &str) -> Notification {
        Notification::TurnStarted {
            thread_id: thread.into(),
            turn: turn(id, TurnStatus::InProgress),
        }
    }

    fn completed(thread: &str, id: &str, status: TurnStatus) -> Notification {
        Notification::TurnCompleted {
            thread_id: thread.into(),
            turn: turn(id, status),
        }
    }

    #[test]
    fn idle_starts_and_mid_turn_steers_into_the_running_turn() {
        let mut activity = ThreadActivity::default();
        assert_eq!(activity.delivery("a"), Delivery::Start);
        activity.apply(&started("a", "t1"));
        assert_eq!(
            activity.delivery("a"),
            Delivery::Steer {
                turn_id: "t1".into()
            }
        );
        assert_eq!(activity.delivery("b"), Delivery::Start, "threads are apart");
        activity.apply(&completed("a", "t1", TurnStatus::Interrupted));
        assert_eq!(activity.delivery("a"), Delivery::Start);
    }

    #[test]
    fn a_late_completion_of_an_older_turn_keeps_the_running_one() {
        let mut activity = ThreadActivity::default();
        activity.apply(&started("a", "t1"));
        activity.apply(&started("a", "t2"));
        activity.apply(&completed("a", "t1", TurnStatus::Completed));
        assert_eq!(activity.running_turn("a"), Some("t2"));
    }

    #[test]
    fn idle_or_failed_threads_have_no_running_turn() {
        for status in [
            ThreadStatus::Idle,
            ThreadStatus::SystemError,
            ThreadStatus::NotLoaded,
        ] {
            let mut activity = ThreadActivity::default();
            activity.apply(&started("a", "t1"));
            activity.apply(&Notification::ThreadStatusChanged {
                thread_id: "a".into(),
                status: ThreadStatus::Active {
                    active_flags: vec![],
                },
            });
            assert_eq!(activity.running_turn("a"), Some("t1"));
            activity.apply(&Notification::ThreadStatusChanged {
                thread_id: "a".into(),
                status: status.clone(),
            });
            assert_eq!(activity.delivery("a"), Delivery::Start, "{status:?}");
        }
        let mut activity = ThreadActivity::default();
        activity.apply(&started("a", "t1"));
        activity.forget("a");
        assert_eq!(activity.delivery("a"), Delivery::Start);
    }
}

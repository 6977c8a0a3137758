//! Seeing an agent at rest from its pane when no hook will say so: an agent started again with
//! its conversation resumed (it waits at its prompt, no turn runs), or a turn that ended while
//! no daemon listened. The pane counts as at rest when its screen shows an empty prompt (claude:
//! a line with only `❯`; codex: its `? for shortcuts` footer), no working footer, and stays the
//! same over several looks (one per daemon tick).

use std::time::{Duration, Instant};

/// The footer claude and codex show while a turn runs.
const WORKING_FOOTER: &str = "esc to interrupt";
/// Looks in a row with the same screen and no footer.
const QUIET_LOOKS: u32 = 3;
/// Looks in a row for an adopted agent (see [`IdleWatch::adopted`]).
const ADOPTED_QUIET_LOOKS: u32 = 2;
/// No verdict before the agent had this long to start.
const SETTLE: Duration = Duration::from_secs(3);
/// Stop looking after this long (hooks said nothing and the screen never settled).
const GIVE_UP: Duration = Duration::from_secs(180);

/// One agent being watched.
#[derive(Debug, Clone)]
pub struct IdleWatch {
    since: Instant,
    last_screen: Option<String>,
    quiet_looks: u32,
    /// Looks in a row needed, and the time the agent is given to start first.
    needed: (u32, Duration),
    /// What to type once it is at rest (a resumed agent is told to go on), if anything.
    pub nudge: Option<String>,
}

impl IdleWatch {
    pub fn new(now: Instant, nudge: Option<String>) -> Self {
        IdleWatch {
            since: now,
            last_screen: None,
            quiet_looks: 0,
            needed: (QUIET_LOOKS, SETTLE),
            nudge,
        }
    }

    /// Watches an agent a new daemon took over: it has been running all along, so no time to
    /// start is given and two same looks (one tick apart) say it is at rest: what is queued for
    /// it goes within a second or two of the restart.
    pub fn adopted(now: Instant, nudge: Option<String>) -> Self {
        IdleWatch {
            needed: (ADOPTED_QUIET_LOOKS, Duration::ZERO),
            ..IdleWatch::new(now, nudge)
        }
    }

    /// One look at the pane's screen: whether the agent is at rest now.
    pub fn look(&mut self, screen: &str, now: Instant) -> bool {
        let same = self.last_screen.as_deref() == Some(screen);
        self.quiet_looks = if screen.contains(WORKING_FOOTER) || !at_prompt(screen) {
            0
        } else if same {
            self.quiet_looks + 1
        } else {
            1
        };
        self.last_screen = Some(screen.to_owned());
        let (looks, settle) = self.needed;
        self.quiet_looks >= looks && now.duration_since(self.since) >= settle
    }

    pub fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.since) >= GIVE_UP
    }
}

/// An agent seen at rest: messages typed at its prompt whose turn never came (an engine died
/// before typing them) are pending again now, not after the mailbox's confirm timeout. Returns
/// a note for the log per message (it is handed over again: a second "handed over" record).
pub fn requeue_typed(
    task: &str,
    role: duet_core::protocol::Role,
    controller: &mut duet_pair::Controller,
) -> Vec<String> {
    let ids = controller
        .state
        .mailbox
        .requeue_typed(role, duet_pair::now());
    ids.into_iter()
        .map(|id| {
            let text = format!(
                "message {} was handed over to the {role} but its turn never began (the engine \
                 stopped before typing it?): handed over again",
                duet_pair::records::message_key(task, id)
            );
            tracing::info!("task {task}: {text}");
            text
        })
        .collect()
}

/// An adopted agent still running with a prompt typed for it and no turn seen: the old engine
/// may have died between pasting the text and pressing Enter, which leaves the text in the
/// agent's input box (the agent never at rest, the message never confirmed). Enter is pressed
/// once: it submits such text, and an empty prompt ignores it.
pub fn finish_typing(
    runtime: &dyn duet_pair::AgentRuntime,
    pane: &str,
    controller: &duet_pair::Controller,
    role: duet_core::protocol::Role,
) {
    use duet_core::protocol::delivery::{DeliveryStatus, Handover, TargetStatus};
    let mailbox = &controller.state.mailbox;
    let typed = mailbox.envelopes.iter().any(|e| {
        e.to == role
            && matches!(
                e.status,
                DeliveryStatus::Sent {
                    via: Handover::Prompt,
                    ..
                }
            )
    });
    if typed && matches!(mailbox.target(role), TargetStatus::Prompted { .. }) {
        tracing::info!(
            "the adopted {role} has a prompt typed and no turn seen: pressing Enter once"
        );
        if let Err(err) = runtime.press_enter(pane) {
            tracing::warn!("failed to press Enter for the {role}: {err}");
        }
    }
}

/// The TUI waits for input: claude's empty `❯` line, or codex's idle footer.
fn at_prompt(screen: &str) -> bool {
    screen.lines().any(|line| line.trim() == "❯") || screen.contains("? for shortcuts")
}

#[cfg(test)]
mod tests {
    use super::*;

    const READY: &str = "────\n❯ \n────\n  ? for shortcuts";
    const WORKING: &str = "✻ Running… (3s · esc to interrupt)";

    #[test]
    fn an_adopted_agent_is_at_rest_after_two_same_looks() {
        let t0 = Instant::now();
        let mut watch = IdleWatch::adopted(t0, None);
        assert!(!watch.look(READY, t0));
        assert!(watch.look(READY, t0 + Duration::from_secs(1)));
        let mut busy = IdleWatch::adopted(t0, None);
        assert!(!busy.look(WORKING, t0));
        assert!(!busy.look(WORKING, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn a_quiet_screen_without_the_footer_is_at_rest_after_the_settle_time() {
        let t0 = Instant::now();
        let mut watch = IdleWatch::new(t0, None);
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(!watch.look(READY, at(1)));
        assert!(!watch.look(READY, at(2)));
        assert!(
            watch.look(READY, at(3)),
            "three quiet looks, settled: at rest"
        );
    }

    #[test]
    fn the_working_footer_or_a_changing_screen_starts_the_count_again() {
        let t0 = Instant::now();
        let mut watch = IdleWatch::new(t0, None);
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(!watch.look(READY, at(4)));
        assert!(!watch.look(READY, at(5)));
        assert!(!watch.look(WORKING, at(6)));
        assert!(!watch.look(WORKING, at(7)));
        assert!(!watch.look(WORKING, at(8)), "working is never at rest");
        assert!(!watch.look("booting", at(9)));
        assert!(!watch.look(READY, at(10)), "the screen changed");
        assert!(!watch.look(READY, at(11)));
        assert!(watch.look(READY, at(12)));
    }

    #[test]
    fn a_booting_agent_without_a_prompt_is_not_at_rest() {
        let t0 = Instant::now();
        let mut watch = IdleWatch::new(t0, None);
        let booting = "╭─── Claude Code ───╮\n│ Welcome │";
        for s in 1..10 {
            assert!(!watch.look(booting, t0 + Duration::from_secs(s)));
        }
        let codex = "› Ask Codex to do anything\n\n  ← for agents · ? for shortcuts";
        for s in 10..12 {
            assert!(!watch.look(codex, t0 + Duration::from_secs(s)));
        }
        assert!(watch.look(codex, t0 + Duration::from_secs(12)));
    }

    #[test]
    fn not_before_the_settle_time_and_given_up_in_the_end() {
        let t0 = Instant::now();
        let mut watch = IdleWatch::new(t0, Some("go on".into()));
        for _ in 0..5 {
            assert!(!watch.look(READY, t0 + Duration::from_secs(1)));
        }
        assert!(watch.look(READY, t0 + SETTLE));
        assert!(!watch.expired(t0 + Duration::from_secs(10)));
        assert!(watch.expired(t0 + GIVE_UP));
    }
}

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
    /// What to type once it is at rest (a resumed agent is told to go on), if anything.
    pub nudge: Option<String>,
}

impl IdleWatch {
    pub fn new(now: Instant, nudge: Option<String>) -> Self {
        IdleWatch {
            since: now,
            last_screen: None,
            quiet_looks: 0,
            nudge,
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
        self.quiet_looks >= QUIET_LOOKS && now.duration_since(self.since) >= SETTLE
    }

    pub fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.since) >= GIVE_UP
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

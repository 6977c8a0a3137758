//! When a dead agent is started again, and how it is told: the engine's restart policy, with no
//! IO (the recovery code carries it out).

use duet_core::protocol::Role;

/// What every restart note says (the handoff report counts restarts by it).
pub const RESTARTED: &str = " was restarted, ";

/// Agent restarts (with the conversation resumed) before the task needs the human.
pub const MAX_AGENT_RESTARTS: u32 = 3;

/// What to do about an agent that died.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    /// Start it again: restart number `attempt` (1-based), its conversation resumed or afresh.
    Again { attempt: u32, resume: bool },
    /// Leave it dead: the protocol hears of the exit and asks the human.
    GiveUp { why: &'static str },
}

/// The decision for a seat that has been restarted `so_far` times, in a task that is finished or
/// not, with a conversation to resume or not (its brief never reached it).
pub fn decide(so_far: u32, task_finished: bool, has_conversation: bool) -> Restart {
    if task_finished {
        return Restart::GiveUp {
            why: "the task has finished",
        };
    }
    if so_far >= MAX_AGENT_RESTARTS {
        return Restart::GiveUp {
            why: "it was restarted as often as allowed",
        };
    }
    Restart::Again {
        attempt: so_far + 1,
        resume: has_conversation,
    }
}

/// The log's line for a restart that happened: resumed, or afresh because resuming had failed
/// or because its brief had never reached it.
pub fn restart_note(role: Role, attempt: u32, resumed: bool, resume_failed: bool) -> String {
    let how = if resumed {
        "its conversation resumed"
    } else if resume_failed {
        "afresh with its brief (resuming its conversation had failed)"
    } else {
        "afresh (its brief had not reached it)"
    };
    format!("the {role}{RESTARTED}{how} (restart {attempt} of {MAX_AGENT_RESTARTS})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_count_up_to_the_limit_then_give_up() {
        let attempts: Vec<Restart> = (0..=MAX_AGENT_RESTARTS)
            .map(|so_far| decide(so_far, false, true))
            .collect();
        assert_eq!(
            attempts[..3],
            [1, 2, 3].map(|attempt| Restart::Again {
                attempt,
                resume: true
            })
        );
        assert!(matches!(attempts[3], Restart::GiveUp { .. }));
    }

    #[test]
    fn a_finished_task_is_never_restarted() {
        assert!(
            matches!(decide(0, true, true), Restart::GiveUp { why } if why.contains("finished"))
        );
    }

    #[test]
    fn an_agent_without_a_conversation_starts_afresh() {
        assert_eq!(
            decide(1, false, false),
            Restart::Again {
                attempt: 2,
                resume: false
            }
        );
        assert_eq!(
            restart_note(Role::Reviewer, 2, false, false),
            "the reviewer was restarted, afresh (its brief had not reached it) (restart 2 of 3)"
        );
    }
}

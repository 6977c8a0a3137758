//! The controller's side of a codex seat on its app-server (`crate::app_server_actor`): its
//! thread, its turns and its approval requests, as the actor reports them from notifications,
//! and the human's answer to an approval.

use duet_core::lifecycle::{LifecycleEvent, StateKind};
use duet_core::protocol::delivery::TargetStatus;
use duet_core::protocol::{MessageId, PairEvent, Role, Timestamp};
use duet_store::Event;

use super::{Action, Controller};

impl Controller {
    /// `role`'s codex thread is `thread_id` (started, or resumed): the conversation its next
    /// process continues.
    pub fn on_thread_opened(&mut self, role: Role, thread_id: String) -> Vec<Action> {
        self.state.mailbox.takes_messages_mid_turn(role);
        let seat = self.seat_mut(role);
        if seat.session_id.as_deref() == Some(thread_id.as_str()) {
            return Vec::new();
        }
        seat.session_id = Some(thread_id.clone());
        vec![Action::Store(Event::Note {
            text: format!("session {role} {thread_id}"),
        })]
    }

    /// `role`'s codex took in a user message carrying `carried` (maybe none: a human typed it):
    /// it is in a turn, and those messages are delivered.
    pub fn on_turn_began(
        &mut self,
        role: Role,
        carried: Vec<MessageId>,
        now: Timestamp,
    ) -> Vec<Action> {
        // Also a seat from before the engine learnt it: its turns steer.
        self.state.mailbox.takes_messages_mid_turn(role);
        self.apply(PairEvent::TurnStarted { role, carried }, now, None)
    }

    /// `role`'s codex was handed `ids` by `how` (`turn/start` or `turn/steer`): a note, so that
    /// the log says which (the delivery itself is confirmed by the turn that carries them).
    pub fn on_handed_by(&mut self, role: Role, ids: &[MessageId], how: &str) -> Vec<Action> {
        let keys: Vec<String> = ids
            .iter()
            .map(|id| crate::records::message_key(&self.state.task_id, *id))
            .collect();
        vec![Action::Store(Event::Note {
            text: format!("handed to the {role} by {how}: {}", keys.join(", ")),
        })]
    }

    /// The seat whose codex waits for an approval, if any (a `duet answer` then answers it).
    pub fn waiting_for_approval(&self) -> Option<Role> {
        Role::BOTH.into_iter().find(|role| {
            matches!(
                self.state.mailbox.target(*role),
                TargetStatus::WaitingPermission { .. }
            )
        })
    }

    /// The human answered `role`'s approval (`accept`, or declined) and codex has it: the turn
    /// goes on, and a task the wait had sent to the human goes back to its phase.
    pub fn on_approval_answered(
        &mut self,
        role: Role,
        what: &str,
        accept: bool,
        now: Timestamp,
    ) -> Vec<Action> {
        let answer = if accept { "approved" } else { "declined" };
        let mut actions = vec![Action::Store(Event::Note {
            text: format!("the human {answer} the {role}'s approval: {what}"),
        })];
        actions.extend(self.apply(PairEvent::PermissionResolved { role }, now, None));
        if self.state.task_state.kind() == StateKind::NeedsHuman {
            let event = LifecycleEvent::HumanAnswered;
            actions.extend(self.apply(PairEvent::Control { event }, now, None));
        }
        actions
    }

    /// `role`'s codex asks for an approval duet does not give: the task waits for a human.
    pub fn on_approval_asked(&mut self, role: Role, what: String, now: Timestamp) -> Vec<Action> {
        let mut actions = vec![Action::Store(Event::Note {
            text: format!("the {role} waits for an approval: {what}"),
        })];
        actions.extend(self.apply(PairEvent::PermissionRequested { role }, now, None));
        actions
    }
}

/// What a human's `duet answer` text says to an approval: accept (`approve`, `yes`, ...) or
/// decline (`deny`, `no`, ...); `None` for anything else.
pub fn approval_answer(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "approve" | "approved" | "accept" | "allow" | "yes" | "y" => Some(true),
        "deny" | "denied" | "decline" | "refuse" | "no" | "n" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::approval_answer;

    #[test]
    fn approve_and_deny_words_are_read_and_anything_else_is_not() {
        for text in ["approve", " Yes\n", "ACCEPT", "y"] {
            assert_eq!(approval_answer(text), Some(true), "{text:?}");
        }
        for text in ["deny", "No", "decline"] {
            assert_eq!(approval_answer(text), Some(false), "{text:?}");
        }
        for text in ["", "approve it", "maybe", "yes please"] {
            assert_eq!(approval_answer(text), None, "{text:?}");
        }
    }
}

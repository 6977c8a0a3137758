//! The controller's side of a codex seat on its app-server (`crate::app_server_actor`): its
//! thread, its turns and its approval requests, as the actor reports them from notifications.

use duet_core::protocol::{MessageId, PairEvent, Role, Timestamp};
use duet_store::Event;

use super::{Action, Controller};

impl Controller {
    /// `role`'s codex thread is `thread_id` (started, or resumed): the conversation its next
    /// process continues.
    pub fn on_thread_opened(&mut self, role: Role, thread_id: String) -> Vec<Action> {
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

    /// `role`'s codex asks for an approval duet does not give: the task waits for a human.
    pub fn on_approval_asked(&mut self, role: Role, what: String, now: Timestamp) -> Vec<Action> {
        let mut actions = vec![Action::Store(Event::Note {
            text: format!("the {role} waits for an approval: {what}"),
        })];
        actions.extend(self.apply(PairEvent::PermissionRequested { role }, now, None));
        actions
    }
}

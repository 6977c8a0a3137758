//! Tool calls that arrive more than once: the typed [`CallId`] a bridge gives each call (the same
//! on every retry of that call), and [`AnsweredCalls`], the pair's bounded record of the last
//! answers by call id. A call seen again gets its stored answer and changes nothing, so a verdict,
//! a message or `mark_done` sent again after a daemon died mid-call is applied once.
//!
//! The record lives in [`PairState`](super::PairState), which the daemon commits in the same
//! transaction as the call's events: an answer that was committed but never sent (the daemon
//! killed in between) is found again by the retried call.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::pair::{Effect, PairRecord, PairState};
use super::tools::{Refusal, ToolCall, ToolName};
use super::{Role, Timestamp};

/// The id of one tool call, chosen by the caller (`duet mcp`) and kept across its retries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(String);

/// The longest call id accepted, in bytes; longer ones are not remembered.
pub const MAX_CALL_ID_BYTES: usize = 128;

impl CallId {
    pub fn new(id: impl Into<String>) -> Self {
        CallId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the id can key a stored answer: not empty and not over [`MAX_CALL_ID_BYTES`].
    pub fn is_usable(&self) -> bool {
        !self.0.is_empty() && self.0.len() <= MAX_CALL_ID_BYTES
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many answered calls a pair remembers. A bridge retries one call at a time per agent and
/// for well under a minute, so the last few dozen cover every retry that can still come.
pub const ANSWERED_CALLS_KEPT: usize = 32;

/// One remembered answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnsweredCall {
    pub id: CallId,
    pub role: Role,
    pub tool: ToolName,
    pub result: Result<String, Refusal>,
}

/// The last [`ANSWERED_CALLS_KEPT`] answers of a pair, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AnsweredCalls(VecDeque<AnsweredCall>);

impl AnsweredCalls {
    /// The stored answer to `role`'s call `id`, if it was answered.
    pub fn answer(&self, role: Role, id: &CallId) -> Option<&AnsweredCall> {
        self.0
            .iter()
            .find(|call| call.role == role && call.id == *id)
    }

    /// Remembers an answer, forgetting the oldest beyond the bound. Read-only calls
    /// (`task_status`) are not remembered: asked again, they get a fresh answer.
    pub fn remember(&mut self, call: AnsweredCall) {
        if call.tool == ToolName::TaskStatus || !call.id.is_usable() {
            return;
        }
        self.0
            .retain(|old| !(old.role == call.role && old.id == call.id));
        self.0.push_back(call);
        while self.0.len() > ANSWERED_CALLS_KEPT {
            self.0.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A tool call, once: a call whose id was answered gets that answer again (recorded, nothing
/// else changes); any other is carried out and, with an id, its answer remembered.
pub(super) fn on_tool_called(
    state: &mut PairState,
    fx: &mut Vec<Effect>,
    call_id: Option<CallId>,
    role: Role,
    call: ToolCall,
    now: Timestamp,
) {
    let tool = call.name();
    if let Some(id) = &call_id
        && let Some(done) = state.answered_calls.answer(role, id)
    {
        let result = done.result.clone();
        fx.push(Effect::Record(PairRecord::CallRepeated {
            role,
            tool,
            call_id: id.clone(),
        }));
        fx.push(Effect::Reply { call_id, result });
        return;
    }
    state.last_progress = now;
    let start = fx.len();
    super::review::on_tool_call(state, fx, call_id.clone(), role, call, now);
    let Some(id) = call_id else { return };
    let reply = fx[start..].iter().find_map(|effect| match effect {
        Effect::Reply {
            call_id: Some(replied),
            result,
        } if *replied == id => Some(result.clone()),
        _ => None,
    });
    if let Some(result) = reply {
        state.answered_calls.remember(AnsweredCall {
            id,
            role,
            tool,
            result,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(id: &str, tool: ToolName) -> AnsweredCall {
        AnsweredCall {
            id: CallId::new(id),
            role: Role::Reviewer,
            tool,
            result: Ok(format!("answer to {id}")),
        }
    }

    #[test]
    fn an_answer_is_found_by_role_and_id() {
        let mut calls = AnsweredCalls::default();
        calls.remember(answered("c1", ToolName::SubmitReview));
        let found = calls.answer(Role::Reviewer, &CallId::new("c1")).unwrap();
        assert_eq!(found.result, Ok("answer to c1".to_owned()));
        assert!(calls.answer(Role::Worker, &CallId::new("c1")).is_none());
        assert!(calls.answer(Role::Reviewer, &CallId::new("c2")).is_none());
    }

    #[test]
    fn the_record_is_bounded_and_forgets_the_oldest() {
        let mut calls = AnsweredCalls::default();
        for n in 0..ANSWERED_CALLS_KEPT + 5 {
            calls.remember(answered(&format!("c{n}"), ToolName::SendMessage));
        }
        assert_eq!(calls.len(), ANSWERED_CALLS_KEPT);
        assert!(calls.answer(Role::Reviewer, &CallId::new("c4")).is_none());
        assert!(calls.answer(Role::Reviewer, &CallId::new("c5")).is_some());
    }

    #[test]
    fn task_status_and_unusable_ids_are_not_remembered() {
        let mut calls = AnsweredCalls::default();
        calls.remember(answered("s", ToolName::TaskStatus));
        calls.remember(answered("", ToolName::MarkDone));
        calls.remember(answered(
            &"x".repeat(MAX_CALL_ID_BYTES + 1),
            ToolName::MarkDone,
        ));
        assert!(calls.is_empty());
    }

    #[test]
    fn the_record_round_trips_through_json() {
        let mut calls = AnsweredCalls::default();
        calls.remember(answered("c1", ToolName::MarkDone));
        let json = serde_json::to_string(&calls).unwrap();
        assert_eq!(serde_json::from_str::<AnsweredCalls>(&json).unwrap(), calls);
    }
}

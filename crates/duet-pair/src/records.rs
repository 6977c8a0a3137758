//! How the protocol's records become store events.

use duet_core::protocol::PairRecord;
use duet_store::Event;

/// The store's message id for a pair's message: unique across tasks.
pub fn message_key(task_id: &str, id: duet_core::protocol::MessageId) -> String {
    format!("{task_id}#{}", id.0)
}

/// The store event for a protocol record, if the store keeps that kind of fact.
pub fn record_to_event(task_id: &str, record: PairRecord) -> Option<Event> {
    let note = |text: String| Some(Event::Note { text });
    match record {
        PairRecord::MessageAccepted { id, from, to, text } => Some(Event::MessageAccepted {
            id: message_key(task_id, id),
            from: from.to_string(),
            to: to.to_string(),
            text,
        }),
        PairRecord::MessageDelivered { id } => Some(Event::MessageDelivered {
            id: message_key(task_id, id),
        }),
        PairRecord::MessageSuppressed { id, reason } => Some(Event::MessageSuppressed {
            id: message_key(task_id, id),
            reason: serde_json::to_string(&reason).unwrap_or_default(),
        }),
        PairRecord::MessageSent { id, attempt, via } => note(format!(
            "message {} handed over ({via:?}, attempt {attempt})",
            message_key(task_id, id)
        )),
        PairRecord::MessageFailed { id } => note(format!(
            "message {} was not taken",
            message_key(task_id, id)
        )),
        PairRecord::CallRepeated {
            role,
            tool,
            call_id,
        } => note(format!(
            "the {role}'s {tool} call {call_id} came again (sent again after no answer); \
             answered as the first time, not applied again"
        )),
        PairRecord::ToolRefused { role, refusal } => {
            note(format!("refused {role}'s call: {refusal}"))
        }
        PairRecord::ReviewRequested {
            round,
            commit,
            summary,
        } => note(format!(
            "review round {round} requested on {commit}: {summary}"
        )),
        PairRecord::ReviewSubmitted {
            round,
            commit,
            verdict,
            findings,
            verified,
            not_verified,
        } => Some(Event::ReviewSubmitted {
            round,
            commit: Some(commit).filter(|c| !c.is_empty()),
            verdict,
            findings,
            verified,
            not_verified,
        }),
        PairRecord::PlanReviewRequested {
            round,
            summary,
            plan,
        } => note(format!(
            "plan review round {round} requested ({} bytes of PLAN.md): {summary}",
            plan.len()
        )),
        PairRecord::PlanReviewed {
            round,
            verdict,
            findings,
            verified,
            not_verified,
            plan,
        } => Some(Event::PlanReviewed {
            round,
            verdict,
            findings,
            verified,
            not_verified,
            plan,
        }),
        PairRecord::DoneDeclared { commit, summary } => {
            note(format!("done declared on {commit}: {summary}"))
        }
        PairRecord::QuestionAsked { from, question } => {
            note(format!("question from the {from}: {question}"))
        }
        PairRecord::HumanAnswered { to, text } => {
            note(format!("the human answered the {to}: {text}"))
        }
        PairRecord::CommitSeen { commit } => Some(Event::CommitSeen { sha: commit }),
        PairRecord::AgentExited { role, code } => Some(Event::AgentExited {
            role: role.to_string(),
            exit_code: code,
        }),
        PairRecord::StallDetected { verdict } => note(format!(
            "stall detected: {}",
            verdict.summary().unwrap_or_default()
        )),
    }
}

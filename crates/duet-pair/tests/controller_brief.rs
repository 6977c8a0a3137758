//! The controller and each seat's first prompt: queued at launch, typed only once the agent
//! rests at its prompt *and* has listed duet's tools (in either order, or after the grace period
//! with a note), confirmed by the turn that carries it, and what a relaunch resumes.

use duet_core::config::AgentKind;
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{MessageId, PairState, Role, Timestamp};
use duet_pair::render::carried_ids;
use duet_pair::{Action, Controller, Seat};
use duet_proto::{HookSource, Request, RequestBody};
use duet_store::Event;
use serde_json::json;

const TOKENS: [&str; 2] = ["worker-token", "reviewer-token"];

/// A started pair whose agents were just launched afresh (claude works, codex reviews).
fn launched() -> Controller {
    let state = PairState::new("t1", "base", Timestamp(0), PairConfig::default());
    let mut worker = Seat::new(Role::Worker, AgentKind::Claude, "claude", TOKENS[0]);
    worker.session_id = Some("chosen-by-duet".into());
    let reviewer = Seat::new(Role::Reviewer, AgentKind::Codex, "codex", TOKENS[1]);
    let mut c = Controller::new(state, worker, reviewer);
    c.start(Timestamp(1));
    assert_eq!(
        c.resume_session(Role::Worker),
        None,
        "nothing to resume yet"
    );
    for role in [Role::Worker, Role::Reviewer] {
        let actions = c.launched(role, Some(format!("You are the {role}")), Timestamp(1));
        let accepted = actions
            .iter()
            .filter(|a| matches!(a, Action::Store(Event::MessageAccepted { .. })))
            .count();
        assert_eq!(accepted, 1, "the brief is stored: {actions:#?}");
        assert!(!delivers(&actions));
    }
    c
}

fn request(c: &mut Controller, role: Role, body: RequestBody, at: u64) -> Vec<Action> {
    let token = TOKENS[usize::from(role == Role::Reviewer)];
    c.on_request(7, Request::from_agent(token, body), None, Timestamp(at))
}

fn delivers(actions: &[Action]) -> bool {
    actions.iter().any(|a| matches!(a, Action::Deliver { .. }))
}

fn typed(actions: &[Action]) -> Vec<(Role, String, Vec<MessageId>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Deliver { role, text, ids } => Some((*role, text.clone(), ids.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_brief_waits_for_the_prompt_and_the_tools_in_either_order() {
    let mut c = launched();
    // Worker: at rest first, tools later.
    assert!(!delivers(&c.on_agent_idle(Role::Worker, Timestamp(2))));
    let actions = request(&mut c, Role::Worker, RequestBody::BridgeReady, 3);
    let worker = typed(&actions);
    assert_eq!(worker.len(), 1, "{actions:#?}");
    assert!(
        worker[0]
            .1
            .starts_with("[duet message #1 from duet]\nYou are the worker")
    );
    assert_eq!(worker[0].2, vec![MessageId(1)]);
    // Reviewer: tools first, at rest later.
    assert!(!delivers(&request(
        &mut c,
        Role::Reviewer,
        RequestBody::BridgeReady,
        4
    )));
    let actions = c.on_agent_idle(Role::Reviewer, Timestamp(5));
    assert_eq!(typed(&actions).len(), 1, "{actions:#?}");

    // The turn that carries it confirms it; the conversation can be resumed from then on.
    let prompt = &worker[0].1;
    let hook = RequestBody::Hook {
        source: HookSource::Claude,
        payload: json!({"hook_event_name": "UserPromptSubmit", "session_id": "s", "prompt": prompt}),
    };
    let actions = request(&mut c, Role::Worker, hook, 6);
    assert!(actions.contains(&Action::Store(Event::MessageDelivered {
        id: "t1#1".into()
    })));
    assert_eq!(carried_ids(prompt), vec![MessageId(1)]);
    assert_eq!(
        c.resume_session(Role::Worker).as_deref(),
        Some("chosen-by-duet")
    );
}

#[test]
fn a_relaunched_process_must_list_the_tools_again() {
    let mut c = launched();
    request(&mut c, Role::Worker, RequestBody::BridgeReady, 2);
    assert!(c.seat(Role::Worker).bridge_ready);
    c.launched(Role::Worker, None, Timestamp(3));
    assert!(!c.seat(Role::Worker).bridge_ready);
    assert!(!delivers(&c.on_agent_idle(Role::Worker, Timestamp(4))));
    assert!(delivers(&request(
        &mut c,
        Role::Worker,
        RequestBody::BridgeReady,
        5
    )));
}

#[test]
fn an_agent_at_rest_whose_tools_never_show_gets_its_brief_after_the_grace_period_with_a_note() {
    let mut c = launched();
    c.on_agent_idle(Role::Reviewer, Timestamp(1_000));
    assert!(!delivers(&c.on_tick(None, Timestamp(30_000))));
    let actions = c.on_tick(None, Timestamp(31_000));
    let briefs = typed(&actions);
    assert_eq!(briefs.len(), 1, "{actions:#?}");
    assert_eq!(briefs[0].0, Role::Reviewer);
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Store(Event::Note { text }) if text.starts_with("the reviewer has not listed duet's tools after 30s")
    )));
}

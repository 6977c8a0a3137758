//! The reviewer guard's rule: which reviewer requests call for a worktree check (its verdict,
//! its turn's end, while a review is pending and the worker rests), and what is said when the
//! check found a change. The git side is tested in duet-git's `tests/reviewer_guard.rs`.

use std::path::Path;

use duet_core::config::AgentKind;
use duet_core::protocol::pair::PairConfig;
use duet_core::protocol::{PairState, Role, Timestamp, ToolCall, Verdict};
use duet_git::reviewer_guard::UndoReport;
use duet_pair::reviewer_guard::{GuardOutcome, check_for};
use duet_pair::{Controller, GitFacts, Seat};
use duet_proto::{HookSource, Request, RequestBody};
use serde_json::json;

const BASE: &str = "1111111111111111111111111111111111111111";
const C1: &str = "2222222222222222222222222222222222222222";
const WT: &str = "/repo/.duet/worktrees/t1";

fn claude_hook(event: &str) -> RequestBody {
    RequestBody::Hook {
        source: HookSource::Claude,
        payload: json!({"session_id": "s1", "transcript_path": "/t", "cwd": "/w",
            "hook_event_name": event, "stop_hook_active": false, "prompt": "go", "tool_name": "Bash"}),
    }
}

fn codex_turn_end() -> RequestBody {
    RequestBody::Hook {
        source: HookSource::Codex,
        payload: json!({"type": "agent-turn-complete", "thread-id": "th-1", "turn-id": "u1",
            "cwd": "/w", "input-messages": ["in a duet pair on task `t1`"], "last-assistant-message": "x"}),
    }
}

fn verdict() -> RequestBody {
    RequestBody::ToolCall {
        call: ToolCall::SubmitReview {
            verdict: Verdict::Approve,
            findings: vec![],
            verified: vec!["read the diff".into()],
            not_verified: vec![],
        },
    }
}

fn send(c: &mut Controller, token: &str, body: RequestBody) {
    let git = GitFacts {
        head: C1.into(),
        clean: true,
        plan_on_branch: false,
    };
    c.on_request(
        1,
        Request::from_agent(token, body),
        Some(&git),
        Timestamp(10),
    );
}

/// A pair whose worker asked for a review of C1 and is at rest; the reviewer is `kind`.
fn under_review(kind: AgentKind) -> Controller {
    let state = PairState::new("t1", BASE, Timestamp(0), PairConfig::default());
    let mut c = Controller::new(
        state,
        Seat::new(Role::Worker, AgentKind::Claude, "claude", "worker-token"),
        Seat::new(Role::Reviewer, kind, "codex", "reviewer-token"),
    );
    c.start(Timestamp(1));
    for token in ["worker-token", "reviewer-token"] {
        send(&mut c, token, RequestBody::ProcessStarted { pid: 10 });
        send(&mut c, token, RequestBody::BridgeReady);
    }
    send(&mut c, "worker-token", claude_hook("Stop"));
    send(&mut c, "reviewer-token", codex_turn_end());
    send(
        &mut c,
        "worker-token",
        RequestBody::ToolCall {
            call: ToolCall::RequestReview {
                summary: "ready".into(),
            },
        },
    );
    send(&mut c, "worker-token", claude_hook("Stop"));
    assert!(c.state.pending_review().is_some());
    assert!(c.is_idle(Role::Worker));
    c
}

fn check(
    c: &Controller,
    token: &str,
    body: RequestBody,
) -> Option<duet_pair::reviewer_guard::GuardCheck> {
    check_for(
        c,
        &Request::from_agent(token, body),
        Path::new(WT),
        "duet/t1",
    )
}

#[test]
fn the_reviewers_verdict_and_turn_end_during_a_review_are_checked() {
    let c = under_review(AgentKind::Codex);
    let at_verdict = check(&c, "reviewer-token", verdict()).expect("checked at the verdict");
    assert_eq!(at_verdict.expected.commit, C1);
    assert_eq!(at_verdict.expected.branch, "duet/t1");
    assert_eq!(at_verdict.worktree, Path::new(WT));
    assert_eq!(at_verdict.round, 1);
    assert_eq!(at_verdict.moment, "the reviewer's verdict");
    assert_eq!(
        at_verdict.label(),
        "duet: changes by the reviewer (codex) of task t1, review round 1"
    );
    let at_end = check(&c, "reviewer-token", codex_turn_end()).expect("checked at its turn end");
    assert_eq!(at_end.moment, "the end of the reviewer's turn");

    let c = under_review(AgentKind::Claude);
    assert!(check(&c, "reviewer-token", claude_hook("Stop")).is_some());
}

#[test]
fn other_requests_other_seats_and_a_busy_worker_are_not_checked() {
    let mut c = under_review(AgentKind::Claude);
    // Mid-turn hooks and other tools say nothing about a finished piece of work.
    for body in [
        claude_hook("PreToolUse"),
        claude_hook("PostToolUse"),
        claude_hook("UserPromptSubmit"),
        RequestBody::ToolCall {
            call: ToolCall::TaskStatus,
        },
    ] {
        assert_eq!(check(&c, "reviewer-token", body.clone()), None, "{body:?}");
    }
    // The worker's own turn end, another pair's token, no token.
    assert_eq!(check(&c, "worker-token", claude_hook("Stop")), None);
    assert_eq!(check(&c, "other-pair", verdict()), None);
    assert_eq!(
        check_for(
            &c,
            &Request {
                token: None,
                ..Request::from_agent("", verdict())
            },
            Path::new(WT),
            "duet/t1"
        ),
        None
    );
    // The worker works too (a human typed to it): a change cannot be pinned on the reviewer.
    send(&mut c, "worker-token", claude_hook("UserPromptSubmit"));
    assert!(!c.is_idle(Role::Worker));
    assert_eq!(check(&c, "reviewer-token", verdict()), None);
}

#[test]
fn without_a_pending_review_there_is_nothing_to_compare_with() {
    let mut c = under_review(AgentKind::Codex);
    send(&mut c, "reviewer-token", verdict());
    assert!(c.state.pending_review().is_none());
    assert_eq!(check(&c, "reviewer-token", codex_turn_end()), None);
}

#[test]
fn an_undone_change_is_said_to_the_log_and_the_reviewer_with_where_it_is_kept() {
    let c = under_review(AgentKind::Codex);
    let check = check(&c, "reviewer-token", verdict()).unwrap();
    assert_eq!(GuardOutcome::Unchanged.note(&check), None);
    assert_eq!(GuardOutcome::Unchanged.reviewer_message(&check), None);
    let undone = GuardOutcome::Undone {
        changes: vec!["files changed: ?? stray.txt".into()],
        kept: UndoReport {
            stash: Some("abcdef0123456789".into()),
            kept_refs: vec![],
        },
    };
    let note = undone.note(&check).unwrap();
    assert!(
        note.starts_with("the reviewer (codex) changed the worktree during review round 1"),
        "{note}"
    );
    assert!(
        note.contains("?? stray.txt") && note.contains("abcdef0") && note.contains("2222222"),
        "{note}"
    );
    let told = undone.reviewer_message(&check).unwrap();
    assert!(told.starts_with("duet undid your changes"), "{told}");
    assert!(
        told.contains("stray.txt") && told.contains("git stash"),
        "{told}"
    );
    let failed = GuardOutcome::Failed {
        changes: vec!["HEAD was detached".into()],
        error: "failed to stash".into(),
    };
    let note = failed.note(&check).unwrap();
    assert!(
        note.contains("could not put it back") && note.contains("failed to stash"),
        "{note}"
    );
}

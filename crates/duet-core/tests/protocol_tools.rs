//! `check` of every bridge tool: roles, arguments, size limits and pair state, with exact reasons.

use duet_core::lifecycle::TaskState;
use duet_core::protocol::pair::{PairConfig, ReviewRequest, VerdictRecord};
use duet_core::protocol::{
    Finding, Limits, PairState, Refusal, RefusalKind, Role, Severity, Timestamp, ToolCall,
    ToolName, Verdict, check,
};

const BASE: &str = "0000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const C1: &str = "abc1234bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const C2: &str = "def5678ccccccccccccccccccccccccccccccccc";

/// A working pair whose HEAD is `C1`, clean, never reviewed.
fn working() -> PairState {
    let mut state = PairState::new("t1", BASE, Timestamp(0), PairConfig::default());
    state.task_state = TaskState::Working;
    state.head_commit = C1.into();
    state
}

fn requested(state: &mut PairState, commit: &str) {
    state.round += 1;
    state.last_review_request = Some(ReviewRequest {
        round: state.round,
        commit: commit.into(),
        summary: "s".into(),
        at: Timestamp(0),
    });
    state.review_pending = true;
    state.task_state = TaskState::Reviewing;
}

fn verdict(state: &mut PairState, verdict: Verdict, commit: &str) {
    state.review_pending = false;
    state.last_verdict = Some(VerdictRecord {
        round: state.round,
        commit: commit.into(),
        verdict,
    });
    state.task_state = TaskState::Working;
}

fn finding(severity: Severity, file: Option<&str>, line: Option<u32>, text: &str) -> Finding {
    Finding {
        severity,
        file: file.map(Into::into),
        line,
        text: text.into(),
    }
}

fn changes(findings: Vec<Finding>) -> ToolCall {
    ToolCall::SubmitReview {
        verdict: Verdict::ChangesRequested,
        findings,
        verified: vec![],
        not_verified: vec![],
    }
}

fn minor() -> Finding {
    finding(Severity::Minor, Some("src/lib.rs"), Some(3), "rename x")
}

/// The expected outcome of a check: `None` accepts, `Some` refuses with this kind and reasons.
type Expected = Option<(RefusalKind, Vec<String>)>;

fn refused(kind: RefusalKind, reasons: &[&str]) -> Expected {
    Some((
        kind,
        reasons.iter().map(|reason| reason.to_string()).collect(),
    ))
}

#[test]
fn check_table() {
    use RefusalKind::*;
    let limits = Limits::default();
    let reviewing = {
        let mut state = working();
        requested(&mut state, C1);
        state
    };
    let approved_c1_head_c2 = {
        let mut state = reviewing.clone();
        verdict(&mut state, Verdict::Approve, C1);
        state.head_commit = C2.into();
        state
    };
    let approved_head = {
        let mut state = reviewing.clone();
        verdict(&mut state, Verdict::Approve, C1);
        state
    };
    let dirty = |mut state: PairState| {
        state.worktree_clean = false;
        state
    };
    let fresh = {
        let mut state = working();
        state.head_commit = BASE.into();
        state
    };
    let done = {
        let mut state = approved_head.clone();
        state.task_state = TaskState::Done;
        state
    };
    let big = "x".repeat(limits.max_message_bytes + 1);
    let send = |text: &str| ToolCall::SendMessage { text: text.into() };
    let request = ToolCall::RequestReview {
        summary: "did it".into(),
    };
    let mark_done = ToolCall::MarkDone {
        summary: "all done".into(),
    };

    #[rustfmt::skip]
    let cases: Vec<(&str, Role, ToolCall, PairState, Expected)> = vec![
        ("message to partner", Role::Worker, send("hi"), working(), None),
        ("empty message", Role::Reviewer, send("  \n"), working(), refused(InvalidArgument, &["text is empty"])),
        ("message too large", Role::Worker, send(&big), working(), refused(TooLarge, &["text is 16385 bytes; the limit is 16384"])),
        ("message at the limit", Role::Worker, send(&big[1..]), working(), None),
        ("status from either role", Role::Reviewer, ToolCall::TaskStatus, working(), None),
        ("question", Role::Reviewer, ToolCall::AskHuman { question: "which db?".into() }, reviewing.clone(), None),
        ("empty question", Role::Worker, ToolCall::AskHuman { question: "".into() }, working(), refused(InvalidArgument, &["question is empty"])),

        ("request_review by the reviewer", Role::Reviewer, request.clone(), working(), refused(WrongRole, &["only the worker can call request_review"])),
        ("request_review", Role::Worker, request.clone(), working(), None),
        ("request_review empty summary", Role::Worker, ToolCall::RequestReview { summary: "".into() }, working(), refused(InvalidArgument, &["summary is empty"])),
        ("request_review with no commit", Role::Worker, request.clone(), fresh.clone(),
            refused(NotNow, &["there are no commits on the task branch yet (HEAD is the base 0000000); commit your work first"])),
        ("request_review with no new commit", Role::Worker, request.clone(), approved_head.clone(),
            refused(NotNow, &["there is no new commit since the review of abc1234 was requested; commit your changes first"])),
        ("request_review after a new commit", Role::Worker, request.clone(), approved_c1_head_c2.clone(), None),
        ("request_review with uncommitted changes", Role::Worker, request.clone(), dirty(working()),
            refused(NotNow, &["the worktree has uncommitted changes; commit them so the reviewer sees them"])),
        ("request_review while one is pending", Role::Worker, request.clone(), reviewing.clone(),
            refused(NotNow, &["a review of abc1234 is already in progress; wait for the verdict"])),

        ("submit_review by the worker", Role::Worker, changes(vec![]), reviewing.clone(), refused(WrongRole, &["only the reviewer can call submit_review"])),
        ("submit_review without a request", Role::Reviewer, changes(vec![minor()]), working(),
            refused(NotNow, &["no review was requested; wait for the worker's request_review"])),
        ("submit_review changes", Role::Reviewer, changes(vec![minor()]), reviewing.clone(), None),
        ("submit_review approve", Role::Reviewer, ToolCall::SubmitReview { verdict: Verdict::Approve, findings: vec![], verified: vec!["read the diff".into()], not_verified: vec![] }, reviewing.clone(), None),
        ("changes without findings", Role::Reviewer, changes(vec![]), reviewing.clone(),
            refused(InvalidArgument, &["changes_requested needs at least one finding saying what to change"])),
        ("approve with a blocker", Role::Reviewer,
            ToolCall::SubmitReview { verdict: Verdict::Approve, findings: vec![minor(), finding(Severity::Blocker, None, None, "no tests")], verified: vec!["read the diff".into()], not_verified: vec![] },
            reviewing.clone(), refused(InvalidArgument, &["finding 2: an approval cannot carry a blocker finding"])),
        ("malformed findings", Role::Reviewer, changes(vec![
                finding(Severity::Major, None, Some(4), "where?"),
                finding(Severity::Major, Some("a.rs"), Some(0), "zero"),
                finding(Severity::Major, Some("/etc/passwd"), None, "abs"),
                finding(Severity::Major, Some("src/../../x"), None, "up"),
                finding(Severity::Nit, Some(""), None, "blank file"),
                finding(Severity::Nit, Some("C:\\x.rs"), None, "drive"),
                finding(Severity::Nit, Some("a.rs"), Some(1), " "),
            ]), reviewing.clone(),
            refused(InvalidArgument, &[
                "finding 1: a line needs a file",
                "finding 2: lines count from 1",
                "finding 3: file \"/etc/passwd\" must be relative to the worktree",
                "finding 4: file \"src/../../x\" leaves the worktree (`..`)",
                "finding 5: file is empty",
                "finding 6: file \"C:\\\\x.rs\" must be relative to the worktree",
                "finding 7: text is empty",
            ])),
        ("too many findings", Role::Reviewer, changes(vec![minor(); 51]), reviewing.clone(),
            refused(TooLarge, &["51 findings; the limit is 50 (merge related ones)"])),
        ("finding text too large", Role::Reviewer, changes(vec![finding(Severity::Minor, None, None, &"y".repeat(4097))]), reviewing.clone(),
            refused(TooLarge, &["finding 1: text is 4097 bytes; the limit is 4096"])),

        ("mark_done by the reviewer", Role::Reviewer, mark_done.clone(), approved_head.clone(), refused(WrongRole, &["only the worker can call mark_done"])),
        ("mark_done before any review", Role::Worker, mark_done.clone(), working(), refused(NotNow, &["the reviewer has not approved HEAD abc1234"])),
        ("mark_done after changes requested", Role::Worker, mark_done.clone(), {
            let mut state = reviewing.clone();
            verdict(&mut state, Verdict::ChangesRequested, C1);
            state
        }, refused(NotNow, &["the reviewer has not approved HEAD abc1234"])),
        ("mark_done with approval of an older commit", Role::Worker, mark_done.clone(), approved_c1_head_c2.clone(),
            refused(NotNow, &["the reviewer has not approved HEAD def5678 (the approval was for abc1234); request a review"])),
        ("mark_done with nothing right", Role::Worker, mark_done.clone(), dirty(working()),
            refused(NotNow, &["the reviewer has not approved HEAD abc1234", "the worktree has uncommitted changes"])),
        ("mark_done approved but dirty", Role::Worker, mark_done.clone(), dirty(approved_head.clone()),
            refused(NotNow, &["the worktree has uncommitted changes"])),
        ("mark_done while reviewing", Role::Worker, mark_done.clone(), reviewing.clone(),
            refused(NotNow, &["a review of abc1234 is in progress; wait for the verdict"])),
        ("mark_done", Role::Worker, mark_done.clone(), approved_head.clone(), None),

        ("calls after done", Role::Worker, send("hi"), done.clone(), refused(NotNow, &["the task is done; it takes no more calls"])),
        ("status after done", Role::Worker, ToolCall::TaskStatus, done.clone(), None),
        ("role is checked before arguments", Role::Worker, changes(vec![]), working(), refused(WrongRole, &["only the reviewer can call submit_review"])),
    ];
    for (name, role, call, state, expected) in cases {
        let outcome = check(role, &call, &state, &limits);
        let actual = outcome
            .as_ref()
            .err()
            .map(|refusal: &Refusal| (refusal.kind, refusal.reasons.clone()));
        assert_eq!(actual, expected, "{name}");
        if let Err(refusal) = outcome {
            assert_eq!(refusal.tool, call.name(), "{name}");
        }
    }
}

#[test]
fn refusal_message_names_the_tool_and_every_reason() {
    let mut state = working();
    state.worktree_clean = false;
    let refusal = check(
        Role::Worker,
        &ToolCall::MarkDone {
            summary: "x".into(),
        },
        &state,
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "mark_done refused: the reviewer has not approved HEAD abc1234; the worktree has uncommitted changes"
    );
}

#[test]
fn limits_are_configurable() {
    let limits = Limits {
        max_message_bytes: 4,
        max_findings: 1,
        ..Limits::default()
    };
    let state = working();
    assert!(
        check(
            Role::Worker,
            &ToolCall::SendMessage {
                text: "four".into()
            },
            &state,
            &limits
        )
        .is_ok()
    );
    let refusal = check(
        Role::Worker,
        &ToolCall::SendMessage {
            text: "five!".into(),
        },
        &state,
        &limits,
    )
    .unwrap_err();
    assert_eq!(refusal.reasons, ["text is 5 bytes; the limit is 4"]);
}

#[test]
fn tool_calls_use_the_mcp_names_on_the_wire() {
    let call: ToolCall = serde_json::from_str(
        r#"{"tool":"submit_review","verdict":"changes_requested",
            "findings":[{"severity":"major","file":"src/a.rs","line":7,"text":"off by one"}]}"#,
    )
    .unwrap();
    assert_eq!(
        call,
        changes(vec![finding(
            Severity::Major,
            Some("src/a.rs"),
            Some(7),
            "off by one"
        )])
    );
    assert_eq!(call.name(), ToolName::SubmitReview);
    assert_eq!(
        serde_json::to_string(&ToolCall::TaskStatus).unwrap(),
        r#"{"tool":"task_status"}"#
    );
    let unknown = serde_json::from_str::<ToolCall>(r#"{"tool":"merge_now"}"#).unwrap_err();
    assert!(
        unknown.to_string().contains("unknown variant `merge_now`"),
        "{unknown}"
    );
    for (name, only) in [
        (ToolName::SendMessage, None),
        (ToolName::RequestReview, Some(Role::Worker)),
        (ToolName::SubmitReview, Some(Role::Reviewer)),
        (ToolName::MarkDone, Some(Role::Worker)),
        (ToolName::AskHuman, None),
        (ToolName::TaskStatus, None),
    ] {
        assert_eq!(name.only_for(), only, "{name}");
    }
}

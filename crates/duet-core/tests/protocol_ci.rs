//! Table tests of the CI rules (`duet_core::protocol::ci`): runs per head, results routed once,
//! stale results recorded only, loops to the human, and the gate `mark_done` asks.

use std::time::Duration;

use duet_core::protocol::Timestamp;
use duet_core::protocol::ci::{
    CiEffect, CiEvent, CiGate, CiHumanReason, CiResult, CiRules, CiState, CiStatus, OWN_CHECK,
    Waiting, ci_gate, describe_head, handle,
};

const A: &str = "aaaaaaa1111111111111111111111111111111111";
const B: &str = "bbbbbbb2222222222222222222222222222222222";
const C: &str = "ccccccc3333333333333333333333333333333333";
const D: &str = "ddddddd4444444444444444444444444444444444";

fn rules() -> CiRules {
    CiRules {
        has_command: true,
        repeat_limit: 3,
        no_progress: Duration::from_secs(3600),
    }
}

fn state() -> CiState {
    CiState {
        task: "t1".into(),
        ..CiState::default()
    }
}

fn head(sha: &str) -> CiEvent {
    CiEvent::HeadMoved {
        sha: sha.into(),
        at: Timestamp(1_000),
    }
}

fn fail(sha: &str, tests: &[&str]) -> CiEvent {
    let mut r = CiResult::new(
        sha,
        OWN_CHECK,
        CiStatus::Failed {
            exit_code: Some(101),
        },
    );
    r.command = Some("cargo test".into());
    r.failing_tests = tests.iter().map(|t| t.to_string()).collect();
    r.excerpt = "thread 'x' panicked at src/lib.rs:3".into();
    r.duration_ms = 1500;
    CiEvent::Finished(r)
}

fn pass(sha: &str) -> CiEvent {
    CiEvent::Finished(CiResult::new(sha, OWN_CHECK, CiStatus::Passed))
}

fn messages(effects: &[CiEffect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| match e {
            CiEffect::MessageWorker { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Runs the events and returns the effects of the last one.
fn run(st: &mut CiState, rules: &CiRules, events: Vec<CiEvent>) -> Vec<CiEffect> {
    let mut last = Vec::new();
    for e in events {
        last = handle(st, e, rules);
    }
    last
}

#[test]
fn new_head_starts_a_run_and_cancels_the_older_one() {
    let cases: Vec<(&str, CiRules, Vec<CiEvent>, Vec<CiEffect>)> = vec![
        (
            "first head starts a run",
            rules(),
            vec![head(A)],
            vec![CiEffect::StartRun { sha: A.into() }],
        ),
        (
            "a newer head cancels the running older one",
            rules(),
            vec![head(A), CiEvent::RunStarted { sha: A.into() }, head(B)],
            vec![
                CiEffect::CancelRun { sha: A.into() },
                CiEffect::StartRun { sha: B.into() },
            ],
        ),
        (
            "a finished older run is not cancelled",
            rules(),
            vec![
                head(A),
                CiEvent::RunStarted { sha: A.into() },
                pass(A),
                head(B),
            ],
            vec![CiEffect::StartRun { sha: B.into() }],
        ),
        (
            "the base commit is not run",
            rules(),
            vec![
                CiEvent::Started {
                    at: Timestamp(0),
                    base: Some(A.into()),
                },
                head(A),
            ],
            vec![],
        ),
        (
            "the same head twice does nothing",
            rules(),
            vec![head(A), head(A)],
            vec![],
        ),
        (
            "no ci.command: no run",
            CiRules {
                has_command: false,
                ..rules()
            },
            vec![head(A)],
            vec![],
        ),
        (
            "a reset back to a tested commit is not run again",
            rules(),
            vec![
                head(A),
                pass(A),
                head(B),
                CiEvent::RunStarted { sha: B.into() },
                head(A),
            ],
            vec![CiEffect::CancelRun { sha: B.into() }],
        ),
    ];
    for (name, rules, events, expected) in cases {
        let mut st = state();
        let got = run(&mut st, &rules, events);
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn a_failure_on_the_head_becomes_one_message_with_tests_excerpt_and_the_log_hint() {
    let mut st = state();
    run(
        &mut st,
        &rules(),
        vec![head(A), CiEvent::RunStarted { sha: A.into() }],
    );
    let effects = handle(&mut st, fail(A, &["tests::adds", "tests::subs"]), &rules());
    let msgs = messages(&effects);
    assert_eq!(msgs.len(), 1, "{effects:?}");
    let text = msgs[0];
    assert!(
        text.starts_with(
            "CI check `ci` failed with exit code 101 on aaaaaaa: `cargo test` (1.5s)."
        ),
        "{text}"
    );
    assert!(
        text.contains("Failing tests (2): tests::adds, tests::subs"),
        "{text}"
    );
    assert!(text.contains("panicked at src/lib.rs:3"), "{text}");
    assert!(
        text.ends_with("See all of it with `duet log t1 --ci`."),
        "{text}"
    );
    assert!(matches!(effects[0], CiEffect::Record(_)));
    // The same result again (a replayed inbox file, a restart) is recorded, never sent twice.
    let again = handle(&mut st, fail(A, &["tests::adds", "tests::subs"]), &rules());
    assert!(messages(&again).is_empty(), "{again:?}");
    assert!(matches!(again[0], CiEffect::Record(_)));
}

#[test]
fn routing_table() {
    // (name, events before, the event, messages expected from it)
    let cases: Vec<(&str, Vec<CiEvent>, CiEvent, usize)> = vec![
        (
            "result for a sha no longer HEAD is not sent",
            vec![head(A), head(B)],
            fail(A, &["x"]),
            0,
        ),
        (
            "first pass is not typed into the pane",
            vec![head(A)],
            pass(A),
            0,
        ),
        (
            "a pass after a failure is said",
            vec![head(A), fail(A, &["x"]), head(B)],
            pass(B),
            1,
        ),
        (
            "cancelled is never sent",
            vec![head(A)],
            CiEvent::Finished(CiResult::new(A, OWN_CHECK, CiStatus::Cancelled)),
            0,
        ),
        (
            "an outside check is sent too",
            vec![head(A), pass(A)],
            CiEvent::Finished(CiResult::new(
                A,
                "jenkins",
                CiStatus::Failed { exit_code: None },
            )),
            1,
        ),
        (
            "timed out is a failure",
            vec![head(A)],
            CiEvent::Finished(CiResult::new(
                A,
                OWN_CHECK,
                CiStatus::TimedOut {
                    after: Duration::from_secs(1800),
                },
            )),
            1,
        ),
    ];
    for (name, before, event, n) in cases {
        let mut st = state();
        run(&mut st, &rules(), before);
        let effects = handle(&mut st, event, &rules());
        assert_eq!(messages(&effects).len(), n, "{name}: {effects:?}");
        assert!(
            matches!(effects[0], CiEffect::Record(_)),
            "{name}: every result is recorded"
        );
    }
}

#[test]
fn timed_out_and_could_not_start_say_so() {
    let mut st = state();
    run(&mut st, &rules(), vec![head(A)]);
    let e = handle(
        &mut st,
        CiEvent::Finished(CiResult::new(
            A,
            OWN_CHECK,
            CiStatus::TimedOut {
                after: Duration::from_secs(1800),
            },
        )),
        &rules(),
    );
    assert!(messages(&e)[0].contains("timed out after 30m"), "{e:?}");
    let mut st = state();
    run(&mut st, &rules(), vec![head(A)]);
    let e = handle(
        &mut st,
        CiEvent::Finished(CiResult::new(
            A,
            OWN_CHECK,
            CiStatus::CouldNotStart {
                reason: "ci.command not found: carg".into(),
            },
        )),
        &rules(),
    );
    assert!(
        messages(&e)[0].contains("could not start: ci.command not found: carg"),
        "{e:?}"
    );
}

#[test]
fn a_result_that_arrives_before_its_head_is_sent_when_the_head_gets_there() {
    let mut st = state();
    run(&mut st, &rules(), vec![head(A)]);
    let early = handle(&mut st, fail(B, &["t"]), &rules());
    assert!(messages(&early).is_empty());
    let later = handle(&mut st, head(B), &rules());
    assert_eq!(messages(&later).len(), 1, "{later:?}");
}

#[test]
fn the_same_failure_on_repeat_limit_commits_needs_the_human_once() {
    let mut st = state();
    let r = rules();
    let mut raised = Vec::new();
    for sha in [A, B, C, D] {
        for e in run(&mut st, &r, vec![head(sha)]).into_iter().chain(handle(
            &mut st,
            fail(sha, &["tests::adds"]),
            &r,
        )) {
            if let CiEffect::NeedsHuman(reason) = e {
                raised.push(reason);
            }
        }
    }
    assert_eq!(
        raised,
        vec![CiHumanReason::SameFailure {
            check: OWN_CHECK.into(),
            failing_tests: vec!["tests::adds".into()],
            commits: vec![A.into(), B.into(), C.into()],
        }]
    );
    assert!(
        raised[0]
            .to_string()
            .contains("3 commits in a row (aaaaaaa, bbbbbbb, ccccccc); failing tests: tests::adds")
    );
}

#[test]
fn streaks_reset_on_a_pass_or_a_different_failure() {
    let cases: Vec<(&str, Vec<CiEvent>)> = vec![
        (
            "pass in between",
            vec![
                head(A),
                fail(A, &["x"]),
                head(B),
                pass(B),
                head(C),
                fail(C, &["x"]),
                head(D),
                fail(D, &["x"]),
            ],
        ),
        (
            "different tests",
            vec![
                head(A),
                fail(A, &["x"]),
                head(B),
                fail(B, &["y"]),
                head(C),
                fail(C, &["x"]),
            ],
        ),
        (
            "the same commit thrice counts once",
            vec![head(A), fail(A, &["x"]), fail(A, &["x"]), fail(A, &["x"])],
        ),
    ];
    for (name, events) in cases {
        let mut st = state();
        let mut all = Vec::new();
        for e in events {
            all.extend(handle(&mut st, e, &rules()));
        }
        assert!(
            !all.iter().any(|e| matches!(e, CiEffect::NeedsHuman(_))),
            "{name}: {all:?}"
        );
    }
}

#[test]
fn no_new_commit_for_no_progress_needs_the_human_once_until_a_commit() {
    let mut st = state();
    let r = rules();
    handle(
        &mut st,
        CiEvent::Started {
            at: Timestamp(0),
            base: None,
        },
        &r,
    );
    assert!(
        handle(
            &mut st,
            CiEvent::Tick {
                now: Timestamp(3_599_999)
            },
            &r
        )
        .is_empty()
    );
    let e = handle(
        &mut st,
        CiEvent::Tick {
            now: Timestamp(3_600_000),
        },
        &r,
    );
    assert_eq!(
        e,
        vec![CiEffect::NeedsHuman(CiHumanReason::NoProgress {
            since: Duration::from_secs(3600)
        })]
    );
    assert!(
        handle(
            &mut st,
            CiEvent::Tick {
                now: Timestamp(4_000_000)
            },
            &r
        )
        .is_empty()
    );
    handle(
        &mut st,
        CiEvent::HeadMoved {
            sha: A.into(),
            at: Timestamp(4_000_000),
        },
        &r,
    );
    assert!(
        handle(
            &mut st,
            CiEvent::Tick {
                now: Timestamp(5_000_000)
            },
            &r
        )
        .is_empty()
    );
    assert_eq!(
        handle(
            &mut st,
            CiEvent::Tick {
                now: Timestamp(7_600_000)
            },
            &r
        )
        .len(),
        1
    );
}

#[test]
fn gate_table() {
    let no_cmd = CiRules {
        has_command: false,
        ..rules()
    };
    let cases: Vec<(&str, CiRules, Vec<CiEvent>, CiGate)> = vec![
        (
            "no command, nothing known",
            no_cmd.clone(),
            vec![head(A)],
            CiGate::Ok,
        ),
        (
            "command, not started",
            rules(),
            vec![head(A)],
            CiGate::Waiting(Waiting::Pending),
        ),
        (
            "command, running",
            rules(),
            vec![head(A), CiEvent::RunStarted { sha: A.into() }],
            CiGate::Waiting(Waiting::Running),
        ),
        (
            "command, passed",
            rules(),
            vec![head(A), pass(A)],
            CiGate::Ok,
        ),
        (
            "command, failed",
            rules(),
            vec![head(A), fail(A, &["x", "y"])],
            CiGate::Failed {
                check: OWN_CHECK.into(),
                summary: "failed with exit code 101, 2 failing tests".into(),
            },
        ),
        (
            "own passed but an outside check failed",
            rules(),
            vec![
                head(A),
                pass(A),
                CiEvent::Finished(CiResult::new(A, "gh", CiStatus::Failed { exit_code: None })),
            ],
            CiGate::Failed {
                check: "gh".into(),
                summary: "failed".into(),
            },
        ),
        (
            "cancelled own run is pending again",
            rules(),
            vec![
                head(A),
                CiEvent::Finished(CiResult::new(A, OWN_CHECK, CiStatus::Cancelled)),
            ],
            CiGate::Waiting(Waiting::Pending),
        ),
        (
            "passed on an older commit only",
            rules(),
            vec![head(A), pass(A), head(B)],
            CiGate::Waiting(Waiting::Pending),
        ),
        (
            "no command, outside failure",
            no_cmd,
            vec![
                head(A),
                CiEvent::Finished(CiResult::new(A, "gh", CiStatus::Failed { exit_code: None })),
            ],
            CiGate::Failed {
                check: "gh".into(),
                summary: "failed".into(),
            },
        ),
    ];
    for (name, rules, events, expected) in cases {
        let mut st = state();
        run(&mut st, &rules, events);
        let h = st.head.clone().unwrap();
        assert_eq!(ci_gate(&st, &h, &rules), expected, "{name}");
    }
}

#[test]
fn gate_refusals_and_head_lines_say_what_they_wait_for() {
    assert_eq!(CiGate::Ok.refusal(A), None);
    assert_eq!(
        CiGate::Waiting(Waiting::Running).refusal(A).unwrap(),
        "done needs CI: CI is still running on aaaaaaa; wait for its result"
    );
    let mut st = state();
    run(
        &mut st,
        &rules(),
        vec![head(A), CiEvent::RunStarted { sha: A.into() }],
    );
    assert_eq!(describe_head(&st, A, &rules()), "CI at aaaaaaa: running");
    handle(&mut st, fail(A, &["x"]), &rules());
    assert_eq!(
        describe_head(&st, A, &rules()),
        "CI at aaaaaaa: `ci` failed with exit code 101, 1 failing test"
    );
}

#[test]
fn state_and_results_round_trip_through_json_for_snapshots() {
    let mut st = state();
    run(&mut st, &rules(), vec![head(A), fail(A, &["x"]), head(B)]);
    handle(
        &mut st,
        CiEvent::Finished(CiResult::new(
            B,
            OWN_CHECK,
            CiStatus::TimedOut {
                after: Duration::from_secs(90),
            },
        )),
        &rules(),
    );
    let json = serde_json::to_string(&st).unwrap();
    let back: CiState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, st);
    // A restored state still never sends twice.
    let mut back = back;
    assert!(messages(&handle(&mut back, fail(A, &["x"]), &rules())).is_empty());
}

mod done_needs_ci {
    use duet_core::lifecycle::TaskState;
    use duet_core::protocol::pair::{PairConfig, VerdictRecord};
    use duet_core::protocol::{Limits, PairState, Role, Timestamp, ToolCall, Verdict, check};

    use super::*;

    /// A working pair at HEAD `A`, clean, approved at `A`, with `ci.command` set.
    fn approved() -> PairState {
        let config = PairConfig {
            ci: rules(),
            ..PairConfig::default()
        };
        let mut state = PairState::new("t1", D, Timestamp(0), config);
        state.task_state = TaskState::Working;
        state.head_commit = A.into();
        state.last_verdict = Some(VerdictRecord {
            round: 1,
            commit: A.into(),
            verdict: Verdict::Approve,
        });
        state.ci.task = "t1".into();
        state
    }

    fn mark_done(state: &PairState) -> Result<(), Vec<String>> {
        let call = ToolCall::MarkDone {
            summary: "done".into(),
        };
        check(Role::Worker, &call, state, &Limits::default()).map_err(|r| r.reasons)
    }

    #[test]
    fn mark_done_waits_for_ci_and_is_refused_while_it_fails() {
        let r = rules();
        let mut state = approved();
        assert_eq!(
            mark_done(&state).unwrap_err(),
            vec!["done needs CI: CI has not run on aaaaaaa yet; wait for its result"]
        );
        handle(&mut state.ci, head(A), &r);
        handle(&mut state.ci, CiEvent::RunStarted { sha: A.into() }, &r);
        assert_eq!(
            mark_done(&state).unwrap_err(),
            vec!["done needs CI: CI is still running on aaaaaaa; wait for its result"]
        );
        handle(&mut state.ci, fail(A, &["x"]), &r);
        assert_eq!(
            mark_done(&state).unwrap_err(),
            vec![
                "done needs CI: check `ci` failed on aaaaaaa (failed with exit code 101, 1 failing test); fix it and commit"
            ]
        );
        handle(&mut state.ci, pass(A), &r);
        assert_eq!(mark_done(&state), Ok(()));
        // Without ci.command nothing waits.
        let mut plain = approved();
        plain.config.ci.has_command = false;
        assert_eq!(mark_done(&plain), Ok(()));
    }

    #[test]
    fn an_old_snapshot_without_ci_still_reads() {
        let state = approved();
        let mut json: serde_json::Value = serde_json::to_value(&state).unwrap();
        json.as_object_mut().unwrap().remove("ci");
        json["config"].as_object_mut().unwrap().remove("ci");
        let back: PairState = serde_json::from_value(json).unwrap();
        assert_eq!(back.ci, CiState::default());
        assert!(!back.config.ci.has_command);
    }
}

#[test]
fn a_run_under_way_when_the_engine_died_is_started_again_on_adoption() {
    let r = rules();
    let mut st = state();
    run(
        &mut st,
        &r,
        vec![head(A), CiEvent::RunStarted { sha: A.into() }],
    );
    let restored: CiState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
    let mut st = restored;
    let effects = handle(
        &mut st,
        CiEvent::Started {
            at: Timestamp(5),
            base: Some(D.into()),
        },
        &r,
    );
    assert_eq!(effects, vec![CiEffect::StartRun { sha: A.into() }]);
    assert_eq!(ci_gate(&st, A, &r), CiGate::Waiting(Waiting::Pending));
    // A finished head is not run again.
    handle(&mut st, pass(A), &r);
    assert!(
        handle(
            &mut st,
            CiEvent::Started {
                at: Timestamp(6),
                base: None
            },
            &r
        )
        .is_empty()
    );
}

fn review(id: &str, state: &str, body: &str) -> CiEvent {
    CiEvent::Review(duet_core::protocol::ci::OutsideReview {
        id: id.into(),
        source: "GitHub".into(),
        author: "maintainer".into(),
        state: state.into(),
        body: body.into(),
        commit: Some(A.into()),
        url: Some("https://github.com/acme/app/pull/42".into()),
    })
}

#[test]
fn an_outside_review_is_told_once_bounded_with_who_said_what_on_which_commit() {
    let r = rules();
    let mut st = state();
    handle(&mut st, head(B), &r);
    let effects = handle(
        &mut st,
        review("PRR_1", "CHANGES_REQUESTED", "Handle the empty input."),
        &r,
    );
    let [CiEffect::MessageWorker { sha, check, text }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!((sha.as_str(), check.as_str()), (A, "github/review"));
    assert!(
        text.starts_with("GitHub review: @maintainer requested changes on aaaaaaa"),
        "{text}"
    );
    assert!(text.contains("Handle the empty input."), "{text}");
    assert!(text.contains("Details: https://github.com/acme/app/pull/42"));
    // Polled again (or by a new engine, from the saved state): not told twice.
    assert!(handle(&mut st, review("PRR_1", "CHANGES_REQUESTED", "x"), &r).is_empty());
    let saved: CiState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
    let mut st = saved;
    assert!(handle(&mut st, review("PRR_1", "CHANGES_REQUESTED", "x"), &r).is_empty());
    // A long body is cut at the bound, on a character boundary.
    let long = "é".repeat(duet_core::protocol::ci::MAX_REVIEW_BYTES);
    let effects = handle(&mut st, review("PRR_2", "COMMENTED", &long), &r);
    let [CiEffect::MessageWorker { text, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert!(text.contains("@maintainer commented"), "{text}");
    assert!(text.contains("[... cut]"));
    assert!(text.len() < duet_core::protocol::ci::MAX_REVIEW_BYTES + 300);
    // An approval with no words is said too (the worker learns the PR is approved).
    let effects = handle(&mut st, review("PRR_3", "APPROVED", ""), &r);
    assert!(
        matches!(effects.as_slice(), [CiEffect::MessageWorker { text, .. }]
        if text.contains("approved") && !text.contains("--- review ---"))
    );
}

#[test]
fn a_state_saved_before_reviews_were_tracked_still_loads() {
    let mut value = serde_json::to_value(state()).unwrap();
    value.as_object_mut().unwrap().remove("reviews_sent");
    let st: CiState = serde_json::from_value(value).unwrap();
    assert!(st.reviews_sent.is_empty());
}

//! Unit tests of `protocol::gates`: start, refusal, TDD verdict, scope guard.

use super::*;
use crate::protocol::ci::{CiEvent, CiRules, handle};

const H: &str = "1111111111111111111111111111111111111111";
const B: &str = "0000000000000000000000000000000000000000";

fn both() -> GateRules {
    GateRules {
        proof: true,
        tdd: true,
        ..GateRules::default()
    }
}

fn done(ci: &mut CiState, check: &str, status: CiStatus) -> Vec<crate::protocol::ci::CiEffect> {
    handle(
        ci,
        CiEvent::Finished(CiResult::new(H, check, status)),
        &CiRules::default(),
    )
}

#[test]
fn gates_start_only_on_an_approved_head_and_not_twice() {
    let mut ci = CiState::default();
    assert!(gates_to_start(&ci, &both(), H, false).is_empty());
    assert!(gates_to_start(&ci, &GateRules::default(), H, true).is_empty());
    assert_eq!(gates_to_start(&ci, &both(), H, true), vec!["proof", "tdd"]);
    gate_started(&mut ci, H, PROOF_CHECK);
    assert_eq!(gates_to_start(&ci, &both(), H, true), vec!["tdd"]);
    done(&mut ci, PROOF_CHECK, CiStatus::Passed);
    assert_eq!(gates_to_start(&ci, &both(), H, true), vec!["tdd"]);
    // A run cut off (cancelled) runs again.
    done(&mut ci, TDD_CHECK, CiStatus::Cancelled);
    assert_eq!(gates_to_start(&ci, &both(), H, true), vec!["tdd"]);
}

#[test]
fn a_run_lost_with_a_killed_engine_is_started_again_after_adoption() {
    let mut ci = CiState::default();
    gate_started(&mut ci, H, PROOF_CHECK);
    handle(
        &mut ci,
        CiEvent::Started {
            at: crate::protocol::Timestamp(0),
            base: Some(B.into()),
        },
        &CiRules::default(),
    );
    assert_eq!(gates_to_start(&ci, &both(), H, true), vec!["proof", "tdd"]);
}

#[test]
fn mark_done_waits_for_the_gates_and_is_refused_while_one_fails() {
    let mut ci = CiState {
        head: Some(H.into()),
        ..CiState::default()
    };
    let rules = both();
    let waiting = gate_refusal(&ci, &rules, H).unwrap();
    assert!(waiting.contains("`proof` and `tdd` gates"), "{waiting}");
    let fx = done(
        &mut ci,
        PROOF_CHECK,
        CiStatus::Failed { exit_code: Some(1) },
    );
    assert!(
        fx.iter().any(|e| matches!(e, crate::protocol::ci::CiEffect::MessageWorker { check, .. } if check == PROOF_CHECK)),
        "a failing proof goes to the worker: {fx:?}"
    );
    let failed = gate_refusal(&ci, &rules, H).unwrap();
    assert!(failed.contains("`proof` gate failed"), "{failed}");
    // The CI gate leaves gate checks alone.
    assert_eq!(
        crate::protocol::ci::ci_gate(&ci, H, &CiRules::default()),
        crate::protocol::ci::CiGate::Ok
    );
    done(&mut ci, PROOF_CHECK, CiStatus::Passed);
    let fx = done(&mut ci, TDD_CHECK, CiStatus::Passed);
    // A gate's first pass is told: the worker waits for it.
    assert!(
        fx.iter().any(|e| matches!(e, crate::protocol::ci::CiEffect::MessageWorker { text, .. } if text.contains("mark_done"))),
        "{fx:?}"
    );
    assert_eq!(gate_refusal(&ci, &rules, H), None);
}

fn run(status: CiStatus) -> TestRun {
    TestRun {
        status,
        excerpt: "out".into(),
    }
}

#[test]
fn tdd_needs_tests_that_fail_on_the_base_and_pass_on_head() {
    let tests = vec!["tests/words.rs".to_owned()];
    let failed = run(CiStatus::Failed { exit_code: Some(1) });
    let passed = run(CiStatus::Passed);
    let ok = tdd_verdict(H, "t", &tests, Some(&failed), Some(&passed));
    assert!(ok.status.passed(), "{ok:?}");
    let vacuous = tdd_verdict(H, "t", &tests, Some(&passed), Some(&passed));
    assert!(vacuous.status.failed());
    assert!(
        vacuous
            .summary
            .as_ref()
            .unwrap()
            .contains("pass on the base too"),
        "{vacuous:?}"
    );
    let broken = tdd_verdict(H, "t", &tests, Some(&failed), Some(&failed));
    assert!(
        broken.summary.as_ref().unwrap().contains("on HEAD"),
        "{broken:?}"
    );
    let none = tdd_verdict(H, "t", &[], None, None);
    assert!(none.status.failed());
    assert!(none.summary.as_ref().unwrap().contains("no test files"));
    let timed_out = run(CiStatus::TimedOut {
        after: std::time::Duration::from_secs(5),
    });
    let slow = tdd_verdict(H, "t", &tests, Some(&timed_out), Some(&passed));
    assert!(matches!(slow.status, CiStatus::TimedOut { .. }), "{slow:?}");
}

#[test]
fn scope_over_budget_is_flagged_once_and_the_size_is_kept_for_the_review() {
    let rules = GateRules {
        max_files: Some(2),
        max_lines: Some(10),
        ..GateRules::default()
    };
    let mut state = ScopeState::default();
    let small = DiffSize {
        files: 1,
        added: 5,
        removed: 0,
    };
    assert_eq!(scope_check(&mut state, &rules, H, small), None);
    assert_eq!(
        diff_line(&state, &rules, H).unwrap(),
        "Diff against the base: 1 file, +5 -0 lines (budget: 2 files, 10 lines)."
    );
    assert_eq!(diff_line(&state, &rules, B), None);
    let big = DiffSize {
        files: 3,
        added: 9,
        removed: 2,
    };
    let flagged = scope_check(&mut state, &rules, B, big).unwrap();
    assert!(
        flagged.to_pair.contains("3 files changed (budget 2)"),
        "{flagged:?}"
    );
    assert!(flagged.to_pair.contains("11 lines changed (budget 10)"));
    assert!(flagged.to_pair.contains("Split it"));
    assert_eq!(scope_check(&mut state, &rules, H, big), None, "said once");
    assert_eq!(
        scope_check(&mut ScopeState::default(), &GateRules::default(), H, big),
        None,
        "no budget, no flag"
    );
}

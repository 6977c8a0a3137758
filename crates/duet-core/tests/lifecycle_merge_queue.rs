//! The merge queue's decisions, as event → effects steps: order, one candidate at a time, CI on
//! the candidate, compare-and-swap outcomes, dirty checkouts, conflicts and their limit, the
//! base-moved warnings, `duet merge`, and resuming after a restart.

use duet_core::lifecycle::LifecycleEvent;
use duet_core::lifecycle::merge_queue::{
    CandidateRef, Hold, QueueConfig, QueueEffect, QueueEvent, QueueRow, QueueState, Step, TaskInfo,
    WorkingBranch, handle, resume,
};

fn config(auto: bool, ci: bool) -> QueueConfig {
    QueueConfig {
        auto,
        ci,
        repeat_limit: 3,
        base: "main".into(),
    }
}

fn info(id: &str, priority: i64, deps: &[&str]) -> TaskInfo {
    TaskInfo {
        task_id: id.into(),
        title: format!("Title {id}"),
        priority,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
    }
}

fn done(id: &str, priority: i64, deps: &[&str]) -> QueueEvent {
    QueueEvent::TaskDone(info(id, priority, deps))
}

/// Candidate `c<n>` on base `b<n>` (40-char shas so the 7-char short forms are visible).
fn cand(n: u32) -> CandidateRef {
    CandidateRef {
        sha: format!("c{n}{}", "0".repeat(38)),
        base_sha: format!("b{n}{}", "0".repeat(38)),
        source_sha: format!("s{n}{}", "0".repeat(38)),
    }
}

fn built(id: &str, n: u32) -> QueueEvent {
    QueueEvent::CandidateBuilt {
        task_id: id.into(),
        candidate: cand(n),
        commits: 1,
    }
}

fn advanced(id: &str, n: u32, files: &[&str], working: Vec<WorkingBranch>) -> QueueEvent {
    QueueEvent::BaseAdvanced {
        task_id: id.into(),
        sha: cand(n).sha,
        landed_files: files.iter().map(|f| f.to_string()).collect(),
        working,
    }
}

fn conflict(id: &str, files: &[&str], base_sha: &str) -> QueueEvent {
    QueueEvent::CandidateConflict {
        task_id: id.into(),
        files: files.iter().map(|f| f.to_string()).collect(),
        base_sha: base_sha.into(),
    }
}

fn transition(id: &str, event: LifecycleEvent) -> QueueEffect {
    QueueEffect::Transition {
        task_id: id.into(),
        event,
    }
}

fn build(id: &str) -> QueueEffect {
    QueueEffect::BuildCandidate { task_id: id.into() }
}

fn advance(id: &str, n: u32) -> QueueEffect {
    QueueEffect::AdvanceBase {
        task_id: id.into(),
        expected_old: cand(n).base_sha,
        new: cand(n).sha,
    }
}

fn landed(id: &str, n: u32) -> Vec<QueueEffect> {
    vec![
        transition(id, LifecycleEvent::Landed),
        QueueEffect::CleanUp {
            task_id: id.into(),
            source_sha: cand(n).source_sha,
        },
    ]
}

/// Applies each event and checks the effects it produced.
fn steps(state: &mut QueueState, steps: Vec<(QueueEvent, Vec<QueueEffect>)>) {
    for (index, (event, expected)) in steps.into_iter().enumerate() {
        let shown = format!("{event:?}");
        let effects = handle(state, event);
        assert_eq!(effects, expected, "step {index}: {shown}");
    }
}

fn rows(state: &QueueState) -> Vec<(String, Option<usize>, String)> {
    state
        .rows()
        .into_iter()
        .map(
            |QueueRow {
                 task_id,
                 position,
                 what,
             }| (task_id, position, what),
        )
        .collect()
}

#[test]
fn a_done_task_is_built_and_landed_and_the_pairs_at_work_are_told() {
    let mut state = QueueState::new(config(true, false), []);
    let working = vec![
        WorkingBranch {
            task_id: "b".into(),
            changed_files: vec!["src/lib.rs".into(), "src/x.rs".into()],
        },
        WorkingBranch {
            task_id: "c".into(),
            changed_files: vec!["docs/y.md".into()],
        },
    ];
    steps(
        &mut state,
        vec![
            (
                done("a", 0, &[]),
                vec![transition("a", LifecycleEvent::MergeQueued), build("a")],
            ),
            (built("a", 1), vec![advance("a", 1)]),
            (
                advanced("a", 1, &["README.md", "src/lib.rs"], working),
                [
                    landed("a", 1),
                    vec![
                        QueueEffect::TellPair {
                            task_id: "b".into(),
                            text: "`main` moved to c100000: task `a` (Title a) landed. It also \
                                   changes `src/lib.rs`, which your branch changes too: expect a \
                                   conflict when yours lands. Rebasing onto `main` now (`git \
                                   rebase main`) and resolving it while the change is fresh is \
                                   cheaper."
                                .into(),
                        },
                        QueueEffect::TellPair {
                            task_id: "c".into(),
                            text: "`main` moved to c100000: task `a` (Title a) landed. It \
                                   changes none of the files your branch changes."
                                .into(),
                        },
                    ],
                ]
                .concat(),
            ),
        ],
    );
    assert!(state.is_merged("a"));
    assert!(state.current().is_none());
    assert!(state.rows().is_empty());
}

#[test]
fn one_candidate_at_a_time_dependencies_first_then_priority_then_finish_time() {
    let mut state = QueueState::new(config(true, false), ["old".to_string()]);
    steps(
        &mut state,
        vec![
            (
                done("a", 0, &[]),
                vec![transition("a", LifecycleEvent::MergeQueued), build("a")],
            ),
            // While `a` is being landed, others finish: nothing else starts.
            (
                done("low", 0, &[]),
                vec![transition("low", LifecycleEvent::MergeQueued)],
            ),
            (
                done("child", 9, &["dep"]),
                vec![transition("child", LifecycleEvent::MergeQueued)],
            ),
            (
                done("high", 5, &["old"]),
                vec![transition("high", LifecycleEvent::MergeQueued)],
            ),
            (
                done("dep", -1, &[]),
                vec![transition("dep", LifecycleEvent::MergeQueued)],
            ),
        ],
    );
    assert_eq!(
        rows(&state),
        [
            ("a".into(), Some(1), "building its candidate".into()),
            ("high".into(), Some(2), "waiting its turn".into()),
            ("low".into(), Some(3), "waiting its turn".into()),
            ("dep".into(), Some(4), "waiting its turn".into()),
            ("child".into(), Some(5), "waits for `dep` to land".into()),
        ]
    );
    steps(
        &mut state,
        vec![
            (built("a", 1), vec![advance("a", 1)]),
            (
                advanced("a", 1, &[], vec![]),
                [landed("a", 1), vec![build("high")]].concat(),
            ),
            (built("high", 2), vec![advance("high", 2)]),
            (
                advanced("high", 2, &[], vec![]),
                [landed("high", 2), vec![build("low")]].concat(),
            ),
            (built("low", 3), vec![advance("low", 3)]),
            (
                advanced("low", 3, &[], vec![]),
                [landed("low", 3), vec![build("dep")]].concat(),
            ),
            (built("dep", 4), vec![advance("dep", 4)]),
            // `child` has the highest priority, but only now is its dependency on the base.
            (
                advanced("dep", 4, &[], vec![]),
                [landed("dep", 4), vec![build("child")]].concat(),
            ),
        ],
    );
}

#[test]
fn without_auto_a_done_task_waits_ready_for_duet_merge() {
    let mut state = QueueState::new(config(false, false), []);
    steps(
        &mut state,
        vec![
            (
                done("a", 0, &[]),
                vec![transition("a", LifecycleEvent::AwaitMerge)],
            ),
            (
                done("b", 0, &[]),
                vec![transition("b", LifecycleEvent::AwaitMerge)],
            ),
        ],
    );
    assert_eq!(
        rows(&state),
        [
            ("a".into(), None, "ready: `duet merge a` lands it".into()),
            ("b".into(), None, "ready: `duet merge b` lands it".into()),
        ]
    );
    steps(
        &mut state,
        vec![
            (
                QueueEvent::MergeRequested {
                    task_id: Some("nope".into()),
                },
                vec![QueueEffect::Refuse {
                    task_id: Some("nope".into()),
                    why: "it is not done yet: only a done task can be merged".into(),
                }],
            ),
            (
                QueueEvent::MergeRequested {
                    task_id: Some("b".into()),
                },
                vec![transition("b", LifecycleEvent::MergeQueued), build("b")],
            ),
            (
                QueueEvent::MergeRequested {
                    task_id: Some("b".into()),
                },
                vec![QueueEffect::Refuse {
                    task_id: Some("b".into()),
                    why: "it is already in the merge queue (position 1)".into(),
                }],
            ),
            (
                QueueEvent::MergeRequested { task_id: None },
                vec![transition("a", LifecycleEvent::MergeQueued)],
            ),
            (built("b", 1), vec![advance("b", 1)]),
            (
                advanced("b", 1, &[], vec![]),
                [landed("b", 1), vec![build("a")]].concat(),
            ),
            (
                QueueEvent::MergeRequested {
                    task_id: Some("b".into()),
                },
                vec![QueueEffect::Refuse {
                    task_id: Some("b".into()),
                    why: "it is already merged".into(),
                }],
            ),
            (
                QueueEvent::MergeRequested { task_id: None },
                vec![QueueEffect::Refuse {
                    task_id: None,
                    why: "no task is ready to merge".into(),
                }],
            ),
        ],
    );
}

#[test]
fn with_ci_only_the_tested_candidate_lands_and_a_failure_goes_back_to_the_pair() {
    let mut state = QueueState::new(config(true, true), []);
    let ci = |id: &str, n: u32| QueueEffect::RunCi {
        task_id: id.into(),
        sha: cand(n).sha,
    };
    steps(
        &mut state,
        vec![
            (
                done("a", 0, &[]),
                vec![transition("a", LifecycleEvent::MergeQueued), build("a")],
            ),
            (
                done("b", 0, &[]),
                vec![transition("b", LifecycleEvent::MergeQueued)],
            ),
            (built("a", 1), vec![ci("a", 1)]),
            // A report about another commit is not about this candidate.
            (
                QueueEvent::CiPassed {
                    task_id: "a".into(),
                    sha: cand(9).sha,
                },
                vec![],
            ),
            (
                QueueEvent::CiPassed {
                    task_id: "a".into(),
                    sha: cand(1).sha,
                },
                vec![advance("a", 1)],
            ),
            (
                advanced("a", 1, &[], vec![]),
                [landed("a", 1), vec![build("b")]].concat(),
            ),
            (built("b", 2), vec![ci("b", 2)]),
            (
                QueueEvent::CiFailed {
                    task_id: "b".into(),
                    sha: cand(2).sha,
                    excerpt: "test x ... FAILED\n".into(),
                },
                vec![
                    transition("b", LifecycleEvent::SentBack),
                    QueueEffect::SendBack {
                        task_id: "b".into(),
                        text: "The merge queue could not land your branch: CI fails after rebase \
                               onto `main` at b200000 (candidate c200000), though it passed on \
                               your branch. CI output:\n\n```\ntest x ... FAILED\n```\n\nWhat to \
                               do: in your worktree, rebase onto `main` (`git rebase main`), fix \
                               the failure, commit, and ask for a review. Once it is approved and \
                               you mark the task done again, it goes back into the merge queue."
                            .into(),
                    },
                ],
            ),
        ],
    );
    assert!(!state.is_merged("b"));
    assert!(state.current().is_none());
    // Done again after the fix, it re-enters the queue.
    steps(
        &mut state,
        vec![(
            done("b", 0, &[]),
            vec![transition("b", LifecycleEvent::MergeQueued), build("b")],
        )],
    );
}

#[test]
fn a_conflict_goes_back_with_the_files_and_the_task_that_landed_until_the_repeat_limit() {
    let mut state = QueueState::new(config(true, false), []);
    let landed_a = cand(1).sha;
    steps(
        &mut state,
        vec![
            (
                done("a", 0, &[]),
                vec![transition("a", LifecycleEvent::MergeQueued), build("a")],
            ),
            (built("a", 1), vec![advance("a", 1)]),
            (advanced("a", 1, &["src/lib.rs"], vec![]), landed("a", 1)),
            (
                done("b", 0, &[]),
                vec![transition("b", LifecycleEvent::MergeQueued), build("b")],
            ),
            (
                conflict("b", &["src/lib.rs", "src/main.rs"], &landed_a),
                vec![
                    transition("b", LifecycleEvent::SentBack),
                    QueueEffect::SendBack {
                        task_id: "b".into(),
                        text: "The merge queue could not land your branch: it conflicts with \
                               `main` at c100000 in `src/lib.rs`, `src/main.rs`. Task `a` (Title \
                               a) just landed there and changed `src/lib.rs` too.\n\nWhat to do: \
                               in your worktree, rebase onto `main` (`git rebase main`), resolve \
                               the conflicts keeping the intent of both changes, make sure the \
                               tests pass, commit, and ask for a review of the resolution. Once \
                               it is approved and you mark the task done again, it goes back \
                               into the merge queue."
                            .into(),
                    },
                ],
            ),
        ],
    );
    // Twice more: the third time goes to the human (repeat_limit = 3).
    steps(
        &mut state,
        vec![
            (
                done("b", 0, &[]),
                vec![transition("b", LifecycleEvent::MergeQueued), build("b")],
            ),
            (
                conflict("b", &["x.txt"], "f000000"),
                vec![
                    transition("b", LifecycleEvent::SentBack),
                    QueueEffect::SendBack {
                        task_id: "b".into(),
                        text: "The merge queue could not land your branch: it conflicts with \
                               `main` at f000000 in `x.txt`. `main` gained commits since your \
                               branch started.\n\nWhat to do: in your worktree, rebase onto \
                               `main` (`git rebase main`), resolve the conflicts keeping the \
                               intent of both changes, make sure the tests pass, commit, and ask \
                               for a review of the resolution. Once it is approved and you mark \
                               the task done again, it goes back into the merge queue."
                            .into(),
                    },
                ],
            ),
            (
                done("b", 0, &[]),
                vec![transition("b", LifecycleEvent::MergeQueued), build("b")],
            ),
        ],
    );
    let effects = handle(&mut state, conflict("b", &["x.txt"], "f000000"));
    let reason = "conflicted with `main` 3 times in the merge queue (stall.repeat_limit = 3)";
    assert_eq!(
        effects[0],
        transition(
            "b",
            LifecycleEvent::Escalate {
                reason: reason.into()
            }
        )
    );
    let QueueEffect::TellHuman { text } = &effects[1] else {
        panic!("{effects:?}");
    };
    assert!(text.starts_with(&format!("Task `b` {reason}. The last time:\n\nThe merge queue could not land your branch: it conflicts")), "{text}");
    assert_eq!(effects.len(), 2);
}

#[test]
fn a_base_moved_by_someone_else_means_a_rebuild_and_nothing_lands_untested() {
    let mut state = QueueState::new(config(true, true), []);
    steps(
        &mut state,
        vec![
            (
                done("a", 0, &[]),
                vec![transition("a", LifecycleEvent::MergeQueued), build("a")],
            ),
            (
                built("a", 1),
                vec![QueueEffect::RunCi {
                    task_id: "a".into(),
                    sha: cand(1).sha,
                }],
            ),
            (
                QueueEvent::CiPassed {
                    task_id: "a".into(),
                    sha: cand(1).sha,
                },
                vec![advance("a", 1)],
            ),
            (
                QueueEvent::BaseMoved {
                    task_id: "a".into(),
                    now: "h0000000000".into(),
                },
                vec![build("a")],
            ),
            // The rebuilt candidate is tested again before it can land.
            (
                built("a", 2),
                vec![QueueEffect::RunCi {
                    task_id: "a".into(),
                    sha: cand(2).sha,
                }],
            ),
            // A late report about the old candidate changes nothing.
            (advanced("a", 1, &[], vec![]), vec![]),
        ],
    );
    assert!(matches!(state.current(), Some(("a", Step::Testing { .. }))));
}

#[test]
fn a_dirty_checkout_holds_the_queue_once_and_a_clean_one_lets_it_go_on() {
    let mut state = QueueState::new(config(true, false), []);
    let dirty = || QueueEvent::CheckoutDirty {
        task_id: "a".into(),
        path: "/home/u/repo".into(),
        files: vec!["README.md".into()],
    };
    let reason = "your checkout of `main` at /home/u/repo has uncommitted changes to `README.md` \
                  that landing `a` would overwrite; commit or stash them and the queue goes on";
    steps(
        &mut state,
        vec![
            (
                done("a", 0, &[]),
                vec![transition("a", LifecycleEvent::MergeQueued), build("a")],
            ),
            (
                done("b", 0, &[]),
                vec![transition("b", LifecycleEvent::MergeQueued)],
            ),
            (built("a", 1), vec![advance("a", 1)]),
            (
                dirty(),
                vec![
                    QueueEffect::Held {
                        reason: reason.into(),
                    },
                    QueueEffect::TellHuman {
                        text: format!("The merge queue is held: {reason}."),
                    },
                ],
            ),
        ],
    );
    assert!(state.held_for_checkout());
    assert_eq!(rows(&state)[0].2, format!("held: {reason}"));
    steps(
        &mut state,
        vec![
            // Checked again and still dirty: the move is retried, the human told only once.
            (QueueEvent::CheckoutClean, vec![advance("a", 1)]),
            (dirty(), vec![]),
            (QueueEvent::CheckoutClean, vec![advance("a", 1)]),
            (
                advanced("a", 1, &[], vec![]),
                [
                    vec![QueueEffect::Released],
                    landed("a", 1),
                    vec![build("b")],
                ]
                .concat(),
            ),
        ],
    );
    assert_eq!(state.hold(), None);
}

#[test]
fn a_failed_step_holds_until_duet_merge_retries_it() {
    let mut state = QueueState::new(config(true, false), []);
    steps(
        &mut state,
        vec![
            (
                done("a", 0, &[]),
                vec![transition("a", LifecycleEvent::MergeQueued), build("a")],
            ),
            (
                QueueEvent::StepFailed {
                    task_id: "a".into(),
                    message: "failed to find branch `duet/a`".into(),
                },
                vec![
                    QueueEffect::Held {
                        reason: "landing `a` failed: failed to find branch `duet/a`; `duet merge \
                                 a` tries again"
                            .into(),
                    },
                    QueueEffect::TellHuman {
                        text: "The merge queue is held: landing `a` failed: failed to find branch \
                               `duet/a`; `duet merge a` tries again."
                            .into(),
                    },
                ],
            ),
            (
                done("b", 0, &[]),
                vec![transition("b", LifecycleEvent::MergeQueued)],
            ),
            (
                QueueEvent::MergeRequested {
                    task_id: Some("a".into()),
                },
                vec![QueueEffect::Released, build("a")],
            ),
        ],
    );
    assert!(state.hold().is_none());
}

#[test]
fn a_change_the_base_already_has_lands_without_moving_it() {
    let mut state = QueueState::new(config(true, true), []);
    steps(
        &mut state,
        vec![
            (
                done("a", 0, &[]),
                vec![transition("a", LifecycleEvent::MergeQueued), build("a")],
            ),
            (
                QueueEvent::CandidateBuilt {
                    task_id: "a".into(),
                    candidate: CandidateRef {
                        sha: "same".into(),
                        base_sha: "same".into(),
                        source_sha: "src".into(),
                    },
                    commits: 0,
                },
                vec![
                    transition("a", LifecycleEvent::Landed),
                    QueueEffect::CleanUp {
                        task_id: "a".into(),
                        source_sha: "src".into(),
                    },
                ],
            ),
        ],
    );
    assert!(state.is_merged("a"));
}

#[test]
fn a_cancelled_task_leaves_the_queue_and_late_reports_about_it_are_ignored() {
    let mut state = QueueState::new(config(true, false), []);
    steps(
        &mut state,
        vec![
            (
                done("a", 0, &[]),
                vec![transition("a", LifecycleEvent::MergeQueued), build("a")],
            ),
            (
                done("b", 0, &[]),
                vec![transition("b", LifecycleEvent::MergeQueued)],
            ),
            (
                QueueEvent::Withdrawn {
                    task_id: "a".into(),
                },
                vec![build("b")],
            ),
            (built("a", 1), vec![]),
            (conflict("a", &["x"], "y"), vec![]),
        ],
    );
    assert!(matches!(state.current(), Some(("b", Step::Building))));
}

#[test]
fn after_a_restart_the_step_under_way_is_issued_again() {
    let mut state = QueueState::new(config(true, false), []);
    handle(&mut state, done("a", 0, &[]));
    handle(&mut state, built("a", 1));
    // The state survives a round trip through JSON (the engine's snapshot).
    let json = serde_json::to_string(&state).unwrap();
    let mut restored: QueueState = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, state);
    assert_eq!(resume(&mut restored), vec![advance("a", 1)]);
    // The move had happened before the crash: the compare-and-swap finds the base at the
    // candidate, which counts as landed.
    steps(
        &mut restored,
        vec![(
            QueueEvent::BaseMoved {
                task_id: "a".into(),
                now: cand(1).sha,
            },
            landed("a", 1),
        )],
    );

    // A hold for a failed step is only shown again; an idle queue starts its next entry.
    let mut held = QueueState::new(config(true, false), []);
    handle(&mut held, done("a", 0, &[]));
    handle(
        &mut held,
        QueueEvent::StepFailed {
            task_id: "a".into(),
            message: "boom".into(),
        },
    );
    assert!(matches!(held.hold(), Some(Hold::StepFailed { .. })));
    assert!(matches!(resume(&mut held)[..], [QueueEffect::Held { .. }]));
    let mut idle = QueueState::new(config(true, false), []);
    assert!(resume(&mut idle).is_empty());
}

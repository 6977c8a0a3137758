//! Scheduler decisions: which tasks start, in what order, and why the others wait.

use duet_core::lifecycle::StateKind;
use duet_core::lifecycle::scheduler::{
    Blocker, DependencyRule, TaskView, count_running, next_to_start, next_to_start_with,
    why_blocked, why_blocked_all_with, why_blocked_with,
};

fn task(id: &str, priority: i64, deps: &[&str], state: StateKind) -> TaskView {
    TaskView {
        id: id.into(),
        priority,
        depends_on: deps.iter().map(|dep| dep.to_string()).collect(),
        state,
    }
}

use StateKind::*;

#[test]
fn next_to_start_table() {
    struct Case {
        name: &'static str,
        tasks: Vec<TaskView>,
        running: usize,
        max_parallel: usize,
        expected: &'static [&'static str],
    }
    let cases = vec![
        Case {
            name: "empty backlog",
            tasks: vec![],
            running: 0,
            max_parallel: 2,
            expected: &[],
        },
        Case {
            name: "priority desc, then backlog order",
            tasks: vec![
                task("a", 0, &[], Queued),
                task("b", 5, &[], Queued),
                task("c", 0, &[], Queued),
                task("d", 5, &[], Queued),
            ],
            running: 0,
            max_parallel: 3,
            expected: &["b", "d", "a"],
        },
        Case {
            name: "free slots are max_parallel minus running",
            tasks: vec![
                task("a", 0, &[], Queued),
                task("b", 0, &[], Queued),
                task("c", 0, &[], Queued),
            ],
            running: 1,
            max_parallel: 3,
            expected: &["a", "b"],
        },
        Case {
            name: "no slot when running exceeds max_parallel",
            tasks: vec![task("a", 0, &[], Queued)],
            running: 4,
            max_parallel: 2,
            expected: &[],
        },
        Case {
            name: "dependencies must be done",
            tasks: vec![
                task("base", 0, &[], Working),
                task("on-base", 9, &["base"], Queued),
                task("finished", 0, &[], Done),
                task("on-finished", 1, &["finished"], Queued),
            ],
            running: 1,
            max_parallel: 4,
            expected: &["on-finished"],
        },
        Case {
            name: "a failed or missing dependency never starts the task",
            tasks: vec![
                task("broken", 0, &[], Failed),
                task("on-broken", 0, &["broken"], Queued),
                task("on-ghost", 0, &["ghost"], Queued),
                task("free", -3, &[], Queued),
            ],
            running: 0,
            max_parallel: 4,
            expected: &["free"],
        },
        Case {
            name: "only queued tasks start (paused, needs-human, running, finished do not)",
            tasks: vec![
                task("p", 9, &[], Paused),
                task("n", 9, &[], NeedsHuman),
                task("w", 9, &[], Reviewing),
                task("c", 9, &[], Cancelled),
                task("q", 0, &[], Queued),
            ],
            running: 0,
            max_parallel: 10,
            expected: &["q"],
        },
        Case {
            name: "all deps needed, not just one",
            tasks: vec![
                task("x", 0, &[], Done),
                task("y", 0, &[], Queued),
                task("z", 0, &["x", "y"], Queued),
            ],
            running: 0,
            max_parallel: 10,
            expected: &["y"],
        },
    ];
    for case in cases {
        assert_eq!(
            next_to_start(&case.tasks, case.running, case.max_parallel),
            case.expected,
            "{}",
            case.name
        );
    }
}

#[test]
fn why_blocked_names_every_reason() {
    let tasks = vec![
        task("base", 0, &[], Working),
        task("broken", 0, &[], Cancelled),
        task("waits", 0, &["base", "broken", "ghost"], Queued),
        task("high", 5, &[], Queued),
        task("low", 1, &[], Queued),
    ];
    assert_eq!(
        why_blocked("waits", &tasks, 1, 2),
        Some(vec![
            Blocker::Dependency {
                id: "base".into(),
                state: Working
            },
            Blocker::DependencyFailed {
                id: "broken".into(),
                state: Cancelled
            },
            Blocker::MissingDependency { id: "ghost".into() },
        ])
    );
    assert_eq!(
        why_blocked("base", &tasks, 1, 2),
        Some(vec![Blocker::NotQueued { state: Working }])
    );
    assert_eq!(why_blocked("high", &tasks, 1, 2), Some(vec![]));
    assert_eq!(
        why_blocked("low", &tasks, 1, 2),
        Some(vec![Blocker::WaitingForSlot { ahead: 1 }])
    );
    assert_eq!(
        why_blocked("low", &tasks, 2, 2),
        Some(vec![Blocker::NoFreeSlot {
            running: 2,
            max_parallel: 2
        }])
    );
    assert_eq!(why_blocked("nobody", &tasks, 0, 2), None);
}

#[test]
fn why_blocked_agrees_with_next_to_start() {
    let tasks = vec![
        task("a", 2, &[], Queued),
        task("b", 2, &["a"], Queued),
        task("c", 7, &[], Queued),
        task("d", 0, &[], Queued),
        task("e", 1, &["f"], Queued),
        task("f", 0, &[], Done),
    ];
    for max_parallel in 0..=6 {
        let started = next_to_start(&tasks, 0, max_parallel);
        for view in &tasks {
            let blockers = why_blocked(&view.id, &tasks, 0, max_parallel).unwrap();
            assert_eq!(
                blockers.is_empty(),
                started.contains(&view.id),
                "{} with max_parallel {max_parallel}: {blockers:?}",
                view.id
            );
        }
    }
}

#[test]
fn blockers_read_as_sentences() {
    let cases = [
        (
            Blocker::Dependency {
                id: "a".into(),
                state: Reviewing,
            },
            "waits for `a` (reviewing)",
        ),
        (
            Blocker::DependencyFailed {
                id: "a".into(),
                state: Failed,
            },
            "dependency `a` is failed and will never be done",
        ),
        (
            Blocker::MissingDependency { id: "a".into() },
            "dependency `a` is not in the backlog",
        ),
        (
            Blocker::NoFreeSlot {
                running: 2,
                max_parallel: 2,
            },
            "all slots are taken (2 running, max_parallel = 2)",
        ),
        (
            Blocker::NotQueued { state: NeedsHuman },
            "the task is needs-human, not queued",
        ),
    ];
    for (blocker, text) in cases {
        assert_eq!(blocker.to_string(), text);
    }
}

#[test]
fn running_counts_slot_holders() {
    let tasks = vec![
        task("a", 0, &[], Preparing),
        task("b", 0, &[], NeedsHuman),
        task("c", 0, &[], Paused),
        task("d", 0, &[], Done),
        task("e", 0, &[], Queued),
        task("f", 0, &[], Reviewing),
    ];
    assert_eq!(count_running(&tasks), 3);
}

#[test]
fn why_blocked_all_agrees_with_why_blocked_for_every_task() {
    use duet_core::lifecycle::StateKind;
    use duet_core::lifecycle::scheduler::{TaskView, why_blocked, why_blocked_all};
    let view = |id: &str, priority: i64, deps: &[&str], state: StateKind| TaskView {
        id: id.into(),
        priority,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        state,
    };
    let tasks = vec![
        view("a", 0, &[], StateKind::Done),
        view("b", 1, &["a"], StateKind::Queued),
        view("c", 5, &[], StateKind::Queued),
        view("d", 0, &["x"], StateKind::Queued),
        view("e", 0, &["f"], StateKind::Queued),
        view("f", 0, &[], StateKind::Failed),
        view("g", 0, &[], StateKind::Working),
        view("h", 0, &[], StateKind::Queued),
    ];
    for (running, max) in [(1, 1), (1, 2), (1, 3), (0, 8)] {
        let all = why_blocked_all(&tasks, running, max);
        for (task, blockers) in tasks.iter().zip(&all) {
            assert_eq!(
                Some(blockers.clone()),
                why_blocked(&task.id, &tasks, running, max),
                "{} at {running}/{max}",
                task.id
            );
        }
    }
}

/// With the local merge queue a dependency must be merged; without it, done (or anything after
/// done) is enough. Failed and cancelled dependencies block for good under both rules.
#[test]
fn dependency_rules_table() {
    #[rustfmt::skip]
    let cases: &[(StateKind, bool, bool)] = &[
        // dependency state   starts under Done   starts under Merged
        (Queued,              false,              false),
        (Working,             false,              false),
        (Done,                true,               false),
        (Ready,               true,               false),
        (Merging,             true,               false),
        (Merged,              true,               true),
        (NeedsHuman,          false,              false),
        (Failed,              false,              false),
        (Cancelled,           false,              false),
    ];
    for &(dep_state, under_done, under_merged) in cases {
        let tasks = vec![
            task("dep", 0, &[], dep_state),
            task("child", 0, &["dep"], Queued),
        ];
        for (rule, expected) in [
            (DependencyRule::Done, under_done),
            (DependencyRule::Merged, under_merged),
        ] {
            let started = next_to_start_with(rule, &tasks, 0, 2).contains(&"child".to_string());
            assert_eq!(started, expected, "dependency {dep_state} under {rule:?}");
            let blockers = why_blocked_with(rule, "child", &tasks, 0, 2).unwrap();
            assert_eq!(
                blockers.is_empty(),
                expected,
                "{dep_state} {rule:?}: {blockers:?}"
            );
            assert_eq!(why_blocked_all_with(rule, &tasks, 0, 2)[1], blockers);
            if !expected {
                let failed = matches!(dep_state, Failed | Cancelled);
                let expected_blocker = if failed {
                    Blocker::DependencyFailed {
                        id: "dep".into(),
                        state: dep_state,
                    }
                } else {
                    Blocker::Dependency {
                        id: "dep".into(),
                        state: dep_state,
                    }
                };
                assert_eq!(blockers, [expected_blocker], "{dep_state} {rule:?}");
            }
        }
    }
    // The functions without a rule keep the old behaviour: done is enough.
    let tasks = vec![
        task("dep", 0, &[], Done),
        task("child", 0, &["dep"], Queued),
    ];
    assert_eq!(next_to_start(&tasks, 0, 2), ["child"]);
    assert_eq!(
        why_blocked_with(DependencyRule::Merged, "child", &tasks, 0, 2).unwrap()[0].to_string(),
        "waits for `dep` (done)"
    );
}

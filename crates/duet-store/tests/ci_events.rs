//! CI run events on a real SQLite file: stored and read back whole, the task's CI projection
//! follows finished runs (a cancelled run changes nothing), and a rebuild gives the same.

use duet_store::{CiStatus, Event, EventFilter, NewEvent, Store};

fn finished(sha: &str, status: &str, exit_code: Option<i32>) -> Event {
    Event::CiRunFinished {
        sha: sha.into(),
        check: "ci".into(),
        status: status.into(),
        exit_code,
        duration_ms: 1234,
        failing_tests: if status == "failed" {
            vec!["tests::adds".into()]
        } else {
            vec![]
        },
        log_path: Some(format!(".duet/ci/t1/{sha}.log")),
        summary: None,
    }
}

#[test]
fn ci_runs_are_stored_and_projected_onto_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("state.db")).unwrap();
    let ev = |at: i64, event: Event| NewEvent::for_task(at, "t1", event);
    store
        .append(&ev(1, Event::TaskQueued { title: None }))
        .unwrap();
    store
        .append(&ev(
            2,
            Event::CiRunStarted {
                sha: "aaa".into(),
                check: "ci".into(),
                log_path: Some(".duet/ci/t1/aaa.log".into()),
            },
        ))
        .unwrap();
    assert_eq!(store.task("t1").unwrap().unwrap().ci, None);
    store
        .append(&ev(3, finished("aaa", "failed", Some(101))))
        .unwrap();
    let expect_failed = Some(CiStatus {
        sha: "aaa".into(),
        passed: false,
    });
    assert_eq!(store.task("t1").unwrap().unwrap().ci, expect_failed);
    // A cancelled run of a newer commit says nothing about the code.
    store
        .append(&ev(4, finished("bbb", "cancelled", None)))
        .unwrap();
    assert_eq!(store.task("t1").unwrap().unwrap().ci, expect_failed);
    store
        .append(&ev(5, finished("ccc", "passed", Some(0))))
        .unwrap();
    let expect_passed = Some(CiStatus {
        sha: "ccc".into(),
        passed: true,
    });
    assert_eq!(store.task("t1").unwrap().unwrap().ci, expect_passed);

    let events = store.events(&EventFilter::all().task("t1")).unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[2].event, finished("aaa", "failed", Some(101)));

    store.rebuild_projections().unwrap();
    assert_eq!(store.task("t1").unwrap().unwrap().ci, expect_passed);
}

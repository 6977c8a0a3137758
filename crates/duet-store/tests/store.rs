//! Opening, migrating, appending, refusing and querying: the store's behaviour on real SQLite
//! files in temporary directories.

use std::cell::Cell;
use std::path::Path;

use duet_core::lifecycle::StateKind;
use duet_core::protocol::Finding;
use duet_core::protocol::Verdict;
use duet_store::{Clock, Event, EventFilter, MessageState, NewEvent, Store, StoreErrorKind};
use rusqlite::Connection;

/// A clock that moves forward by one second per reading.
struct StepClock(Cell<i64>);

impl Clock for StepClock {
    fn now_ms(&self) -> i64 {
        let now = self.0.get();
        self.0.set(now + 1000);
        now
    }
}

fn task_event(clock: &StepClock, task: &str, event: Event) -> NewEvent {
    NewEvent::for_task(clock.now_ms(), task, event)
}

fn queued(clock: &StepClock, task: &str) -> NewEvent {
    task_event(
        clock,
        task,
        Event::TaskQueued {
            title: Some(format!("title of {task}")),
        },
    )
}

fn change(clock: &StepClock, task: &str, from: StateKind, to: StateKind) -> NewEvent {
    task_event(
        clock,
        task,
        Event::TaskStateChanged {
            from,
            to,
            reason: None,
        },
    )
}

fn accepted(clock: &StepClock, task: &str, id: &str, text: &str) -> NewEvent {
    task_event(
        clock,
        task,
        Event::MessageAccepted {
            id: id.into(),
            from: "worker".into(),
            to: "reviewer".into(),
            text: text.into(),
        },
    )
}

fn new_store(dir: &Path) -> Store {
    Store::open(dir.join(".duet/state.db")).unwrap()
}

#[test]
fn open_creates_the_directory_a_wal_database_and_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/.duet/state.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), path);
    assert_eq!(store.last_seq().unwrap(), 0);
    assert!(store.task_states().unwrap().is_empty());

    let raw = Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, Store::schema_version());

    // Reopening migrates nothing and keeps the data.
    drop(store);
    let mut store = Store::open(&path).unwrap();
    let clock = StepClock(Cell::new(0));
    store.append(&queued(&clock, "a")).unwrap();
    drop(store);
    assert_eq!(Store::open(&path).unwrap().task_states().unwrap().len(), 1);
}

#[test]
fn open_read_only_never_creates_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".duet/state.db");
    let err = Store::open_read_only(&path).unwrap_err();
    assert_eq!(err.kind(), &StoreErrorKind::NotFound);
    assert!(
        err.to_string()
            .starts_with("failed to open the state database")
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(!dir.path().join(".duet").exists());
}

#[test]
fn read_only_store_reads_what_the_writer_wrote_and_refuses_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = new_store(dir.path());
    let clock = StepClock(Cell::new(5_000));
    writer.append(&queued(&clock, "a")).unwrap();

    let mut reader = Store::open_read_only(writer.path()).unwrap();
    let tasks = reader.task_states().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].state, StateKind::Queued);

    let err = reader.append(&queued(&clock, "b")).unwrap_err();
    assert_eq!(err.kind(), &StoreErrorKind::ReadOnly);
    let err = reader.rebuild_projections().unwrap_err();
    assert_eq!(err.kind(), &StoreErrorKind::ReadOnly);
    assert_eq!(writer.task_states().unwrap().len(), 1);

    // After the writer closed (SQLite removes the -wal and -shm files), a reader still opens.
    let path = writer.path().to_path_buf();
    drop((reader, writer));
    assert!(!path.with_extension("db-wal").exists());
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.task_states().unwrap().len(), 1);
}

#[test]
fn a_database_from_a_newer_duet_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let raw = Connection::open(&path).unwrap();
    raw.execute_batch("CREATE TABLE future (x INTEGER); PRAGMA user_version = 99;")
        .unwrap();
    drop(raw);

    for err in [
        Store::open(&path).unwrap_err(),
        Store::open_read_only(&path).unwrap_err(),
    ] {
        assert_eq!(
            err.kind(),
            &StoreErrorKind::SchemaTooNew {
                found: 99,
                supported: Store::schema_version()
            }
        );
        assert!(
            err.to_string().contains("newer than this duet supports"),
            "{err}"
        );
    }
    let raw = Connection::open(&path).unwrap();
    let tables: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1, "nothing was created in the newer database");
}

#[test]
fn a_read_only_open_of_an_unmigrated_database_asks_for_a_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE unrelated (x INTEGER);")
        .unwrap();
    let err = Store::open_read_only(&path).unwrap_err();
    assert_eq!(
        err.kind(),
        &StoreErrorKind::SchemaOutdated {
            found: 0,
            expected: Store::schema_version()
        }
    );
}

#[test]
fn events_cannot_be_updated_or_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path());
    let clock = StepClock(Cell::new(0));
    store.append(&queued(&clock, "a")).unwrap();

    let raw = Connection::open(store.path()).unwrap();
    for sql in [
        "UPDATE events SET kind = 'note'",
        "UPDATE events SET payload = '{}' WHERE seq = 1",
        "DELETE FROM events",
        "DELETE FROM events WHERE seq = 1",
    ] {
        let err = raw.execute(sql, []).unwrap_err();
        assert!(
            err.to_string().contains("events are append-only"),
            "{sql}: {err}"
        );
    }
    let events = store.events(&EventFilter::all()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event,
        Event::TaskQueued {
            title: Some("title of a".into())
        }
    );
}

#[test]
fn a_task_lifecycle_is_reflected_in_the_derived_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path());
    let clock = StepClock(Cell::new(1_000));
    let t = "fix-login";
    let seqs = store
        .append_batch(&[
            queued(&clock, t),
            queued(&clock, "other"),
            change(&clock, t, StateKind::Queued, StateKind::Preparing),
            change(&clock, t, StateKind::Preparing, StateKind::Working),
            task_event(
                &clock,
                t,
                Event::AgentLaunched {
                    role: "worker".into(),
                    agent: "claude".into(),
                    session_id: Some("s-1".into()),
                },
            ),
            task_event(
                &clock,
                t,
                Event::TurnEnded {
                    role: "worker".into(),
                },
            ),
            task_event(
                &clock,
                t,
                Event::CommitSeen {
                    sha: "abc1234".into(),
                },
            ),
            accepted(&clock, t, "m1", "please review"),
            accepted(&clock, t, "m2", "please review"),
            task_event(&clock, t, Event::MessageDelivered { id: "m1".into() }),
            task_event(
                &clock,
                t,
                Event::MessageSuppressed {
                    id: "m2".into(),
                    reason: "duplicate of m1".into(),
                },
            ),
            change(&clock, t, StateKind::Working, StateKind::Reviewing),
            task_event(
                &clock,
                t,
                Event::ReviewSubmitted {
                    commit: None,
                    round: 1,
                    verdict: Verdict::ChangesRequested,
                    findings: vec![Finding {
                        severity: duet_core::protocol::Severity::Major,
                        file: Some("src/login.rs".into()),
                        line: Some(12),
                        text: "password compared in non-constant time".into(),
                    }],
                    verified: vec![],
                    not_verified: vec![],
                },
            ),
            task_event(
                &clock,
                t,
                Event::CiResult {
                    sha: "abc1234".into(),
                    passed: false,
                    summary: None,
                },
            ),
            task_event(
                &clock,
                t,
                Event::AgentExited {
                    role: "worker".into(),
                    exit_code: Some(0),
                },
            ),
            task_event(
                &clock,
                t,
                Event::TaskStateChanged {
                    from: StateKind::Reviewing,
                    to: StateKind::NeedsHuman,
                    reason: Some("reviewer asked a question".into()),
                },
            ),
            NewEvent::global(
                clock.now_ms(),
                Event::Note {
                    text: "daemon up".into(),
                },
            ),
        ])
        .unwrap();
    assert_eq!(seqs, (1..=17).collect::<Vec<i64>>());

    let task = store.task(t).unwrap().unwrap();
    assert_eq!(task.state, StateKind::NeedsHuman);
    assert_eq!(task.reason.as_deref(), Some("reviewer asked a question"));
    assert_eq!(task.title.as_deref(), Some("title of fix-login"));
    assert_eq!(task.round, 1);
    assert_eq!(task.head_sha.as_deref(), Some("abc1234"));
    assert_eq!(task.last_verdict, Some(Verdict::ChangesRequested));
    assert_eq!(
        task.ci.as_ref().map(|c| (c.sha.as_str(), c.passed)),
        Some(("abc1234", false))
    );
    assert_eq!(task.queued_at_ms, 1_000);
    assert_eq!(task.updated_at_ms, 16_000); // 16th reading of the clock
    assert_eq!(task.last_event_seq, 16);
    assert_eq!(store.task("nope").unwrap(), None);

    let states: Vec<_> = store
        .task_states()
        .unwrap()
        .into_iter()
        .map(|row| (row.id, row.state))
        .collect();
    assert_eq!(
        states,
        [
            ("fix-login".to_owned(), StateKind::NeedsHuman),
            ("other".to_owned(), StateKind::Queued)
        ]
    );

    let messages = store.messages(Some(t)).unwrap();
    let summary: Vec<_> = messages
        .iter()
        .map(|m| (m.id.as_str(), m.state, m.reason.as_deref(), m.settled_seq))
        .collect();
    assert_eq!(
        summary,
        [
            ("m1", MessageState::Delivered, None, Some(10)),
            (
                "m2",
                MessageState::Suppressed,
                Some("duplicate of m1"),
                Some(11)
            ),
        ]
    );
    assert!(store.messages(Some("other")).unwrap().is_empty());

    let agents = store.agents(None).unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(
        (
            agents[0].running,
            agents[0].exit_code,
            agents[0].turns_ended,
            agents[0].session_id.as_deref()
        ),
        (false, Some(0), 1, Some("s-1"))
    );

    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.last_seq, 17);
    assert_eq!(snapshot.tasks, store.task_states().unwrap());
}

#[test]
fn event_filters_select_by_task_position_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path());
    let clock = StepClock(Cell::new(0));
    for task in ["a", "b", "c"] {
        store.append(&queued(&clock, task)).unwrap();
        store
            .append(&task_event(
                &clock,
                task,
                Event::Note {
                    text: format!("note {task}"),
                },
            ))
            .unwrap();
    }
    store
        .append(&NewEvent::global(
            clock.now_ms(),
            Event::Note {
                text: "global".into(),
            },
        ))
        .unwrap();
    let seqs = |filter: EventFilter| -> Vec<i64> {
        store
            .events(&filter)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(seqs(EventFilter::all()), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(seqs(EventFilter::all().task("b")), [3, 4]);
    assert_eq!(seqs(EventFilter::all().after(4)), [5, 6, 7]);
    assert_eq!(seqs(EventFilter::all().after(2).limit(2)), [3, 4]);
    assert_eq!(seqs(EventFilter::all().task("c").after(5)), [6]);
    assert_eq!(seqs(EventFilter::all().limit(0)), Vec::<i64>::new());
    assert_eq!(seqs(EventFilter::all().task("zzz")), Vec::<i64>::new());
    let last = store.events(&EventFilter::all().after(6)).unwrap();
    assert_eq!(last[0].task_id, None);
    assert_eq!(last[0].at_ms, 6_000);
}

/// Appends `event` after a valid history and checks it is refused with `expected`, as a single
/// append and as the last event of a batch, leaving the log and the projections untouched.
fn assert_refused(event: NewEvent, expected: StoreErrorKind) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path());
    let clock = StepClock(Cell::new(0));
    store
        .append_batch(&[
            queued(&clock, "a"),
            queued(&clock, "b"),
            change(&clock, "a", StateKind::Queued, StateKind::Working),
            accepted(&clock, "a", "m1", "hello"),
            accepted(&clock, "a", "m2", "hello again"),
            task_event(&clock, "a", Event::MessageDelivered { id: "m2".into() }),
        ])
        .unwrap();
    let before = (
        store.last_seq().unwrap(),
        store.task_states().unwrap(),
        store.messages(None).unwrap(),
    );

    let err = store.append(&event).unwrap_err();
    assert_eq!(err.kind(), &expected);
    assert!(err.to_string().starts_with("failed to "), "{err}");
    let err = store
        .append_batch(&[queued(&clock, "c"), accepted(&clock, "b", "m9", "x"), event])
        .unwrap_err();
    assert_eq!(err.kind(), &expected);

    let after = (
        store.last_seq().unwrap(),
        store.task_states().unwrap(),
        store.messages(None).unwrap(),
    );
    assert_eq!(before, after, "a refused batch must leave nothing behind");
}

#[test]
fn events_that_contradict_the_store_are_refused_without_a_trace() {
    let clock = StepClock(Cell::new(100_000));
    assert_refused(
        change(&clock, "ghost", StateKind::Queued, StateKind::Working),
        StoreErrorKind::UnknownTask {
            event_kind: "task_state_changed".into(),
            task_id: "ghost".into(),
        },
    );
    assert_refused(
        change(&clock, "a", StateKind::Queued, StateKind::Preparing),
        StoreErrorKind::StateMismatch {
            task_id: "a".into(),
            claimed: StateKind::Queued,
            actual: StateKind::Working,
        },
    );
    assert_refused(
        queued(&clock, "a"),
        StoreErrorKind::TaskAlreadyQueued {
            task_id: "a".into(),
        },
    );
    assert_refused(
        accepted(&clock, "a", "m1", "again"),
        StoreErrorKind::DuplicateMessage {
            message_id: "m1".into(),
        },
    );
    assert_refused(
        task_event(&clock, "a", Event::MessageDelivered { id: "m404".into() }),
        StoreErrorKind::UnknownMessage {
            event_kind: "message_delivered".into(),
            message_id: "m404".into(),
        },
    );
    assert_refused(
        task_event(
            &clock,
            "a",
            Event::MessageSuppressed {
                id: "m2".into(),
                reason: "late".into(),
            },
        ),
        StoreErrorKind::MessageSettled {
            event_kind: "message_suppressed".into(),
            message_id: "m2".into(),
            state: "delivered".into(),
        },
    );
    assert_refused(
        task_event(&clock, "b", Event::MessageDelivered { id: "m1".into() }),
        StoreErrorKind::MessageOfOtherTask {
            event_kind: "message_delivered".into(),
            message_id: "m1".into(),
            owner: "a".into(),
        },
    );
    assert_refused(
        NewEvent::global(0, Event::CommitSeen { sha: "abc".into() }),
        StoreErrorKind::MissingTaskId {
            event_kind: "commit_seen".into(),
        },
    );
}

#[test]
fn an_unknown_task_state_in_the_database_is_an_error_not_a_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path());
    let clock = StepClock(Cell::new(0));
    store.append(&queued(&clock, "a")).unwrap();
    Connection::open(store.path())
        .unwrap()
        .execute("UPDATE tasks SET state = 'running'", [])
        .unwrap();
    let err = store.task_states().unwrap_err();
    assert!(
        matches!(err.kind(), StoreErrorKind::Decode { what } if what.contains("\"running\"")),
        "{err}"
    );
    // The log is the truth: a rebuild repairs the projection.
    store.rebuild_projections().unwrap();
    assert_eq!(store.task_states().unwrap()[0].state, StateKind::Queued);
}

#[test]
fn a_file_that_is_not_a_database_is_named_as_such_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let garbage = "this is a backlog, not a database\n".repeat(200);
    std::fs::write(&path, &garbage).unwrap();
    for err in [
        Store::open(&path).unwrap_err(),
        Store::open_read_only(&path).unwrap_err(),
    ] {
        assert_eq!(err.kind(), &StoreErrorKind::NotADatabase, "{err}");
        assert!(err.to_string().contains("not a SQLite database"), "{err}");
        assert_eq!(err.path(), path);
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), garbage);
    assert!(!dir.path().join("state.db-wal").exists());
}

#[test]
fn snapshots_commit_with_their_events_and_replace_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut store = duet_store::Store::open(&path).unwrap();
    let queued =
        duet_store::NewEvent::for_task(1, "t", duet_store::Event::TaskQueued { title: None });
    store
        .commit_with_snapshot(&[queued], "t", r#"{"round":0}"#)
        .unwrap();
    let note = duet_store::NewEvent::for_task(2, "t", duet_store::Event::Note { text: "x".into() });
    store
        .commit_with_snapshot(&[note], "t", r#"{"round":1}"#)
        .unwrap();
    assert_eq!(
        store.pair_snapshots().unwrap(),
        vec![("t".to_string(), r#"{"round":1}"#.to_string())]
    );

    // A refused event rolls the snapshot back with it.
    let bad = duet_store::NewEvent::for_task(
        3,
        "t",
        duet_store::Event::MessageDelivered { id: "nope".into() },
    );
    assert!(
        store
            .commit_with_snapshot(&[bad], "t", r#"{"round":2}"#)
            .is_err()
    );
    assert_eq!(store.pair_snapshots().unwrap()[0].1, r#"{"round":1}"#);
    // Invalid JSON is refused by the schema.
    assert!(store.commit_with_snapshot(&[], "t", "not json").is_err());
}

#[test]
fn engine_state_commits_with_its_events_survives_a_reopen_and_rolls_back_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut store = duet_store::Store::open(&path).unwrap();
    assert_eq!(store.engine_state("merge-queue").unwrap(), None);
    let queued =
        duet_store::NewEvent::for_task(1, "t", duet_store::Event::TaskQueued { title: None });
    store
        .commit_with_engine_state(&[queued], "merge-queue", r#"{"v":1}"#)
        .unwrap();
    store
        .commit_with_engine_state(&[], "merge-queue", r#"{"v":2}"#)
        .unwrap();
    let bad = duet_store::NewEvent::for_task(
        3,
        "t",
        duet_store::Event::MessageDelivered { id: "nope".into() },
    );
    assert!(
        store
            .commit_with_engine_state(&[bad], "merge-queue", r#"{"v":3}"#)
            .is_err()
    );
    assert!(
        store
            .commit_with_engine_state(&[], "merge-queue", "not json")
            .is_err()
    );
    drop(store);
    let store = duet_store::Store::open(&path).unwrap();
    assert_eq!(
        store.engine_state("merge-queue").unwrap().as_deref(),
        Some(r#"{"v":2}"#)
    );
    // Not a pair: adoption never sees it.
    assert!(store.pair_snapshots().unwrap().is_empty());
}

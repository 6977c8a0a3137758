//! Several connections at once: a status reader reads while a writer writes (WAL), a long read
//! does not block writers, two writers interleave whole transactions, and concurrent first opens
//! migrate once.

use std::path::Path;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};

use duet_store::{Event, EventFilter, NewEvent, Store};
use rusqlite::Connection;

const EVENTS_PER_BATCH: i64 = 4;

fn batch(task: &str) -> Vec<NewEvent> {
    let mut events = vec![NewEvent::for_task(
        0,
        task,
        Event::TaskQueued { title: None },
    )];
    events.extend((0..EVENTS_PER_BATCH - 1).map(|i| {
        NewEvent::for_task(
            0,
            task,
            Event::Note {
                text: format!("{task} note {i} {}", "x".repeat(2000)),
            },
        )
    }));
    events
}

#[test]
fn a_reader_sees_consistent_snapshots_while_a_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".duet/state.db");
    let mut writer = Store::open(&path).unwrap();
    let reader = Store::open_read_only(&path).unwrap();
    let writing = AtomicBool::new(true);
    const BATCHES: i64 = 150;

    let (snapshots_during_writes, distinct_positions) = std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..BATCHES {
                writer.append_batch(&batch(&format!("t{i:04}"))).unwrap();
            }
            writing.store(false, Ordering::SeqCst);
        });
        let mut reads = 0;
        let mut positions = std::collections::BTreeSet::new();
        let mut previous = 0;
        while writing.load(Ordering::SeqCst) {
            let snapshot = reader.snapshot().expect("read while writing");
            // Batches commit whole, and the snapshot is one read: tasks match the log position.
            assert_eq!(snapshot.last_seq % EVENTS_PER_BATCH, 0);
            assert_eq!(
                i64::try_from(snapshot.tasks.len()).unwrap(),
                snapshot.last_seq / EVENTS_PER_BATCH
            );
            assert!(snapshot.last_seq >= previous, "the log went backwards");
            previous = snapshot.last_seq;
            positions.insert(snapshot.last_seq);
            reads += 1;
        }
        (reads, positions.len())
    });
    // The reader was not locked out: it saw the log at several positions mid-way.
    assert!(snapshots_during_writes > 1);
    assert!(
        distinct_positions > 2,
        "only {distinct_positions} positions seen"
    );
    assert_eq!(
        reader.snapshot().unwrap().last_seq,
        BATCHES * EVENTS_PER_BATCH
    );
}

#[test]
fn an_open_read_transaction_does_not_block_the_writer_and_keeps_its_view() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut writer = Store::open(&path).unwrap();
    writer.append_batch(&batch("a")).unwrap();

    let mut raw = Connection::open(&path).unwrap();
    raw.busy_timeout(std::time::Duration::ZERO).unwrap();
    let read = raw.transaction().unwrap();
    let count = |conn: &Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(&read), EVENTS_PER_BATCH);

    writer.append_batch(&batch("b")).unwrap();
    assert_eq!(
        count(&read),
        EVENTS_PER_BATCH,
        "the reader keeps its snapshot"
    );
    read.finish().unwrap();
    assert_eq!(count(&raw), 2 * EVENTS_PER_BATCH);
}

#[test]
fn two_writers_interleave_whole_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    Store::open(&path).unwrap();
    let start = Barrier::new(2);
    std::thread::scope(|scope| {
        for writer in ["x", "y"] {
            let (path, start) = (&path, &start);
            scope.spawn(move || {
                let mut store = Store::open(path).unwrap();
                start.wait();
                for i in 0..40 {
                    store
                        .append_batch(&batch(&format!("{writer}{i:02}")))
                        .unwrap();
                }
            });
        }
    });
    let store = Store::open_read_only(&path).unwrap();
    let events = store.events(&EventFilter::all()).unwrap();
    assert_eq!(
        events.len(),
        80 * usize::try_from(EVENTS_PER_BATCH).unwrap()
    );
    for chunk in events.chunks(usize::try_from(EVENTS_PER_BATCH).unwrap()) {
        assert!(
            chunk.iter().all(|e| e.task_id == chunk[0].task_id),
            "a batch was split"
        );
    }
    assert_eq!(store.task_states().unwrap().len(), 80);
}

#[test]
fn concurrent_first_opens_migrate_exactly_once() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".duet/state.db");
        let start = Barrier::new(4);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let (path, start): (&Path, _) = (&path, &start);
                scope.spawn(move || {
                    start.wait();
                    let mut store = Store::open(path).expect("concurrent open");
                    store
                        .append(&NewEvent::global(0, Event::Note { text: "up".into() }))
                        .unwrap();
                });
            }
        });
        let store = Store::open_read_only(&path).unwrap();
        assert_eq!(store.last_seq().unwrap(), 4);
    }
}

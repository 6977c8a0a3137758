//! Measures the store: append throughput (one event per transaction and batched, at both
//! durability levels) and reading the status of 1,000 tasks. Run with
//! `cargo bench -p duet-store` (criterion is not in the workspace; this is a plain main).
//! Smoke mode (`-- --smoke` or `DUET_BENCH_SMOKE=1`): a tenth of the sizes and few rounds; the
//! checks of what was read back still run.

use std::path::Path;
use std::time::{Duration, Instant};

use duet_core::lifecycle::StateKind;
use duet_store::{Durability, Event, EventFilter, NewEvent, OpenOptions, Store};

fn open(path: &Path, durability: Durability) -> Store {
    Store::open_with(
        path,
        OpenOptions {
            durability,
            ..OpenOptions::default()
        },
    )
    .expect("open bench store")
}

fn note(task: &str, i: usize) -> NewEvent {
    NewEvent::for_task(
        i64::try_from(i).unwrap_or(0),
        task,
        Event::Note {
            text: format!("note {i}: {}", "lorem ipsum ".repeat(20)),
        },
    )
}

fn report(label: &str, count: usize, elapsed: Duration) {
    let per_second = count as f64 / elapsed.as_secs_f64();
    let micros = elapsed.as_secs_f64() * 1e6 / count as f64;
    println!(
        "{label:<58} {per_second:>10.0} /s  {micros:>9.1} µs each  ({count} in {elapsed:.2?})"
    );
}

fn bench_appends(dir: &Path, durability: Durability, smoke: bool) {
    let label = format!("{durability:?}").to_lowercase();
    let mut store = open(&dir.join(format!("single-{label}.db")), durability);
    store
        .append(&NewEvent::for_task(
            0,
            "t",
            Event::TaskQueued { title: None },
        ))
        .unwrap();
    let count = match (durability, smoke) {
        (Durability::Full, false) => 500,
        (Durability::Full, true) => 20,
        (_, false) => 5_000,
        (_, true) => 200,
    };
    let start = Instant::now();
    for i in 0..count {
        store.append(&note("t", i)).unwrap();
    }
    report(
        &format!("append, 1 event per transaction, synchronous={label}"),
        count,
        start.elapsed(),
    );
    assert_eq!(
        store.events(&EventFilter::all().task("t")).unwrap().len(),
        count + 1,
        "every appended event was stored"
    );

    let mut store = open(&dir.join(format!("batch-{label}.db")), durability);
    store
        .append(&NewEvent::for_task(
            0,
            "t",
            Event::TaskQueued { title: None },
        ))
        .unwrap();
    let batches = if smoke { 5 } else { 200 };
    let events: Vec<NewEvent> = (0..100).map(|i| note("t", i)).collect();
    let start = Instant::now();
    for _ in 0..batches {
        store.append_batch(&events).unwrap();
    }
    report(
        &format!("append, 100 events per transaction, synchronous={label}"),
        batches * events.len(),
        start.elapsed(),
    );
    assert_eq!(
        store.events(&EventFilter::all().task("t")).unwrap().len(),
        batches * events.len() + 1,
        "every appended batch was stored"
    );
}

fn bench_status(dir: &Path, smoke: bool) {
    let path = dir.join("status.db");
    let mut store = open(&path, Durability::Normal);
    // 1,000 tasks, each with a short history (10 events): 10,000 events in all.
    let mut events = Vec::new();
    for t in 0..1_000 {
        let task = format!("task-{t:04}");
        events.push(NewEvent::for_task(
            0,
            &task,
            Event::TaskQueued {
                title: Some(task.clone()),
            },
        ));
        events.push(NewEvent::for_task(
            1,
            &task,
            Event::TaskStateChanged {
                from: StateKind::Queued,
                to: StateKind::Working,
                reason: None,
            },
        ));
        events.push(NewEvent::for_task(
            2,
            &task,
            Event::CommitSeen {
                sha: format!("{t:07x}"),
            },
        ));
        events.extend((0..7).map(|i| note(&task, i)));
    }
    let start = Instant::now();
    store.append_batch(&events).unwrap();
    report(
        "append, 10,000 events in one transaction",
        events.len(),
        start.elapsed(),
    );

    let reader = Store::open_read_only(&path).unwrap();
    let rounds = if smoke { 5 } else { 200 };
    let start = Instant::now();
    for _ in 0..rounds {
        assert_eq!(reader.task_states().unwrap().len(), 1_000);
    }
    report(
        "task_states() with 1,000 tasks (read-only connection)",
        rounds,
        start.elapsed(),
    );

    let start = Instant::now();
    for _ in 0..rounds {
        assert_eq!(reader.snapshot().unwrap().tasks.len(), 1_000);
    }
    report("snapshot() with 1,000 tasks", rounds, start.elapsed());

    let start = Instant::now();
    for t in 0..rounds {
        let task = format!("task-{:04}", t * 5);
        assert_eq!(
            reader.events(&EventFilter::all().task(task)).unwrap().len(),
            10
        );
    }
    report(
        "events(task) of one task among 10,000 events",
        rounds,
        start.elapsed(),
    );

    let start = Instant::now();
    for i in 0..rounds {
        let after = i64::try_from(i * 40).unwrap();
        assert_eq!(
            reader
                .events(&EventFilter::all().after(after).limit(50))
                .unwrap()
                .len(),
            50
        );
    }
    report(
        "events(after seq, limit 50) (tailing the log)",
        rounds,
        start.elapsed(),
    );

    let start = Instant::now();
    store.rebuild_projections().unwrap();
    report(
        "rebuild_projections() from 10,000 events",
        1,
        start.elapsed(),
    );
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke")
        || std::env::var("DUET_BENCH_SMOKE").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().expect("temp dir");
    let mode = if smoke { " (smoke mode)" } else { "" };
    println!(
        "duet-store bench{mode} (database in {})",
        dir.path().display()
    );
    bench_appends(dir.path(), Durability::Full, smoke);
    bench_appends(dir.path(), Durability::Normal, smoke);
    bench_status(dir.path(), smoke);
}

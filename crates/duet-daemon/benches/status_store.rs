//! The store side of `duet status` at scale (issue 5), and the filler for
//! `scripts/bench-scale.sh status`.
//!
//! - `cargo bench -p duet-daemon --bench status_store`: writes the history of 1,000 tasks into
//!   a temporary store and times what a status costs there: opening it read-only and reading
//!   every task row at once (`duet status`), and one query per task (what the daemon's
//!   `views()` does for every scheduling decision). Prints medians and p95. Smoke mode
//!   (`-- --smoke` or `DUET_BENCH_SMOKE=1`): 200 tasks, 3 runs each, the same checks.
//! - `cargo bench -p duet-daemon --bench status_store -- fill REPO`: reads `REPO/backlog.toml`
//!   and writes a plausible history for its tasks into `REPO/.duet/state.db`: the first 40%
//!   done (each through a review round), one in 50 of those failed instead, the rest queued.
//!   Nothing is left running, so a daemon started on it starts fresh pairs.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use duet_core::backlog::Backlog;
use duet_core::config::Config;
use duet_core::lifecycle::StateKind;
use duet_core::protocol::Finding;
use duet_core::protocol::Verdict;
use duet_store::{Durability, Event, NewEvent, OpenOptions, Store};

/// The events of one task's life so far; `at` is its first event's time.
fn history(id: &str, title: &str, index: usize, finished: bool, at: i64) -> Vec<NewEvent> {
    let ev = |offset: i64, event| NewEvent::for_task(at + offset, id, event);
    let change = |from, to, reason: Option<&str>| Event::TaskStateChanged {
        from,
        to,
        reason: reason.map(str::to_owned),
    };
    let mut events = vec![ev(
        0,
        Event::TaskQueued {
            title: Some(title.to_owned()),
        },
    )];
    if !finished {
        return events;
    }
    let sha = format!("{:040x}", index as u128 * 7919 + 1);
    let message = format!("{id}-m1");
    events.extend([
        ev(1_000, change(StateKind::Queued, StateKind::Preparing, None)),
        ev(
            2_000,
            Event::AgentLaunched {
                role: "worker".into(),
                agent: "claude".into(),
                session_id: Some(format!("{id}-worker-session")),
            },
        ),
        ev(
            2_000,
            Event::AgentLaunched {
                role: "reviewer".into(),
                agent: "codex".into(),
                session_id: None,
            },
        ),
        ev(
            3_000,
            change(StateKind::Preparing, StateKind::Working, None),
        ),
        ev(60_000, Event::CommitSeen { sha: sha.clone() }),
        ev(
            61_000,
            Event::MessageAccepted {
                id: message.clone(),
                from: "worker".into(),
                to: "reviewer".into(),
                text: format!("Please review {title}: implemented and tested."),
            },
        ),
        ev(62_000, Event::MessageDelivered { id: message }),
        ev(
            62_000,
            change(StateKind::Working, StateKind::Reviewing, None),
        ),
        ev(
            120_000,
            Event::ReviewSubmitted {
                commit: None,
                round: 1,
                verdict: Verdict::Approve,
                findings: vec![Finding {
                    severity: duet_core::protocol::Severity::Nit,
                    file: Some("src/lib.rs".into()),
                    line: Some(12),
                    text: "a name could be clearer".into(),
                }],
                verified: vec![],
                not_verified: vec![],
            },
        ),
        ev(
            121_000,
            change(StateKind::Reviewing, StateKind::Working, None),
        ),
    ]);
    if index % 50 == 7 {
        events.push(ev(
            122_000,
            change(
                StateKind::Working,
                StateKind::Failed,
                Some("the worker exited 3 times"),
            ),
        ));
    } else {
        events.push(ev(
            122_000,
            change(StateKind::Working, StateKind::Done, None),
        ));
    }
    events
}

/// Writes the histories of `tasks` (id, title) into the store at `db`.
fn fill(db: &Path, tasks: &[(String, String)]) -> Result<usize, String> {
    let mut store = Store::open_with(
        db,
        OpenOptions {
            durability: Durability::Normal,
            ..OpenOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let finished_until = tasks.len() * 2 / 5;
    let start = 1_700_000_000_000_i64;
    let events: Vec<NewEvent> = tasks
        .iter()
        .enumerate()
        .flat_map(|(i, (id, title))| {
            history(
                id,
                title,
                i,
                i < finished_until,
                start + i64::try_from(i).unwrap_or(0) * 200_000,
            )
        })
        .collect();
    store.append_batch(&events).map_err(|e| e.to_string())?;
    Ok(events.len())
}

fn fill_repo(repo: &Path) -> Result<(), String> {
    let path = repo.join("backlog.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let backlog = Backlog::from_toml_str(&text, &path, &Config::default(), repo)
        .map_err(|d| d.render_plain())?;
    let tasks: Vec<(String, String)> = backlog
        .tasks
        .iter()
        .map(|t| (t.id.to_string(), t.title.clone()))
        .collect();
    let db = repo.join(duet_store::STATE_DB_RELATIVE_PATH);
    let events = fill(&db, &tasks)?;
    println!(
        "wrote {events} events for {} tasks into {}",
        tasks.len(),
        db.display()
    );
    Ok(())
}

fn measure<T>(label: &str, runs: usize, mut f: impl FnMut() -> T) {
    black_box(f());
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label:<64} median {:>10.3?}  p95 {:>10.3?}  ({runs} runs)",
        at(0.5),
        at(0.95)
    );
}

fn bench(smoke: bool) {
    let count = if smoke { 200 } else { 1_000 };
    let runs = |full: usize| if smoke { 3 } else { full };
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("state.db");
    let tasks: Vec<(String, String)> = (0..count)
        .map(|i| (format!("task-{i:05}"), format!("Task number {i}")))
        .collect();
    let events = fill(&db, &tasks).expect("fill the store");
    println!("store: {count} tasks, {events} events");

    measure(
        &format!("open read-only + task_states() ({count} tasks)"),
        runs(51),
        || {
            let store = Store::open_read_only(&db).expect("open");
            store.task_states().expect("rows").len()
        },
    );
    let store = Store::open(&db).expect("open");
    let states = store.task_states().expect("rows");
    assert_eq!(states.len(), count, "every task has a row");
    let done = states
        .iter()
        .filter(|row| row.state == StateKind::Done)
        .count();
    assert!(
        done > 0 && done < count * 2 / 5,
        "the first 40% finished, a few failed: {done} done"
    );
    measure(
        &format!("task_states() on an open store ({count} tasks)"),
        runs(51),
        || store.task_states().expect("rows").len(),
    );
    // The daemon's status feed after each turn of its loop: every task's typed status, diffed
    // against the last (nothing changed here, as on most turns).
    let backlog_src: String = tasks
        .iter()
        .map(|(id, title)| {
            format!("[[task]]\nid = \"{id}\"\ntitle = \"{title}\"\nprompt = \"p\"\n")
        })
        .collect();
    let config = Config::default();
    let backlog =
        Backlog::from_toml_str(&backlog_src, Path::new("backlog.toml"), &config, dir.path())
            .expect("backlog");
    let mut publisher = duet_daemon::status::Publisher::new(
        &config,
        dir.path(),
        std::sync::Arc::new(duet_agents::TmuxRuntime::new(Some(
            "duet-bench-none".into(),
        ))),
        0,
    );
    let pairs = std::collections::BTreeMap::new();
    measure(
        &format!("status feed publish, nothing changed ({count} tasks)"),
        21,
        || publisher.publish(&backlog, &config, &store, &pairs, None),
    );
    measure(
        &format!("task(id) for every task, as the daemon's views() ({count})"),
        runs(21),
        || {
            tasks
                .iter()
                .filter(|(id, _)| store.task(id).expect("row").is_some())
                .count()
        },
    );
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke")
        || std::env::var("DUET_BENCH_SMOKE").is_ok_and(|v| v == "1");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.as_slice() {
        [] => bench(smoke),
        [fill, repo] if fill == "fill" => {
            if let Err(err) = fill_repo(Path::new(repo)) {
                eprintln!("error: failed to fill the store: {err}");
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!("usage: status_store [fill REPO]");
            std::process::exit(2);
        }
    }
}

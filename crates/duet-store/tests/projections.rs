//! The derived tables built event by event equal the ones rebuilt from the log.

use std::collections::BTreeMap;

use duet_core::lifecycle::StateKind;
use duet_core::protocol::Finding;
use duet_core::protocol::Verdict;
use duet_store::{Durability, Event, NewEvent, OpenOptions, Store};
use rusqlite::Connection;
use rusqlite::types::Value;

/// A small deterministic generator (xorshift), so the history is varied but reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).unwrap()
    }
}

/// Every row of every derived table, all columns, in a fixed order.
fn dump(path: &std::path::Path) -> BTreeMap<&'static str, Vec<Vec<Value>>> {
    let conn = Connection::open(path).unwrap();
    let mut tables = BTreeMap::new();
    for (table, order) in [
        ("tasks", "id"),
        ("messages", "id"),
        ("agents", "task_id, role"),
        ("token_records", "task_id, role, record"),
    ] {
        let mut statement = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
            .unwrap();
        let columns = statement.column_count();
        let rows = statement
            .query_map([], |row| {
                (0..columns).map(|i| row.get::<_, Value>(i)).collect()
            })
            .unwrap()
            .collect::<Result<Vec<Vec<Value>>, _>>()
            .unwrap();
        tables.insert(table, rows);
    }
    tables
}

/// Appends a varied, mostly valid history; invalid events are refused and must leave no trace.
fn random_history(store: &mut Store, rng: &mut Rng, steps: usize) -> (usize, usize) {
    let tasks: Vec<String> = (0..12).map(|i| format!("task-{i:02}")).collect();
    let mut states: BTreeMap<String, StateKind> = BTreeMap::new();
    let mut open_messages: Vec<(String, String)> = Vec::new();
    let mut message_count = 0;
    let (mut accepted, mut refused) = (0, 0);
    for step in 0..steps {
        let at = i64::try_from(step).unwrap() * 250;
        let task = tasks[rng.below(tasks.len())].clone();
        let event = match rng.below(12) {
            0 => Event::TaskQueued {
                title: (rng.below(2) == 0).then(|| format!("title {task}")),
            },
            1 | 2 => {
                let actual = states.get(&task).copied().unwrap_or(StateKind::Queued);
                // Mostly the true current state; sometimes a stale one (refused).
                let from = if rng.below(5) == 0 {
                    StateKind::ALL[rng.below(StateKind::ALL.len())]
                } else {
                    actual
                };
                Event::TaskStateChanged {
                    from,
                    to: StateKind::ALL[rng.below(StateKind::ALL.len())],
                    reason: (rng.below(3) == 0).then(|| format!("reason {step}")),
                }
            }
            3 => Event::AgentLaunched {
                role: ["worker", "reviewer"][rng.below(2)].into(),
                agent: ["claude", "codex"][rng.below(2)].into(),
                session_id: Some(format!("s{step}")),
            },
            4 => Event::TurnEnded {
                role: ["worker", "reviewer"][rng.below(2)].into(),
            },
            5 => Event::AgentExited {
                role: ["worker", "reviewer"][rng.below(2)].into(),
                exit_code: Some(i32::try_from(rng.below(3)).unwrap()),
            },
            6 => {
                message_count += 1;
                Event::MessageAccepted {
                    id: format!("m{message_count}"),
                    from: "worker".into(),
                    to: "reviewer".into(),
                    text: format!("message {step}"),
                }
            }
            7 if !open_messages.is_empty() => {
                let (owner, id) = open_messages[rng.below(open_messages.len())].clone();
                let event = if rng.below(2) == 0 {
                    Event::MessageDelivered { id }
                } else {
                    Event::MessageSuppressed {
                        id,
                        reason: "echo".into(),
                    }
                };
                // Usually on the owning task; sometimes on another (refused).
                let on = if rng.below(4) == 0 {
                    task.clone()
                } else {
                    owner
                };
                let new = NewEvent::for_task(at, on, event);
                match store.append(&new) {
                    Ok(_) => accepted += 1,
                    Err(_) => refused += 1,
                }
                open_messages.retain(|(_, id)| {
                    store
                        .messages(None)
                        .unwrap()
                        .iter()
                        .any(|m| &m.id == id && m.state == duet_store::MessageState::Accepted)
                });
                continue;
            }
            8 => Event::ReviewSubmitted {
                commit: None,
                round: u32::try_from(rng.below(6)).unwrap(),
                verdict: [Verdict::Approve, Verdict::ChangesRequested][rng.below(2)],
                findings: vec![Finding {
                    severity: duet_core::protocol::Severity::Minor,
                    file: None,
                    line: None,
                    text: format!("finding {step}"),
                }],
                verified: vec![],
                not_verified: vec![],
            },
            10 => Event::TokensCounted {
                role: ["worker", "reviewer"][rng.below(2)].into(),
                record: format!("record-{}", rng.below(3)),
                usage: [(
                    "m".to_owned(),
                    duet_core::accounting::TokenCounts {
                        input: step as u64,
                        output: rng.below(100) as u64,
                        cache_read: 0,
                        cache_write: 0,
                    },
                )]
                .into(),
            },
            9 => Event::CommitSeen {
                sha: format!("{step:07x}"),
            },
            _ => Event::CiResult {
                sha: format!("{step:07x}"),
                passed: rng.below(2) == 0,
                summary: None,
            },
        };
        let new = NewEvent::for_task(at, task.clone(), event.clone());
        match store.append(&new) {
            Ok(_) => {
                accepted += 1;
                match event {
                    Event::TaskQueued { .. } => {
                        states.insert(task, StateKind::Queued);
                    }
                    Event::TaskStateChanged { to, .. } => {
                        states.insert(task, to);
                    }
                    Event::MessageAccepted { id, .. } => open_messages.push((task, id)),
                    _ => {}
                }
            }
            Err(_) => refused += 1,
        }
    }
    (accepted, refused)
}

#[test]
fn rebuilding_from_the_log_equals_the_incremental_projections() {
    for seed in [1_u64, 42, 0x9e37_79b9_7f4a_7c15] {
        let dir = tempfile::tempdir().unwrap();
        // Durability does not matter here; skipping the per-commit fsync keeps the test fast.
        let options = OpenOptions {
            durability: Durability::Normal,
            ..OpenOptions::default()
        };
        let mut store = Store::open_with(dir.path().join("state.db"), options).unwrap();
        let (accepted, refused) = random_history(&mut store, &mut Rng(seed), 600);
        // The history must exercise both paths, or the comparison proves little.
        assert!(
            accepted > 200 && refused > 20,
            "seed {seed}: {accepted} / {refused}"
        );
        assert_eq!(store.last_seq().unwrap(), i64::try_from(accepted).unwrap());

        let incremental = dump(store.path());
        assert!(incremental["tasks"].len() >= 10);
        assert!(!incremental["messages"].is_empty() && !incremental["agents"].is_empty());

        store.rebuild_projections().unwrap();
        assert_eq!(dump(store.path()), incremental, "seed {seed}");

        // And the store keeps working incrementally after a rebuild.
        let next = NewEvent::for_task(1, "task-99", Event::TaskQueued { title: None });
        store.append(&next).unwrap();
        let mut expected = incremental;
        let after = dump(store.path());
        expected
            .get_mut("tasks")
            .unwrap()
            .push(after["tasks"].last().unwrap().clone());
        assert_eq!(after, expected);
    }
}

#[test]
fn token_counts_keep_the_latest_of_each_record_and_survive_reopening() {
    use duet_core::accounting::{TokenCounts, total_counts};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let counts = |input| {
        [(
            "m".to_owned(),
            TokenCounts {
                input,
                output: 1,
                cache_read: 0,
                cache_write: 0,
            },
        )]
        .into()
    };
    {
        let mut store = Store::open(&path).unwrap();
        store
            .append(&NewEvent::for_task(
                1,
                "t",
                Event::TaskQueued { title: None },
            ))
            .unwrap();
        for (role, record, input) in [
            ("worker", "a", 10),
            ("worker", "a", 40),
            ("reviewer", "b", 5),
        ] {
            let event = Event::TokensCounted {
                role: role.into(),
                record: record.into(),
                usage: counts(input),
            };
            store.append(&NewEvent::for_task(2, "t", event)).unwrap();
        }
    }
    let store = Store::open(&path).unwrap();
    let tokens = store.task_tokens().unwrap();
    assert_eq!(total_counts(&tokens["t"].usage(Some("worker"))).input, 40);
    assert_eq!(
        total_counts(&tokens["t"].usage(None)),
        TokenCounts {
            input: 45,
            output: 2,
            cache_read: 0,
            cache_write: 0
        }
    );
}

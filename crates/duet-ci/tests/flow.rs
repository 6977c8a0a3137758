//! The parts together, as the engine will drive them: a commit in the task worktree is seen by
//! the watcher, the CI rules start a run, the runner runs the real command on that commit, and
//! the result becomes exactly one message to the worker naming the failing test; the fix
//! commit passes, which is said too, and `ci_gate` opens. Results are also stored as events.

mod common;

use std::time::Duration;

use common::{Fixture, commit};
use duet_ci::{CiRunner, RunConfig, RunEvent, RunPaths, TaskWatch, WatchEvent, WatchOptions};
use duet_core::protocol::Timestamp;
use duet_core::protocol::ci::{CiEffect, CiEvent, CiGate, CiRules, CiState, ci_gate, handle};
use duet_store::{EventFilter, NewEvent, Store};
use tokio::sync::mpsc;

#[tokio::test]
async fn a_failing_commit_then_a_fix_reach_the_worker_once_each() {
    let f = Fixture::new();
    let wt = f.task_worktree("t1");
    let mut store = Store::open(f.duet_dir.join("state.db")).unwrap();
    store
        .append(&NewEvent::for_task(
            0,
            "t1",
            duet_store::Event::TaskQueued { title: None },
        ))
        .unwrap();
    // The project's "test suite": cargo-test-like output, failing while calc.txt says 1+1=3.
    let command = "if grep -q '1+1=2' calc.txt; then echo 'test calc::adds ... ok'; else printf 'test calc::adds ... FAILED\\nthread calc::adds panicked: 3 != 2\\n'; exit 101; fi";
    let rules = CiRules {
        has_command: true,
        repeat_limit: 3,
        no_progress: Duration::from_secs(3600),
    };
    let mut state = CiState {
        task: "t1".into(),
        ..CiState::default()
    };

    let (watch_tx, mut watch_rx) = mpsc::channel(64);
    let spec = TaskWatch {
        task: "t1".into(),
        git_dir: f.root.join(".git"),
        branch: "duet/t1".into(),
        worktree: wt.clone(),
    };
    let _commits = duet_ci::watch_commits(&spec, watch_tx, &WatchOptions::default()).unwrap();
    let (run_tx, mut run_rx) = mpsc::channel(64);
    let runner = CiRunner::new(
        RunPaths {
            repo: f.root.clone(),
            duet_dir: f.duet_dir.clone(),
        },
        RunConfig {
            command: command.into(),
            env: Default::default(),
            timeout: Duration::from_secs(60),
            max_parallel: 1,
            log_limit: 1 << 20,
        },
        run_tx,
    );

    let mut messages = Vec::new();
    let step =
        |state: &mut CiState, event: CiEvent, store: &mut Store, messages: &mut Vec<String>| {
            for effect in handle(state, event, &rules) {
                match effect {
                    CiEffect::StartRun { sha } => runner.start("t1", &sha),
                    CiEffect::CancelRun { .. } => runner.cancel("t1"),
                    CiEffect::Record(result) => {
                        let ev = duet_ci::events::run_finished(&result);
                        store.append(&NewEvent::for_task(1, "t1", ev)).unwrap();
                    }
                    CiEffect::MessageWorker { text, .. } => messages.push(text),
                    CiEffect::NeedsHuman(reason) => panic!("{reason}"),
                }
            }
        };
    // Drives both sources until the run for `want` has finished.
    async fn until_finished(
        want: &str,
        watch_rx: &mut mpsc::Receiver<WatchEvent>,
        run_rx: &mut mpsc::Receiver<RunEvent>,
        mut on: impl FnMut(CiEvent),
    ) {
        loop {
            tokio::select! {
                Some(ev) = watch_rx.recv() => {
                    if let WatchEvent::CommitSeen { sha, .. } = ev {
                        on(CiEvent::HeadMoved { sha, at: Timestamp(0) });
                    }
                }
                Some(ev) = run_rx.recv() => match ev {
                    RunEvent::Started { sha, .. } => on(CiEvent::RunStarted { sha }),
                    RunEvent::Finished { result, .. } => {
                        let done = result.sha == want;
                        on(CiEvent::Finished(result));
                        if done { return; }
                    }
                },
                _ = tokio::time::sleep(Duration::from_secs(60)) => panic!("no result for {want}"),
            }
        }
    }

    let base = f.head();
    until_finished(&base, &mut watch_rx, &mut run_rx, |e| {
        step(&mut state, e, &mut store, &mut messages)
    })
    .await;
    // The base has no calc.txt: it fails too, and is said (it is the head).
    assert_eq!(messages.len(), 1);
    messages.clear();

    let bad = commit(&wt, "calc.txt", "1+1=3\n");
    until_finished(&bad, &mut watch_rx, &mut run_rx, |e| {
        step(&mut state, e, &mut store, &mut messages)
    })
    .await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains("Failing tests (1): calc::adds"),
        "{}",
        messages[0]
    );
    assert!(messages[0].contains("panicked: 3 != 2"), "{}", messages[0]);
    assert!(matches!(
        ci_gate(&state, &bad, &rules),
        CiGate::Failed { .. }
    ));

    let good = commit(&wt, "calc.txt", "1+1=2\n");
    until_finished(&good, &mut watch_rx, &mut run_rx, |e| {
        step(&mut state, e, &mut store, &mut messages)
    })
    .await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(
        messages[1],
        format!("CI check `ci` passed on {} (it failed before).", &good[..7])
    );
    assert_eq!(ci_gate(&state, &good, &rules), CiGate::Ok);

    let stored: Vec<String> = store
        .events(&EventFilter::all().task("t1"))
        .unwrap()
        .into_iter()
        .filter_map(|r| duet_ci::events::result_of(&r.event))
        .map(|r| {
            format!(
                "{} {}",
                &r.sha[..7],
                duet_ci::events::status_name(&r.status)
            )
        })
        .collect();
    assert_eq!(
        stored,
        vec![
            format!("{} failed", &base[..7]),
            format!("{} failed", &bad[..7]),
            format!("{} passed", &good[..7])
        ]
    );
    assert_eq!(
        store.task("t1").unwrap().unwrap().ci.map(|c| c.passed),
        Some(true)
    );
}

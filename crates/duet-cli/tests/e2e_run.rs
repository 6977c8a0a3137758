//! `duet run` end to end: a backlog of 4 tasks with dependencies, `max_parallel = 2`, worked by
//! real claude/codex pairs in tmux against the simulated model (`--simulate`), all done, in an
//! order that respects the dependencies.

mod common;
#[path = "e2e_run_support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::TestEnvironment;
use common::TmuxServerGuard;
use duet_core::lifecycle::StateKind;
use duet_store::{Event, EventFilter, Store};
use duet_testkit::agents::{ChildGuard, require_agents};
use support::{backlog, plain_steps, scopes};

const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Tasks and their dependencies: b after a, d after b and c.
const TASKS: &[(&str, &[&str])] = &[("a", &[]), ("b", &["a"]), ("c", &[]), ("d", &["b", "c"])];

/// One worker (claude) and one reviewer (codex) scope per task; the worker writes and commits
/// a file and asks for review, the reviewer approves, the worker calls mark_done.
fn script() -> String {
    let mut out = String::from("title = \"duet run e2e\"\n\n");
    for (id, _) in TASKS {
        out.push_str(&scopes(id));
    }
    for (id, _) in TASKS {
        out.push_str(&plain_steps(id, None));
    }
    out
}

#[test]
fn four_tasks_with_dependencies_finish_with_two_pairs_at_a_time() {
    if require_agents().is_none() {
        return;
    }
    let env = TestEnvironment::default();
    let repo = std::fs::canonicalize(env.repo_with_commit("repo")).unwrap();
    assert_eq!(env.duet(&repo, &["init"]).code, 0);
    // The default config has max_parallel = 2, which this test is about.
    assert!(
        std::fs::read_to_string(repo.join("duet.toml"))
            .unwrap()
            .contains("\nmax_parallel = 2\n")
    );
    std::fs::write(repo.join("backlog.toml"), backlog(TASKS)).unwrap();
    let script_path = env.root().join("script.toml");
    std::fs::write(&script_path, script()).unwrap();
    let tmux = format!("duet-e2e-run-{}", std::process::id());
    let _guard = TmuxServerGuard(tmux.clone());

    let out_path = env.root().join("run.out");
    let err_path = env.root().join("run.err");
    let mut cmd = env.duet_command();
    cmd.current_dir(&repo)
        .args(["run", "--exit-when-done", "--simulate"])
        .arg(&script_path)
        .args(["--tmux-socket", &tmux])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = ChildGuard::new(cmd.spawn().unwrap());
    let status = child.wait_timeout(RUN_TIMEOUT).unwrap();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let log = std::fs::read_to_string(repo.join(".duet/logs/duet.log")).unwrap_or_default();
    let status = status.unwrap_or_else(|| {
        panic!("duet run did not finish\nstdout:\n{stdout}\nstderr:\n{stderr}\nlog:\n{log}")
    });
    assert_eq!(
        status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}\nlog:\n{log}"
    );
    assert!(stdout.contains("4 of 4 tasks done"), "{stdout}");

    let order = state_changes(&repo);
    // Dependencies: a task is prepared only after each of its dependencies is done.
    for (id, deps) in TASKS {
        let started = position(&order, id, StateKind::Preparing);
        for dep in *deps {
            let dep_done = position(&order, dep, StateKind::Done);
            assert!(
                dep_done < started,
                "{id} started before {dep} was done: {order:?}"
            );
        }
    }
    // Never more than two pairs at once.
    let mut running = 0i32;
    for (_, from, to) in &order {
        let active = |s: &StateKind| {
            matches!(
                s,
                StateKind::Preparing
                    | StateKind::Working
                    | StateKind::Reviewing
                    | StateKind::NeedsHuman
            )
        };
        running += i32::from(active(to)) - i32::from(active(from));
        assert!(running <= 2, "more than two pairs at once: {order:?}");
    }
    // Every task's commit landed on main (rebased, with its trailer); its branch is gone.
    for (id, _) in TASKS {
        assert_eq!(env.landed(&repo, id), [format!("write {id}")]);
    }
}

/// Every state change in the store, in order: (task, from, to).
fn state_changes(repo: &Path) -> Vec<(String, StateKind, StateKind)> {
    let store = Store::open_read_only(repo.join(".duet/state.db")).unwrap();
    store
        .events(&EventFilter::all())
        .unwrap()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::TaskStateChanged { from, to, .. } => {
                Some((r.task_id.unwrap_or_default(), from, to))
            }
            _ => None,
        })
        .collect()
}

fn position(order: &[(String, StateKind, StateKind)], task: &str, to: StateKind) -> usize {
    order
        .iter()
        .position(|(t, _, s)| t == task && *s == to)
        .unwrap_or_else(|| panic!("{task} never reached {to}: {order:?}"))
}

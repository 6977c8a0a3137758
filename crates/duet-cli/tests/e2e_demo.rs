//! `duet demo DIR` end to end: the real `duet` process makes the sample repository and works its
//! three-task backlog with the real `claude` and `codex` CLIs in tmux against the simulated
//! model; every task ends done, in dependency order, and the sample's tests pass.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestEnvironment, TmuxServerGuard};
use duet_core::lifecycle::StateKind;
use duet_store::{Event, EventFilter, EventRecord, Store};
use duet_testkit::agents::{ChildGuard, require_agents};
use duet_testkit::{Outcome, Script, read_log_file};

const DEMO_TIMEOUT: Duration = Duration::from_secs(420);
const TASKS: [&str; 3] = ["word-count", "cli-flag", "readme"];

struct DemoRun {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_demo(env: &TestEnvironment, dir: &Path, tmux_socket: &str) -> DemoRun {
    let bins = require_agents().expect("checked by the caller");
    let out_path = env.root().join("demo.out");
    let err_path = env.root().join("demo.err");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_duet"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("LANG", "C.UTF-8")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("DUET_CLAUDE_BIN", &bins.claude)
        .env("DUET_CODEX_BIN", &bins.codex)
        .current_dir(env.root())
        .arg("demo")
        .arg(dir)
        .args(["--tmux-socket", tmux_socket, "--task-timeout", "200"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = ChildGuard::new(cmd.spawn().unwrap());
    let status = child.wait_timeout(DEMO_TIMEOUT).unwrap();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "duet demo did not finish within {DEMO_TIMEOUT:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    };
    DemoRun {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// `python3 -m unittest` in `dir`: (passed, its report).
fn unittest(dir: &Path) -> (bool, String) {
    let out = Command::new("python3")
        .args(["-B", "-m", "unittest"])
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn state_changes(events: &[EventRecord], task: &str, to: StateKind) -> Vec<i64> {
    events
        .iter()
        .filter(|r| r.task_id.as_deref() == Some(task))
        .filter(|r| matches!(&r.event, Event::TaskStateChanged { to: t, .. } if *t == to))
        .map(|r| r.seq)
        .collect()
}

fn demo_script() -> Script {
    Script::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/demo/script.toml")).unwrap()
}

#[test]
fn the_demo_works_every_task_in_dependency_order_and_the_tests_pass() {
    if require_agents().is_none() {
        return;
    }
    let env = TestEnvironment::default();
    let dir: PathBuf = env.root().join("demo");
    let socket = format!("duet-e2e-demo-{}", std::process::id());
    let _tmux = TmuxServerGuard(socket.clone());
    let run = run_demo(&env, &dir, &socket);
    let dir = std::fs::canonicalize(&dir).unwrap();
    let log_path = dir.join(".duet/logs/simulated-model.jsonl");
    let log = read_log_file(&log_path).unwrap_or_default();
    let unmatched: Vec<_> = log
        .iter()
        .filter(|e| e.outcome == Outcome::Unmatched)
        .collect();
    assert_eq!(
        run.code, 0,
        "duet demo failed\nstdout:\n{}\nstderr:\n{}\nunmatched requests: {unmatched:#?}",
        run.stdout, run.stderr
    );

    // The summary: every task merged, word-count after one change request.
    for (task, rounds, commits) in [("word-count", 2, 2), ("cli-flag", 1, 1), ("readme", 1, 1)] {
        let row = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{task} ")))
            .unwrap_or_else(|| panic!("no summary row for {task}:\n{}", run.stdout));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells[3..],
            ["merged", &rounds.to_string(), &commits.to_string()],
            "{row}"
        );
    }
    let cli_flag_row: Vec<&str> = run
        .stdout
        .lines()
        .find(|l| l.starts_with("cli-flag "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        cli_flag_row[1..3],
        ["codex", "claude"],
        "cli-flag swaps the roles"
    );
    // Each task's progress lines follow its moves: prepared first, then worked on.
    for task in ["word-count", "cli-flag", "readme"] {
        let moves: Vec<&str> = run
            .stdout
            .lines()
            .filter_map(|l| l.trim().strip_prefix(&format!("{task}: ")))
            // Not the backlog's listing of the task at the start ("Count words (claude works, ...").
            .filter(|text| !text.contains(" works, "))
            .collect();
        assert_eq!(
            moves.get(..2),
            Some(&["preparing", "working"][..]),
            "{task}: {moves:?}"
        );
        assert_eq!(moves.last(), Some(&"merged"), "{task}: {moves:?}");
    }
    assert!(
        run.stdout
            .contains(&format!("repository: {}", dir.display())),
        "{}",
        run.stdout
    );

    // Every scripted step was used, none was missing.
    assert!(unmatched.is_empty(), "unmatched requests: {unmatched:#?}");
    let mut used: Vec<usize> = log
        .iter()
        .filter_map(|e| match e.outcome {
            Outcome::Step { index, .. } => Some(index),
            _ => None,
        })
        .collect();
    used.sort_unstable();
    // Every step but a reviewer's last words after its approval: the task ends (and its pair
    // is stopped) as soon as the worker marks it done, which a worker on codex's app-server
    // does before claude's reviewer has sent the request that would take that step.
    let steps = &demo_script().steps;
    let after_approval = |step: &duet_testkit::Step| {
        step.matcher
            .tool_result
            .as_ref()
            .and_then(|r| r.name.as_deref())
            == Some("mcp__duet__submit_review")
    };
    let required: Vec<usize> = (0..steps.len())
        .filter(|&i| !after_approval(&steps[i]))
        .collect();
    let missing: Vec<usize> = required
        .iter()
        .copied()
        .filter(|i| !used.contains(i))
        .collect();
    assert!(
        missing.is_empty(),
        "steps never used: {missing:?} (used {used:?})"
    );
    // The reviewer's finding reached word-count's worker as a message.
    assert!(
        log.iter()
            .any(|e| e.scope.as_deref() == Some("word-count-worker")
                && e.user_text.contains("split on any whitespace")),
        "finding not delivered"
    );

    // The store: each task done once; cli-flag was only prepared after word-count was done.
    let store = Store::open_read_only(dir.join(".duet/state.db")).unwrap();
    let events = store.events(&EventFilter::all()).unwrap();
    for task in TASKS {
        assert_eq!(
            state_changes(&events, task, StateKind::Done).len(),
            1,
            "{task}"
        );
    }
    let word_count_done = state_changes(&events, "word-count", StateKind::Done)[0];
    let cli_flag_preparing = state_changes(&events, "cli-flag", StateKind::Preparing);
    assert!(
        !cli_flag_preparing.is_empty()
            && cli_flag_preparing.iter().all(|seq| *seq > word_count_done),
        "cli-flag prepared at {cli_flag_preparing:?}, word-count done at {word_count_done}"
    );

    // The sample's tests pass on main (everything merged), and at every commit main moved to.
    let (passed, report) = unittest(&dir);
    assert!(passed, "tests fail on main:\n{report}");
    assert!(report.contains("Ran 9 tests"), "{report}");
    // Where main moved: the newest commit of each landing, as the store noted it.
    let landed_tips = common::landed_tips(&events);
    assert_eq!(landed_tips.len(), 3, "{landed_tips:?}");
    for tip in &landed_tips {
        let check = env.root().join(format!("at-{tip}"));
        env.git(
            &dir,
            &[
                "worktree",
                "add",
                "-q",
                "--detach",
                check.to_str().unwrap(),
                tip,
            ],
        );
        let (passed, report) = unittest(&check);
        assert!(passed, "tests fail at {tip}, where main moved:\n{report}");
        env.git(
            &dir,
            &["worktree", "remove", "--force", check.to_str().unwrap()],
        );
    }
    // Each task landed (rebased onto main, its branch deleted, its worktree removed);
    // word-count before cli-flag (which depends on it).
    let position = |task: &str| {
        let subjects = env.landed(&dir, task);
        assert!(!subjects.is_empty(), "{task} not landed");
        let log = env.git(&dir, &["log", "--format=%s", "main"]);
        log.lines()
            .position(|s| s == subjects[0])
            .unwrap_or_else(|| panic!("{task}'s commits not on main"))
    };
    assert!(
        position("cli-flag") < position("word-count"),
        "newest first"
    );
    position("readme");
    assert_eq!(
        env.git(&dir, &["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| l.starts_with("worktree "))
            .count(),
        1,
        "a task worktree is left"
    );
    assert_eq!(
        env.git(&dir, &["status", "--porcelain"]),
        "",
        "main is clean"
    );
}

#[test]
fn a_non_empty_folder_is_refused_and_left_alone() {
    let env = TestEnvironment::default();
    let dir = env.root().join("taken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine\n").unwrap();
    let out = env.duet(env.root(), &["demo", dir.to_str().unwrap()]);
    if out.stderr.contains("is not installed") {
        // Without the agent CLIs the demo stops before looking at the folder (checked below).
        assert!(
            out.stderr.contains("scripts/install-agents.sh"),
            "{}",
            out.stderr
        );
        return;
    }
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("is not empty; nothing was changed"),
        "{}",
        out.stderr
    );
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine\n"
    );
}

#[test]
fn a_missing_agent_cli_is_a_clear_error_with_the_install_hint() {
    let env = TestEnvironment::default();
    let dir = env.root().join("demo");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_duet"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("DUET_CLAUDE_BIN", env.root().join("no-such-claude"))
        .current_dir(env.root())
        .arg("demo")
        .arg(&dir);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: the claude CLI is not installed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: run scripts/install-agents.sh"),
        "{stderr}"
    );
    assert!(!dir.exists(), "nothing is written when a CLI is missing");
}

//! CI runs on real git repositories and real processes: the checkout of exactly the commit, the
//! env, pass / fail / timeout / not found / cancel, the bounded log, one run per task, the
//! parallel bound, no leftovers (processes, zombies, checkouts).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Fixture, commit, processes_in_group};
use duet_ci::{CiRunner, RunConfig, RunEvent, RunPaths, become_subreaper, sweep};
use duet_core::protocol::ci::{CiResult, CiStatus};
use tokio::sync::mpsc;

fn config(command: &str) -> RunConfig {
    RunConfig {
        command: command.into(),
        env: BTreeMap::from([("EXTRA".to_owned(), "from ci.env".to_owned())]),
        timeout: Duration::from_secs(60),
        max_parallel: 1,
        log_limit: 8 * 1024 * 1024,
    }
}

fn paths(f: &Fixture) -> RunPaths {
    RunPaths {
        repo: f.root.clone(),
        duet_dir: f.duet_dir.clone(),
    }
}

async fn finished(rx: &mut mpsc::Receiver<RunEvent>) -> (String, CiResult) {
    loop {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(RunEvent::Finished { task, result })) => return (task, result),
            Ok(Some(RunEvent::Started { .. })) => continue,
            other => panic!("no result: {other:?}"),
        }
    }
}

async fn run_one(f: &Fixture, cfg: RunConfig, task: &str, sha: &str) -> CiResult {
    let (tx, mut rx) = mpsc::channel(16);
    let runner = CiRunner::new(paths(f), cfg, tx);
    runner.start(task, sha);
    finished(&mut rx).await.1
}

#[tokio::test]
async fn runs_the_exact_commit_in_a_throwaway_checkout_with_the_env() {
    let f = Fixture::new();
    let wt = f.task_worktree("t1");
    let first = commit(&wt, "a.txt", "one\n");
    commit(&wt, "a.txt", "two\n"); // the agent's worktree has moved on
    let cmd = "echo \"pwd=$(pwd)\"; echo \"task=$DUET_TASK sha=$DUET_SHA extra=$EXTRA report=$DUET_CI_REPORT\"; cat a.txt";
    let result = run_one(&f, config(cmd), "t1", &first).await;
    assert_eq!(result.status, CiStatus::Passed, "{result:?}");
    let log_path = f.duet_dir.join(format!("ci/t1/{first}.log"));
    assert_eq!(result.log_path.as_deref(), Some(log_path.to_str().unwrap()));
    let log = std::fs::read_to_string(&log_path).unwrap();
    let short = &first[..7];
    assert!(
        log.contains(&format!(
            "pwd={}",
            f.duet_dir.join(format!("ci/work/t1-{short}")).display()
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "task=t1 sha={first} extra=from ci.env report={}",
            f.duet_dir
                .join(format!("ci/t1/{first}.junit.xml"))
                .display()
        )),
        "{log}"
    );
    assert!(
        log.ends_with("one\n"),
        "the commit's content, not the worktree's: {log}"
    );
    // The checkout is gone, from disk and from git's list; the agent's worktree is untouched.
    assert!(!f.duet_dir.join(format!("ci/work/t1-{short}")).exists());
    assert!(!common::git(&f.root, &["worktree", "list"]).contains("ci/work"));
    assert_eq!(std::fs::read_to_string(wt.join("a.txt")).unwrap(), "two\n");
}

#[tokio::test]
async fn a_failure_carries_exit_code_failing_tests_and_an_excerpt() {
    let f = Fixture::new();
    let sha = f.head();
    let cmd = "printf 'running 2 tests\\ntest tests::adds ... ok\\ntest tests::subs ... FAILED\\n\\nthread tests::subs panicked at src/lib.rs:9:5\\n'; exit 101";
    let r = run_one(&f, config(cmd), "t1", &sha).await;
    assert_eq!(
        r.status,
        CiStatus::Failed {
            exit_code: Some(101)
        }
    );
    assert_eq!(r.failing_tests, vec!["tests::subs"]);
    assert!(
        r.excerpt.contains("panicked at src/lib.rs:9:5"),
        "{}",
        r.excerpt
    );
    assert_eq!(r.command.as_deref(), Some(cmd));
}

#[tokio::test]
async fn a_junit_report_wins_over_the_output() {
    let f = Fixture::new();
    let sha = f.head();
    let cmd = r#"echo 'test other ... FAILED'; printf '<testsuites><testsuite name="s"><testcase classname="pkg" name="from_junit"><failure/></testcase></testsuite></testsuites>' > "$DUET_CI_REPORT"; exit 1"#;
    let r = run_one(&f, config(cmd), "t1", &sha).await;
    assert_eq!(r.failing_tests, vec!["pkg::from_junit"]);
}

#[tokio::test]
async fn a_missing_program_could_not_start() {
    let f = Fixture::new();
    let sha = f.head();
    let r = run_one(&f, config("carg-not-here test --workspace"), "t1", &sha).await;
    assert_eq!(
        r.status,
        CiStatus::CouldNotStart {
            reason: "ci.command not found: carg-not-here".into()
        },
        "{r:?}"
    );
    let r = run_one(
        &f,
        config("true"),
        "t1",
        "0123456789012345678901234567890123456789",
    )
    .await;
    match r.status {
        CiStatus::CouldNotStart { reason } => assert!(
            reason.starts_with("failed to check out 0123456 for CI:"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_hanging_command_is_killed_with_its_whole_group_at_the_timeout_and_reaped() {
    become_subreaper().unwrap();
    let f = Fixture::new();
    let sha = f.head();
    let pidfile = f.root.join("pgid");
    let mut cfg = config(&format!(
        "echo $$ > {}; sleep 300 & sleep 300",
        pidfile.display()
    ));
    cfg.timeout = Duration::from_millis(700);
    let r = run_one(&f, cfg, "t1", &sha).await;
    assert_eq!(
        r.status,
        CiStatus::TimedOut {
            after: Duration::from_millis(700)
        }
    );
    assert_eq!(r.status.describe(), "timed out after 700ms");
    let pgid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        processes_in_group(pgid),
        Vec::<String>::new(),
        "processes (or zombies) left"
    );
}

#[tokio::test]
async fn binary_and_huge_output_is_bounded_with_a_marker() {
    let f = Fixture::new();
    let sha = f.head();
    let mut cfg = config("head -c 300000 /dev/urandom; exit 3");
    cfg.log_limit = 100_000;
    let r = run_one(&f, cfg, "t1", &sha).await;
    assert_eq!(r.status, CiStatus::Failed { exit_code: Some(3) });
    let log = std::fs::read(f.duet_dir.join(format!("ci/t1/{sha}.log"))).unwrap();
    let marker = b"\n[duet: log truncated at 100000 bytes; 200000 more bytes were dropped]\n";
    assert_eq!(log.len(), 100_000 + marker.len());
    assert!(log.ends_with(marker));
    assert!(r.excerpt.len() <= duet_ci::report::EXCERPT_MAX_BYTES);
}

#[tokio::test]
async fn a_newer_commit_cancels_the_older_run_of_the_same_task() {
    let f = Fixture::new();
    let wt = f.task_worktree("t1");
    let old = commit(&wt, "a", "1");
    let new = commit(&wt, "a", "2");
    let (tx, mut rx) = mpsc::channel(16);
    let runner = CiRunner::new(paths(&f), config("sleep 300"), tx);
    runner.start("t1", &old);
    match tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap()
        .unwrap()
    {
        RunEvent::Started { sha, .. } => assert_eq!(sha, old),
        other => panic!("{other:?}"),
    }
    runner.start("t1", &new);
    let (_, r) = finished(&mut rx).await;
    assert_eq!(
        (r.sha.as_str(), &r.status),
        (old.as_str(), &CiStatus::Cancelled)
    );
    assert_eq!(runner.running("t1").as_deref(), Some(new.as_str()));
    runner.cancel("t1");
    let (_, r) = finished(&mut rx).await;
    assert_eq!(
        (r.sha.as_str(), &r.status),
        (new.as_str(), &CiStatus::Cancelled)
    );
    assert_eq!(runner.running("t1"), None);
}

#[tokio::test]
async fn max_parallel_bounds_runs_across_tasks() {
    let f = Fixture::new();
    let sha = f.head();
    let marker = f.root.join("concurrent");
    // Each run notes itself in a shared folder and fails if another run is there.
    std::fs::create_dir_all(&marker).unwrap();
    let cmd = format!(
        "m={}; [ -z \"$(ls $m)\" ] || exit 9; touch $m/$DUET_TASK; sleep 0.3; rm $m/$DUET_TASK",
        marker.display()
    );
    let (tx, mut rx) = mpsc::channel(16);
    let runner = CiRunner::new(paths(&f), config(&cmd), tx);
    for task in ["a", "b", "c"] {
        runner.start(task, &sha);
    }
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (task, r) = finished(&mut rx).await;
        assert_eq!(r.status, CiStatus::Passed, "{task}: two ran at once");
        tasks.push(task);
    }
    tasks.sort();
    assert_eq!(tasks, ["a", "b", "c"]);
}

#[tokio::test]
async fn sweep_removes_checkouts_left_by_a_killed_duet() {
    let f = Fixture::new();
    let sha = f.head();
    let left = f.duet_dir.join("ci/work/t9-abcdefg");
    common::git(
        &f.root,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            left.to_str().unwrap(),
            &sha,
        ],
    );
    std::fs::create_dir_all(f.duet_dir.join("ci/work/half-made")).unwrap();
    assert_eq!(sweep(&paths(&f)).await.unwrap(), 2);
    assert!(!left.exists());
    assert!(
        std::fs::read_dir(f.duet_dir.join("ci/work"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(!common::git(&f.root, &["worktree", "list"]).contains("t9-abcdefg"));
}

//! The merge queue's edge against real repositories: done tasks land (with CI on the candidate
//! when set), a conflict goes back to its pair, a dirty checkout holds the queue, and the
//! worktree and branch of a landed task are gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use duet_core::config::{CiConfig, MergeStrategy};
use duet_core::lifecycle::merge_queue::{
    QueueConfig, QueueEffect, QueueEvent, QueueState, TaskInfo,
};
use duet_daemon::merge_edge::{MergeEdge, candidate_ci_event, candidate_ci_paths, drive};
use duet_git::{Repo, WorktreeManager};

const GIT_ENV: [(&str, &str); 6] = [
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_AUTHOR_NAME", "Duet Test"),
    ("GIT_AUTHOR_EMAIL", "duet-test@example.invalid"),
    ("GIT_COMMITTER_NAME", "Duet Test"),
    ("GIT_COMMITTER_EMAIL", "duet-test@example.invalid"),
];

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(GIT_ENV)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim_end()
        .to_owned()
}

fn commit(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
    git(dir, &["add", file]);
    git(dir, &["commit", "-q", "-m", &format!("change {file}")]);
}

/// A repository with tasks `a` and `b` in their worktrees; `a` adds greet.txt, `b` too (with
/// other text: the two conflict).
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap().join("repo");
    std::fs::create_dir(&root).unwrap();
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["config", "user.name", "Duet Test"]);
    git(
        &root,
        &["config", "user.email", "duet-test@example.invalid"],
    );
    commit(&root, "README.md", "hello\n");
    let repo = Repo::discover(&root).unwrap();
    let manager = WorktreeManager::new(&repo, ".duet/worktrees", "duet").unwrap();
    for (task, text) in [("a", "hello from a\n"), ("b", "hello from b\n")] {
        let wt = manager.ensure(task, "main").unwrap().path;
        commit(&wt, "greet.txt", text);
    }
    (dir, root)
}

fn queue(ci: bool) -> QueueState {
    QueueState::new(
        QueueConfig {
            auto: true,
            ci,
            repeat_limit: 3,
            base: "main".into(),
        },
        [],
    )
}

fn done(task: &str) -> QueueEvent {
    QueueEvent::TaskDone(TaskInfo {
        task_id: task.into(),
        title: format!("Task {task}"),
        priority: 0,
        depends_on: vec![],
    })
}

fn edge<'r>(repo: &'r Repo, manager: &'r WorktreeManager<'r>, working: &[&str]) -> MergeEdge<'r> {
    MergeEdge {
        repo,
        manager,
        base: "main".into(),
        strategy: MergeStrategy::Rebase,
        delete_branch: true,
        titles: BTreeMap::new(),
        working: working.iter().map(|w| w.to_string()).collect(),
    }
}

fn kinds(effects: &[QueueEffect]) -> Vec<String> {
    effects
        .iter()
        .map(|effect| match effect {
            QueueEffect::Transition { task_id, event } => format!("{task_id}: {}", event.name()),
            QueueEffect::CleanUp { task_id, .. } => format!("{task_id}: clean-up"),
            QueueEffect::SendBack { task_id, .. } => format!("{task_id}: send-back"),
            QueueEffect::TellPair { task_id, .. } => format!("{task_id}: told"),
            QueueEffect::RunCi { task_id, .. } => format!("{task_id}: run-ci"),
            QueueEffect::Held { .. } => "held".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_done_task_lands_and_a_conflicting_one_goes_back_to_its_pair() {
    let (_dir, root) = setup();
    let repo = Repo::discover(&root).unwrap();
    let manager = WorktreeManager::new(&repo, ".duet/worktrees", "duet").unwrap();
    let mut state = queue(false);

    let effects = drive(&mut state, done("a"), &edge(&repo, &manager, &["b"]));

    assert_eq!(
        kinds(&effects),
        ["a: merge-queued", "a: landed", "a: clean-up", "b: told"]
    );
    let QueueEffect::TellPair { text, .. } = &effects[3] else {
        unreachable!()
    };
    assert!(text.contains("It also changes `greet.txt`"), "{text}");
    assert_eq!(
        std::fs::read_to_string(root.join("greet.txt")).unwrap(),
        "hello from a\n",
        "the clean checkout of main followed"
    );
    assert_eq!(
        git(
            &root,
            &["log", "-1", "--format=%(trailers:key=Duet-Task,valueonly)"]
        ),
        "a"
    );
    assert!(!root.join(".duet/worktrees/a").exists());
    assert!(git(&root, &["branch", "--list", "duet/a"]).is_empty());

    let effects = drive(&mut state, done("b"), &edge(&repo, &manager, &[]));

    assert_eq!(
        kinds(&effects),
        ["b: merge-queued", "b: sent-back", "b: send-back"]
    );
    let QueueEffect::SendBack { text, .. } = &effects[2] else {
        unreachable!()
    };
    assert!(
        text.contains("in `greet.txt`. Task `a` (Task a) just landed"),
        "{text}"
    );
    assert!(
        root.join(".duet/worktrees/b").exists(),
        "the pair's worktree is kept"
    );
    assert_eq!(state.current(), None);
}

/// Tests the candidate with duet-ci's runner, as the engine does, and returns the queue event
/// its run ends in.
fn run_candidate_ci(root: &Path, ci: &CiConfig, task: &str, sha: &str) -> QueueEvent {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (tx, mut runs) = tokio::sync::mpsc::channel(8);
        let config = duet_ci::RunConfig::from_config(ci).unwrap();
        let runner =
            duet_ci::CiRunner::new(candidate_ci_paths(root, &root.join(".duet")), config, tx);
        runner.start(task, sha);
        loop {
            let run = runs.recv().await.expect("the runner reports the run's end");
            if let Some(event) = candidate_ci_event(run) {
                return event;
            }
        }
    })
}

#[test]
fn with_ci_only_a_passing_candidate_lands_and_a_failing_one_goes_back() {
    let (_dir, root) = setup();
    let repo = Repo::discover(&root).unwrap();
    let manager = WorktreeManager::new(&repo, ".duet/worktrees", "duet").unwrap();
    let mut state = queue(true);
    let ci = |command: &str| CiConfig {
        command: Some(command.into()),
        timeout: Duration::from_secs(60),
        env: BTreeMap::new(),
        max_parallel: std::num::NonZeroUsize::MIN,
    };
    let main_before = git(&root, &["rev-parse", "main"]);

    let effects = drive(&mut state, done("a"), &edge(&repo, &manager, &[]));
    assert_eq!(kinds(&effects), ["a: merge-queued", "a: run-ci"]);
    let QueueEffect::RunCi { sha, .. } = &effects[1] else {
        unreachable!()
    };
    assert_eq!(
        git(&root, &["rev-parse", "main"]),
        main_before,
        "untested: not landed"
    );
    // CI runs in the candidate's own checkout.
    let event = run_candidate_ci(&root, &ci("grep -q 'from a' greet.txt"), "a", sha);
    assert!(matches!(event, QueueEvent::CiPassed { .. }), "{event:?}");
    let effects = drive(&mut state, event, &edge(&repo, &manager, &[]));
    assert_eq!(kinds(&effects), ["a: landed", "a: clean-up"]);
    assert_eq!(git(&root, &["rev-parse", "main"]), *sha);

    // `b` rebased would conflict; give it a file of its own instead.
    let wt_b = root.join(".duet/worktrees/b");
    git(&wt_b, &["reset", "-q", "--hard", "main~1"]);
    commit(&wt_b, "b.txt", "b\n");
    let effects = drive(&mut state, done("b"), &edge(&repo, &manager, &[]));
    let QueueEffect::RunCi { sha, .. } = &effects[1] else {
        panic!("{effects:?}")
    };
    let event = run_candidate_ci(&root, &ci("echo 'test_b FAILED'; exit 1"), "b", sha);
    let QueueEvent::CiFailed { excerpt, .. } = &event else {
        panic!("{event:?}")
    };
    assert!(
        excerpt.starts_with("`ci.command` failed with exit code 1 on the candidate"),
        "{excerpt}"
    );
    assert!(excerpt.contains("test_b FAILED"), "{excerpt}");
    let effects = drive(&mut state, event, &edge(&repo, &manager, &[]));
    assert_eq!(kinds(&effects), ["b: sent-back", "b: send-back"]);
    let QueueEffect::SendBack { text, .. } = &effects[1] else {
        unreachable!()
    };
    assert!(
        text.contains("CI fails after rebase onto `main` at"),
        "{text}"
    );
    for scratch in [".duet/merge", ".duet/queue/ci/work"] {
        assert!(
            std::fs::read_dir(root.join(scratch))
                .map(|dir| dir.count() == 0)
                .unwrap_or(true),
            "the scratch checkout in {scratch} is gone"
        );
    }
    let worktrees = git(&root, &["worktree", "list"]);
    assert!(!worktrees.contains(".duet/merge") && !worktrees.contains(".duet/queue"));
}

#[test]
fn a_dirty_checkout_holds_the_queue_and_keeps_the_files() {
    let (_dir, root) = setup();
    let repo = Repo::discover(&root).unwrap();
    let manager = WorktreeManager::new(&repo, ".duet/worktrees", "duet").unwrap();
    let mut state = queue(false);
    std::fs::write(root.join("greet.txt"), "mine, uncommitted\n").unwrap();
    let main_before = git(&root, &["rev-parse", "main"]);

    let effects = drive(&mut state, done("a"), &edge(&repo, &manager, &[]));

    assert_eq!(kinds(&effects)[..2], ["a: merge-queued", "held"]);
    assert_eq!(git(&root, &["rev-parse", "main"]), main_before);
    assert_eq!(
        std::fs::read_to_string(root.join("greet.txt")).unwrap(),
        "mine, uncommitted\n"
    );
    // Once the file is out of the way, the next check lands it.
    std::fs::remove_file(root.join("greet.txt")).unwrap();
    let effects = drive(
        &mut state,
        QueueEvent::CheckoutClean,
        &edge(&repo, &manager, &[]),
    );
    assert_eq!(kinds(&effects), ["Released", "a: landed", "a: clean-up"]);
}

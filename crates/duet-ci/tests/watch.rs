//! notify watchers on real repositories: commits (commit, reset, rebase in the worktree) seen
//! within milliseconds, file activity seen and .gitignore respected, the watch-limit fall-back
//! warned about and still working, inbox files routed, and every watcher stopping when dropped.

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, commit, git};
use duet_ci::{TaskWatch, WatchEvent, WatchOptions, watch_activity, watch_commits, watch_inbox};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

fn spec(f: &Fixture, task: &str, wt: &std::path::Path) -> TaskWatch {
    TaskWatch {
        task: task.into(),
        git_dir: f.root.join(".git"),
        branch: format!("duet/{task}"),
        worktree: wt.to_owned(),
    }
}

async fn next(rx: &mut mpsc::Receiver<WatchEvent>) -> WatchEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no event in time")
        .expect("channel closed")
}

async fn next_commit(rx: &mut mpsc::Receiver<WatchEvent>) -> String {
    loop {
        if let WatchEvent::CommitSeen { task, sha } = next(rx).await {
            assert_eq!(task, "t1");
            return sha;
        }
    }
}

/// No event for a while (used only to show that nothing more comes).
async fn quiet(rx: &mut mpsc::Receiver<WatchEvent>, d: Duration) -> Option<WatchEvent> {
    tokio::time::timeout(d, rx.recv()).await.ok().flatten()
}

#[tokio::test]
async fn commits_resets_and_rebases_are_seen_with_the_sha_from_git() {
    let f = Fixture::new();
    let wt = f.task_worktree("t1");
    let (tx, mut rx) = mpsc::channel(16);
    let _w = watch_commits(&spec(&f, "t1", &wt), tx, &WatchOptions::default()).unwrap();
    assert_eq!(
        next_commit(&mut rx).await,
        f.head(),
        "the current head first"
    );

    let started = Instant::now();
    let one = commit(&wt, "a.txt", "1");
    assert_eq!(next_commit(&mut rx).await, one);
    let latency = started.elapsed();
    let two = commit(&wt, "a.txt", "2");
    assert_eq!(next_commit(&mut rx).await, two);
    git(&wt, &["reset", "-q", "--hard", &one]);
    assert_eq!(next_commit(&mut rx).await, one);
    // A commit on main, then a rebase of the task branch onto it.
    commit(&f.root, "main.txt", "m");
    git(&wt, &["rebase", "-q", "main"]);
    let rebased = git(&wt, &["rev-parse", "HEAD"]);
    assert_eq!(next_commit(&mut rx).await, rebased);
    // A commit made from the main worktree with `git branch -f` (not in the task worktree).
    git(&f.root, &["update-ref", "refs/heads/duet/t1", &f.head()]);
    // The worktree's HEAD follows its branch: seen as well.
    assert_eq!(next_commit(&mut rx).await, f.head());
    eprintln!("commit -> CommitSeen (incl. the git commit itself): {latency:?}");
    assert!(latency < Duration::from_secs(2), "{latency:?}");
}

#[tokio::test]
async fn packed_refs_updates_are_seen() {
    let f = Fixture::new();
    let wt = f.task_worktree("t1");
    let (tx, mut rx) = mpsc::channel(16);
    // The worktree is gone (the task ended oddly): the branch is read from the ref store.
    let mut s = spec(&f, "t1", &wt);
    s.worktree = f.root.join("no-such-worktree");
    let _w = watch_commits(&s, tx, &WatchOptions::default()).unwrap();
    assert_eq!(next_commit(&mut rx).await, f.head());
    let one = commit(&wt, "a.txt", "1");
    assert_eq!(next_commit(&mut rx).await, one);
    git(&f.root, &["pack-refs", "--all"]);
    assert!(!f.root.join(".git/refs/heads/duet/t1").exists());
    assert!(
        quiet(&mut rx, Duration::from_millis(300)).await.is_none(),
        "packing moves nothing"
    );
    git(&f.root, &["update-ref", "refs/heads/duet/t1", &f.head()]);
    assert_eq!(next_commit(&mut rx).await, f.head());
}

#[tokio::test]
async fn dropping_a_watcher_stops_it() {
    let f = Fixture::new();
    let wt = f.task_worktree("t1");
    let (tx, mut rx) = mpsc::channel(16);
    let w = watch_commits(&spec(&f, "t1", &wt), tx.clone(), &WatchOptions::default()).unwrap();
    let a = watch_activity("t1", &wt, tx.clone(), &WatchOptions::default()).unwrap();
    let i = watch_inbox("t1", &f.duet_dir, tx, &WatchOptions::default()).unwrap();
    next_commit(&mut rx).await;
    drop((w, a, i));
    commit(&wt, "a.txt", "after drop");
    // Every sender is gone with its watcher: the channel closes instead of delivering.
    let rest = tokio::time::timeout(WAIT, async {
        let mut rest = Vec::new();
        while let Some(e) = rx.recv().await {
            rest.push(format!("{e:?}"));
        }
        rest
    })
    .await
    .expect("the channel stayed open: a watcher still runs");
    assert!(rest.iter().all(|e| !e.contains("CommitSeen")), "{rest:?}");
}

#[tokio::test]
async fn file_changes_are_activity_but_ignored_and_git_files_are_not() {
    let f = Fixture::new();
    let wt = f.task_worktree("t1");
    std::fs::write(wt.join(".gitignore"), "target/\n*.log\n").unwrap();
    std::fs::create_dir_all(wt.join("target/debug")).unwrap();
    std::fs::create_dir_all(wt.join("src")).unwrap();
    let opts = WatchOptions {
        activity_debounce: Duration::from_millis(50),
        ..WatchOptions::default()
    };
    let (tx, mut rx) = mpsc::channel(16);
    let w = watch_activity("t1", &wt, tx, &opts).unwrap();
    assert!(!w.is_polling());
    std::fs::write(wt.join("target/debug/big.o"), "x").unwrap();
    std::fs::write(wt.join("build.log"), "x").unwrap();
    git(&wt, &["status", "--short"]); // touches .git files only
    assert!(
        quiet(&mut rx, Duration::from_millis(400)).await.is_none(),
        "ignored paths are not activity"
    );
    std::fs::write(wt.join("src/lib.rs"), "fn main() {}").unwrap();
    assert!(matches!(next(&mut rx).await, WatchEvent::Activity { task } if task == "t1"));
    // A folder made after the start is watched too.
    std::fs::create_dir_all(wt.join("src/new")).unwrap();
    let _ = quiet(&mut rx, Duration::from_millis(200)).await;
    std::fs::write(wt.join("src/new/mod.rs"), "x").unwrap();
    assert!(matches!(next(&mut rx).await, WatchEvent::Activity { .. }));
}

#[tokio::test]
async fn at_the_watch_limit_it_warns_and_falls_back_to_polling() {
    let f = Fixture::new();
    let wt = f.task_worktree("t1");
    for d in ["a", "b", "c"] {
        std::fs::create_dir_all(wt.join(d)).unwrap();
    }
    let opts = WatchOptions {
        native_watch_budget: 2,
        poll_interval: Duration::from_millis(100),
        activity_debounce: Duration::from_millis(50),
        ..WatchOptions::default()
    };
    let (tx, mut rx) = mpsc::channel(16);
    let w = watch_activity("t1", &wt, tx, &opts).unwrap();
    assert!(w.is_polling());
    match next(&mut rx).await {
        WatchEvent::Warning { task, message } => {
            assert_eq!(task, "t1");
            assert!(message.contains("fs.inotify.max_user_watches"), "{message}");
            assert!(message.contains("polling every 100ms"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(wt.join("c/file.rs"), "x").unwrap();
    assert!(
        matches!(next(&mut rx).await, WatchEvent::Activity { .. }),
        "polling still sees changes"
    );
}

#[tokio::test]
async fn inbox_files_become_results_and_bad_ones_are_rejected() {
    let f = Fixture::new();
    let sha = f.head();
    let inbox = duet_ci::inbox_dir(&f.duet_dir, "t1");
    std::fs::create_dir_all(&inbox).unwrap();
    // Written while duet was down: read at start.
    std::fs::write(
        inbox.join("early.json"),
        format!(r#"{{"sha":"{sha}","check":"early","status":"pass"}}"#),
    )
    .unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let _w = watch_inbox("t1", &f.duet_dir, tx, &WatchOptions::default()).unwrap();
    match next(&mut rx).await {
        WatchEvent::InboxResult { task, file } => {
            assert_eq!((task.as_str(), file.result.check.as_str()), ("t1", "early"));
            duet_ci::consume(&file).unwrap();
        }
        other => panic!("{other:?}"),
    }
    let tmp = inbox.join(".r.json.tmp");
    std::fs::write(
        &tmp,
        format!(r#"{{"sha":"{sha}","check":"jenkins","status":"fail","failing_tests":["t::x"]}}"#),
    )
    .unwrap();
    std::fs::rename(&tmp, inbox.join("r.json")).unwrap();
    loop {
        match next(&mut rx).await {
            WatchEvent::InboxResult { file, .. } if file.result.check == "jenkins" => {
                assert_eq!(file.result.failing_tests, vec!["t::x"]);
                duet_ci::consume(&file).unwrap();
                break;
            }
            WatchEvent::InboxResult { .. } => continue,
            other => panic!("{other:?}"),
        }
    }
    std::fs::write(inbox.join("bad.json"), "{").unwrap();
    loop {
        match next(&mut rx).await {
            WatchEvent::InboxRejected { rejected, .. } => {
                assert!(
                    rejected.error.to_string().starts_with("bad.json:1:1: EOF"),
                    "{rejected}"
                );
                break;
            }
            WatchEvent::InboxResult { .. } => continue,
            other => panic!("{other:?}"),
        }
    }
}

//! Benchmark of the CI edges: (1) a result file written into a task's CI inbox → the message for
//! the worker ready (the watcher's `InboxResult` → `protocol::ci::handle` → `MessageWorker`);
//! (2) a branch moved (`git update-ref`) → `CommitSeen`; (3) the idle cost of watching 20 task
//! worktrees (commits + activity + inbox): this process's CPU time over an idle window.
//!
//! `cargo run -p duet-ci --example ci_bench [-- --idle-secs 60 --rounds 50]`, or scripts/bench-ci.sh.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use duet_ci::{TaskWatch, WatchEvent, WatchOptions, watch_activity, watch_commits, watch_inbox};
use duet_core::protocol::Timestamp;
use duet_core::protocol::ci::{CiEffect, CiEvent, CiRules, CiState, handle};
use duet_testkit::hermetic::{GIT_ENV, git_repo};
use tokio::sync::mpsc;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(GIT_ENV)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cpu_ticks() -> u64 {
    // utime + stime of this process, in clock ticks (fields 14 and 15 of /proc/self/stat).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name}: n={} median={:.2?} p90={:.2?} max={:.2?}",
        samples.len(),
        p(0.5),
        p(0.9),
        samples[samples.len() - 1]
    );
}

#[tokio::main]
async fn main() {
    let rounds = arg("--rounds", 50) as usize;
    let idle_secs = arg("--idle-secs", 60);
    let tasks = arg("--tasks", 20) as usize;
    let (_dir, root) = git_repo("duet-ci-bench-");
    let duet_dir = root.join(".duet");
    let opts = WatchOptions::default();
    let (tx, mut rx) = mpsc::channel(256);
    let mut keep = Vec::new();
    for i in 0..tasks {
        let task = format!("t{i}");
        let wt = duet_dir.join("worktrees").join(&task);
        git(
            &root,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                &format!("duet/{task}"),
                wt.to_str().unwrap(),
            ],
        );
        for d in ["src", "tests", "docs"] {
            std::fs::create_dir_all(wt.join(d)).unwrap();
        }
        let spec = TaskWatch {
            task: task.clone(),
            git_dir: root.join(".git"),
            branch: format!("duet/{task}"),
            worktree: wt.clone(),
        };
        keep.push((
            watch_commits(&spec, tx.clone(), &opts).unwrap(),
            watch_activity(&task, &wt, tx.clone(), &opts).unwrap(),
            watch_inbox(&task, &duet_dir, tx.clone(), &opts).unwrap(),
        ));
    }
    let head = git(&root, &["rev-parse", "HEAD"]);
    // The initial CommitSeen of every task.
    for _ in 0..tasks {
        rx.recv().await.unwrap();
    }

    // (1) inbox file → message ready.
    let rules = CiRules {
        has_command: false,
        repeat_limit: 3,
        no_progress: Duration::from_secs(3600),
    };
    let inbox = duet_ci::inbox_dir(&duet_dir, "t0");
    let mut samples = Vec::new();
    for round in 0..rounds {
        let mut state = CiState {
            task: "t0".into(),
            ..CiState::default()
        };
        handle(
            &mut state,
            CiEvent::HeadMoved {
                sha: head.clone(),
                at: Timestamp(0),
            },
            &rules,
        );
        let tmp = inbox.join(format!(".r{round}.json.tmp"));
        std::fs::write(&tmp, format!(r#"{{"sha":"{head}","check":"ext{round}","status":"fail","failing_tests":["t::x"]}}"#)).unwrap();
        let started = Instant::now();
        std::fs::rename(&tmp, inbox.join(format!("r{round}.json"))).unwrap();
        loop {
            match rx.recv().await.unwrap() {
                WatchEvent::InboxResult { file, .. } => {
                    let effects =
                        handle(&mut state, CiEvent::Finished(file.result.clone()), &rules);
                    duet_ci::consume(&file).unwrap();
                    if effects
                        .iter()
                        .any(|e| matches!(e, CiEffect::MessageWorker { .. }))
                    {
                        samples.push(started.elapsed());
                        break;
                    }
                }
                _ => continue,
            }
        }
    }
    report("inbox result written -> worker message ready", samples);

    // (2) branch moved -> CommitSeen (includes the `git update-ref` process itself).
    let wt = duet_dir.join("worktrees/t1");
    let mut shas = Vec::new();
    for i in 0..rounds.min(20) {
        std::fs::write(wt.join("src/f.txt"), format!("{i}")).unwrap();
        git(&wt, &["add", "."]);
        git(&wt, &["commit", "-q", "-m", "x"]);
        shas.push(git(&wt, &["rev-parse", "HEAD"]));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    while rx.try_recv().is_ok() {}
    let mut samples = Vec::new();
    // Back through history, newest first; the current HEAD was already seen.
    for sha in shas.iter().rev().skip(1) {
        let started = Instant::now();
        git(&root, &["update-ref", "refs/heads/duet/t1", sha]);
        loop {
            if let WatchEvent::CommitSeen { sha: seen, .. } = rx.recv().await.unwrap()
                && &seen == sha
            {
                samples.push(started.elapsed());
                break;
            }
        }
    }
    report("git update-ref -> CommitSeen", samples);

    // (3) idle cost.
    tokio::time::sleep(Duration::from_secs(1)).await;
    while rx.try_recv().is_ok() {}
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let before = cpu_ticks();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let cpu = (cpu_ticks() - before) as f64 / ticks_per_sec;
    let wall = started.elapsed().as_secs_f64();
    let mut stray = 0;
    while rx.try_recv().is_ok() {
        stray += 1;
    }
    println!(
        "idle, {tasks} tasks watched (commits + activity + inbox): {cpu:.2}s CPU in {wall:.0}s = {:.3}% of a core ({stray} events meanwhile)",
        100.0 * cpu / wall
    );
    drop(keep);
}

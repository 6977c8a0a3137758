//! Shared test plumbing: a real git repository with a task branch and worktree.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use duet_testkit::hermetic::{GIT_ENV, git_repo};

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(GIT_ENV)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Writes `file` and commits it in `dir`; returns the new HEAD.
pub fn commit(dir: &Path, file: &str, content: &str) -> String {
    std::fs::write(dir.join(file), content).unwrap();
    git(dir, &["add", file]);
    git(dir, &["commit", "-q", "-m", &format!("write {file}")]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A repository with `.duet/` and a task worktree on branch `duet/<task>`.
pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub duet_dir: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let (dir, root) = git_repo("duet-ci-");
        let duet_dir = root.join(".duet");
        std::fs::create_dir_all(&duet_dir).unwrap();
        std::fs::write(root.join(".git/info/exclude"), "/.duet/\n").unwrap();
        Fixture {
            _dir: dir,
            root,
            duet_dir,
        }
    }

    /// Creates branch `duet/<task>` and its worktree under `.duet/worktrees/<task>`.
    pub fn task_worktree(&self, task: &str) -> PathBuf {
        let wt = self.duet_dir.join("worktrees").join(task);
        let branch = format!("duet/{task}");
        git(
            &self.root,
            &["worktree", "add", "-q", "-b", &branch, wt.to_str().unwrap()],
        );
        wt
    }

    pub fn head(&self) -> String {
        git(&self.root, &["rev-parse", "HEAD"])
    }
}

/// Processes whose process group is `pgid` (alive or zombie).
pub fn processes_in_group(pgid: i32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            found.push(stat.clone());
        }
    }
    found
}

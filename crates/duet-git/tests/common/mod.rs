//! Temporary real repositories for the duet-git tests, driven with the `git` binary under an
//! isolated configuration (set per spawned command, never on the test process).

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

pub struct TestRepo {
    /// Keeps the temporary folder alive; everything lives below it.
    _dir: TempDir,
    /// The main working directory, canonicalised.
    pub path: PathBuf,
    home: PathBuf,
}

impl TestRepo {
    /// A repository on branch `main` with one commit (README.md).
    pub fn new() -> Self {
        let repo = Self::empty();
        repo.write("README.md", "hello\n");
        repo.git(&["add", "README.md"]);
        repo.git(&["commit", "-q", "-m", "first"]);
        repo
    }

    /// A repository on (unborn) branch `main` with no commits.
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let home = root.join("home");
        std::fs::create_dir(&home).unwrap();
        let path = root.join("repo");
        let repo = Self {
            _dir: dir,
            path,
            home,
        };
        run_git(&repo.home, &root, &["init", "-q", "-b", "main", "repo"]);
        repo.git(&["config", "user.name", "Test User"]);
        repo.git(&["config", "user.email", "test@example.invalid"]);
        repo
    }

    /// A folder next to the repository (inside the temporary folder).
    pub fn sibling(&self, name: &str) -> PathBuf {
        self.path.parent().unwrap().join(name)
    }

    /// Runs git in the main working directory and returns trimmed stdout.
    pub fn git(&self, args: &[&str]) -> String {
        run_git(&self.home, &self.path, args)
    }

    /// Runs git in the main working directory with `input` on stdin; returns trimmed stdout.
    pub fn git_with_input(&self, args: &[&str], input: &str) -> String {
        run_git_full(&self.home, &self.path, args, Some(input))
    }

    /// Runs git in `dir` and returns trimmed stdout.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        run_git(&self.home, dir, args)
    }

    pub fn write(&self, relative: &str, text: &str) {
        write_file(&self.path.join(relative), text);
    }

    /// Writes, stages and commits one file in `dir`; returns the new commit's short id.
    pub fn commit_in(&self, dir: &Path, relative: &str, text: &str) -> String {
        write_file(&dir.join(relative), text);
        self.git_in(dir, &["add", relative]);
        self.git_in(dir, &["commit", "-q", "-m", &format!("change {relative}")]);
        self.git_in(dir, &["rev-parse", "--short", "HEAD"])
    }
}

pub fn write_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn run_git(home: &Path, dir: &Path, args: &[&str]) -> String {
    run_git_full(home, dir, args, None)
}

fn run_git_full(home: &Path, dir: &Path, args: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test User")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test User")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim_end()
        .to_owned()
}

//! Hermetic test plumbing shared across crates: git kept away from the user's and the system's
//! config, temporary repositories with one commit, bounded process runs, and waiting for files
//! that other processes write.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::agents::ChildGuard;

/// Env that keeps git away from the user's and the system's config and fixes the identity;
/// pass it per spawned command (`Command::envs`), never to the test process itself.
pub const GIT_ENV: [(&str, &str); 6] = [
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_AUTHOR_NAME", "Duet Test"),
    ("GIT_AUTHOR_EMAIL", "duet-test@example.invalid"),
    ("GIT_COMMITTER_NAME", "Duet Test"),
    ("GIT_COMMITTER_EMAIL", "duet-test@example.invalid"),
];

/// [`GIT_ENV`] as owned pairs, for env lists that get more entries appended.
pub fn git_env() -> Vec<(String, String)> {
    GIT_ENV
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// What the README of a [`git_repo`] holds.
pub const README: &str = "# test repo\n";

/// A temporary git repository (directory named `<prefix>…`) on branch `main` with one commit
/// (`README.md` holding [`README`]), and its canonical path.
pub fn git_repo(prefix: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::write(root.join("README.md"), README).unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "README.md"],
        &["commit", "-q", "-m", "init"],
    ] {
        let status = Command::new("git")
            .args(args)
            .current_dir(&root)
            .envs(GIT_ENV)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?} failed");
    }
    (dir, root)
}

/// Runs `cmd` with stdin closed, collecting its output; kills it (and fails) after `timeout`.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard::new(cmd.spawn().expect("failed to spawn the command"));
    let mut stdout = guard.child_mut().stdout.take().unwrap();
    let mut stderr = guard.child_mut().stderr.take().unwrap();
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = guard.wait_timeout(timeout).unwrap();
    let stdout = out_reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    let Some(status) = status else {
        panic!(
            "{cmd:?} did not finish within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Panics with the output when the run failed.
pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} exited with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Polls `path` until `done(content)` holds (hooks write files; there is no event to await
/// from outside their process). Returns the content.
pub fn wait_for_file(path: &Path, timeout: Duration, mut done: impl FnMut(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let content = std::fs::read_to_string(path).unwrap_or_default();
        if done(&content) {
            return content;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not reach the awaited state within {timeout:?}; content:\n{content}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_repo_has_one_commit_on_main() {
        let (_dir, root) = git_repo("duet-hermetic-test-");
        let out = Command::new("git")
            .args(["log", "--format=%an %s", "main"])
            .current_dir(&root)
            .envs(GIT_ENV)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "Duet Test init\n");
    }

    #[test]
    #[should_panic(expected = "did not finish within")]
    fn run_bounded_fails_a_command_that_overstays() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        run_bounded(cmd, Duration::from_millis(200));
    }

    #[test]
    fn wait_for_file_returns_the_awaited_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "ready\n").unwrap();
        let content = wait_for_file(&path, Duration::from_secs(5), |c| c.contains("ready"));
        assert_eq!(content, "ready\n");
    }
}

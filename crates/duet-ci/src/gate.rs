//! One run of a gate command (the proof, or the TDD gate's test command) in a throw-away
//! detached worktree under `.duet/ci/work/` (so `sweep` removes what a killed duet left), with
//! the same process-group, timeout and bounded-log rules as CI runs; optionally with files
//! taken from another commit first (the TDD gate's test files on the base). Also the git
//! question the TDD gate asks: which files changed since the base.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use duet_core::protocol::ci::CiStatus;
use duet_core::protocol::short_commit;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::run::{Outcome, RunPaths, Spawn, add_worktree, remove_worktree, spawn_and_wait};
use crate::{report, run};

/// What to run, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateRun {
    pub task: String,
    /// Names the checkout and the log (`proof`, `tdd-base`, `tdd-head`).
    pub label: String,
    /// The commit checked out.
    pub checkout: String,
    /// Files taken from this commit into the checkout before the command runs.
    pub overlay: Option<(String, Vec<String>)>,
    pub command: String,
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
}

/// How a gate run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateOutcome {
    pub status: CiStatus,
    /// A bounded excerpt of the output (around the first error, or its end when it passed).
    pub excerpt: String,
    pub log_path: PathBuf,
    pub duration_ms: u64,
}

/// The log of a gate run: `.duet/ci/<task>/<sha>.<label>.log`.
pub fn gate_log_path(paths: &RunPaths, run: &GateRun) -> PathBuf {
    paths
        .duet_dir
        .join("ci")
        .join(&run.task)
        .join(format!("{}.{}.log", run.checkout, run.label))
}

/// Runs one gate command; a cancel (the task ended) gives `Cancelled`.
pub async fn run_gate(
    paths: &RunPaths,
    run: &GateRun,
    mut cancel: watch::Receiver<bool>,
) -> GateOutcome {
    let began = Instant::now();
    let log_path = gate_log_path(paths, run);
    let work = paths.work_root().join(format!(
        "{}-{}-{}",
        run.task,
        run.label,
        short_commit(&run.checkout)
    ));
    let outcome = in_checkout(paths, run, &work, &log_path, &mut cancel).await;
    let log = run::read_log(&log_path);
    let status = match outcome {
        Outcome::Exited(Some(0)) => CiStatus::Passed,
        Outcome::Exited(Some(127)) if log.contains("not found") => CiStatus::CouldNotStart {
            reason: format!(
                "command not found: {}",
                run::missing_program(&log, &run.command)
            ),
        },
        Outcome::Exited(code) => CiStatus::Failed { exit_code: code },
        Outcome::TimedOut => CiStatus::TimedOut { after: run.timeout },
        Outcome::Cancelled => CiStatus::Cancelled,
        Outcome::CouldNotStart(reason) => CiStatus::CouldNotStart { reason },
    };
    let excerpt = if status.failed() {
        report::excerpt(&log)
    } else {
        tail(&log, 2000)
    };
    GateOutcome {
        status,
        excerpt,
        log_path,
        duration_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

async fn in_checkout(
    paths: &RunPaths,
    run: &GateRun,
    work: &Path,
    log_path: &Path,
    cancel: &mut watch::Receiver<bool>,
) -> Outcome {
    if let Some(parent) = log_path.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        return Outcome::CouldNotStart(format!("failed to create {}: {e}", parent.display()));
    }
    if let Err(e) = add_worktree(&paths.repo, work, &run.checkout).await {
        return Outcome::CouldNotStart(format!(
            "failed to check out {}: {e}",
            short_commit(&run.checkout)
        ));
    }
    if let Some((from, files)) = &run.overlay
        && !files.is_empty()
    {
        let mut args = vec!["checkout", from.as_str(), "--"];
        args.extend(files.iter().map(String::as_str));
        if let Err(e) = run::git(work, &args).await {
            remove_worktree(&paths.repo, work).await;
            return Outcome::CouldNotStart(format!(
                "failed to take the test files from {}: {e}",
                short_commit(from)
            ));
        }
    }
    let spawn = Spawn {
        command: &run.command,
        env: &run.env,
        timeout: run.timeout,
        log_limit: run::DEFAULT_LOG_LIMIT,
        work,
        log_path,
        vars: vec![
            ("DUET_TASK", run.task.clone()),
            ("DUET_SHA", run.checkout.clone()),
            ("DUET_GATE", run.label.clone()),
        ],
    };
    let outcome = spawn_and_wait(&spawn, None, cancel).await;
    remove_worktree(&paths.repo, work).await;
    outcome
}

/// The last `max` bytes of `log` (on a character boundary).
fn tail(log: &str, max: usize) -> String {
    let mut start = log.len().saturating_sub(max);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    log[start..].to_owned()
}

/// The files changed from `base` to `head` that still exist at `head` (added, modified,
/// renamed), `/`-separated from the repository root.
pub async fn changed_files(repo: &Path, base: &str, head: &str) -> std::io::Result<Vec<String>> {
    let out = git_output(
        repo,
        &[
            "diff",
            "--name-only",
            "--no-renames",
            "--diff-filter=d",
            base,
            head,
        ],
    )
    .await?;
    Ok(out
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

async fn git_output(repo: &Path, args: &[&str]) -> std::io::Result<String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

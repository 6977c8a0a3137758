//! Runs `ci.command` for (task, sha) in a throw-away detached worktree of exactly that commit
//! (`.duet/ci/work/<task>-<short sha>`), in its own process group killed whole at the timeout or
//! on cancel, at most `max_parallel` runs at once, one per task (a newer commit cancels the older
//! run); the log goes to `.duet/ci/<task>/<sha>.log`, bounded.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use duet_core::config::CiConfig;
use duet_core::protocol::ci::{CiResult, CiStatus, OWN_CHECK};
use duet_core::protocol::short_commit;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use regex::Regex;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::report;

/// The log of one run is cut after this many bytes (then a marker; the rest is read and dropped).
pub const DEFAULT_LOG_LIMIT: u64 = 8 * 1024 * 1024;

/// How to run CI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    pub command: String,
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    pub max_parallel: usize,
    pub log_limit: u64,
}

impl RunConfig {
    /// From `[ci]`; `None` when `ci.command` is not set.
    pub fn from_config(ci: &CiConfig) -> Option<RunConfig> {
        Some(RunConfig {
            command: ci.command.clone()?,
            env: ci.env.clone(),
            timeout: ci.timeout,
            max_parallel: ci.max_parallel.get(),
            log_limit: DEFAULT_LOG_LIMIT,
        })
    }
}

/// Where things go: the repository (any worktree of it) and duet's folder (`.duet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPaths {
    pub repo: PathBuf,
    pub duet_dir: PathBuf,
}

impl RunPaths {
    pub fn work_root(&self) -> PathBuf {
        self.duet_dir.join("ci").join("work")
    }

    pub fn work_dir(&self, task: &str, sha: &str) -> PathBuf {
        self.work_root()
            .join(format!("{task}-{}", short_commit(sha)))
    }

    pub fn log_path(&self, task: &str, sha: &str) -> PathBuf {
        self.duet_dir
            .join("ci")
            .join(task)
            .join(format!("{sha}.log"))
    }

    pub fn report_path(&self, task: &str, sha: &str) -> PathBuf {
        self.duet_dir
            .join("ci")
            .join(task)
            .join(format!("{sha}.junit.xml"))
    }
}

/// What the runner reports, in order: `Started` (a permit held, the checkout made, the command
/// spawned), then exactly one `Finished` per `start` (also for a run cancelled while queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    Started {
        task: String,
        sha: String,
        log_path: PathBuf,
    },
    Finished {
        task: String,
        result: CiResult,
    },
}

/// Runs CI for many tasks: one run per task at a time, `max_parallel` across tasks.
#[derive(Debug, Clone)]
pub struct CiRunner {
    inner: Arc<Inner>,
}

/// A task's current run: its generation, its sha, and the switch that cancels it.
type Current = (u64, String, watch::Sender<bool>);

#[derive(Debug)]
struct Inner {
    paths: RunPaths,
    config: RunConfig,
    permits: Arc<Semaphore>,
    /// task -> (generation, sha, cancel switch) of its current run.
    current: Mutex<HashMap<String, Current>>,
    next_gen: Mutex<u64>,
    events: mpsc::Sender<RunEvent>,
}

impl CiRunner {
    /// Call inside a tokio runtime. Events go to `events` (keep it drained).
    pub fn new(paths: RunPaths, config: RunConfig, events: mpsc::Sender<RunEvent>) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_parallel.max(1)));
        CiRunner {
            inner: Arc::new(Inner {
                paths,
                config,
                permits,
                current: Mutex::new(HashMap::new()),
                next_gen: Mutex::new(0),
                events,
            }),
        }
    }

    /// Starts CI on `sha` for `task`, cancelling the task's older run (if on another sha).
    /// A second start for the sha already running does nothing.
    pub fn start(&self, task: &str, sha: &str) {
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let generation = {
            let mut next = self.inner.next_gen.lock().unwrap();
            *next += 1;
            *next
        };
        {
            let mut current = self.inner.current.lock().unwrap();
            if let Some((_, running, _)) = current.get(task)
                && running == sha
            {
                return;
            }
            if let Some((_, _, old)) =
                current.insert(task.to_owned(), (generation, sha.to_owned(), cancel_tx))
            {
                let _ = old.send(true);
            }
        }
        let inner = self.inner.clone();
        let (task, sha) = (task.to_owned(), sha.to_owned());
        tokio::spawn(async move {
            let result = inner.run(&task, &sha, cancel_rx).await;
            {
                let mut current = inner.current.lock().unwrap();
                if current.get(&task).is_some_and(|(g, _, _)| *g == generation) {
                    current.remove(&task);
                }
            }
            let _ = inner.events.send(RunEvent::Finished { task, result }).await;
        });
    }

    /// Cancels the task's run, if any (the task ended, or a newer head is not to be run).
    pub fn cancel(&self, task: &str) {
        if let Some((_, _, cancel)) = self.inner.current.lock().unwrap().remove(task) {
            let _ = cancel.send(true);
        }
    }

    /// The sha the task's CI runs (or waits to run) on.
    pub fn running(&self, task: &str) -> Option<String> {
        let current = self.inner.current.lock().unwrap();
        current.get(task).map(|(_, sha, _)| sha.clone())
    }

    /// Cancels every run (at shutdown); their `Finished { Cancelled }` still come.
    pub fn cancel_all(&self) {
        for (_, (_, _, cancel)) in self.inner.current.lock().unwrap().drain() {
            let _ = cancel.send(true);
        }
    }
}

impl Inner {
    async fn run(&self, task: &str, sha: &str, mut cancel: watch::Receiver<bool>) -> CiResult {
        let began = Instant::now();
        let mut result = CiResult::new(sha, OWN_CHECK, CiStatus::Cancelled);
        result.command = Some(self.config.command.clone());
        let permit = tokio::select! {
            p = self.permits.clone().acquire_owned() => p.ok(),
            _ = cancelled(&mut cancel) => None,
        };
        let Some(_permit) = permit else {
            return result;
        };
        let log_path = self.paths.log_path(task, sha);
        result.log_path = Some(log_path.display().to_string());
        let outcome = self
            .run_in_checkout(task, sha, &log_path, &mut cancel)
            .await;
        result.duration_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
        let log = read_log(&log_path);
        match outcome {
            Outcome::Exited(Some(0)) => result.status = CiStatus::Passed,
            Outcome::Exited(Some(127)) if log.contains("not found") => {
                result.status = CiStatus::CouldNotStart {
                    reason: format!(
                        "ci.command not found: {}",
                        missing_program(&log, &self.config.command)
                    ),
                };
            }
            Outcome::Exited(code) => result.status = CiStatus::Failed { exit_code: code },
            Outcome::TimedOut => {
                result.status = CiStatus::TimedOut {
                    after: self.config.timeout,
                }
            }
            Outcome::Cancelled => return result,
            Outcome::CouldNotStart(reason) => {
                result.status = CiStatus::CouldNotStart { reason };
                return result;
            }
        }
        if result.status.failed() {
            let report = std::fs::read_to_string(self.paths.report_path(task, sha))
                .ok()
                .and_then(|xml| report::junit_failing_tests(&xml).ok());
            result.failing_tests = match report {
                Some(junit) => junit.failing,
                None => report::failing_tests_from_output(&log),
            };
            result.excerpt = report::excerpt(&log);
        }
        result
    }

    async fn run_in_checkout(
        &self,
        task: &str,
        sha: &str,
        log_path: &Path,
        cancel: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let work = self.paths.work_dir(task, sha);
        if let Some(parent) = log_path.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            return Outcome::CouldNotStart(format!("failed to create {}: {e}", parent.display()));
        }
        let report_path = self.paths.report_path(task, sha);
        let _ = std::fs::remove_file(&report_path);
        if let Err(e) = add_worktree(&self.paths.repo, &work, sha).await {
            return Outcome::CouldNotStart(format!(
                "failed to check out {} for CI: {e}",
                short_commit(sha)
            ));
        }
        let outcome = self
            .spawn_and_wait(task, sha, &work, log_path, &report_path, cancel)
            .await;
        remove_worktree(&self.paths.repo, &work).await;
        outcome
    }

    async fn spawn_and_wait(
        &self,
        task: &str,
        sha: &str,
        work: &Path,
        log_path: &Path,
        report_path: &Path,
        cancel: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let spawn = Spawn {
            command: &self.config.command,
            env: &self.config.env,
            timeout: self.config.timeout,
            log_limit: self.config.log_limit,
            work,
            log_path,
            vars: vec![
                ("DUET_TASK", task.to_owned()),
                ("DUET_SHA", sha.to_owned()),
                ("DUET_CI_REPORT", report_path.display().to_string()),
            ],
        };
        let started = RunEvent::Started {
            task: task.to_owned(),
            sha: sha.to_owned(),
            log_path: log_path.to_owned(),
        };
        spawn_and_wait(&spawn, Some((&self.events, started)), cancel).await
    }
}

/// One command to run in a checkout, its output to a bounded log.
pub(crate) struct Spawn<'a> {
    pub command: &'a str,
    pub env: &'a BTreeMap<String, String>,
    pub timeout: Duration,
    pub log_limit: u64,
    pub work: &'a Path,
    pub log_path: &'a Path,
    /// duet's own variables (`DUET_TASK`, ...).
    pub vars: Vec<(&'static str, String)>,
}

/// Runs `spawn.command` with `sh -c` in its own process group (killed whole at the end, at the
/// timeout or on cancel); `started` is sent once the command runs.
pub(crate) async fn spawn_and_wait(
    spawn: &Spawn<'_>,
    started: Option<(&mpsc::Sender<RunEvent>, RunEvent)>,
    cancel: &mut watch::Receiver<bool>,
) -> Outcome {
    let spawned = (|| -> io::Result<_> {
        let log = File::create(spawn.log_path)?;
        let (reader, writer) = io::pipe()?;
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(spawn.command)
            .current_dir(spawn.work)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .envs(spawn.env)
            .envs(spawn.vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .process_group(0);
        let child = cmd.spawn()?;
        // `cmd` holds our copy of the pipe's write end: drop it, or the reader never ends.
        drop(cmd);
        Ok((child, reader, log))
    })();
    let (mut child, reader, log) = match spawned {
        Ok(parts) => parts,
        Err(e) => return Outcome::CouldNotStart(format!("failed to start `sh -c`: {e}")),
    };
    let limit = spawn.log_limit;
    let copier = tokio::task::spawn_blocking(move || copy_bounded(reader, log, limit));
    if let Some((events, event)) = started {
        let _ = events.send(event).await;
    }
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    let outcome = tokio::select! {
        status = child.wait() => Outcome::Exited(status.ok().and_then(|s| s.code())),
        _ = tokio::time::sleep(spawn.timeout) => Outcome::TimedOut,
        _ = cancelled(cancel) => Outcome::Cancelled,
    };
    // Whatever the command left behind in its group goes too (a background server would
    // otherwise hold the log pipe open, and outlive its checkout).
    if let Some(pgid) = pgid {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    if !matches!(outcome, Outcome::Exited(_)) {
        let _ = child.wait().await;
    }
    if let Some(pgid) = pgid {
        reap_group(pgid).await;
    }
    // Bounded: a process that left the group (setsid) may still hold the pipe.
    let _ = tokio::time::timeout(Duration::from_secs(2), copier).await;
    outcome
}

#[derive(Debug)]
pub(crate) enum Outcome {
    Exited(Option<i32>),
    TimedOut,
    Cancelled,
    CouldNotStart(String),
}

pub(crate) async fn cancelled(rx: &mut watch::Receiver<bool>) {
    // A dropped switch (the runner is gone) cancels too.
    let _ = rx.wait_for(|c| *c).await;
}

/// Makes this process the reaper of its orphaned descendants (Linux), so that what a CI command
/// started and left behind is waited for here, not left a zombie under a PID 1 that does not
/// reap. Process-wide; call once at start, before the first run.
pub fn become_subreaper() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
    Ok(())
}

/// Waits for every process of the (killed) group that is our child (after
/// [`become_subreaper`]), so none stays a zombie. Bounded.
async fn reap_group(pgid: i32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match waitpid(Pid::from_raw(-pgid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {
                if Instant::now() >= deadline {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(_) => {}
            Err(_) => return, // ECHILD: none left
        }
    }
}

/// Copies the command's output to the log, up to `limit` bytes, then a marker; keeps reading
/// (and dropping) so the command never blocks on a full pipe.
fn copy_bounded(mut from: impl Read, mut to: File, limit: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut written, mut dropped) = (0u64, 0u64);
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let room = usize::try_from(limit.saturating_sub(written)).unwrap_or(usize::MAX);
        let take = n.min(room);
        if take > 0 {
            to.write_all(&buf[..take])?;
            written += take as u64;
        }
        dropped += (n - take) as u64;
    }
    if dropped > 0 {
        writeln!(
            to,
            "\n[duet: log truncated at {limit} bytes; {dropped} more bytes were dropped]"
        )?;
    }
    to.flush()?;
    Ok(written)
}

/// The log as text (binary output is shown lossily).
pub(crate) fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

static NOT_FOUND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m):\s*([^:\s]+): (?:command )?not found").expect("a valid pattern")
});

/// The program the shell could not find, from its message ("sh: 1: carg: not found").
pub(crate) fn missing_program(log: &str, command: &str) -> String {
    NOT_FOUND
        .captures(log)
        .map(|c| c[1].to_owned())
        .or_else(|| command.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

pub(crate) async fn git(repo: &Path, args: &[&str]) -> io::Result<()> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .output()
        .await?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

pub(crate) async fn add_worktree(repo: &Path, work: &Path, sha: &str) -> io::Result<()> {
    if work.exists() {
        remove_worktree(repo, work).await;
    }
    if let Some(parent) = work.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let work = work.to_string_lossy();
    git(
        repo,
        &[
            "worktree", "add", "--quiet", "--detach", "--force", &work, sha,
        ],
    )
    .await
}

pub(crate) async fn remove_worktree(repo: &Path, work: &Path) {
    let path = work.to_string_lossy();
    if git(repo, &["worktree", "remove", "--force", "--force", &path])
        .await
        .is_err()
    {
        let _ = std::fs::remove_dir_all(work);
        let _ = git(repo, &["worktree", "prune"]).await;
    }
}

/// Removes the CI checkouts a killed duet left under `.duet/ci/work/`; returns how many.
pub async fn sweep(paths: &RunPaths) -> io::Result<usize> {
    let root = paths.work_root();
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry?.path();
        remove_worktree(&paths.repo, &path).await;
        removed += 1;
    }
    let _ = git(&paths.repo, &["worktree", "prune"]).await;
    Ok(removed)
}

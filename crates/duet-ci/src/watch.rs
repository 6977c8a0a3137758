//! notify watchers of one task: its commits (branch ref, `packed-refs`, the worktree's `HEAD` and
//! `logs/HEAD` → [`WatchEvent::CommitSeen`] with the sha read from git), file activity in its
//! worktree (recursive, `.gitignore`-aware → [`WatchEvent::Activity`]) and its CI inbox
//! (→ [`WatchEvent::InboxResult`]). Callbacks never block: they `try_send` a wake into a bounded
//! channel (a full channel means a wake is already pending; the debouncer then re-reads the
//! truth, so nothing is lost). At the inotify watch limit: a warning naming
//! `fs.inotify.max_user_watches` and a fall back to polling, never a silent stop. Every watcher
//! stops when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::inbox::{self, InboxFile, Rejected};

/// What the watchers report.
#[derive(Debug)]
pub enum WatchEvent {
    /// The task's HEAD is `sha` (sent at start, then whenever it moves).
    CommitSeen { task: String, sha: String },
    /// Files changed in the task's worktree (at most once per debounce window).
    Activity { task: String },
    /// A result file in the task's inbox, parsed; store it, then [`inbox::consume`] it.
    InboxResult { task: String, file: InboxFile },
    /// A bad inbox file, moved aside.
    InboxRejected { task: String, rejected: Rejected },
    /// A watcher runs degraded (polling at the inotify limit) or hit an error: say it.
    Warning { task: String, message: String },
}

/// Tuning; the defaults suit the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// Quiet time after a ref change before git is asked (a commit writes several files).
    pub ref_debounce: Duration,
    /// At most one `Activity` per this window.
    pub activity_debounce: Duration,
    /// Quiet time after an inbox change before the folder is read.
    pub inbox_debounce: Duration,
    /// Interval of the polling fall-back.
    pub poll_interval: Duration,
    /// At most this many native (inotify) watches per activity watcher; more counts as the
    /// watch limit (the test of the fall-back sets it low).
    pub native_watch_budget: usize,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            ref_debounce: Duration::from_millis(15),
            activity_debounce: Duration::from_millis(500),
            inbox_debounce: Duration::from_millis(10),
            poll_interval: Duration::from_secs(2),
            native_watch_budget: 20_000,
        }
    }
}

/// Why a watcher could not start.
#[derive(Debug, thiserror::Error)]
#[error("failed to watch {what} of task `{task}`: {source}")]
pub struct WatchError {
    pub task: String,
    pub what: &'static str,
    #[source]
    pub source: notify::Error,
}

/// The warning for the inotify watch limit.
pub fn watch_limit_warning(path: &Path, interval: Duration) -> String {
    format!(
        "the inotify watch limit is reached (sysctl fs.inotify.max_user_watches): watching {} by \
         polling every {} instead; raise it with `sudo sysctl fs.inotify.max_user_watches=524288`",
        path.display(),
        humantime::format_duration(interval)
    )
}

fn is_limit(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => io.raw_os_error() == Some(28), // ENOSPC: inotify's limit
        _ => false,
    }
}

type BoxWatcher = Box<dyn notify::Watcher + Send>;

/// A callback that only wakes the debouncer.
fn waker(
    tx: mpsc::Sender<()>,
    relevant: impl Fn(&notify::Event) -> bool + Send + 'static,
) -> impl notify::EventHandler {
    move |res: notify::Result<notify::Event>| {
        let wake = match &res {
            Ok(event) => !matches!(event.kind, EventKind::Access(_)) && relevant(event),
            Err(_) => true, // an error: let the debouncer look again
        };
        if wake {
            // Full: a wake is pending already. Closed: the watcher is being dropped.
            let _ = tx.try_send(());
        }
    }
}

/// Waits for a wake and then for `quiet` without one; `false` when the watcher is gone.
async fn debounced(rx: &mut mpsc::Receiver<()>, quiet: Duration) -> bool {
    if rx.recv().await.is_none() {
        return false;
    }
    loop {
        match tokio::time::timeout(quiet, rx.recv()).await {
            Ok(Some(())) => continue,
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

/// Stops its debouncer when dropped (the notify watcher goes with it).
#[derive(Debug)]
struct Guard(JoinHandle<()>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Which task, and where its branch and worktree are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskWatch {
    pub task: String,
    /// The repository's common git dir (`.git` of the main worktree).
    pub git_dir: PathBuf,
    /// The task branch, e.g. `duet/t1`.
    pub branch: String,
    pub worktree: PathBuf,
}

impl TaskWatch {
    /// The linked worktree's own git dir (`.git/worktrees/<name>`), from its `.git` file.
    pub fn worktree_git_dir(&self) -> Option<PathBuf> {
        let text = std::fs::read_to_string(self.worktree.join(".git")).ok()?;
        let dir = text.strip_prefix("gitdir:")?.trim();
        let dir = Path::new(dir);
        Some(if dir.is_absolute() {
            dir.to_owned()
        } else {
            self.worktree.join(dir)
        })
    }
}

/// Watches a task's commits; see the module docs.
#[derive(Debug)]
pub struct CommitWatcher {
    _guard: Guard,
}

/// Starts the commit watcher (inside a tokio runtime). The current HEAD is reported first.
pub fn watch_commits(
    spec: &TaskWatch,
    events: mpsc::Sender<WatchEvent>,
    opts: &WatchOptions,
) -> Result<CommitWatcher, WatchError> {
    let err = |source| WatchError {
        task: spec.task.clone(),
        what: "the commits",
        source,
    };
    let refs_dir = spec.git_dir.join("refs/heads");
    let branch_ref = refs_dir.join(&spec.branch);
    let _ = std::fs::create_dir_all(&refs_dir);
    let wt_git = spec.worktree_git_dir();
    let mut interesting: Vec<PathBuf> = vec![branch_ref.clone(), spec.git_dir.join("packed-refs")];
    let (refs_dir_cb, branch_ref_cb) = (refs_dir.clone(), branch_ref.clone());
    if let Some(wt) = &wt_git {
        interesting.push(wt.join("HEAD"));
        interesting.push(wt.join("logs/HEAD"));
    }
    let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
    let relevant = move |event: &notify::Event| {
        // `x.lock` renamed onto `x`: either path names the file.
        event.paths.iter().any(|p| {
            // The prefix folder made again (after `pack-refs`) before its watch was added.
            if branch_ref_cb.starts_with(p) && p.starts_with(&refs_dir_cb) && p != &branch_ref_cb {
                return true;
            }
            let p = p.to_string_lossy();
            let p = p.strip_suffix(".lock").unwrap_or(&p);
            interesting.iter().any(|i| Path::new(p) == i)
        })
    };
    let mut watcher: BoxWatcher = Box::new(
        notify::RecommendedWatcher::new(waker(wake_tx, relevant), notify::Config::default())
            .map_err(err)?,
    );
    // All of refs/heads, recursively: the ref file is replaced on every update, and
    // `pack-refs` deletes the prefix folder that the next update makes again.
    watcher
        .watch(&refs_dir, RecursiveMode::Recursive)
        .map_err(err)?;
    let mut dirs = vec![spec.git_dir.clone()];
    if let Some(wt) = &wt_git {
        dirs.push(wt.clone());
        let _ = std::fs::create_dir_all(wt.join("logs"));
        dirs.push(wt.join("logs"));
    }
    for dir in &dirs {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(err)?;
    }
    let spec = spec.clone();
    let quiet = opts.ref_debounce;
    let handle = tokio::spawn(async move {
        let _watcher = watcher; // lives as long as the debouncer
        let mut last = read_head(&spec).await;
        if let Some(sha) = &last {
            let event = WatchEvent::CommitSeen {
                task: spec.task.clone(),
                sha: sha.clone(),
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
        while debounced(&mut wake_rx, quiet).await {
            let sha = read_head(&spec).await;
            if sha.is_some() && sha != last {
                last = sha.clone();
                let task = spec.task.clone();
                let sha = sha.unwrap_or_default();
                if events
                    .send(WatchEvent::CommitSeen { task, sha })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    Ok(CommitWatcher {
        _guard: Guard(handle),
    })
}

/// The task's HEAD from git: the worktree's HEAD, else the branch.
pub async fn read_head(spec: &TaskWatch) -> Option<String> {
    let from_worktree = rev_parse(&["-C"], &spec.worktree, "HEAD").await;
    if from_worktree.is_some() {
        return from_worktree;
    }
    let branch = format!("refs/heads/{}", spec.branch);
    rev_parse(&["--git-dir"], &spec.git_dir, &branch).await
}

async fn rev_parse(flag: &[&str], path: &Path, rev: &str) -> Option<String> {
    let out = tokio::process::Command::new("git")
        .args(flag)
        .arg(path)
        .args(["rev-parse", "--verify", "--quiet", rev])
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    let sha = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !sha.is_empty()).then_some(sha)
}

/// Watches a task's worktree for file changes; see the module docs.
#[derive(Debug)]
pub struct ActivityWatcher {
    _guard: Guard,
    polling: Arc<Mutex<bool>>,
}

impl ActivityWatcher {
    /// Whether it fell back to polling.
    pub fn is_polling(&self) -> bool {
        *self.polling.lock().unwrap()
    }
}

/// Starts the activity watcher (inside a tokio runtime).
pub fn watch_activity(
    task: &str,
    worktree: &Path,
    events: mpsc::Sender<WatchEvent>,
    opts: &WatchOptions,
) -> Result<ActivityWatcher, WatchError> {
    let err = |source| WatchError {
        task: task.to_owned(),
        what: "the worktree",
        source,
    };
    let ignore = Arc::new(gitignore_of(worktree));
    let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
    let root = worktree.to_owned();
    // Set by the callback when a folder appears: only then is the worktree walked again.
    let new_dir = Arc::new(AtomicBool::new(false));
    let relevant = {
        let ignore = ignore.clone();
        let root = root.clone();
        let new_dir = new_dir.clone();
        move |event: &notify::Event| {
            let creates = matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(notify::event::ModifyKind::Name(_))
            );
            let mut any = false;
            for p in &event.paths {
                if not_ignored(&ignore, &root, p) {
                    any = true;
                    if creates && p.is_dir() {
                        new_dir.store(true, Ordering::Relaxed);
                    }
                }
            }
            any
        }
    };
    let handler = waker(wake_tx.clone(), relevant.clone());
    let mut native =
        notify::RecommendedWatcher::new(handler, notify::Config::default()).map_err(err)?;
    let mut watched = 0usize;
    let mut limit_hit = false;
    for dir in walk_dirs(worktree) {
        if watched >= opts.native_watch_budget {
            limit_hit = true;
            break;
        }
        match native.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => watched += 1,
            Err(e) if is_limit(&e) => {
                limit_hit = true;
                break;
            }
            Err(_) => {} // vanished meanwhile
        }
    }
    let polling = Arc::new(Mutex::new(false));
    let mut watcher: BoxWatcher = Box::new(native);
    let mut warning = None;
    if limit_hit {
        (watcher, warning) =
            poll_fallback(worktree, wake_tx.clone(), relevant.clone(), opts).map_err(err)?;
        *polling.lock().unwrap() = true;
    }
    let task = task.to_owned();
    let window = opts.activity_debounce;
    let opts = opts.clone();
    let polling_flag = polling.clone();
    let handle = tokio::spawn(async move {
        let mut watcher = watcher;
        if let Some(message) = warning {
            tracing::warn!(task = %task, "{message}");
            let _ = events
                .send(WatchEvent::Warning {
                    task: task.clone(),
                    message,
                })
                .await;
        }
        let mut woke = wake_rx.recv().await.is_some();
        while woke {
            if events
                .send(WatchEvent::Activity { task: task.clone() })
                .await
                .is_err()
            {
                return;
            }
            // New folders get their own watch (native mode watches folder by folder).
            if !*polling_flag.lock().unwrap() && new_dir.swap(false, Ordering::Relaxed) {
                let dirs = walk_dirs(&root);
                let mut hit = dirs.len() > opts.native_watch_budget;
                for dir in dirs.iter().take(opts.native_watch_budget) {
                    if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive)
                        && is_limit(&e)
                    {
                        hit = true;
                        break;
                    }
                }
                if hit
                    && let Ok((poller, Some(message))) =
                        poll_fallback(&root, wake_tx.clone(), relevant.clone(), &opts)
                {
                    watcher = poller;
                    *polling_flag.lock().unwrap() = true;
                    tracing::warn!(task = %task, "{message}");
                    let _ = events
                        .send(WatchEvent::Warning {
                            task: task.clone(),
                            message,
                        })
                        .await;
                }
            }
            // Throttle: one event per window; wakes meanwhile fold into one more at its end.
            tokio::time::sleep(window).await;
            woke = false;
            while wake_rx.try_recv().is_ok() {
                woke = true;
            }
            if !woke {
                woke = wake_rx.recv().await.is_some();
            }
        }
    });
    Ok(ActivityWatcher {
        _guard: Guard(handle),
        polling,
    })
}

fn poll_fallback(
    root: &Path,
    wake: mpsc::Sender<()>,
    relevant: impl Fn(&notify::Event) -> bool + Send + 'static,
    opts: &WatchOptions,
) -> Result<(BoxWatcher, Option<String>), notify::Error> {
    let config = notify::Config::default().with_poll_interval(opts.poll_interval);
    let mut poller = notify::PollWatcher::new(waker(wake, relevant), config)?;
    poller.watch(root, RecursiveMode::Recursive)?;
    Ok((
        Box::new(poller),
        Some(watch_limit_warning(root, opts.poll_interval)),
    ))
}

/// The worktree's folders that git does not ignore (and not `.git`).
fn walk_dirs(root: &Path) -> Vec<PathBuf> {
    ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_dir()))
        .map(|e| e.into_path())
        .collect()
}

fn gitignore_of(root: &Path) -> ignore::gitignore::Gitignore {
    let mut builder = ignore::gitignore::GitignoreBuilder::new(root);
    let _ = builder.add(root.join(".gitignore"));
    builder
        .build()
        .unwrap_or_else(|_| ignore::gitignore::Gitignore::empty())
}

fn not_ignored(ignore: &ignore::gitignore::Gitignore, root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    if rel
        .components()
        .next()
        .is_some_and(|c| c.as_os_str() == ".git")
    {
        return false;
    }
    let is_dir = path.is_dir();
    !ignore.matched_path_or_any_parents(path, is_dir).is_ignore()
}

/// Watches a task's CI inbox; see the module docs.
#[derive(Debug)]
pub struct InboxWatcher {
    _guard: Guard,
}

/// Starts the inbox watcher (inside a tokio runtime): files already there are read first.
pub fn watch_inbox(
    task: &str,
    duet_dir: &Path,
    events: mpsc::Sender<WatchEvent>,
    opts: &WatchOptions,
) -> Result<InboxWatcher, WatchError> {
    let dir = inbox::inbox_dir(duet_dir, task);
    let err = |source| WatchError {
        task: task.to_owned(),
        what: "the CI inbox",
        source,
    };
    std::fs::create_dir_all(&dir).map_err(|e| err(notify::Error::io(e)))?;
    let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
    let mut watcher = notify::RecommendedWatcher::new(
        waker(wake_tx.clone(), |_| true),
        notify::Config::default(),
    )
    .map_err(err)?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(err)?;
    let _ = wake_tx.try_send(()); // files written while duet was down
    let task = task.to_owned();
    let quiet = opts.inbox_debounce;
    let handle = tokio::spawn(async move {
        let _watcher = watcher;
        while debounced(&mut wake_rx, quiet).await {
            let scan = match inbox::scan(&dir) {
                Ok(scan) => scan,
                Err(e) => {
                    let message = format!("failed to read the CI inbox {}: {e}", dir.display());
                    let _ = events
                        .send(WatchEvent::Warning {
                            task: task.clone(),
                            message,
                        })
                        .await;
                    continue;
                }
            };
            for file in scan.results {
                let event = WatchEvent::InboxResult {
                    task: task.clone(),
                    file,
                };
                if events.send(event).await.is_err() {
                    return;
                }
            }
            for rejected in scan.rejected {
                let event = WatchEvent::InboxRejected {
                    task: task.clone(),
                    rejected,
                };
                if events.send(event).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(InboxWatcher {
        _guard: Guard(handle),
    })
}

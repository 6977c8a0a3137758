//! CI in the engine: per pair, a commit, an activity and an inbox watcher (started with the
//! pair, dropped with it), and one GitHub poller for all pairs ([`spawn_github`]); commits,
//! runs, inbox files and GitHub checks and reviews go through `protocol::ci::handle` on the
//! pair's own `CiState` (saved in its snapshot), whose effects start or cancel runs, store
//! results, queue messages for the worker (the pair's mailbox: typed when idle, kept while the
//! pair is down) and send loops to the human. File activity feeds the pair's stall detection.

use std::collections::{BTreeMap, HashMap};

use duet_ci::github::{GhConfig, GhError, GhUpdate, GithubPoller};
use duet_ci::{
    ActivityWatcher, CommitWatcher, InboxWatcher, RunEvent, TaskWatch, WatchEvent, WatchOptions,
    watch_activity, watch_commits, watch_inbox,
};
use duet_core::protocol::ci::{CheckState, CiEffect, CiEvent, CiRules, OutsideReview};
use duet_store::Event;
use tokio::sync::{mpsc, watch};

use super::{Daemon, now};
use crate::{DaemonError, DaemonProgress, DaemonSetup};

/// The watchers of one pair; dropping them stops them.
#[derive(Debug)]
pub(crate) struct CiWatchers {
    _commits: Option<CommitWatcher>,
    _activity: Option<ActivityWatcher>,
    _inbox: Option<InboxWatcher>,
}

/// What the GitHub poller found for one task.
#[derive(Debug)]
pub(crate) enum GhEvent {
    Update {
        task: String,
        update: GhUpdate,
    },
    /// A poll failed (said once per distinct error, not at every poll).
    Failed {
        task: String,
        message: String,
    },
}

/// The daemon's end of the GitHub poller: which task branches it polls. Dropping it ends it.
#[derive(Debug)]
pub(crate) struct Github {
    branches: watch::Sender<BTreeMap<String, String>>,
    task: tokio::task::JoinHandle<()>,
}

/// Removes the throw-away checkouts under `paths` that a killed duet left (`what` names them
/// in the log: "CI", "gate", "candidate CI").
pub(super) async fn sweep_checkouts(paths: &duet_ci::RunPaths, what: &str) {
    match duet_ci::sweep(paths).await {
        Ok(0) => {}
        Ok(n) => tracing::info!("removed {n} {what} checkouts left by an earlier run"),
        Err(e) => tracing::warn!("failed to clean up old {what} checkouts: {e}"),
    }
}

impl Github {
    fn poll_branch(&self, task: &str, branch: String) {
        self.branches.send_modify(|b| {
            b.insert(task.to_owned(), branch);
        });
    }

    fn forget(&self, task: &str) {
        self.branches.send_if_modified(|b| b.remove(task).is_some());
    }
}

impl Drop for Github {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the GitHub poller when `github.enabled` (it checks `gh auth status` itself, off the
/// loop, and ends quietly when `gh` is missing or logged out). The receiver never yields when
/// there is no poller.
pub(crate) fn spawn_github(setup: &DaemonSetup) -> (Option<Github>, mpsc::Receiver<GhEvent>) {
    let (tx, rx) = mpsc::channel(64);
    let config = &setup.config.github;
    if !config.enabled {
        return (None, rx);
    }
    let mut gh = GhConfig::new(&setup.repo_root);
    gh.program = config.command.clone().into();
    gh.interval = config.interval;
    let (branches, watched) = watch::channel(BTreeMap::new());
    let task = tokio::spawn(poll_github(GithubPoller::new(gh), watched, tx));
    (Some(Github { branches, task }), rx)
}

async fn poll_github(
    mut poller: GithubPoller,
    mut branches: watch::Receiver<BTreeMap<String, String>>,
    events: mpsc::Sender<GhEvent>,
) {
    if !poller.available().await {
        tracing::info!("gh is not installed or not logged in: pull requests are not polled");
        return;
    }
    let mut last_error: HashMap<String, String> = HashMap::new();
    loop {
        let tasks = branches.borrow_and_update().clone();
        for (task, branch) in tasks {
            let event = match poller.poll(&branch).await {
                Ok(update) => {
                    last_error.remove(&task);
                    if update.results.is_empty() && update.reviews.is_empty() {
                        continue;
                    }
                    GhEvent::Update {
                        task: task.clone(),
                        update,
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    let rate_limited = matches!(e, GhError::RateLimited { .. });
                    if last_error.get(&task) == Some(&message) {
                        continue;
                    }
                    last_error.insert(task.clone(), message.clone());
                    if rate_limited {
                        // The other tasks would hit the same limit: wait the longer interval.
                        let _ = events.send(GhEvent::Failed { task, message }).await;
                        break;
                    }
                    GhEvent::Failed {
                        task: task.clone(),
                        message,
                    }
                }
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
        // A task that starts is polled at once; the others at the interval.
        tokio::select! {
            () = tokio::time::sleep(poller.interval()) => {}
            changed = branches.changed() => if changed.is_err() { return },
        }
    }
}

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// The CI rules from the config.
    pub(super) fn ci_rules(&self) -> CiRules {
        let config = &self.setup.config;
        CiRules {
            has_command: config.ci.command.is_some(),
            repeat_limit: config.stall.repeat_limit.get(),
            no_progress: config.stall.no_progress,
        }
    }

    /// Starts the pair's CI watchers (at start and at adoption).
    pub(super) fn start_ci(&mut self, task: &str) {
        let rules = self.ci_rules();
        let Some(slot) = self.pairs.get_mut(task) else {
            return;
        };
        let state = &mut slot.controller.state;
        state.config.ci = rules.clone();
        state.ci.task = task.to_owned();
        let started = CiEvent::Started {
            at: now(),
            base: Some(state.base_commit.clone()),
        };
        let spec = TaskWatch {
            task: task.to_owned(),
            git_dir: self.setup.repo_root.join(".git"),
            branch: format!("{}/{task}", self.setup.config.branch_prefix),
            worktree: slot.worktree.clone(),
        };
        let opts = WatchOptions::default();
        let commits = watch_commits(&spec, self.ci_watch_tx.clone(), &opts)
            .map(Some)
            .unwrap_or_else(|e| {
                tracing::warn!("{e}");
                None
            });
        let activity = watch_activity(task, &spec.worktree, self.ci_watch_tx.clone(), &opts)
            .map(Some)
            .unwrap_or_else(|e| {
                tracing::warn!("{e}");
                None
            });
        let inbox = watch_inbox(
            task,
            &self.setup.state_dir(),
            self.ci_watch_tx.clone(),
            &opts,
        )
        .map(Some)
        .unwrap_or_else(|e| {
            tracing::warn!("{e}");
            None
        });
        self.ci_watchers.insert(
            task.to_owned(),
            CiWatchers {
                _commits: commits,
                _activity: activity,
                _inbox: inbox,
            },
        );
        if let Some(github) = &self.github {
            github.poll_branch(task, spec.branch.clone());
        }
        // Adopted pairs: a run that died with the old daemon starts again.
        if let Err(e) = self.ci_event(task, started) {
            tracing::warn!("task {task}: {e}");
        }
        // And a gate run cut off with it (its `Running` mark was dropped just now).
        self.poll_gates(task);
    }

    /// The pair ended: its watchers stop and its run is cancelled.
    pub(super) fn stop_ci(&mut self, task: &str) {
        self.ci_watchers.remove(task);
        if let Some(github) = &self.github {
            github.forget(task);
        }
        if let Some(runner) = &self.ci_runner {
            runner.cancel(task);
        }
        self.gates.cancel(task);
    }

    pub(super) fn on_ci_watch(&mut self, event: WatchEvent) -> Result<(), DaemonError> {
        match event {
            WatchEvent::CommitSeen { task, sha } => {
                // A commit is progress for stall detection too, whoever made it.
                if let Some(slot) = self.pairs.get_mut(&task) {
                    let actions = slot.controller.on_file_activity(now());
                    self.apply(&task, actions)?;
                }
                self.ci_event(
                    &task,
                    CiEvent::HeadMoved {
                        sha: sha.clone(),
                        at: now(),
                    },
                )?;
                self.check_scope(&task, &sha)
            }
            WatchEvent::InboxResult { task, file } => {
                self.ci_event(&task, CiEvent::Finished(file.result.clone()))?;
                // Stored first (above): a crash before this reads the file again.
                if let Err(e) = duet_ci::consume(&file) {
                    tracing::warn!(
                        "task {task}: failed to consume {}: {e}",
                        file.path.display()
                    );
                }
                Ok(())
            }
            WatchEvent::InboxRejected { task, rejected } => {
                self.note(&task, format!("CI inbox: {rejected}"))
            }
            WatchEvent::Warning { task, message } => {
                tracing::warn!("task {task}: {message}");
                self.note(&task, message)
            }
            WatchEvent::Activity { task } => {
                let Some(slot) = self.pairs.get_mut(&task) else {
                    return Ok(());
                };
                // Only the in-memory progress clock moves: no store write per file change (the
                // next snapshot carries it).
                let actions = slot.controller.on_file_activity(now());
                if actions.is_empty() {
                    Ok(())
                } else {
                    self.apply(&task, actions)
                }
            }
        }
    }

    /// Checks and reviews from the task's pull request, routed like the other results.
    pub(super) fn on_github(&mut self, event: GhEvent) -> Result<(), DaemonError> {
        match event {
            GhEvent::Update { task, update } => {
                for result in update.results {
                    // A new daemon's poller reports what the old one did: stored once.
                    let known = self.pairs.get(&task).is_some_and(|slot| {
                        matches!(
                            slot.controller.state.ci.runs.get(&result.sha)
                                .and_then(|c| c.get(&result.check)),
                            Some(CheckState::Done { result: r }) if r.status == result.status
                        )
                    });
                    if !known {
                        self.ci_event(&task, CiEvent::Finished(result))?;
                    }
                }
                for review in update.reviews {
                    let review = OutsideReview {
                        id: review.id,
                        source: "GitHub".into(),
                        author: review.author,
                        state: review.state,
                        body: review.body,
                        commit: review.commit,
                        url: update.url.clone(),
                    };
                    self.ci_event(&task, CiEvent::Review(review))?;
                }
                Ok(())
            }
            GhEvent::Failed { task, message } => {
                tracing::warn!("task {task}: GitHub: {message}");
                self.note(&task, format!("GitHub: {message}"))
            }
        }
    }

    pub(super) fn on_ci_run(&mut self, event: RunEvent) -> Result<(), DaemonError> {
        duet_pair::failpoint!("ci-run-event");
        match event {
            RunEvent::Started {
                task,
                sha,
                log_path,
            } => {
                if self.pairs.contains_key(&task) {
                    self.append(&task, duet_ci::events::run_started(&sha, &log_path))?;
                }
                self.ci_event(&task, CiEvent::RunStarted { sha })
            }
            RunEvent::Finished { task, result } => self.ci_event(&task, CiEvent::Finished(result)),
        }
    }

    pub(super) fn ci_tick(&mut self) -> Result<(), DaemonError> {
        // `stall.no_progress` counts commits: acted on also without `ci.command`.
        if self.setup.config.ci.command.is_none() && self.setup.config.stall.no_progress.is_zero() {
            return Ok(());
        }
        let tasks: Vec<String> = self.pairs.keys().cloned().collect();
        for task in tasks {
            self.ci_event(&task, CiEvent::Tick { now: now() })?;
        }
        Ok(())
    }

    fn note(&mut self, task: &str, text: String) -> Result<(), DaemonError> {
        if self.pairs.contains_key(task) {
            self.append(task, Event::Note { text })?;
        }
        Ok(())
    }

    /// One CI event through the pair's rules, and its effects carried out.
    fn ci_event(&mut self, task: &str, event: CiEvent) -> Result<(), DaemonError> {
        let Some(slot) = self.pairs.get_mut(task) else {
            return Ok(()); // the pair has ended: nothing to route to
        };
        let rules = slot.controller.state.config.ci.clone();
        let effects = duet_core::protocol::ci::handle(&mut slot.controller.state.ci, event, &rules);
        let mut actions = Vec::new();
        for effect in effects {
            match effect {
                CiEffect::StartRun { sha } => {
                    if let Some(runner) = &self.ci_runner {
                        runner.start(task, &sha);
                    }
                }
                CiEffect::CancelRun { .. } => {
                    if let Some(runner) = &self.ci_runner {
                        runner.cancel(task);
                    }
                }
                CiEffect::Record(result) => {
                    actions.push(duet_pair::Action::Store(duet_ci::events::run_finished(
                        &result,
                    )));
                }
                CiEffect::MessageWorker { text, .. } => {
                    actions.extend(slot.controller.ci_message(text, now()));
                }
                CiEffect::NeedsHuman(reason) => {
                    actions.extend(slot.controller.ci_needs_human(reason.to_string(), now()));
                }
            }
        }
        self.apply(task, actions)
    }
}

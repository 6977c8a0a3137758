//! CI in the engine: per pair, a commit watcher and an inbox watcher (started with the pair,
//! dropped with it); commits, runs and inbox files go through `protocol::ci::handle` on the
//! pair's own `CiState` (saved in its snapshot), whose effects start or cancel runs, store
//! results, queue messages for the worker (the pair's mailbox: typed when idle, kept while the
//! pair is down) and send loops to the human.

use duet_ci::{
    CommitWatcher, InboxWatcher, RunEvent, TaskWatch, WatchEvent, WatchOptions, watch_commits,
    watch_inbox,
};
use duet_core::protocol::ci::{CiEffect, CiEvent, CiRules};
use duet_store::Event;

use super::{Daemon, now};
use crate::{DaemonError, DaemonProgress};

/// The watchers of one pair; dropping them stops them.
#[derive(Debug)]
pub(crate) struct CiWatchers {
    _commits: Option<CommitWatcher>,
    _inbox: Option<InboxWatcher>,
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
                _inbox: inbox,
            },
        );
        // Adopted pairs: a run that died with the old daemon starts again.
        if let Err(e) = self.ci_event(task, started) {
            tracing::warn!("task {task}: {e}");
        }
    }

    /// The pair ended: its watchers stop and its run is cancelled.
    pub(super) fn stop_ci(&mut self, task: &str) {
        self.ci_watchers.remove(task);
        if let Some(runner) = &self.ci_runner {
            runner.cancel(task);
        }
    }

    pub(super) fn on_ci_watch(&mut self, event: WatchEvent) -> Result<(), DaemonError> {
        match event {
            WatchEvent::CommitSeen { task, sha } => {
                self.ci_event(&task, CiEvent::HeadMoved { sha, at: now() })
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
            WatchEvent::Activity { .. } => Ok(()),
        }
    }

    pub(super) fn on_ci_run(&mut self, event: RunEvent) -> Result<(), DaemonError> {
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
        if self.setup.config.ci.command.is_none() {
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

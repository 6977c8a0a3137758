//! The merge queue in the engine: a done task enters `lifecycle::merge_queue` (by itself with
//! `merge.auto`, else on `duet merge`); its git steps run through [`crate::merge_edge`], a
//! candidate's CI runs off the loop; the queue's state is committed with the task-state events
//! it causes, so a restarted engine resumes the step that was under way.

use std::collections::{BTreeMap, HashMap};

use crate::report::LANDED;
use duet_core::config::MergeMode;
use duet_core::lifecycle::LifecycleEvent;
use duet_core::lifecycle::StateKind;
use duet_core::lifecycle::merge_queue::{
    QueueConfig, QueueEffect, QueueEvent, QueueRow, QueueState, TaskInfo, resume,
};
use duet_core::lifecycle::unpaired::transition_unpaired;
use duet_core::protocol::{Verdict, short_commit};
use duet_git::WorktreeManager;
use duet_store::{Event, NewEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{Daemon, now, store_err};
use crate::merge_edge::{MergeEdge, drive};
use crate::{DaemonError, DaemonProgress};

use crate::status::MERGE_QUEUE_STATE as QUEUE_STATE;

/// What the engine keeps of the merge queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MergeQueue {
    pub queue: QueueState,
    /// Tasks the queue sent back to their pair, with what the worker is told when the pair
    /// starts again.
    #[serde(default)]
    pub sent_back: BTreeMap<String, String>,
    /// Why the queue does not go on, while it does not.
    #[serde(default)]
    pub held: Option<String>,
}

impl MergeQueue {
    /// The queue's rows for `duet status` (landing order, then the ready tasks).
    pub fn rows(&self) -> Vec<QueueRow> {
        self.queue.rows()
    }

    /// Reads the saved queue (none saved: an empty one).
    pub fn load(store: &duet_store::Store, config: QueueConfig) -> Result<Self, String> {
        match store.engine_state(QUEUE_STATE).map_err(|e| e.to_string())? {
            Some(json) => {
                let mut saved: MergeQueue = serde_json::from_str(&json)
                    .map_err(|e| format!("the saved merge queue cannot be read: {e}"))?;
                saved.queue.set_config(config);
                Ok(saved)
            }
            None => {
                let merged = store
                    .task_states()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .filter(|row| row.state == StateKind::Merged)
                    .map(|row| row.id);
                Ok(MergeQueue {
                    queue: QueueState::new(config, merged),
                    sent_back: BTreeMap::new(),
                    held: None,
                })
            }
        }
    }
}

/// A `duet merge` that the queue refused, and why.
pub(crate) type Refusal = Option<String>;

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// The queue's settings from the config.
    fn queue_config(&self) -> QueueConfig {
        let config = &self.setup.config;
        QueueConfig {
            auto: config.merge.auto,
            ci: config.ci.command.is_some(),
            repeat_limit: config.stall.repeat_limit.get(),
            base: config.base_branch.clone(),
        }
    }

    /// Whether this engine lands finished tasks: `merge.mode = "local"` under `duet run`
    /// (`duet pair` works one task and leaves it done).
    pub(super) fn merges_locally(&self) -> bool {
        lands_locally(self.setup)
    }

    /// At start: the saved queue, the step it was at taken up again, and tasks that finished
    /// while no queue took them (a crash between the two commits) handed to it.
    pub(super) fn open_merge_queue(&mut self) -> Result<(), DaemonError> {
        if !self.merges_locally() {
            return Ok(());
        }
        let merge = MergeQueue::load(&self.store, self.queue_config()).map_err(|text| {
            DaemonError::of_kind(
                crate::DaemonErrorKind::Store,
                "read the merge queue",
                std::io::Error::other(text),
            )
        })?;
        // Scratch checkouts of candidates a killed engine left behind (CI runs again).
        match duet_git::land::sweep(&self.repo) {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(
                    "removed {} merge checkouts left by an earlier run",
                    removed.len()
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("failed to clean up old merge checkouts: {e}"),
        }
        self.merge = Some(merge);
        let effects = match self.merge.as_mut() {
            Some(merge) => resume(&mut merge.queue),
            None => Vec::new(),
        };
        self.carry_out_queue(effects)?;
        let done: Vec<String> = self
            .store
            .task_states()
            .map_err(store_err)?
            .into_iter()
            .filter(|row| row.state == StateKind::Done)
            .map(|row| row.id)
            .collect();
        for task in done {
            self.task_done(&task)?;
        }
        Ok(())
    }

    /// A task's pair ended with the task done: it goes to the queue.
    pub(super) fn task_done(&mut self, task: &str) -> Result<(), DaemonError> {
        if self.merge.is_none() {
            return Ok(());
        }
        let Some(info) = self.backlog.get(task).map(|t| TaskInfo {
            task_id: t.id.to_string(),
            title: t.title.clone(),
            priority: t.priority,
            depends_on: t.depends_on.iter().map(ToString::to_string).collect(),
        }) else {
            return Ok(());
        };
        self.queue_event(QueueEvent::TaskDone(info)).map(|_| ())
    }

    /// `duet merge TASK` (`Some`) or `duet merge --all`: `Some(why)` when refused.
    pub(super) fn merge_requested(&mut self, task: Option<String>) -> Result<Refusal, DaemonError> {
        if self.merge.is_none() {
            if self.opens_pull_requests() {
                // merge.mode = "pr": `duet merge TASK` opens (again) the task's pull request.
                return Ok(match task {
                    Some(task) => self.open_pull_request(&task).err(),
                    None => Some(
                        "merge.mode is \"pr\": name the task whose pull request to open".into(),
                    ),
                });
            }
            let why = "`duet pair` does not merge; run `duet run` (or `duet merge` while it runs)";
            return Ok(Some(why.to_owned()));
        }
        self.queue_event(QueueEvent::MergeRequested { task_id: task })
    }

    /// A candidate's CI run is back.
    pub(super) fn on_queue_ci(&mut self, event: QueueEvent) -> Result<(), DaemonError> {
        duet_pair::failpoint!("merge-ci-result");
        self.queue_event(event).map(|_| ())
    }

    /// While a dirty checkout of the base holds the queue: try the move again (a checkout
    /// still dirty changes nothing and is not announced again).
    pub(super) fn merge_tick(&mut self) -> Result<(), DaemonError> {
        if self
            .merge
            .as_ref()
            .is_some_and(|m| m.queue.held_for_checkout())
        {
            self.queue_event(QueueEvent::CheckoutClean)?;
        }
        Ok(())
    }

    /// Whether the queue has work under way or waiting (a held queue waits for the human).
    pub(super) fn merge_busy(&self) -> bool {
        self.merge
            .as_ref()
            .is_some_and(|m| m.queue.current().is_some() && m.queue.hold().is_none())
    }

    /// One event through the queue; its git steps done, the rest carried out.
    fn queue_event(&mut self, event: QueueEvent) -> Result<Refusal, DaemonError> {
        let Some(mut merge) = self.merge.take() else {
            return Ok(None);
        };
        let effects = {
            let config = &self.setup.config;
            let manager =
                WorktreeManager::new(&self.repo, &config.worktree_root, &config.branch_prefix);
            match manager {
                Ok(manager) => {
                    let edge = MergeEdge {
                        repo: &self.repo,
                        manager: &manager,
                        base: config.base_branch.clone(),
                        strategy: config.merge.strategy,
                        delete_branch: config.merge.delete_branch,
                        titles: self.titles_and_approvals(),
                        working: self.pairs.keys().cloned().collect(),
                    };
                    drive(&mut merge.queue, event, &edge)
                }
                Err(err) => {
                    tracing::error!("the merge queue cannot open the worktrees: {err}");
                    Vec::new()
                }
            }
        };
        self.merge = Some(merge);
        self.carry_out_queue(effects)
    }

    /// Task id → its title and the reviewer's last approval (for squash messages), for the
    /// tasks the queue can build a candidate of (done, ready or merging): reading every backlog
    /// task's events on each queue event would grow with the backlog.
    fn titles_and_approvals(&self) -> BTreeMap<String, (String, Option<String>)> {
        let finished: std::collections::HashSet<String> = self
            .store
            .task_states()
            .unwrap_or_default()
            .into_iter()
            .filter(|row| {
                matches!(
                    row.state,
                    StateKind::Done | StateKind::Ready | StateKind::Merging
                )
            })
            .map(|row| row.id)
            .collect();
        self.backlog
            .tasks
            .iter()
            .filter(|t| finished.contains(t.id.as_str()))
            .map(|t| {
                let approval = self
                    .store
                    .events(&duet_store::EventFilter::all().task(t.id.as_str()))
                    .unwrap_or_default()
                    .into_iter()
                    .rev()
                    .find_map(|record| match record.event {
                        Event::ReviewSubmitted {
                            verdict: Verdict::Approve,
                            round,
                            ..
                        } => Some(format!("Approved by the reviewer in review round {round}.")),
                        _ => None,
                    });
                (t.id.to_string(), (t.title.clone(), approval))
            })
            .collect()
    }

    /// The engine's part of the queue's effects: task states committed with the queue's state
    /// first, then messages, CI runs and answers.
    fn carry_out_queue(&mut self, effects: Vec<QueueEffect>) -> Result<Refusal, DaemonError> {
        let at = i64::try_from(now().0).unwrap_or(i64::MAX);
        let mut events = Vec::new();
        let mut states: HashMap<String, StateKind> = HashMap::new();
        let mut changed = Vec::new();
        for effect in &effects {
            if let QueueEffect::Transition { task_id, event } = effect {
                let from = match states.get(task_id) {
                    Some(state) => *state,
                    None => match self.stored_state(task_id) {
                        Some(state) => state,
                        None => continue,
                    },
                };
                let Some((to, reason)) = stored_move(from, event) else {
                    tracing::warn!(
                        "task {task_id}: the merge queue's `{}` does not apply to a {from} task",
                        event.name()
                    );
                    continue;
                };
                states.insert(task_id.clone(), to);
                changed.push((task_id.clone(), to, reason.clone()));
                events.push(NewEvent::for_task(
                    at,
                    task_id.clone(),
                    Event::TaskStateChanged { from, to, reason },
                ));
                if to == StateKind::Merged {
                    // What landed, for `duet log` (the branch may be deleted now).
                    let text = self.landed_note(task_id);
                    events.push(NewEvent::for_task(
                        at,
                        task_id.clone(),
                        Event::Note { text },
                    ));
                }
            }
        }
        let mut refusal = None;
        let mut tell = Vec::new();
        let mut sent_back = Vec::new();
        let mut ci_runs = Vec::new();
        if let Some(merge) = self.merge.as_mut() {
            for effect in effects {
                match effect {
                    QueueEffect::Transition { .. }
                    | QueueEffect::BuildCandidate { .. }
                    | QueueEffect::AdvanceBase { .. }
                    | QueueEffect::CleanUp { .. } => {}
                    QueueEffect::SendBack { task_id, text } => {
                        merge.sent_back.insert(task_id.clone(), text);
                        sent_back.push(task_id);
                    }
                    QueueEffect::TellPair { task_id, text } => tell.push((task_id, text)),
                    QueueEffect::TellHuman { text } => {
                        tracing::warn!("{text}");
                        (self.progress)(DaemonProgress::Note(text));
                    }
                    QueueEffect::Held { reason } => merge.held = Some(reason),
                    QueueEffect::Released => merge.held = None,
                    QueueEffect::Refuse { why, .. } => refusal = Some(why),
                    QueueEffect::RunCi { task_id, sha } => ci_runs.push((task_id, sha)),
                }
            }
            let json = serde_json::to_string(&*merge)
                .map_err(|e| DaemonError::new("save the merge queue", e))?;
            self.store
                .commit_with_engine_state(&events, QUEUE_STATE, &json)
                .map_err(store_err)?;
        }
        // Started once the queue's state says so (after a kill before this, `resume` asks again).
        for (task_id, sha) in ci_runs {
            self.start_candidate_ci(task_id, sha);
        }
        // A task that landed may let its dependents start (a candidate's CI passes with
        // nothing else happening in the engine, so nothing else would schedule them).
        let landed = changed.iter().any(|(_, to, _)| *to == StateKind::Merged);
        for (task, to, reason) in changed {
            let state = match (&reason, to) {
                (Some(reason), StateKind::NeedsHuman) => {
                    (self.progress)(DaemonProgress::HumanNeeded {
                        task: task.clone(),
                        text: reason.clone(),
                    });
                    format!("{to}: {reason}")
                }
                _ => to.to_string(),
            };
            (self.progress)(DaemonProgress::TaskState { task, state });
        }
        for (task, text) in tell {
            if let Some(slot) = self.pairs.get_mut(&task) {
                let actions = slot.controller.ci_message(text, now());
                self.apply(&task, actions)?;
            }
        }
        if !sent_back.is_empty() || landed {
            self.schedule()?;
        }
        Ok(refusal)
    }

    /// "landed on `main`: 2 commits (1a2b3c4, 5d6e7f8)".
    fn landed_note(&self, task: &str) -> String {
        let base = self
            .backlog
            .get(task)
            .map_or(self.setup.config.base_branch.as_str(), |t| {
                t.base_branch(&self.setup.config)
            });
        let commits =
            duet_git::land::landed_commits(&self.repo, base, task, 10_000).unwrap_or_default();
        let shas: Vec<&str> = commits.iter().map(|sha| short_commit(sha)).collect();
        format!(
            "{LANDED}`{base}`: {} commit{} ({})",
            shas.len(),
            if shas.len() == 1 { "" } else { "s" },
            shas.join(", ")
        )
    }

    /// Tests a candidate with `ci.command` off the loop; the result comes back as a queue event.
    fn start_candidate_ci(&mut self, task_id: String, sha: String) {
        duet_pair::failpoint!("merge-ci-started");
        match &self.candidate_ci {
            Some(runner) => runner.start(&task_id, &sha),
            // No `ci.command`: nothing to run, the candidate passes (through the loop all the same).
            None => {
                let _ = self.queue_ci_tx.send(QueueEvent::CiPassed { task_id, sha });
            }
        }
    }

    /// Takes a ready, queued or merging task out of the merge queue (the human cancelled it);
    /// its candidate's CI, if one runs, is killed.
    pub(super) fn withdraw(&mut self, task: &str) -> Result<(), DaemonError> {
        if let Some(runner) = &self.candidate_ci {
            runner.cancel(task);
        }
        self.queue_event(QueueEvent::Withdrawn {
            task_id: task.to_owned(),
        })
        .map(|_| ())
    }

    /// What the worker of a task the queue sent back is told when its pair starts again.
    pub(super) fn take_sent_back(&mut self, task: &str) -> Option<String> {
        self.merge.as_mut()?.sent_back.remove(task)
    }
}

/// The stored move for a queue transition from `from`: `(to, reason)`, by the lifecycle's rules
/// for a task no pair works on. A task sent back waits in the queue of tasks to start (its pair
/// starts again when the scheduler picks it).
fn stored_move(from: StateKind, event: &LifecycleEvent) -> Option<(StateKind, Option<String>)> {
    let to = transition_unpaired(from, event).ok()?;
    let reason = match event {
        LifecycleEvent::AwaitMerge => "waits for `duet merge`".to_owned(),
        LifecycleEvent::MergeQueued => "in the merge queue".to_owned(),
        LifecycleEvent::Landed => "landed on the base".to_owned(),
        LifecycleEvent::SentBack => "sent back to its pair by the merge queue".to_owned(),
        LifecycleEvent::Escalate { reason } => reason.clone(),
        // The queue causes no other event.
        _ => return None,
    };
    Some((to, Some(reason)))
}

/// Whether an engine with `setup` lands finished tasks (see `Daemon::merges_locally`).
fn lands_locally(setup: &crate::DaemonSetup) -> bool {
    setup.config.merge.mode == MergeMode::Local && setup.focus.is_none()
}

/// Set (to `1`) in the environment of `ci.command` when it tests a merge candidate.
pub const CANDIDATE_ENV: &str = "DUET_MERGE_CANDIDATE";

/// The merge queue's CI runner: a candidate is tested like a task commit (a throw-away
/// checkout, its own process group killed whole at the timeout or on cancel, a bounded log),
/// in a folder of its own (`merge_edge::candidate_ci_paths`). `None`
/// when this engine does not land tasks or `ci.command` is not set (candidates then pass).
pub(super) async fn candidate_ci_runner(
    setup: &crate::DaemonSetup,
    events: mpsc::Sender<duet_ci::RunEvent>,
) -> Option<duet_ci::CiRunner> {
    if !lands_locally(setup) {
        return None;
    }
    let mut config = duet_ci::RunConfig::from_config(&setup.config.ci)?;
    // So that a command can tell a candidate (the branch rebased on the newest base) apart.
    config.env.insert(CANDIDATE_ENV.to_owned(), "1".to_owned());
    let paths = crate::merge_edge::candidate_ci_paths(&setup.repo_root, &setup.state_dir());
    // Checkouts of candidates a killed engine was testing (the queue tests them again).
    super::ci::sweep_checkouts(&paths, "candidate CI").await;
    Some(duet_ci::CiRunner::new(paths, config, events))
}

//! duet's gates in the engine (the IO around `protocol::gates`): once the reviewer approved a
//! pair's HEAD, the proof command and the TDD gate's two test runs go off the loop in throw-away
//! checkouts (`duet_ci::gate`); their results come back as CI results (`RunEvent::Finished`
//! with the `proof` / `tdd` check), so they are stored, told to the worker and waited for by
//! `mark_done` like CI. A run cut off by a kill is started again at adoption (its `Running`
//! mark does not survive); a result is applied once (keyed by commit and check). The scope
//! guard measures each new HEAD's diff against the base off the loop (and again with the git
//! read of a review request, so the request carries the size at its commit) and flags an
//! over-budget branch once.

use std::collections::HashMap;
use std::time::Duration;

use duet_ci::gate::{GateRun, changed_files, run_gate};
use duet_ci::{RunEvent, RunPaths};
use duet_core::config::gates::is_test_file;
use duet_core::protocol::ci::{CiResult, CiStatus};
use duet_core::protocol::gates::{
    DiffSize, PROOF_CHECK, TDD_CHECK, TestRun, gate_started, gates_to_start, scope_check,
    tdd_verdict,
};
use duet_core::protocol::{Role, Verdict};
use duet_store::Event;
use tokio::sync::{mpsc, watch};

use super::{Daemon, now};
use crate::{DaemonError, DaemonProgress, DaemonSetup};

/// The gate runs under way, per (task, check); dropping a switch cancels its run.
#[derive(Debug)]
pub(crate) struct Gates {
    paths: RunPaths,
    events: mpsc::Sender<RunEvent>,
    running: HashMap<(String, &'static str), watch::Sender<bool>>,
    /// The scope guard's measurements come back here.
    sizes: mpsc::UnboundedSender<Measured>,
}

/// A task's diff against its base at `head`, measured off the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Measured {
    pub task: String,
    pub head: String,
    pub size: DiffSize,
}

/// What measuring a task's diff needs, taken from the daemon before it goes off the loop.
#[derive(Debug, Clone)]
pub(crate) struct ScopeMeasure {
    repo: std::path::PathBuf,
    base: String,
}

impl ScopeMeasure {
    /// One `git diff --numstat` of `head` against the base (blocking: run it off the loop).
    pub(crate) fn measure(&self, task: &str, head: &str) -> Option<Measured> {
        match diff_size_now(&self.repo, &self.base, head) {
            Ok(size) => Some(Measured {
                task: task.to_owned(),
                head: head.to_owned(),
                size,
            }),
            Err(e) => {
                tracing::warn!("task {task}: failed to measure the diff for the scope guard: {e}");
                None
            }
        }
    }
}

impl Gates {
    /// `events` is the CI runs' channel: gate results are handled like CI results. Without a
    /// CI runner (`sweep`: no `ci.command`), the checkouts a killed duet left are removed here.
    pub(crate) async fn start(
        setup: &DaemonSetup,
        events: mpsc::Sender<RunEvent>,
        sizes: mpsc::UnboundedSender<Measured>,
        sweep: bool,
    ) -> Gates {
        let paths = RunPaths {
            repo: setup.repo_root.clone(),
            duet_dir: setup.state_dir(),
        };
        if sweep {
            super::ci::sweep_checkouts(&paths, "gate").await;
            if let Err(e) = duet_ci::become_subreaper() {
                tracing::warn!("failed to become the reaper of gate processes: {e}");
            }
        }
        Gates {
            paths,
            events,
            running: HashMap::new(),
            sizes,
        }
    }

    /// Cancels the task's gate runs (it ended).
    pub(crate) fn cancel(&mut self, task: &str) {
        self.running.retain(|(t, _), _| t != task);
    }
}

/// What one gate run needs, taken from the daemon before it goes off the loop.
struct Job {
    task: String,
    check: &'static str,
    head: String,
    base: String,
    command: Option<String>,
    test_files: Vec<String>,
    env: std::collections::BTreeMap<String, String>,
    timeout: Duration,
}

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// Starts the gates the pair's HEAD needs now (HEAD approved, not run yet). Called after
    /// every change of the pair and at adoption.
    pub(super) fn poll_gates(&mut self, task: &str) {
        let Some(slot) = self.pairs.get_mut(task) else {
            return;
        };
        let state = &mut slot.controller.state;
        let head = state.head_commit.clone();
        let approved = !state.review_pending
            && state
                .last_verdict
                .as_ref()
                .is_some_and(|v| v.verdict == Verdict::Approve && v.commit == head);
        let checks = gates_to_start(&state.ci, &state.config.gates, &head, approved);
        if checks.is_empty() {
            return;
        }
        let base = state.base_commit.clone();
        for check in &checks {
            gate_started(&mut state.ci, &head, check);
        }
        let config = &self.setup.config;
        let proof = self.backlog.get(task).and_then(|t| t.proof_command.clone());
        let test_command = config
            .review
            .tdd
            .test_command
            .clone()
            .or_else(|| config.ci.command.clone());
        for check in checks {
            let job = Job {
                task: task.to_owned(),
                check,
                head: head.clone(),
                base: base.clone(),
                command: if check == PROOF_CHECK {
                    proof.clone()
                } else {
                    test_command.clone()
                },
                test_files: config.review.tdd.test_files.clone(),
                env: config.ci.env.clone(),
                timeout: config.ci.timeout,
            };
            tracing::info!("task {task}: duet runs its `{check}` gate on {head}");
            let (cancel_tx, cancel) = watch::channel(false);
            self.gates
                .running
                .insert((task.to_owned(), check), cancel_tx);
            let paths = self.gates.paths.clone();
            let events = self.gates.events.clone();
            tokio::spawn(async move {
                let result = run_job(&paths, &job, cancel).await;
                let _ = events
                    .send(RunEvent::Finished {
                        task: job.task,
                        result,
                    })
                    .await;
            });
        }
    }

    /// What measuring the task's diff needs, when the task has a scope budget.
    pub(super) fn scope_measure(&self, task: &str) -> Option<ScopeMeasure> {
        let state = &self.pairs.get(task)?.controller.state;
        let rules = &state.config.gates;
        if rules.max_files.is_none() && rules.max_lines.is_none() {
            return None;
        }
        Some(ScopeMeasure {
            repo: self.setup.repo_root.clone(),
            base: state.base_commit.clone(),
        })
    }

    /// The scope guard on a new HEAD of a task with a budget: its diff is measured off the
    /// loop (a large diff must not hold up every other pair) and comes back as [`Measured`].
    pub(super) fn check_scope(&mut self, task: &str, head: &str) -> Result<(), DaemonError> {
        let Some(measure) = self.scope_measure(task) else {
            return Ok(());
        };
        let (sizes, task, head) = (self.gates.sizes.clone(), task.to_owned(), head.to_owned());
        tokio::task::spawn_blocking(move || {
            if let Some(measured) = measure.measure(&task, &head) {
                let _ = sizes.send(measured);
            }
        });
        Ok(())
    }

    /// A diff measured: saved for the review request of that commit; a branch over its budget
    /// is flagged to the pair and the human, once per task.
    pub(super) fn on_scope_measured(&mut self, measured: Measured) -> Result<(), DaemonError> {
        let Measured { task, head, size } = measured;
        let Some(slot) = self.pairs.get_mut(&task) else {
            return Ok(());
        };
        let rules = slot.controller.state.config.gates.clone();
        let Some(over) = scope_check(&mut slot.controller.state.ci.scope, &rules, &head, size)
        else {
            return self.apply(&task, Vec::new()); // the size is saved for the review request
        };
        let at = now();
        let mut actions = slot
            .controller
            .duet_says(Role::Worker, over.to_pair.clone(), at);
        actions.extend(slot.controller.duet_says(Role::Reviewer, over.to_pair, at));
        actions.push(duet_pair::Action::Store(Event::Note {
            text: over.to_human.clone(),
        }));
        self.apply(&task, actions)?;
        crate::notify::tell(&self.setup.config.notify, &task, "scope", &over.to_human);
        // A flag, not a question: the pair goes on, so nothing asks the human to answer.
        (self.progress)(DaemonProgress::Note(format!("{task}: {}", over.to_human)));
        Ok(())
    }
}

fn diff_size_now(repo: &std::path::Path, base: &str, head: &str) -> std::io::Result<DiffSize> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["diff", "--numstat", "--no-renames", base, head])
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(std::process::Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    let mut size = DiffSize::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.split('\t');
        let (Some(added), Some(removed)) = (parts.next(), parts.next()) else {
            continue;
        };
        size.files += 1;
        size.added += added.parse::<u32>().unwrap_or(0);
        size.removed += removed.parse::<u32>().unwrap_or(0);
    }
    Ok(size)
}

async fn run_job(paths: &RunPaths, job: &Job, cancel: watch::Receiver<bool>) -> CiResult {
    let Some(command) = job.command.clone() else {
        let reason = if job.check == PROOF_CHECK {
            "the task's proof command is gone from the backlog".to_owned()
        } else {
            "no test command: set review.test_command or ci.command".to_owned()
        };
        let mut result = CiResult::new(&job.head, job.check, CiStatus::CouldNotStart { reason });
        result.summary = None;
        return result;
    };
    let run = |label: &str, checkout: &str, overlay: Option<(String, Vec<String>)>| GateRun {
        task: job.task.clone(),
        label: label.to_owned(),
        checkout: checkout.to_owned(),
        overlay,
        command: command.clone(),
        env: job.env.clone(),
        timeout: job.timeout,
    };
    if job.check == PROOF_CHECK {
        let outcome = run_gate(paths, &run("proof", &job.head, None), cancel).await;
        let mut result = CiResult::new(&job.head, PROOF_CHECK, outcome.status);
        result.command = Some(command);
        result.duration_ms = outcome.duration_ms;
        result.excerpt = outcome.excerpt;
        result.log_path = Some(outcome.log_path.display().to_string());
        return result;
    }
    // TDD: the task's test files, on the base with them applied, then on HEAD.
    let tests: Vec<String> = match changed_files(&paths.repo, &job.base, &job.head).await {
        Ok(files) => files
            .into_iter()
            .filter(|f| is_test_file(&job.test_files, f))
            .collect(),
        Err(e) => {
            let reason = format!("failed to list the task's changed files: {e}");
            return CiResult::new(&job.head, TDD_CHECK, CiStatus::CouldNotStart { reason });
        }
    };
    let started = std::time::Instant::now();
    let as_test = |o: duet_ci::gate::GateOutcome| TestRun {
        status: o.status,
        excerpt: o.excerpt,
    };
    let mut on_base = None;
    let mut on_head = None;
    if !tests.is_empty() {
        let overlay = Some((job.head.clone(), tests.clone()));
        let base =
            as_test(run_gate(paths, &run("tdd-base", &job.base, overlay), cancel.clone()).await);
        let go_on = matches!(base.status, CiStatus::Failed { .. });
        on_base = Some(base);
        if go_on {
            on_head = Some(as_test(
                run_gate(paths, &run("tdd-head", &job.head, None), cancel).await,
            ));
        }
    }
    let mut result = tdd_verdict(
        &job.head,
        &command,
        &tests,
        on_base.as_ref(),
        on_head.as_ref(),
    );
    result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    result
}

//! `merge.mode = "pr"`: a done task's branch is pushed and a draft pull request opened
//! (`duet_git::land::open_pull_request`, off the loop); nothing lands locally. The outcome is
//! noted on the task; `duet merge TASK` opens it again after a failure.

use crate::report::PULL_REQUEST_OPEN;
use duet_core::config::MergeMode;
use duet_core::lifecycle::StateKind;
use duet_core::protocol::{Verdict, short_commit};
use duet_git::land::{PrDescription, PrOpened, PrRequest, open_pull_request};
use duet_store::Event;

use super::Daemon;
use crate::{DaemonError, DaemonProgress};

/// A pull request's outcome, back from the blocking task: `(task, result)`.
pub(crate) type PrOutcome = (String, Result<PrOpened, String>);

impl<P: FnMut(DaemonProgress)> Daemon<'_, P> {
    /// Whether finished tasks become pull requests here (`duet run` with `merge.mode = "pr"`).
    pub(super) fn opens_pull_requests(&self) -> bool {
        self.setup.config.merge.mode == MergeMode::Pr && self.setup.focus.is_none()
    }

    /// Pushes the done task's branch and opens its draft pull request, off the loop.
    pub(super) fn open_pull_request(&mut self, task: &str) -> Result<(), String> {
        if self.stored_state(task) != Some(StateKind::Done) {
            return Err("it is not done yet: only a done task gets a pull request".to_owned());
        }
        let Some(backlog_task) = self.backlog.get(task).cloned() else {
            return Err("it is no longer in the backlog".to_owned());
        };
        let config = &self.setup.config;
        let description = self.pr_description(&backlog_task);
        let title = backlog_task.title.clone();
        let body = description.render();
        let branch = config.task_branch(&backlog_task.id);
        let base = backlog_task.base_branch(config).to_owned();
        let gh = config.github.command.clone();
        let workdir = self.setup.repo_root.clone();
        let tx = self.pr_tx.clone();
        let task = task.to_owned();
        self.prs_pending += 1;
        tokio::task::spawn_blocking(move || {
            let request = PrRequest {
                workdir: &workdir,
                remote: "origin",
                branch: &branch,
                base: &base,
                title: &title,
                body: &body,
                gh: &gh,
                env: &[],
            };
            let outcome = open_pull_request(&request).map_err(|e| e.to_string());
            let _ = tx.send((task, outcome));
        });
        Ok(())
    }

    /// A pull request was opened (or could not be): said on the task and to the human.
    pub(super) fn on_pull_request(&mut self, outcome: PrOutcome) -> Result<(), DaemonError> {
        self.prs_pending = self.prs_pending.saturating_sub(1);
        let (task, result) = outcome;
        let text = match result {
            Ok(PrOpened {
                url,
                already_existed: false,
            }) => format!("{}{url}", PULL_REQUEST_OPEN[0]),
            Ok(PrOpened {
                url,
                already_existed: true,
            }) => format!("{}{url}", PULL_REQUEST_OPEN[1]),
            Err(err) => {
                tracing::warn!("task {task}: {err}");
                format!("no pull request: {err} (`duet merge {task}` tries again)")
            }
        };
        (self.progress)(DaemonProgress::Note(format!("{task}: {text}")));
        self.append(&task, Event::Note { text })
    }

    /// What the pull request says: the task, its review rounds and findings with what became
    /// of each (from the handoff report), the approval, CI.
    fn pr_description(&self, task: &duet_core::backlog::Task) -> PrDescription {
        let id = task.id.as_str();
        let report =
            crate::report_io::gather(&self.setup.repo_root, &self.store, &self.setup.config, task)
                .ok();
        let rounds = report.as_ref().map_or(&[][..], |r| r.rounds.as_slice());
        let findings = rounds
            .iter()
            .flat_map(|round| {
                round.findings.iter().map(move |item| {
                    (
                        item.finding.to_string(),
                        format!(
                            "raised in round {}; {}",
                            round.round,
                            crate::report::outcome_text(&item.resolution)
                        ),
                    )
                })
            })
            .collect();
        let approval = rounds
            .iter()
            .rev()
            .find(|round| round.verdict == Verdict::Approve)
            .map(|round| format!("Approved by the reviewer in review round {}.", round.round));
        let ci = report.as_ref().and_then(|r| r.ci_runs.last()).map(|run| {
            format!(
                "{}: `{}` at {}",
                run.status,
                run.check,
                short_commit(&run.sha)
            )
        });
        let rounds = rounds.last().map_or(0, |round| round.round);
        let prompt = match &task.prompt {
            duet_core::backlog::Prompt::Inline(text) => text.clone(),
            duet_core::backlog::Prompt::File(path) => {
                std::fs::read_to_string(path).unwrap_or_else(|_| path.display().to_string())
            }
        };
        PrDescription {
            task_id: id.to_owned(),
            title: task.title.clone(),
            prompt,
            review_rounds: rounds,
            findings,
            approval,
            ci,
            plan: report
                .as_ref()
                .and_then(|r| r.approved_plan())
                .map(|round| round.plan.clone()),
        }
    }
}

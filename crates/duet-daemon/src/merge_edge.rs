//! The merge queue's edge: carries out the git effects of `lifecycle::merge_queue` with
//! `duet_git::land` and turns their outcomes back into queue events; the engine's
//! `daemon/merge.rs` calls [`drive`] for each queue event.
//!
//! Blocking by design (git2 and a CI child process): the git steps take milliseconds (the
//! candidate is built in the object database), so [`drive`] runs them inline; CI can take
//! minutes, so [`drive`] hands `RunCi` back for the engine to run on its candidate CI runner
//! (duet-ci's, off the loop) and feed the event [`candidate_ci_event`] makes of it back in.

use std::collections::BTreeMap;
use std::path::Path;

use duet_core::config::MergeStrategy;
use duet_core::lifecycle::merge_queue::{
    CandidateRef, QueueEffect, QueueEvent, QueueState, WorkingBranch, handle,
};
use duet_core::protocol::ci::CiStatus;
use duet_git::land::{
    Advance, Built, CandidateSpec, LandStrategy, advance_base, build_candidate, changed_files,
    cleanup_landed, files_between, landed_commits,
};
use duet_git::{Repo, WorktreeManager};

/// What the edge needs to know about the tasks and the repository.
#[derive(Debug)]
pub struct MergeEdge<'r> {
    pub repo: &'r Repo,
    pub manager: &'r WorktreeManager<'r>,
    /// The base branch this queue lands on.
    pub base: String,
    pub strategy: MergeStrategy,
    pub delete_branch: bool,
    /// Task id → its title and the reviewer's approval (squash messages).
    pub titles: BTreeMap<String, (String, Option<String>)>,
    /// The tasks whose pairs are still at work (told when the base moves).
    pub working: Vec<String>,
}

impl MergeEdge<'_> {
    /// Carries out one effect's git part and returns the events it leads to. Effects that are
    /// the engine's (transitions, messages, holds, `RunCi`) return nothing here.
    pub fn carry_out(&self, effect: &QueueEffect) -> Vec<QueueEvent> {
        match effect {
            QueueEffect::BuildCandidate { task_id } => vec![self.build(task_id)],
            QueueEffect::AdvanceBase {
                task_id,
                expected_old,
                new,
            } => vec![self.advance(task_id, expected_old, new)],
            QueueEffect::CleanUp {
                task_id,
                source_sha,
            } => {
                duet_pair::git_facts::drop_untracked_plan(&self.manager.worktree_path(task_id));
                if let Err(err) =
                    cleanup_landed(self.manager, task_id, source_sha, self.delete_branch)
                {
                    // Landed all the same; what is kept is said, never removed by force.
                    tracing::warn!("task {task_id}: landed, but cleanup refused: {err}");
                }
                duet_pair::failpoint!("merge-cleaned-up");
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn build(&self, task_id: &str) -> QueueEvent {
        let branch = self.manager.branch_name(task_id);
        let (title, approval) = self.titles.get(task_id).cloned().unwrap_or_default();
        let spec = CandidateSpec {
            task_id,
            branch: &branch,
            base: &self.base,
            strategy: land_strategy(self.strategy),
            title: &title,
            approval: approval.as_deref(),
        };
        if let Some(landed) = self.landed_and_cleaned_up(task_id, &branch) {
            return landed;
        }
        match build_candidate(self.repo, &spec) {
            Ok(Built::Candidate(candidate)) => {
                duet_pair::failpoint!("merge-candidate-built");
                QueueEvent::CandidateBuilt {
                    task_id: task_id.to_owned(),
                    commits: candidate.commits,
                    candidate: CandidateRef {
                        sha: candidate.sha,
                        base_sha: candidate.base_sha,
                        source_sha: candidate.source_sha,
                    },
                }
            }
            Ok(Built::Conflict(conflict)) => QueueEvent::CandidateConflict {
                task_id: task_id.to_owned(),
                files: conflict.files,
                base_sha: conflict.base_sha,
            },
            Err(err) => QueueEvent::StepFailed {
                task_id: task_id.to_owned(),
                message: err.to_string(),
            },
        }
    }

    /// An engine killed after it moved the base and cleaned up, before it stored the task as
    /// merged, finds the branch gone and the task's commits on the base: a candidate of no
    /// commits (the base holds the change), which the queue takes as landed.
    fn landed_and_cleaned_up(&self, task_id: &str, branch: &str) -> Option<QueueEvent> {
        if self.repo.branch_exists(branch).unwrap_or(true) {
            return None;
        }
        let landed = landed_commits(self.repo, &self.base, task_id, 10_000).ok()?;
        let tip = landed.first()?.clone();
        tracing::info!(
            "task {task_id}: its branch is gone and it is on `{}` already: landed",
            self.base
        );
        Some(QueueEvent::CandidateBuilt {
            task_id: task_id.to_owned(),
            commits: 0,
            candidate: CandidateRef {
                sha: tip.clone(),
                base_sha: tip.clone(),
                source_sha: tip,
            },
        })
    }

    fn advance(&self, task_id: &str, expected_old: &str, new: &str) -> QueueEvent {
        let message = format!("duet: land {task_id}");
        match advance_base(self.repo, &self.base, expected_old, new, &message) {
            Ok(Advance::Advanced { .. }) => {
                duet_pair::failpoint!("merge-base-moved");
                QueueEvent::BaseAdvanced {
                    task_id: task_id.to_owned(),
                    sha: new.to_owned(),
                    landed_files: files_between(self.repo, expected_old, new).unwrap_or_default(),
                    working: self
                        .working
                        .iter()
                        .filter(|id| id.as_str() != task_id)
                        .map(|id| WorkingBranch {
                            task_id: id.clone(),
                            changed_files: changed_files(
                                self.repo,
                                &self.base,
                                &self.manager.branch_name(id),
                            )
                            .unwrap_or_default(),
                        })
                        .collect(),
                }
            }
            Ok(Advance::Moved { now }) => QueueEvent::BaseMoved {
                task_id: task_id.to_owned(),
                now,
            },
            Ok(Advance::CheckoutDirty { path, files }) => QueueEvent::CheckoutDirty {
                task_id: task_id.to_owned(),
                path: path.display().to_string(),
                files,
            },
            Err(err) => QueueEvent::StepFailed {
                task_id: task_id.to_owned(),
                message: err.to_string(),
            },
        }
    }
}

/// Applies `event` and carries out the git effects it leads to, feeding their outcomes back,
/// until only the engine's effects are left; returns those, in order (transitions to store,
/// `SendBack` / `TellPair` / `TellHuman` messages, holds, `RunCi` to run off the loop).
pub fn drive(state: &mut QueueState, event: QueueEvent, edge: &MergeEdge<'_>) -> Vec<QueueEffect> {
    let mut pending = std::collections::VecDeque::from([event]);
    let mut for_engine = Vec::new();
    while let Some(event) = pending.pop_front() {
        for effect in handle(state, event) {
            pending.extend(edge.carry_out(&effect));
            match effect {
                QueueEffect::BuildCandidate { .. } | QueueEffect::AdvanceBase { .. } => {}
                // Done here, and told to the engine (it logs what landed).
                other => for_engine.push(other),
            }
        }
    }
    for_engine
}

/// Where the merge queue's CI runner works: a folder of its own (`.duet/queue/ci/`), so that
/// it never meets a pair's runs (`.duet/ci/`) or the queue's scratch checkouts.
pub fn candidate_ci_paths(repo_root: &Path, state_dir: &Path) -> duet_ci::RunPaths {
    duet_ci::RunPaths {
        repo: repo_root.to_owned(),
        duet_dir: state_dir.join("queue"),
    }
}

/// The queue event a candidate's CI run ends in; `None` for a run that started, or one
/// cancelled (its task left the queue, or the engine is stopping: a new engine tests again).
pub fn candidate_ci_event(run: duet_ci::RunEvent) -> Option<QueueEvent> {
    let duet_ci::RunEvent::Finished { task, result } = run else {
        return None;
    };
    match &result.status {
        CiStatus::Cancelled => None,
        CiStatus::Passed => Some(QueueEvent::CiPassed {
            task_id: task,
            sha: result.sha,
        }),
        status => {
            let mut excerpt = format!("`ci.command` {} on the candidate", status.describe());
            if !result.failing_tests.is_empty() {
                excerpt.push_str(&format!("; failing: {}", result.failing_tests.join(", ")));
            }
            if !result.excerpt.trim().is_empty() {
                excerpt.push('\n');
                excerpt.push_str(result.excerpt.trim_end());
            }
            Some(QueueEvent::CiFailed {
                task_id: task,
                sha: result.sha,
                excerpt,
            })
        }
    }
}

fn land_strategy(strategy: MergeStrategy) -> LandStrategy {
    match strategy {
        MergeStrategy::Rebase => LandStrategy::Rebase,
        MergeStrategy::Squash => LandStrategy::Squash,
        MergeStrategy::Merge => LandStrategy::Merge,
    }
}

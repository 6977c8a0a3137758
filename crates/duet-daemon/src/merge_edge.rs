//! The merge queue's edge: carries out the git effects of `lifecycle::merge_queue` with
//! `duet_git::land` and turns their outcomes back into queue events; the engine's
//! `daemon/merge.rs` calls [`drive`] for each queue event.
//!
//! Blocking by design (git2 and a CI child process): the git steps take milliseconds (the
//! candidate is built in the object database), so [`drive`] runs them inline; CI can take
//! minutes, so [`drive`] hands `RunCi` back for the engine to run with [`run_ci`] off the loop
//! (`spawn_blocking`) and feed its event back in.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use duet_core::config::{CiConfig, MergeStrategy};
use duet_core::lifecycle::merge_queue::{
    CandidateRef, QueueEffect, QueueEvent, QueueState, WorkingBranch, handle,
};
use duet_git::land::{
    Advance, Built, CandidateSpec, LandStrategy, ScratchWorktree, advance_base, build_candidate,
    changed_files, cleanup_landed, files_between, landed_commits,
};
use duet_git::{Repo, WorktreeManager};

/// Lines of CI output sent back to a pair.
const CI_EXCERPT_LINES: usize = 40;

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

/// Runs `ci.command` (with `sh -c`) on the candidate `sha`, checked out in a scratch worktree
/// that is removed afterwards; a run longer than `ci.timeout` counts as failed.
pub fn run_ci(repo: &Repo, ci: &CiConfig, task_id: &str, sha: &str) -> QueueEvent {
    let failed = |excerpt: String| QueueEvent::CiFailed {
        task_id: task_id.to_owned(),
        sha: sha.to_owned(),
        excerpt,
    };
    duet_pair::failpoint!("merge-ci-started");
    let Some(command) = ci.command.as_deref() else {
        return QueueEvent::CiPassed {
            task_id: task_id.to_owned(),
            sha: sha.to_owned(),
        };
    };
    let scratch = match ScratchWorktree::create(repo, task_id, sha) {
        Ok(scratch) => scratch,
        Err(err) => return failed(format!("could not check the candidate out: {err}")),
    };
    match run_with_timeout(command, scratch.path().to_owned(), &ci.env, ci.timeout) {
        Ok((true, _)) => QueueEvent::CiPassed {
            task_id: task_id.to_owned(),
            sha: sha.to_owned(),
        },
        Ok((false, output)) => failed(tail(&output, CI_EXCERPT_LINES)),
        Err(message) => failed(message),
    }
}

/// `(passed, combined output)`.
fn run_with_timeout(
    command: &str,
    dir: PathBuf,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<(bool, String), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1; {command}"))
        .current_dir(&dir)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start `sh -c {command}`: {e}"))?;
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut output = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut output);
        }
        output
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                let output = reader.join().unwrap_or_default();
                return Ok((
                    false,
                    format!(
                        "{}\n(timed out after {}s: ci.timeout)",
                        tail(&output, CI_EXCERPT_LINES),
                        timeout.as_secs()
                    ),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("could not wait for CI: {e}")),
        }
    };
    let output = reader.join().unwrap_or_default();
    Ok((status.success(), output))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn land_strategy(strategy: MergeStrategy) -> LandStrategy {
    match strategy {
        MergeStrategy::Rebase => LandStrategy::Rebase,
        MergeStrategy::Squash => LandStrategy::Squash,
        MergeStrategy::Merge => LandStrategy::Merge,
    }
}

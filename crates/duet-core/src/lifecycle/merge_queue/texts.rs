//! The merge queue's words: what a pair is told when its branch comes back, and why the queue
//! is held. Kept apart from the decisions so each reads on its own.

use std::collections::BTreeSet;
use std::fmt;

use super::{CandidateRef, Hold, QueueConfig, QueueState};

pub(super) fn conflict_text(state: &QueueState, files: &[String], base_sha: &str) -> String {
    let base = &state.config.base;
    let mut text = format!(
        "The merge queue could not land your branch: it conflicts with `{base}` at {} in {}.",
        short(base_sha),
        list(files)
    );
    match &state.last_landed {
        Some(last) if last.sha == base_sha || !common(&last.files, files).is_empty() => {
            text.push_str(&format!(
                " Task `{}`{} just landed there",
                last.task_id,
                titled(&last.title)
            ));
            let both = common(&last.files, files);
            if !both.is_empty() {
                text.push_str(&format!(" and changed {} too", list(&both)));
            }
            text.push('.');
        }
        _ => text.push_str(&format!(
            " `{base}` gained commits since your branch started."
        )),
    }
    text.push_str(&format!(
        "\n\nWhat to do: in your worktree, rebase onto `{base}` (`git rebase {base}`), resolve \
         the conflicts keeping the intent of both changes, make sure the tests pass, commit, and \
         ask for a review of the resolution. Once it is approved and you mark the task done \
         again, it goes back into the merge queue."
    ));
    text
}

pub(super) fn ci_failure_text(
    config: &QueueConfig,
    candidate: &CandidateRef,
    excerpt: &str,
) -> String {
    let base = &config.base;
    format!(
        "The merge queue could not land your branch: CI fails after rebase onto `{base}` at {} \
         (candidate {}), though it passed on your branch. CI output:\n\n```\n{}\n```\n\nWhat to \
         do: in your worktree, rebase onto `{base}` (`git rebase {base}`), fix the failure, \
         commit, and ask for a review. Once it is approved and you mark the task done again, it \
         goes back into the merge queue.",
        short(&candidate.base_sha),
        short(&candidate.sha),
        excerpt.trim_end()
    )
}

pub(super) fn hold_reason(hold: &Hold, config: &QueueConfig) -> String {
    match hold {
        Hold::CheckoutDirty {
            task_id,
            path,
            files,
        } => format!(
            "your checkout of `{}` at {path} has uncommitted changes to {} that landing `{task_id}` \
             would overwrite; commit or stash them and the queue goes on",
            config.base,
            list(files)
        ),
        Hold::StepFailed { task_id, message } => {
            format!("landing `{task_id}` failed: {message}; `duet merge {task_id}` tries again")
        }
    }
}

/// The paths in both lists.
pub(super) fn common(a: &[String], b: &[String]) -> Vec<String> {
    let b: BTreeSet<&String> = b.iter().collect();
    let mut both: Vec<String> = a.iter().filter(|p| b.contains(p)).cloned().collect();
    both.sort();
    both.dedup();
    both
}

/// How many paths a text lists before summarising.
const LISTED: usize = 10;

pub(super) fn list(files: &[String]) -> String {
    let mut text = files
        .iter()
        .take(LISTED)
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if files.len() > LISTED {
        text.push_str(&format!(" and {} more", files.len() - LISTED));
    }
    text
}

pub(super) fn quoted(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn titled(title: &str) -> String {
    if title.trim().is_empty() {
        String::new()
    } else {
        format!(" ({})", title.trim())
    }
}

pub(super) fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hold::CheckoutDirty { path, files, .. } => {
                write!(
                    f,
                    "checkout {path} has uncommitted changes to {}",
                    list(files)
                )
            }
            Hold::StepFailed { task_id, message } => {
                write!(f, "landing `{task_id}` failed: {message}")
            }
        }
    }
}

//! The reviewer guard's rule: which reviewer requests are a moment to check that the worktree
//! still is the commit under review ([`check_for`], pure), and what duet tells the reviewer and
//! the log when it was not ([`GuardOutcome::note`], [`GuardOutcome::reviewer_message`]). The
//! check itself ([`run_check`], blocking: git) is `duet_git::reviewer_guard`, run off the loop.
//!
//! When: the reviewer's `submit_review` call and the end of its turn (claude's Stop hook,
//! codex's notify) while a review it was asked for is pending. Only then is the worktree known:
//! the worker's `request_review` needs a clean worktree and HEAD on the commit. Only while the
//! worker is at rest: a change made while both were working cannot be pinned on the reviewer,
//! and undoing the worker's work is not the guard's to do. A write after the verdict, once the
//! worker has the findings and works again, is outside what this check can attribute; the
//! reviewer's CLIs (read-only sandbox, editing tools denied) are the first line there.

use std::path::PathBuf;

use duet_core::protocol::Role;
use duet_core::protocol::tools::ToolCall;
use duet_git::reviewer_guard::{self, Change, Expected, UndoReport};
use duet_proto::{HookSource, Request, RequestBody};

use crate::Controller;

/// One check to run after a reviewer's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardCheck {
    pub task: String,
    pub worktree: PathBuf,
    pub expected: Expected,
    /// The reviewer's profile name (`codex`), for the stash message and the log.
    pub reviewer: String,
    pub round: u32,
    /// What the request was: "the reviewer's verdict" / "the end of the reviewer's turn".
    pub moment: &'static str,
}

impl GuardCheck {
    /// The stash message: names the reviewer, the task and the round.
    pub fn label(&self) -> String {
        format!(
            "duet: changes by the reviewer ({}) of task {}, review round {}",
            self.reviewer, self.task, self.round
        )
    }
}

/// Whether `request` (before `controller` handles it) calls for a check of `worktree`, which
/// must still be `branch` at the commit under review.
pub fn check_for(
    controller: &Controller,
    request: &Request,
    worktree: &std::path::Path,
    branch: &str,
) -> Option<GuardCheck> {
    let token = request.token.as_deref()?;
    let reviewer = controller.seat(Role::Reviewer);
    if reviewer.token.is_empty() || reviewer.token != token {
        return None;
    }
    let moment = moment(&request.body)?;
    let review = controller.state.pending_review()?;
    if !controller.is_idle(Role::Worker) {
        return None;
    }
    Some(GuardCheck {
        task: controller.state.task_id.clone(),
        worktree: worktree.to_path_buf(),
        expected: Expected {
            branch: branch.to_owned(),
            commit: review.commit.clone(),
        },
        reviewer: reviewer.profile.clone(),
        round: review.round,
        moment,
    })
}

/// The reviewer requests that end a piece of its work: its verdict, its turn's end.
fn moment(body: &RequestBody) -> Option<&'static str> {
    match body {
        RequestBody::ToolCall {
            call: ToolCall::SubmitReview { .. },
        } => Some("the reviewer's verdict"),
        RequestBody::Hook {
            source: HookSource::Claude,
            payload,
        } if payload.get("hook_event_name").and_then(|v| v.as_str()) == Some("Stop") => {
            Some("the end of the reviewer's turn")
        }
        RequestBody::Hook {
            source: HookSource::Codex,
            payload,
        } if payload.get("type").and_then(|v| v.as_str()) == Some("agent-turn-complete") => {
            Some("the end of the reviewer's turn")
        }
        _ => None,
    }
}

/// What the check found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardOutcome {
    Unchanged,
    /// The worktree had changed; it is back at the reviewed commit, the change kept.
    Undone {
        changes: Vec<String>,
        kept: UndoReport,
    },
    /// It had changed (or could not be read) and could not be put back: the human must look.
    Failed {
        changes: Vec<String>,
        error: String,
    },
}

impl GuardOutcome {
    /// The line for the task's log (`duet log`), or none when nothing changed.
    pub fn note(&self, check: &GuardCheck) -> Option<String> {
        let commit = short(&check.expected.commit);
        match self {
            GuardOutcome::Unchanged => None,
            GuardOutcome::Undone { changes, kept } => Some(format!(
                "the reviewer ({}) changed the worktree during review round {} (seen at {}): {}; \
                 duet put it back to {commit} and kept the change: {}",
                check.reviewer,
                check.round,
                check.moment,
                changes.join("; "),
                kept.describe()
            )),
            GuardOutcome::Failed { changes, error } => Some(format!(
                "the worktree changed during review round {} (seen at {}): {}; duet could not \
                 put it back to {commit}: {error}",
                check.round,
                check.moment,
                if changes.is_empty() {
                    "unknown".to_owned()
                } else {
                    changes.join("; ")
                },
            )),
        }
    }

    /// duet's message to the reviewer, or none when nothing changed.
    pub fn reviewer_message(&self, check: &GuardCheck) -> Option<String> {
        let commit = short(&check.expected.commit);
        match self {
            GuardOutcome::Unchanged => None,
            GuardOutcome::Undone { changes, kept } => Some(format!(
                "duet undid your changes to the worktree: as the reviewer you do not change the \
                 task's files, branch or HEAD. Found {}; the worktree is back at {commit} and \
                 your change is kept aside ({}). Say what should change in your findings \
                 (submit_review), and the worker makes it.",
                changes.join("; "),
                kept.describe()
            )),
            GuardOutcome::Failed { changes, .. } => Some(format!(
                "the worktree is no longer the commit {commit} under review ({}), and duet \
                 could not put it back: as the reviewer, do not change files, the branch or \
                 HEAD; the human has been told.",
                changes.join("; ")
            )),
        }
    }
}

/// Runs `check` (blocking: git): reads the worktree and, when it changed, undoes the change.
pub fn run_check(check: &GuardCheck) -> GuardOutcome {
    let state = match reviewer_guard::read_state(&check.worktree, &check.expected.branch) {
        Ok(state) => state,
        Err(e) => {
            return GuardOutcome::Failed {
                changes: Vec::new(),
                error: e.to_string(),
            };
        }
    };
    let found: Vec<Change> = reviewer_guard::changes(&check.expected, &state);
    if found.is_empty() {
        return GuardOutcome::Unchanged;
    }
    let changes: Vec<String> = found.iter().map(ToString::to_string).collect();
    match reviewer_guard::undo(&check.worktree, &check.expected, &check.label()) {
        Ok(kept) => GuardOutcome::Undone { changes, kept },
        Err(e) => GuardOutcome::Failed {
            changes,
            error: e.to_string(),
        },
    }
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

//! The git side of the reviewer guard: what a task worktree looks like (HEAD, the task
//! branch's tip, `git status` with untracked files), how it differs from the commit under
//! review ([`changes`], pure), and undoing a reviewer's change without losing it ([`undo`]:
//! moved commits kept under `refs/duet/reviewer-changes/…`, files in a stash named after the
//! reviewer, the branch and HEAD put back with `reset --keep`, which refuses to drop anything).
//!
//! Runs the git CLI (`stash` and `reset --keep` have no safe libgit2 counterpart for a linked
//! worktree), always `git -C <worktree>`, never with a shell; a stash is a commit, so it needs
//! the git identity `duet doctor` checks for.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the refs that keep a reviewer's moved commits live.
pub const KEPT_REF_PREFIX: &str = "refs/duet/reviewer-changes";

/// What the guard expects of a worktree under review: on `branch`, whose tip and HEAD are
/// `commit`, with nothing changed or untracked (ignored files do not count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The branch's short name (`duet/greet`).
    pub branch: String,
    pub commit: String,
}

/// A task worktree as read by [`read_state`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeState {
    /// HEAD's commit (`None`: unborn).
    pub head: Option<String>,
    /// The ref HEAD points at (`None`: detached).
    pub head_ref: Option<String>,
    /// The task branch's tip (`None`: the branch is gone).
    pub branch_tip: Option<String>,
    /// `git status --porcelain` entries (`XY path`), untracked files included, ignored not.
    pub status: Vec<String>,
}

/// One way the worktree differs from what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// HEAD is not on the task branch (detached, or another branch).
    HeadElsewhere { head_ref: Option<String> },
    /// The task branch's tip moved (a commit, a reset, ...), or the branch is gone.
    BranchMoved { to: Option<String> },
    /// Files changed, staged or untracked (the first entries of `git status`).
    Files { entries: Vec<String> },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::HeadElsewhere { head_ref: Some(r) } => write!(f, "HEAD moved to {r}"),
            Change::HeadElsewhere { head_ref: None } => write!(f, "HEAD was detached"),
            Change::BranchMoved { to: Some(to) } => {
                write!(f, "the branch moved to {}", short(to))
            }
            Change::BranchMoved { to: None } => write!(f, "the branch was deleted"),
            Change::Files { entries } => {
                const LISTED: usize = 8;
                let listed: Vec<&str> = entries.iter().take(LISTED).map(|e| e.trim()).collect();
                write!(f, "files changed: {}", listed.join(", "))?;
                if entries.len() > LISTED {
                    write!(f, " and {} more", entries.len() - LISTED)?;
                }
                Ok(())
            }
        }
    }
}

/// How `observed` differs from `expected` (empty: unchanged). Pure.
pub fn changes(expected: &Expected, observed: &WorktreeState) -> Vec<Change> {
    let mut found = Vec::new();
    let branch_ref = format!("refs/heads/{}", expected.branch);
    if observed.head_ref.as_deref() != Some(branch_ref.as_str()) {
        found.push(Change::HeadElsewhere {
            head_ref: observed.head_ref.clone(),
        });
    }
    if observed.branch_tip.as_deref() != Some(expected.commit.as_str()) {
        found.push(Change::BranchMoved {
            to: observed.branch_tip.clone(),
        });
    }
    if !observed.status.is_empty() {
        found.push(Change::Files {
            entries: observed.status.clone(),
        });
    }
    found
}

/// What [`undo`] did, each thing kept (nothing is deleted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UndoReport {
    /// The stash commit holding the changed and untracked files (`git stash list` shows it
    /// with the label).
    pub stash: Option<String>,
    /// Refs keeping commits the branch or HEAD had moved to.
    pub kept_refs: Vec<String>,
}

impl UndoReport {
    /// Where the reviewer's changes are now, for the log and the reviewer.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(stash) = &self.stash {
            parts.push(format!(
                "the files are in a git stash (commit {}, see `git stash list`)",
                short(stash)
            ));
        }
        if !self.kept_refs.is_empty() {
            parts.push(format!(
                "the commits are kept at {}",
                self.kept_refs.join(", ")
            ));
        }
        if parts.is_empty() {
            "nothing needed keeping".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// A failed guard step.
#[derive(Debug, thiserror::Error)]
#[error("failed to {action} in {}: {detail}", worktree.display())]
pub struct GuardError {
    pub kind: GuardErrorKind,
    pub action: String,
    pub worktree: PathBuf,
    detail: String,
    #[source]
    source: Option<std::io::Error>,
}

/// What kind of guard step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardErrorKind {
    /// git could not be run.
    Spawn,
    /// git ran and refused (its stderr is the detail).
    Git,
    /// After the undo the worktree still differs (the detail says how).
    NotRestored,
}

/// Reads `worktree`'s HEAD, `branch`'s tip and its status.
pub fn read_state(worktree: &Path, branch: &str) -> Result<WorktreeState, GuardError> {
    let head = git_ok(worktree, &["rev-parse", "--verify", "-q", "HEAD"])?;
    let head_ref = git_ok(worktree, &["symbolic-ref", "-q", "HEAD"])?;
    let branch_ref = format!("refs/heads/{branch}");
    let branch_tip = git_ok(
        worktree,
        &[
            "rev-parse",
            "--verify",
            "-q",
            &format!("{branch_ref}^{{commit}}"),
        ],
    )?;
    let status = git(
        worktree,
        "read the status",
        &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
    )?;
    let status = split_status(&status);
    Ok(WorktreeState {
        head,
        head_ref,
        branch_tip,
        status,
    })
}

/// Puts `worktree` back to `expected`, keeping what the reviewer did: commits HEAD or the
/// branch moved to get a ref under [`KEPT_REF_PREFIX`] (`<label-slug>-<n>`), changed and
/// untracked files go into a stash with `label` as its message, then HEAD goes back onto the
/// branch and the branch back to the commit (`reset --keep`). Checked afterwards: a worktree
/// that still differs is an error.
pub fn undo(worktree: &Path, expected: &Expected, label: &str) -> Result<UndoReport, GuardError> {
    let before = read_state(worktree, &expected.branch)?;
    let mut report = UndoReport::default();
    let mut moved: Vec<String> = [before.head.clone(), before.branch_tip.clone()]
        .into_iter()
        .flatten()
        .filter(|c| *c != expected.commit)
        .collect();
    moved.dedup();
    for commit in moved {
        let name = free_ref_name(worktree, label)?;
        git(
            worktree,
            "keep a moved commit",
            &["update-ref", &name, &commit],
        )?;
        report.kept_refs.push(name);
    }
    if !before.status.is_empty() {
        git(
            worktree,
            "stash the changed files",
            &["stash", "push", "--include-untracked", "--message", label],
        )?;
        report.stash = git_ok(worktree, &["rev-parse", "--verify", "-q", "refs/stash"])?;
    }
    let branch_ref = format!("refs/heads/{}", expected.branch);
    if before.head_ref.as_deref() != Some(branch_ref.as_str()) {
        if before.branch_tip.is_none() {
            git(
                worktree,
                "recreate the branch",
                &["branch", &expected.branch, &expected.commit],
            )?;
        }
        git(
            worktree,
            "put HEAD back on the branch",
            &["checkout", "--quiet", &expected.branch],
        )?;
    } else if before.branch_tip.is_none() {
        // HEAD still names the branch, which is gone (unborn): point it at the commit again.
        git(
            worktree,
            "recreate the branch",
            &["update-ref", &branch_ref, &expected.commit],
        )?;
    }
    let now = read_state(worktree, &expected.branch)?;
    if now.branch_tip.as_deref() != Some(expected.commit.as_str()) {
        git(
            worktree,
            "move the branch back",
            &["reset", "--quiet", "--keep", &expected.commit],
        )?;
    }
    let after = read_state(worktree, &expected.branch)?;
    let left = changes(expected, &after);
    if !left.is_empty() {
        let detail = left
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        return Err(GuardError {
            kind: GuardErrorKind::NotRestored,
            action: "restore the reviewed commit".into(),
            worktree: worktree.to_path_buf(),
            detail,
            source: None,
        });
    }
    Ok(report)
}

/// `refs/duet/reviewer-changes/<slug of label>-<n>` for the first free `n`.
fn free_ref_name(worktree: &Path, label: &str) -> Result<String, GuardError> {
    let slug: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .take(8)
        .collect::<Vec<_>>()
        .join("-");
    for n in 1.. {
        let name = format!("{KEPT_REF_PREFIX}/{slug}-{n}");
        if git_ok(worktree, &["rev-parse", "--verify", "-q", &name])?.is_none() {
            return Ok(name);
        }
    }
    unreachable!("some ref name is free")
}

fn split_status(raw: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut fields = raw.split('\0').filter(|f| !f.is_empty());
    while let Some(entry) = fields.next() {
        // A rename or copy is followed by its source path: one entry.
        if entry.starts_with('R') || entry.starts_with('C') {
            fields.next();
        }
        entries.push(entry.to_owned());
    }
    entries
}

/// `git -C worktree args`; its stdout, or an error with its stderr.
fn git(worktree: &Path, action: &str, args: &[&str]) -> Result<String, GuardError> {
    let output = run(worktree, action, args)?;
    if !output.status.success() {
        return Err(GuardError {
            kind: GuardErrorKind::Git,
            action: action.to_owned(),
            worktree: worktree.to_path_buf(),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            source: None,
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A query whose exit code 1 means "none" (`rev-parse -q --verify`, `symbolic-ref -q`).
fn git_ok(worktree: &Path, args: &[&str]) -> Result<Option<String>, GuardError> {
    let output = run(worktree, "read a ref", args)?;
    match output.status.code() {
        Some(0) => Ok(Some(
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        )),
        Some(1) => Ok(None),
        _ => Err(GuardError {
            kind: GuardErrorKind::Git,
            action: format!("run git {}", args.join(" ")),
            worktree: worktree.to_path_buf(),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            source: None,
        }),
    }
}

fn run(worktree: &Path, action: &str, args: &[&str]) -> Result<std::process::Output, GuardError> {
    Command::new("git")
        .arg("-C")
        .arg(worktree)
        .args(args)
        .output()
        .map_err(|e| GuardError {
            kind: GuardErrorKind::Spawn,
            action: action.to_owned(),
            worktree: worktree.to_path_buf(),
            detail: e.to_string(),
            source: Some(e),
        })
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

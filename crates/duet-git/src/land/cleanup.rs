//! After landing: the task's worktree removed and its branch deleted, with the safety rule of
//! `WorktreeManager::remove` (never a worktree with uncommitted work) and one more check that
//! replaces "every commit is on the base" (a rebase or squash lands *copies* of the commits):
//! the worktree and the branch must still be at the tip that was landed, so a commit made
//! after the candidate was built is never thrown away.

use git2::{BranchType, Repository};

use super::{GitError, GitErrorKind, parse_commit};
use crate::inspect::dirty_paths;
use crate::registration::registrations;
use crate::worktree::{WorktreeManager, same_location};

/// What [`cleanup_landed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleaned {
    pub worktree_removed: bool,
    pub branch_deleted: bool,
}

/// Removes the landed task's worktree (when there is one) and, with `delete_branch`, its
/// branch. `landed_source` is the branch tip the candidate was built from
/// (`Candidate::source_sha`). Refuses, changing nothing, when the worktree has uncommitted
/// changes (untracked files included), is locked, or when the worktree or the branch has
/// moved past `landed_source`.
pub fn cleanup_landed(
    manager: &WorktreeManager<'_>,
    task_id: &str,
    landed_source: &str,
    delete_branch: bool,
) -> Result<Cleaned, GitError> {
    let git = manager.repo().main();
    let landed = parse_commit(git, landed_source)?;
    let branch = manager.branch_name(task_id);
    let path = manager.worktree_path(task_id);
    let moved = |now: String| {
        GitError::new(GitErrorKind::LandedTipMoved {
            branch: branch.clone(),
            landed: landed.to_string(),
            now,
        })
    };

    let registration = registrations(git)?
        .into_iter()
        .find(|reg| same_location(&reg.path, &path));
    if let Some(reg) = registration.as_ref().filter(|reg| !reg.stale) {
        if let Some(reason) = &reg.locked {
            return Err(GitError::new(GitErrorKind::Locked {
                path: reg.path.clone(),
                reason: reason.clone(),
            }));
        }
        let dirty = dirty_paths(&reg.path)?;
        if !dirty.is_empty() {
            return Err(GitError::new(GitErrorKind::RemovalRefused {
                path: reg.path.clone(),
                dirty_paths: dirty,
                unmerged: None,
            }));
        }
        let head = Repository::open(&reg.path)
            .and_then(|wt| Ok(wt.head()?.peel_to_commit()?.id()))
            .map_err(|e| GitError::git(format!("read HEAD of {}", reg.path.display()), e))?;
        if head != landed {
            return Err(moved(head.to_string()));
        }
    }
    let tip = match git.find_branch(&branch, BranchType::Local) {
        Ok(found) => Some(
            found
                .get()
                .peel_to_commit()
                .map_err(|e| GitError::git(format!("read the tip of `{branch}`"), e))?
                .id(),
        ),
        Err(e) if e.code() == git2::ErrorCode::NotFound => None,
        Err(e) => return Err(GitError::git(format!("look up branch `{branch}`"), e)),
    };
    if delete_branch && let Some(tip) = tip.filter(|tip| *tip != landed) {
        return Err(moved(tip.to_string()));
    }

    let worktree_removed = registration.is_some();
    if worktree_removed {
        // Checked above: clean and at the landed tip, so nothing is lost.
        manager.remove(task_id, true)?;
    }
    let branch_deleted = delete_branch && tip.is_some();
    if branch_deleted {
        manager.delete_branch(task_id, true)?;
    }
    Ok(Cleaned {
        worktree_removed,
        branch_deleted,
    })
}

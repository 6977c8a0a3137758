//! Linked-worktree registrations (`<common-dir>/worktrees/<name>`): reading them, matching
//! them to folders, and pruning the stale ones.

use std::path::{Path, PathBuf};

use git2::{Repository, WorktreeLockStatus, WorktreePruneOptions};

use crate::error::GitError;
use crate::repo::canonical;

/// One registered linked worktree, as git records it.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    /// The admin folder name under `<common-dir>/worktrees/`.
    pub name: String,
    /// The worktree folder (canonical when it exists).
    pub path: PathBuf,
    /// The folder is gone: the registration can be pruned.
    pub stale: bool,
    /// The ref HEAD points at (`refs/heads/...`), `None` when detached or unreadable.
    pub head_ref: Option<String>,
    /// Lock reason when locked (an empty reason still means locked).
    pub locked: Option<String>,
}

impl Registration {
    pub fn has_branch(&self, branch: &str) -> bool {
        self.head_ref
            .as_deref()
            .and_then(|r| r.strip_prefix("refs/heads/"))
            == Some(branch)
    }
}

/// Every linked worktree registered in `repo` (the main repository).
pub(crate) fn registrations(repo: &Repository) -> Result<Vec<Registration>, GitError> {
    let names = repo
        .worktrees()
        .map_err(|e| GitError::git("list worktrees", e))?;
    let mut out = Vec::new();
    for name in names.iter().filter_map(|name| name.ok().flatten()) {
        let worktree = match repo.find_worktree(name) {
            Ok(wt) => wt,
            // A half-written admin folder (no gitdir file) is not a worktree we can act on.
            Err(_) => continue,
        };
        let path = worktree.path();
        let stale = !path.exists();
        let locked = match worktree.is_locked() {
            Ok(WorktreeLockStatus::Locked(reason)) => {
                Some(reason.unwrap_or_default().trim_end().to_owned())
            }
            _ => None,
        };
        out.push(Registration {
            name: name.to_owned(),
            path: if stale {
                path.to_owned()
            } else {
                canonical(path)
            },
            stale,
            head_ref: read_head_ref(&admin_dir(repo, name)),
            locked,
        });
    }
    Ok(out)
}

/// `<common-dir>/worktrees/<name>`.
pub(crate) fn admin_dir(repo: &Repository, name: &str) -> PathBuf {
    repo.commondir().join("worktrees").join(name)
}

/// Removes a registration whose folder is gone (or which the caller has already emptied),
/// even when it is locked. A registration that no longer exists is not an error.
pub(crate) fn prune(repo: &Repository, name: &str) -> Result<(), GitError> {
    let worktree = match repo.find_worktree(name) {
        Ok(worktree) => worktree,
        // Already gone (pruned earlier in the same operation, or by git): nothing to do.
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(()),
        Err(e) => {
            return Err(GitError::git(
                format!("open worktree registration `{name}`"),
                e,
            ));
        }
    };
    worktree
        .prune(Some(
            WorktreePruneOptions::new()
                .valid(true)
                .locked(true)
                .working_tree(false),
        ))
        .map_err(|e| GitError::git(format!("prune worktree registration `{name}`"), e))
}

/// The symbolic target of a worktree's HEAD file, read directly so that it also works for
/// stale registrations whose folder is gone.
fn read_head_ref(admin_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(admin_dir.join("HEAD")).ok()?;
    text.trim_end().strip_prefix("ref: ").map(str::to_owned)
}

//! Moving the base: a compare-and-swap fast-forward of `refs/heads/<base>`, and the checkouts
//! that have the base checked out (the user's main working directory, or a linked worktree of
//! theirs) updated the way `git merge --ff-only` would, or left alone when that would
//! overwrite their uncommitted work.

use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{ErrorCode, Oid, Repository};

use super::changes::paths_between;
use super::{GitError, GitErrorKind, parse_commit};
use crate::inspect::dirty_paths;
use crate::registration::registrations;
use crate::repo::Repo;

/// The outcome of [`advance_base`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    /// The base now points at the new commit; these checkouts of it were updated.
    Advanced { checkouts_updated: Vec<PathBuf> },
    /// The base is no longer at the expected commit (someone committed): nothing changed;
    /// rebuild the candidate on `now`.
    Moved { now: String },
    /// A checkout of the base has uncommitted changes (untracked files included) to files the
    /// move would change: nothing changed; hold until they are committed or cleaned away.
    CheckoutDirty { path: PathBuf, files: Vec<String> },
}

/// Moves branch `base` from `expected_old` to `new`, only as a fast-forward and only if it is
/// still at `expected_old` (a commit made meanwhile is never overwritten). A checkout with the
/// base checked out is checked first: when the move would overwrite its uncommitted work
/// nothing is changed ([`Advance::CheckoutDirty`]); otherwise it is updated after the ref
/// moved, keeping its unrelated local changes as `git merge --ff-only` does.
pub fn advance_base(
    repo: &Repo,
    base: &str,
    expected_old: &str,
    new: &str,
    reflog_message: &str,
) -> Result<Advance, GitError> {
    let git = repo.main();
    let refname = format!("refs/heads/{base}");
    let old = parse_commit(git, expected_old)?;
    let new = parse_commit(git, new)?;
    let now = current(git, &refname)?;
    if now != old {
        return Ok(Advance::Moved {
            now: now.to_string(),
        });
    }
    if old == new {
        return Ok(Advance::Advanced {
            checkouts_updated: Vec::new(),
        });
    }
    let descends = git
        .graph_descendant_of(new, old)
        .map_err(|e| GitError::git(format!("check that {new} descends from {old}"), e))?;
    if !descends {
        return Err(GitError::new(GitErrorKind::NotFastForward {
            base: base.to_owned(),
            from: old.to_string(),
            to: new.to_string(),
        }));
    }

    let checkouts = checkouts_of(repo, &refname)?;
    if !checkouts.is_empty() {
        let changed = paths_between(git, old, new)?;
        for checkout in &checkouts {
            let blocked = blocked_paths(&dirty_paths(checkout)?, &changed);
            if !blocked.is_empty() {
                return Ok(Advance::CheckoutDirty {
                    path: checkout.clone(),
                    files: blocked,
                });
            }
        }
    }

    match git.reference_matching(&refname, new, true, old, reflog_message) {
        Ok(_) => {}
        // libgit2 re-reads the ref under its lock: a concurrent commit shows up here.
        Err(e) if matches!(e.code(), ErrorCode::Modified | ErrorCode::Locked) => {
            return Ok(Advance::Moved {
                now: current(git, &refname)?.to_string(),
            });
        }
        Err(e) => return Err(GitError::git(format!("move `{base}` to {new}"), e)),
    }
    for checkout in &checkouts {
        update_checkout(checkout, base, old, new)?;
    }
    Ok(Advance::Advanced {
        checkouts_updated: checkouts,
    })
}

fn current(git: &Repository, refname: &str) -> Result<Oid, GitError> {
    git.refname_to_id(refname)
        .map_err(|e| GitError::git(format!("read {refname}"), e))
}

/// The working directories whose HEAD is the base branch: the main one and linked worktrees.
fn checkouts_of(repo: &Repo, refname: &str) -> Result<Vec<PathBuf>, GitError> {
    let git = repo.main();
    let mut found = Vec::new();
    if let Ok(head) = git.find_reference("HEAD")
        && head.symbolic_target().ok().flatten() == Some(refname)
    {
        found.push(repo.main_workdir().to_owned());
    }
    for reg in registrations(git)? {
        if !reg.stale && reg.head_ref.as_deref() == Some(refname) {
            found.push(reg.path);
        }
    }
    Ok(found)
}

/// Dirty paths the move would overwrite: the same path, or one inside a folder the move
/// adds or removes as a file (and the reverse).
fn blocked_paths(dirty: &[String], changed: &[String]) -> Vec<String> {
    let inside = |path: &str, folder: &str| {
        path.len() > folder.len()
            && path.starts_with(folder)
            && path.as_bytes()[folder.len()] == b'/'
    };
    dirty
        .iter()
        .filter(|d| {
            changed
                .iter()
                .any(|c| c == *d || inside(d, c) || inside(c, d))
        })
        .cloned()
        .collect()
}

/// Two-tree fast-forward of the checkout's index and files (`git read-tree -m -u`), which
/// keeps local changes to files the move does not touch.
fn update_checkout(path: &Path, base: &str, old: Oid, new: Oid) -> Result<(), GitError> {
    let failed = |message: String| {
        GitError::new(GitErrorKind::CheckoutUpdate {
            path: path.to_owned(),
            message: format!(
                "{message}; `{base}` now points at {new} (run `git -C {} read-tree -m -u {old} {new}` once its files are free)",
                path.display()
            ),
        })
    };
    let output = Command::new("git")
        .args(["read-tree", "-m", "-u"])
        .arg(old.to_string())
        .arg(new.to_string())
        .current_dir(path)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| failed(format!("could not run git: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::blocked_paths;

    #[test]
    fn blocked_paths_match_files_and_folders() {
        let dirty = ["a.txt", "dir/x", "new", "keep.md"].map(String::from);
        let changed = ["a.txt", "dir", "new/file", "other"].map(String::from);
        assert_eq!(blocked_paths(&dirty, &changed), ["a.txt", "dir/x", "new"]);
    }
}

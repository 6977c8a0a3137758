//! Reading the task worktree's HEAD and cleanliness (git2), for the protocol's done and review rules.

use std::path::Path;

use crate::controller::GitFacts;

/// HEAD's commit id and whether the worktree has no uncommitted changes (untracked files
/// count as changes; ignored files do not). `None` if the worktree cannot be read.
pub fn read_git_facts(worktree: &Path) -> Option<GitFacts> {
    let repo = git2::Repository::open(worktree).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?.id().to_string();
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let clean = repo.statuses(Some(&mut options)).ok()?.is_empty();
    Some(GitFacts { head, clean })
}

/// Commits on `head` that are not on `base`, newest first (short ids and subjects).
pub fn commits_since(worktree: &Path, base: &str) -> Vec<String> {
    let Ok(repo) = git2::Repository::open(worktree) else {
        return Vec::new();
    };
    let (Ok(base), Ok(mut walk)) = (git2::Oid::from_str(base), repo.revwalk()) else {
        return Vec::new();
    };
    if walk.push_head().is_err() || walk.hide(base).is_err() {
        return Vec::new();
    }
    walk.filter_map(Result::ok)
        .filter_map(|oid| repo.find_commit(oid).ok())
        .map(|c| {
            format!(
                "{} {}",
                &c.id().to_string()[..7],
                c.summary().ok().flatten().unwrap_or("")
            )
        })
        .collect()
}

/// The commit where the task branch (the worktree's HEAD) left `base` (a branch, tag or sha).
pub fn fork_point(worktree: &Path, base: &str) -> Option<String> {
    let repo = git2::Repository::open(worktree).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?.id();
    let base = repo.revparse_single(base).ok()?.peel_to_commit().ok()?.id();
    Some(repo.merge_base(head, base).ok()?.to_string())
}
